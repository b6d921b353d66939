#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many terminal columns a character takes: 2 for East Asian wide and most emoji,
/// 1 for the rest, 0 for combining and other zero-width scalars, nil for control
/// characters (which must never reach a surface).
///
/// The width of a `Character` (a grapheme cluster) is the width of its first scalar, which
/// is what curses and terminals use. It comes from the C library's `wcwidth` — the same
/// table ncursesw consults when it draws — evaluated in a UTF-8 locale installed for the
/// calling thread only for the duration of the call, so results do not depend on the
/// process locale (`C` in tests, the user's locale in the terminal). Where no UTF-8
/// locale or no `wcwidth` exists, a built-in table of the wide ranges stands in.
public enum DisplayWidth {
    /// Columns of one character; nil for a control character.
    public static func of(_ character: Character) -> Int? {
        guard let scalar = character.unicodeScalars.first else { return 0 }
        return of(scalar)
    }

    /// Columns of one scalar; nil for a control character (C0, DEL, C1).
    public static func of(_ scalar: Unicode.Scalar) -> Int? {
        let v = scalar.value
        if v < 0x20 || (v >= 0x7F && v < 0xA0) { return nil }
        if v < 0x7F { return 1 }
        if let width = system(v) { return width }
        return fallback(v)
    }

    /// Columns of a whole string as `Surface.put` would draw it (controls take none).
    public static func of(_ text: String) -> Int {
        text.reduce(0) { $0 + max(0, of($1) ?? 0) }
    }

    // MARK: - wcwidth in a UTF-8 locale

    private typealias WcwidthFunction = @convention(c) (Int32) -> Int32

    /// `wcwidth` and a UTF-8 locale. Immutable: the locale is made once, never changed or
    /// freed, and `uselocale` (which reads it) is per thread, so sharing it is safe.
    private struct SystemWidth: @unchecked Sendable {
        let function: WcwidthFunction
        let locale: locale_t
    }

    /// `wcwidth` and a UTF-8 locale, looked up once; nil when either is missing.
    private static let wcwidthInUTF8: SystemWidth? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "wcwidth") else { return nil }
        let function = unsafeBitCast(symbol, to: WcwidthFunction.self)
        for name in ["C.UTF-8", "C.utf8", "en_US.UTF-8", "UTF-8"] {
            if let locale = newlocale(Int32(LC_CTYPE_MASK), name, nil) { return SystemWidth(function: function, locale: locale) }
        }
        return nil
    }()

    private static func system(_ value: UInt32) -> Int? {
        guard let (function, locale) = wcwidthInUTF8.map({ ($0.function, $0.locale) }) else { return nil }
        let previous = uselocale(locale)
        let width = function(Int32(bitPattern: value))
        uselocale(previous)
        // -1 for a printable scalar means "unassigned or private use": the terminal draws one column
        return width < 0 ? 1 : Int(width)
    }

    // MARK: - built-in fallback

    /// The main zero-width and wide ranges of Unicode's East Asian Width property.
    private static let zeroWidth: [ClosedRange<UInt32>] = [
        0x0300...0x036F, 0x0483...0x0489, 0x0591...0x05BD, 0x0610...0x061A, 0x064B...0x065F,
        0x200B...0x200F, 0x202A...0x202E, 0x2060...0x2064, 0x20D0...0x20FF, 0xFE00...0xFE0F,
        0xFE20...0xFE2F, 0xFEFF...0xFEFF, 0xE0100...0xE01EF,
    ]
    private static let wide: [ClosedRange<UInt32>] = [
        0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0...0x23F3,
        0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x26AA...0x26AB, 0x26BD...0x26BE,
        0x26C4...0x26C5, 0x26F5...0x26F5, 0x26FA...0x26FA, 0x2705...0x2705, 0x270A...0x270B,
        0x2728...0x2728, 0x274C...0x274C, 0x2753...0x2755, 0x2757...0x2757, 0x2795...0x2797,
        0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
        0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F,
        0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x16FE0...0x16FE4, 0x17000...0x18CFF, 0x1B000...0x1B2FF,
        0x1F004...0x1F004, 0x1F0CF...0x1F0CF, 0x1F18E...0x1F18E, 0x1F191...0x1F19A, 0x1F200...0x1F251,
        0x1F300...0x1F64F, 0x1F680...0x1F6FF, 0x1F7E0...0x1F7EB, 0x1F90C...0x1F9FF, 0x1FA70...0x1FAFF,
        0x20000...0x2FFFD, 0x30000...0x3FFFD,
    ]

    static func fallback(_ value: UInt32) -> Int {
        if zeroWidth.contains(where: { $0.contains(value) }) { return 0 }
        if wide.contains(where: { $0.contains(value) }) { return 2 }
        return 1
    }
}

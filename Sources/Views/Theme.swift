import Core
import Foundation

/// A colour as a theme file names it.
public enum ThemeColor: Equatable, Sendable {
    /// the terminal's own foreground or background
    case terminalDefault
    /// an xterm palette index, 0…255 (0–7 the basic colours, 8–15 their bright forms)
    case index(Int)
    case rgb(UInt8, UInt8, UInt8)

    static let names: [String: Int] = [
        "black": 0, "red": 1, "green": 2, "yellow": 3, "blue": 4, "magenta": 5, "cyan": 6, "white": 7,
        "bright-black": 8, "gray": 8, "grey": 8, "bright-red": 9, "bright-green": 10, "bright-yellow": 11,
        "bright-blue": 12, "bright-magenta": 13, "bright-cyan": 14, "bright-white": 15,
    ]

    init?(parsing s: String) {
        let t = s.lowercased()
        if t == "default" { self = .terminalDefault; return }
        if let n = Self.names[t] { self = .index(n); return }
        if let n = Int(t), (0...255).contains(n) { self = .index(n); return }
        if t.hasPrefix("#"), t.count == 7, let v = UInt32(t.dropFirst(), radix: 16) {
            self = .rgb(UInt8(v >> 16), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF))
            return
        }
        return nil
    }

    /// The palette index to use on a terminal with `colors` colours (8, 16, 256 or more);
    /// nil means the terminal's default. RGB goes to the nearest xterm-256 entry, and on 8- or
    /// 16-colour terminals everything goes to the nearest basic colour.
    public func paletteIndex(colors: Int) -> Int? {
        switch self {
        case .terminalDefault: return nil
        case .index(let i):
            if colors >= 256 || i < colors { return i }
            let (r, g, b) = Self.xtermRGB(i)
            return Self.nearestBasic(r, g, b, count: colors)
        case .rgb(let r, let g, let b):
            if colors >= 256 { return Self.nearest256(Int(r), Int(g), Int(b)) }
            return Self.nearestBasic(Int(r), Int(g), Int(b), count: colors)
        }
    }

    static let basic: [(Int, Int, Int)] = [
        (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
        (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
    ]

    /// The colour as CSS (`#rrggbb`): an xterm-256 index by the xterm palette; nil for the
    /// terminal's default (a page then uses its own).
    public var css: String? {
        let rgb: (Int, Int, Int)
        switch self {
        case .terminalDefault: return nil
        case .index(let i): rgb = Self.xtermRGB(max(0, min(255, i)))
        case .rgb(let r, let g, let b): rgb = (Int(r), Int(g), Int(b))
        }
        return "#" + [rgb.0, rgb.1, rgb.2].map { String(format: "%02x", $0) }.joined()
    }

    /// The RGB of an xterm-256 palette entry.
    static func xtermRGB(_ i: Int) -> (Int, Int, Int) {
        if i < 16 { return basic[i] }
        if i < 232 {
            let c = i - 16
            let level = { (v: Int) in v == 0 ? 0 : 55 + v * 40 }
            return (level(c / 36), level((c / 6) % 6), level(c % 6))
        }
        let g = 8 + (i - 232) * 10
        return (g, g, g)
    }

    static func distance(_ a: (Int, Int, Int), _ b: (Int, Int, Int)) -> Int {
        let dr = a.0 - b.0, dg = a.1 - b.1, db = a.2 - b.2
        return 2 * dr * dr + 4 * dg * dg + 3 * db * db
    }

    static func nearest256(_ r: Int, _ g: Int, _ b: Int) -> Int {
        var best = 16, bestD = Int.max
        for i in 16..<256 {
            let d = distance(xtermRGB(i), (r, g, b))
            if d < bestD { best = i; bestD = d }
        }
        return best
    }

    static func nearestBasic(_ r: Int, _ g: Int, _ b: Int, count: Int) -> Int {
        var best = 0, bestD = Int.max
        for i in 0..<min(max(count, 8), 16) {
            let d = distance(basic[i], (r, g, b))
            if d < bestD { best = i; bestD = d }
        }
        return best
    }
}

/// How one role is drawn.
public struct ThemeEntry: Equatable, Sendable {
    public var foreground: ThemeColor
    public var background: ThemeColor
    public var bold = false
    public var underline = false
    public var dim = false
    public var reverse = false
}

/// A colour theme: semantic roles (see `Role`) mapped to colours and attributes, read from a
/// human-editable file in Themes/. Format, one role per line:
///
///     # comment
///     role = foreground [background] [bold] [underline] [dim] [reverse]
///
/// Colours: `default`, the names black … white and bright-black … bright-white, 0–255
/// (xterm palette) or #rrggbb. A role the theme does not name is drawn like its parent
/// (`entropy.3` → `entropy`), else like `text`. `monochrome = true` draws attributes only.
public struct Theme: Equatable, Sendable {
    public var name: String
    public var entries: [String: ThemeEntry]
    public var monochrome: Bool

    public init(name: String, entries: [String: ThemeEntry], monochrome: Bool = false) {
        self.name = name; self.entries = entries; self.monochrome = monochrome
    }

    /// Parses theme text; errors name the file and line.
    public static func parse(_ text: String, name: String) throws -> Theme {
        var entries: [String: ThemeEntry] = [:]
        var monochrome = false
        let known = Set(Role.all)
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            func fail(_ why: String) -> ThinktopError {
                .invalidArgument("theme \(name) line \(n + 1): \(why)")
            }
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else { throw fail("expected `role = colour …`, got \"\(line)\"") }
            let role = parts[0]
            if role == "monochrome" {
                guard let b = Bool(parts[1]) else { throw fail("monochrome must be true or false") }
                monochrome = b
                continue
            }
            guard known.contains(role) || known.contains(where: { $0.hasPrefix(role + ".") }) else {
                throw fail("unknown role \"\(role)\"")
            }
            var colors: [ThemeColor] = []
            var entry = ThemeEntry(foreground: .terminalDefault, background: .terminalDefault)
            for word in parts[1].split(separator: " ", omittingEmptySubsequences: true).map(String.init) {
                switch word.lowercased() {
                case "bold": entry.bold = true
                case "underline": entry.underline = true
                case "dim": entry.dim = true
                case "reverse": entry.reverse = true
                default:
                    guard let c = ThemeColor(parsing: word) else { throw fail("\"\(word)\" is not a colour or attribute") }
                    guard colors.count < 2 else { throw fail("more than two colours for \(role)") }
                    colors.append(c)
                }
            }
            if colors.count > 0 { entry.foreground = colors[0] }
            if colors.count > 1 { entry.background = colors[1] }
            entries[role] = entry
        }
        return Theme(name: name, entries: entries, monochrome: monochrome)
    }

    /// The entry for a role: its own, its parent's, else `text`'s, else the terminal default.
    public func entry(for role: String) -> ThemeEntry {
        if let e = entries[role] { return e }
        var r = role
        while let dot = r.lastIndex(of: ".") {
            r = String(r[..<dot])
            if let e = entries[r] { return e }
        }
        return entries[Role.text] ?? ThemeEntry(foreground: .terminalDefault, background: .terminalDefault)
    }

    /// Loads a theme by name (a file `<name>.theme` in one of `directories`) or by path.
    public static func load(_ nameOrPath: String, directories: [String]) throws -> Theme {
        var candidates: [String] = []
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".theme") {
            candidates = [nameOrPath]
        } else {
            candidates = directories.map { ($0 as NSString).appendingPathComponent(nameOrPath + ".theme") }
        }
        for path in candidates where FileManager.default.fileExists(atPath: path) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ThinktopError.invalidArgument("theme \(path) is not readable UTF-8 text")
            }
            return try parse(text, name: path)
        }
        let available = directories.flatMap { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] }
            .filter { $0.hasSuffix(".theme") }.map { String($0.dropLast(6)) }.sorted()
        throw ThinktopError.invalidArgument("no theme \"\(nameOrPath)\"" + (available.isEmpty ? "" : " (available: \(available.joined(separator: ", ")))"))
    }
}

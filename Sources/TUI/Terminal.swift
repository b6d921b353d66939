import CNcurses
import Core
import Foundation
import Synchronization
import Views

/// A key as the workbench understands it.
enum Key: Equatable {
    case char(Character)
    case left, right, up, down, home, end, pageUp, pageDown
    /// the Delete key (Backspace arrives as the character DEL, Enter as CR)
    case delete
    case resize
}

/// Signals that end the workbench. Set from a signal handler (an atomic store is
/// async-signal-safe), read by the event loop.
let pendingQuitSignal = Atomic<Int32>(0)

/// The one place that talks to curses: start-up and restore, colours from a theme, frames
/// drawn by sending only the cells that changed since the last frame, keys. While it is up,
/// stderr goes to a file and is printed after the terminal is restored (htop's habit), so
/// nothing else writes onto the screen.
final class CursesTerminal {
    let glyphs: Glyphs
    private let theme: Theme
    private let colors: Int
    private var pairs: [String: Int32] = [:]
    private var nextPair: Int32 = 1
    private var previous: Surface?
    private var savedStderr: Int32 = -1
    private var stderrPath: String?
    /// whether curses is up (read by the fatal-signal handlers)
    private static let active = Atomic<Bool>(false)
    /// the real stderr while curses is up (-1 otherwise), for `emergencyRestore`
    private static let realStderr = Atomic<Int32>(-1)

    /// Starts curses. Refuses without a terminal on stdin and stdout.
    init(theme: Theme, noColor: Bool) throws {
        guard isatty(0) == 1, isatty(1) == 1 else {
            throw ThinktopError.invalidArgument("the workbench needs a terminal (stdin and stdout are not one): use `thinktop run` for headless output")
        }
        setlocale(LC_ALL, "")
        glyphs = tt_is_utf8_locale() != 0 ? .unicode : .ascii
        // stderr into a file while curses owns the screen
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("thinktop-stderr-\(getpid()).log").path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if fd >= 0 {
            savedStderr = dup(2)
            Self.realStderr.store(savedStderr, ordering: .sequentiallyConsistent)
            dup2(fd, 2)
            close(fd)
            stderrPath = path
        }
        guard initscr() != nil else {
            if savedStderr >= 0 { dup2(savedStderr, 2) }
            throw ThinktopError.invalidArgument("curses could not start on this terminal (TERM=\(ProcessInfo.processInfo.environment["TERM"] ?? "unset"))")
        }
        Self.active.store(true, ordering: .sequentiallyConsistent)
        Self.installSignalHandlers()
        cbreak()
        noecho()
        keypad(tt_stdscr(), true)
        // Esc closes what is open: a short wait tells it from the start of an arrow key's sequence
        _ = tt_set_escdelay(25)
        curs_set(0)
        nonl()
        var colorCount = 0
        if !noColor && !theme.monochrome && has_colors() {
            start_color()
            use_default_colors()
            colorCount = Int(tt_colors())
        }
        colors = colorCount
        self.theme = theme
    }

    deinit { restore() }

    /// Ends curses and gives stderr back, printing what was written to it meanwhile.
    func restore() {
        guard Self.active.exchange(false, ordering: .sequentiallyConsistent) else { return }
        endwin()
        if savedStderr >= 0 {
            Self.realStderr.store(-1, ordering: .sequentiallyConsistent)
            dup2(savedStderr, 2)
            close(savedStderr)
            savedStderr = -1
        }
        if let p = stderrPath {
            if let data = FileManager.default.contents(atPath: p), !data.isEmpty {
                try? FileHandle.standardError.write(contentsOf: data)
            }
            unlink(p)
            stderrPath = nil
        }
    }

    /// For fatal signals and errors: put the terminal back, and stderr with it, before the
    /// process dies (the last line it prints must reach the person).
    static func emergencyRestore() {
        if active.exchange(false, ordering: .sequentiallyConsistent) { endwin() }
        let fd = realStderr.exchange(-1, ordering: .sequentiallyConsistent)
        if fd >= 0 { dup2(fd, 2) }
    }

    private static func installSignalHandlers() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { s in pendingQuitSignal.store(s, ordering: .relaxed) }
        }
        for sig in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT] {
            signal(sig) { s in
                CursesTerminal.emergencyRestore()
                signal(s, SIG_DFL)
                raise(s)
            }
        }
    }

    var size: (width: Int, height: Int) { (Int(tt_cols()), Int(tt_lines())) }

    /// Draws a frame: only cells that differ from the previous frame are sent, then one refresh.
    func draw(_ surface: Surface) {
        let full = previous == nil || previous!.width != surface.width || previous!.height != surface.height
        if full { erase() }
        var lastStyle: Style?
        for y in 0..<surface.height {
            for x in 0..<surface.width {
                let cell = surface[x, y]
                if !full, let p = previous, p[x, y] == cell { continue }
                if Surface.isContinuation(cell) { continue }
                if cell.style != lastStyle {
                    apply(cell.style)
                    lastStyle = cell.style
                }
                _ = tt_mvaddstr(Int32(y), Int32(x), String(cell.symbol))
            }
        }
        previous = surface
        // one frame, one update: terminals that know synchronized output (mode 2026) show it
        // whole instead of row by row; the others ignore the two sequences
        fputs("\u{1B}[?2026h", tt_stdout())
        fflush(tt_stdout())
        refresh()
        fputs("\u{1B}[?2026l", tt_stdout())
        fflush(tt_stdout())
    }

    /// Forgets the last frame, so the next one is sent whole (after a resize).
    func invalidate() { previous = nil }

    private func apply(_ style: Style) {
        let entry = theme.entry(for: style.role)
        var attrs = tt_a_normal()
        if entry.bold || style.bold { attrs |= tt_a_bold() }
        if entry.underline || style.underline { attrs |= tt_a_underline() }
        if entry.dim || style.dim { attrs |= tt_a_dim() }
        if entry.reverse != style.reverse { attrs |= tt_a_reverse() }
        _ = tt_set_style(attrs, colors > 0 ? pair(for: style.role, entry) : 0)
    }

    private func pair(for role: String, _ entry: ThemeEntry) -> Int32 {
        if let p = pairs[role] { return p }
        let fg = Int32(entry.foreground.paletteIndex(colors: colors) ?? -1)
        let bg = Int32(entry.background.paletteIndex(colors: colors) ?? -1)
        let p = nextPair
        if p < tt_color_pairs() {
            _ = tt_init_pair(p, fg, bg)
            nextPair += 1
        }
        pairs[role] = p < tt_color_pairs() ? p : 0
        return pairs[role]!
    }

    /// Waits up to `timeoutMs` for a key.
    func readKey(timeoutMs: Int) -> Key? {
        timeout(Int32(timeoutMs))
        var ch: wint_t = 0
        let r = tt_get_wch(&ch)
        if r == ERR { return nil }
        if r == tt_key_code_yes() {
            switch Int32(ch) {
            case tt_key_left(): return .left
            case tt_key_right(): return .right
            case tt_key_up(): return .up
            case tt_key_down(): return .down
            case tt_key_home(): return .home
            case tt_key_end(): return .end
            case tt_key_ppage(): return .pageUp
            case tt_key_npage(): return .pageDown
            case tt_key_resize(): return .resize
            case tt_key_backspace(): return .char("\u{7F}")
            case tt_key_dc(): return .delete
            case tt_key_enter(): return .char("\r")
            default: return nil
            }
        }
        guard let scalar = Unicode.Scalar(UInt32(ch)) else { return nil }
        return .char(Character(scalar))
    }
}

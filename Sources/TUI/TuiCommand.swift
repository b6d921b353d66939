import ArgumentParser
import Core
import Foundation
import Synchronization
import Views

/// Where the shipped themes are: $THINKTOP_THEMES, or a Themes folder beside the executable
/// or above it (the source tree's `.build/release/thinktop` finds `Themes/`).
enum ThemeFiles {
    static var directories: [String] {
        var dirs: [String] = []
        if let d = ProcessInfo.processInfo.environment["THINKTOP_THEMES"], !d.isEmpty { dirs.append(d) }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            dirs.append(url.appendingPathComponent("Themes").path)
            dirs.append(url.appendingPathComponent("share/thinktop/Themes").path)
            url.deleteLastPathComponent()
        }
        return dirs
    }

    /// The theme to use: `--theme`, else dark; NO_COLOR turns colours off whatever the theme.
    static func load(_ name: String?) throws -> (Theme, noColor: Bool) {
        let noColor = !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        let theme = try Theme.load(name ?? "dark", directories: directories)
        return (theme, noColor)
    }
}

struct Tui: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tui",
        abstract: "The workbench: watch the model think live, pause, step, inspect alternatives, rewind.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var generation: GenerationOptions

    @Option(name: .long, help: "Colour theme: dark, light, high-contrast, monochrome, or a .theme file.")
    var theme: String?

    @Flag(name: .long, help: "Open paused once the prompt is read: space starts generating (set things up first, for a demo).")
    var paused = false

    func validate() throws {
        guard isatty(0) == 1, isatty(1) == 1 else {
            throw ValidationError("the workbench needs a terminal (stdin and stdout are not one): use `thinktop run` for headless output")
        }
    }

    func run() throws {
        let (theme, noColor) = try ThemeFiles.load(theme)
        let terminal = try CursesTerminal(theme: theme, noColor: noColor)
        let mailbox = Mailbox()
        // the model loads with the workbench up: what loads where, and how far it is
        var loaded: LoadReport.Facts?
        let prepared: PreparedRun
        let started = Date()
        do {
            prepared = try PreparedRun.prepare(model: modelOptions, generation: generation, keepLines: generation.trace == nil,
                                               report: Self.loadingScreen(terminal) { loaded = $0 })
        } catch {
            terminal.restore()
            throw error
        }
        let loadSeconds = Date().timeIntervalSince(started)
        prepared.session.branchCache = generation.branchCache
        let commands = prepared.session.commands
        let driver = LiveDriver(prepared, mailbox: mailbox)
        let info = driver.info
        if paused { commands.send(.pause) }
        let thread = SessionThread(commands: commands) { driver.loop() }
        let app = WorkbenchApp(source: .live(LiveRun(info: info, thread: thread, driver: driver)),
                               terminal: terminal, mailbox: mailbox)
        app.tracePath = generation.trace
        app.historyPath = CommandHistory.defaultPath()
        app.history = CommandHistory.load(path: app.historyPath!)
        if let loaded {
            app.flash("loaded \(loaded.line) in \(String(format: "%.1f", loadSeconds)) s", seconds: 4)
        }
        app.run()
        terminal.restore()
        let tracePath = driver.tracePath.withLock { $0 }
        if let why = app.traceFailure {
            printError("thinktop: \(why): recording stopped there\n")
        }
        if let s = app.summary {
            let line = String(format: "%d tokens (thinking %d, answer %d) · %.1f tok/s · %d events%@",
                              s.tokens, s.thinkingTokens, s.answerTokens, s.tokensPerSecond, s.events,
                              tracePath.map { " · trace \($0)" } ?? "")
            printError((line + Run.servedLine(s.served) + "\n"))
        }
        if app.traceFailure != nil { throw ExitCode(1) }
        // the run stopped on an error (a server gone, …): the workbench showed it; it is said
        // once more where it stays, with what the trace kept
        if let error = driver.failure.withLock({ $0 }) {
            printError("thinktop: \(error)\(Run.kept(app.summary?.tokens ?? 0, trace: tracePath))\n")
            throw ExitCode(1)
        }
    }

    /// The loading screen, drawn as llama.cpp reports progress (each percent); Ctrl-C stops the load.
    static func loadingScreen(_ terminal: CursesTerminal, facts: @escaping (LoadReport.Facts) -> Void) -> LoadReport {
        final class State { var what = ""; var last = -1 }
        let state = State()
        func draw(_ f: Double) {
            let (w, h) = terminal.size
            terminal.draw(LoadingScreen.render(what: state.what, fraction: f, width: w, height: h, glyphs: terminal.glyphs))
        }
        return LoadReport(
            started: { f in
                state.what = f.line
                facts(f)
                draw(0)
            },
            progress: { p in
                let pct = Int(p * 100)
                if pct != state.last {
                    state.last = pct
                    draw(Double(p))
                }
                return pendingQuitSignal.load(ordering: .relaxed) == 0
            },
            finished: { _ in })
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The workbench over a recorded trace, no model needed: play, pause, scrub, change speed.",
        discussion: "A server's response with log-probabilities (what `thinktop import` reads) replays directly.")

    @Argument(help: "A trace written with --trace or by `thinktop import`, or a server response to import on the fly.")
    var trace: String

    @Option(name: .long, help: "Colour theme: dark, light, high-contrast, monochrome, or a .theme file.")
    var theme: String?

    @Option(name: .customLong("run"), help: "Which run of a file that holds several: its name or its number (default: the first).")
    var runName: String?

    func validate() throws {
        guard FileManager.default.fileExists(atPath: trace) else { throw ValidationError("no such trace: \(trace)") }
    }

    /// The trace's lines: a thinktop trace as it is, anything else through the importer (whose
    /// error names the shape it expected, when the file is neither).
    static func read(_ path: String, run: String?) throws -> TraceReader {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ThinktopError.traceUnreadable(path: path, reason: "no such file or not readable")
        }
        var reader: TraceReader
        do {
            // read in blocks (a long trace is not held whole besides its lines)
            reader = try TraceReader(path: path)
        } catch let traceError {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ThinktopError.traceUnreadable(path: path, reason: "no such file or not readable")
            }
            guard !looksLikeTrace(data) else { throw traceError }
            let runs: [TraceImport.Run]
            do {
                runs = try TraceImport.runs(from: data, file: path)
            } catch ThinktopError.importFailed(_, let line, let why) {
                let at = line.map { "line \($0): " } ?? ""
                throw ThinktopError.traceUnreadable(path: path, reason: "it is neither a thinktop trace nor a server answer with log-probabilities (\(at)\(why.split(separator: ":").first ?? ""))")
            }
            var joined = Data()
            let encoder = JSONEncoder()
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            for line in runs.flatMap(\.lines) {
                switch line {
                case .header(let h): joined.append(try encoder.encode(h))
                case .token(let t): joined.append(try encoder.encode(t))
                case .event(let e): joined.append(try encoder.encode(e))
                case .summary(let s): joined.append(try encoder.encode(s))
                }
                joined.append(0x0A)
            }
            reader = try TraceReader(data: joined, path: path)
        }
        if let run { try reader.select(run: run, path: path) }
        return reader
    }

    /// whether the file's first line is a thinktop trace line (then its errors are the trace's)
    static func looksLikeTrace(_ data: Data) -> Bool {
        let first = data.prefix { $0 != 0x0A }
        guard let o = try? JSONSerialization.jsonObject(with: first) as? [String: Any] else { return false }
        return o["type"] as? String == "header" && o["format"] != nil
    }

    func run() throws {
        let reader = try Self.read(trace, run: runName)
        let timeline = try ReplayTimeline(reader: reader)
        guard isatty(0) == 1, isatty(1) == 1 else {
            throw ThinktopError.invalidArgument("replay needs a terminal (stdin and stdout are not one)")
        }
        let (theme, noColor) = try ThemeFiles.load(theme)
        let terminal = try CursesTerminal(theme: theme, noColor: noColor)
        let app = WorkbenchApp(source: .replay(timeline), terminal: terminal)
        app.tracePath = trace
        app.run()
        terminal.restore()
    }
}

/// How each branch keeps its cache, for the status bar and the branch list.
enum BranchCaches {
    static func of(_ session: DecodingSession) -> [Int: String] {
        Dictionary(uniqueKeysWithValues: session.branches.map { ($0.id, session.cacheState(of: $0.id).rawValue) })
    }
}

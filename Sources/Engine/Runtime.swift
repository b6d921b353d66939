import CLlama
import Foundation
import Synchronization

/// llama.cpp's process-wide set-up, and its log output kept off the user's terminal.
/// Every log line goes into a bounded in-memory buffer (shown when a load fails) and,
/// when `logFile` is set, to that file.
public enum LlamaRuntime {
    private struct State {
        var initialized = false
        var recent: [String] = []
        var partial = ""
        /// lines recorded so far (a mark for `log(since:)`)
        var lineCount = 0
        var logHandle: FileHandle?
        var echoToStderr = false
    }
    private static let state = Mutex(State())

    /// What to do when ggml gives up (`GGML_ABORT`: a ggml-rpc-server gone mid-run, a device
    /// error): called with ggml's message on whichever thread failed, before ggml would abort
    /// the process. It should say so in one line, keep what can be kept, and exit.
    private static let fatalHandler = Mutex<(@Sendable (String) -> Void)?>(nil)

    public static func onFatal(_ handler: @escaping @Sendable (String) -> Void) {
        initialize()
        fatalHandler.withLock { $0 = handler }
        ggml_set_abort_callback { message in
            let text = message.map { String(cString: $0) } ?? "ggml aborted"
            if let handler = LlamaRuntime.fatalHandler.withLock({ $0 }) { handler(text) }
        }
    }

    /// Also echo llama.cpp's log to stderr (for debugging; never while the TUI is up).
    public static var echoToStderr: Bool {
        get { state.withLock { $0.echoToStderr } }
        set { state.withLock { $0.echoToStderr = newValue } }
    }

    /// Sets up llama.cpp once. `logFile`: where its log is appended (nil: memory only).
    public static func initialize(logFile: String? = nil) {
        let first = state.withLock { s -> Bool in
            if let logFile, s.logHandle == nil {
                if !FileManager.default.fileExists(atPath: logFile) {
                    FileManager.default.createFile(atPath: logFile, contents: nil)
                }
                s.logHandle = FileHandle(forWritingAtPath: logFile)
                _ = try? s.logHandle?.seekToEnd()
            }
            defer { s.initialized = true }
            return !s.initialized
        }
        guard first else { return }
        llama_log_set({ level, text, _ in
            guard let text else { return }
            LlamaRuntime.record(level: level, String(cString: text))
        }, nil)
        llama_backend_init()
    }

    static func record(level: ggml_log_level, _ text: String) {
        state.withLock { s in
            if level != GGML_LOG_LEVEL_DEBUG, let data = text.data(using: .utf8) {
                // a log file that cannot take more (a full disk, a size limit) stops being written;
                // Foundation's non-throwing write would end the process instead
                if let h = s.logHandle, (try? h.write(contentsOf: data)) == nil { s.logHandle = nil }
                if s.echoToStderr { try? FileHandle.standardError.write(contentsOf: data) }
            }
            s.partial += text
            while let nl = s.partial.firstIndex(of: "\n") {
                let line = String(s.partial[..<nl])
                s.partial = String(s.partial[s.partial.index(after: nl)...])
                if level == GGML_LOG_LEVEL_DEBUG { continue }
                s.recent.append(line)
                s.lineCount += 1
                if s.recent.count > 200 { s.recent.removeFirst(s.recent.count - 200) }
            }
        }
    }

    /// The last log lines, newest last.
    public static func recentLog(_ n: Int = 20) -> [String] {
        state.withLock { Array($0.recent.suffix(n)) }
    }

    /// A mark for `log(since:)`.
    public static func logMark() -> Int { state.withLock { $0.lineCount } }

    /// The lines logged after `mark` (at most the last 200).
    public static func log(since mark: Int) -> [String] {
        state.withLock { Array($0.recent.suffix(min($0.recent.count, max(0, $0.lineCount - mark)))) }
    }

    /// The most telling recent error line from llama.cpp, for one-line error messages.
    static func lastErrorLine() -> String? {
        let lines = recentLog(40)
        let errs = lines.filter { $0.contains("error") || $0.contains("failed") || $0.contains("invalid") }
        let pick = errs.first(where: { !$0.contains("failed to load model") && !$0.contains("error loading model:") })
            ?? errs.last
        return pick.map { cleanLine($0) }
    }

    static func cleanLine(_ s: String) -> String {
        var t = s.trimmingCharacters(in: .whitespaces)
        // drop llama.cpp's "function_name: " prefixes
        while let r = t.range(of: #"^[a-z_0-9]+: "#, options: .regularExpression) { t.removeSubrange(r) }
        return t
    }
}

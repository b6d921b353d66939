import CLlama
import Foundation

/// llama.cpp's process-wide set-up, and its log output kept off the user's terminal.
/// Every log line goes into a bounded in-memory buffer (shown when a load fails) and,
/// when `logFile` is set, to that file.
public enum LlamaRuntime {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var initialized = false
    nonisolated(unsafe) private static var recent: [String] = []
    nonisolated(unsafe) private static var partial = ""
    /// lines recorded so far (a mark for `log(since:)`)
    nonisolated(unsafe) private static var lineCount = 0
    nonisolated(unsafe) private static var logHandle: FileHandle?
    /// also echo llama.cpp's log to stderr (for debugging; never while the TUI is up)
    nonisolated(unsafe) public static var echoToStderr = false

    /// Sets up llama.cpp once. `logFile`: where its log is appended (nil: memory only).
    public static func initialize(logFile: String? = nil) {
        lock.lock()
        defer { lock.unlock() }
        if let logFile, logHandle == nil {
            if !FileManager.default.fileExists(atPath: logFile) {
                FileManager.default.createFile(atPath: logFile, contents: nil)
            }
            logHandle = FileHandle(forWritingAtPath: logFile)
            _ = try? logHandle?.seekToEnd()
        }
        guard !initialized else { return }
        initialized = true
        llama_log_set({ level, text, _ in
            guard let text else { return }
            LlamaRuntime.record(level: level, String(cString: text))
        }, nil)
        llama_backend_init()
    }

    static func record(level: ggml_log_level, _ text: String) {
        lock.lock()
        defer { lock.unlock() }
        if level != GGML_LOG_LEVEL_DEBUG, let data = text.data(using: .utf8) {
            logHandle?.write(data)
            if echoToStderr { FileHandle.standardError.write(data) }
        }
        partial += text
        while let nl = partial.firstIndex(of: "\n") {
            let line = String(partial[..<nl])
            partial = String(partial[partial.index(after: nl)...])
            if level == GGML_LOG_LEVEL_DEBUG { continue }
            recent.append(line)
            lineCount += 1
            if recent.count > 200 { recent.removeFirst(recent.count - 200) }
        }
    }

    /// The last log lines, newest last.
    public static func recentLog(_ n: Int = 20) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return Array(recent.suffix(n))
    }

    /// A mark for `log(since:)`.
    public static func logMark() -> Int {
        lock.lock()
        defer { lock.unlock() }
        return lineCount
    }

    /// The lines logged after `mark` (at most the last 200).
    public static func log(since mark: Int) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return Array(recent.suffix(min(recent.count, max(0, lineCount - mark))))
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

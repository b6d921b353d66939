import CNcurses
import Core
import Engine
import Foundation
import Synchronization

/// When ggml gives up mid-run (a ggml-rpc-server gone, a device error) it aborts the process
/// from whichever thread failed. Before that happens thinktop keeps what a person needs: the
/// trace gets its summary line (every step was written as it happened), the terminal is put
/// back, and one line says which server stopped and what to do; the exit status is 1.
final class FatalExit: Sendable {
    private let last = Mutex<TraceSummary?>(nil)
    private let path: Mutex<String?>
    /// the trace being written (`trace FILE` in the workbench can start one mid-run)
    var tracePath: String? { path.withLock { $0 } }
    let endpoints: [String]
    /// puts the terminal back (the workbench), before the line is printed
    let restore: @Sendable () -> Void

    init(tracePath: String?, endpoints: [String], restore: @escaping @Sendable () -> Void = {}) {
        path = Mutex(tracePath)
        self.endpoints = endpoints
        self.restore = restore
    }

    /// The trace is written to `path` from now on.
    func recording(to path: String) { self.path.withLock { $0 = path } }

    /// The run as of its last step (called on the session's thread after every step).
    func note(_ summary: TraceSummary) { last.withLock { $0 = summary } }

    /// Makes this the handler of ggml's fatal errors.
    func install() {
        LlamaRuntime.onFatal { [self] message in handle(message) }
    }

    private func handle(_ message: String) -> Never {
        let summary = last.withLock { s -> TraceSummary? in
            guard var s else { return nil }
            s.stopReason = StopReason.error.rawValue
            return s
        }
        if let summary, let tracePath { Self.append(summary, to: tracePath) }
        restore()
        fflush(tt_stdout())
        let what = Self.plain(message)
        let kept = summary.map { s in
            tracePath.map { " after \(s.tokens) tokens; the trace keeps them and its summary (`thinktop replay \($0)`)" }
                ?? " after \(s.tokens) tokens"
        } ?? ""
        // a server that is going away can still accept on its listening socket for a moment
        // after the connection llama.cpp used was reset: one that stops within a quarter of a
        // second counts as gone
        var gone: [String] = []
        for _ in 0..<5 where gone.isEmpty {
            gone = endpoints.filter { !Devices.isListening($0) }
            if gone.isEmpty { usleep(50_000) }
        }
        let line: String
        if !gone.isEmpty {
            line = "thinktop: RPC server \(gone.joined(separator: ", ")) stopped answering (llama.cpp: \(what)): the run ended\(kept); restart ggml-rpc-server there and run again"
        } else {
            line = "thinktop: llama.cpp failed: \(what): the run ended\(kept)"
        }
        printError(line + "\n")
        _exit(1)
    }

    /// ggml's message without the source file and line it starts with ("…/ggml-rpc.cpp:566: ").
    static func plain(_ message: String) -> String {
        var text = message.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("/"), let r = text.range(of: #"^\S+:\d+: "#, options: .regularExpression) {
            text.removeSubrange(r)
        }
        return text
    }

    /// The summary as the trace's last line (the file is appended to: the session's thread
    /// is waiting inside the failed decode, not writing).
    private static func append(_ summary: TraceSummary, to path: String) {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard var data = try? enc.encode(summary) else { return }
        data.append(0x0A)
        let fd = open(path, O_WRONLY | O_APPEND)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}

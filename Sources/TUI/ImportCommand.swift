import ArgumentParser
import CNcurses
import Core
import Foundation

/// `thinktop import`: inference servers' responses (with per-token log-probabilities) as
/// thinktop traces, which `replay` opens like any other.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn inference servers' responses into thinktop traces (OpenAI chat completions and their streams, legacy completions, llama-server /completion, JSON lines of many).",
        discussion: """
        Each response becomes a trace: its tokens with their top log-probabilities, the entropy \
        as a bracket (only the top k of each distribution is known), reasoning_content or the \
        think markers as the thinking phase. A file of several responses gives one trace per \
        response (FILE.1.trace.jsonl, …), or all of them in the file -o names, each run named. \
        What could not be read (a stream cut short) is said in one line; the trace keeps what was \
        decoded and the exit status is 1.
        """)

    @Argument(help: "Response files (JSON, server-sent events, or JSON lines).")
    var files: [String]

    @Option(name: .shortAndLong, help: "Write here: a trace file (all runs of all inputs, each named), or an existing directory (one trace per run). Default: next to each input, FILE.trace.jsonl.")
    var output: String?

    @Option(name: .long, help: "The model's vocabulary size, for the entropy's upper bound (default 262144; a larger value keeps the bound valid).")
    var vocabulary: Int = TraceImport.Options().vocabularySize

    @Option(name: .customLong("think-open"), help: "The marker that opens thinking in the text.")
    var thinkOpen = "<think>"

    @Option(name: .customLong("think-close"), help: "The marker that closes thinking in the text.")
    var thinkClose = "</think>"

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one response file to import") }
        guard vocabulary >= 2 else { throw ValidationError("--vocabulary must be at least 2, got \(vocabulary)") }
        for f in files where !FileManager.default.isReadableFile(atPath: f) {
            throw ValidationError("cannot read \(f): no such file or not readable")
        }
    }

    func run() throws {
        let options = TraceImport.Options(vocabularySize: vocabulary, markers: ThinkMarkers(open: thinkOpen, close: thinkClose))
        var isDir: ObjCBool = false
        let toDirectory = output.map { FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && isDir.boolValue } ?? false
        let shared = toDirectory ? nil : try output.map { try TraceWriter(path: $0) }
        var problems: [String] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ThinktopError.importFailed(file: file, line: nil, reason: "not readable")
            }
            let runs = try TraceImport.runs(from: data, file: file, options: options)
            for (i, run) in runs.enumerated() {
                let path: String
                let writer: TraceWriter
                if let shared {
                    path = shared.path
                    writer = shared
                } else {
                    path = Self.tracePath(for: file, run: runs.count == 1 ? nil : i + 1, directory: toDirectory ? output : nil)
                    writer = try TraceWriter(path: path)
                }
                for line in run.lines { try writer.write(line) }
                print(Self.describe(run, file: file) + " → " + path)
                if let p = run.problem { problems.append("cannot import \(file) fully: \(p)") }
            }
        }
        fflush(tt_stdout())
        if let first = problems.first {
            printError("thinktop: \(first)\(problems.count > 1 ? " (and \(problems.count - 1) more)" : "")\n")
            throw ExitCode(1)
        }
    }

    /// FILE.json → FILE.trace.jsonl (FILE.2.trace.jsonl for the second of several runs).
    static func tracePath(for file: String, run: Int?, directory: String?) -> String {
        var base = file as NSString
        if let directory { base = (directory as NSString).appendingPathComponent(base.lastPathComponent) as NSString }
        let stem = ["json", "jsonl", "txt", "sse", "ndjson"].contains(base.pathExtension.lowercased())
            ? base.deletingPathExtension : base as String
        return stem + (run.map { ".\($0)" } ?? "") + ".trace.jsonl"
    }

    /// "resp.json (chatcmpl-1, OpenAI chat completion): 312 tokens, 180 thinking, 132 answer"
    static func describe(_ run: TraceImport.Run, file: String) -> String {
        var format = "", tokens = 0, thinking = 0
        for line in run.lines {
            switch line {
            case .header(let h): format = h.source?.format ?? ""
            case .token(let t): tokens += 1; if t.phase == .thinking { thinking += 1 }
            default: break
            }
        }
        return "\(file) (\(run.name), \(format)): \(tokens) tokens, \(thinking) thinking, \(tokens - thinking) answer"
    }
}

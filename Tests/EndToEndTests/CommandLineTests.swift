import Core
import Foundation
import Testing

/// Runs the built `thinktop` binary as a user would. `make test` builds it in release mode
/// and passes its path in THINKTOP_BIN.
enum Binary {
    static let path: String = {
        if let p = ProcessInfo.processInfo.environment["THINKTOP_BIN"], !p.isEmpty { return p }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/release/thinktop").path
    }()
    static let model: String = {
        if let p = ProcessInfo.processInfo.environment["THINKTOP_MODEL"], !p.isEmpty { return p }
        return NSHomeDirectory() + "/.cache/thinktop/models/gemma-3-270m-q4_k_m.gguf"
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var stderrLines: [Substring] { stderr.split(separator: "\n") }
    }

    static func run(_ args: [String], timeout: TimeInterval = 120) throws -> Result {
        let p = try start(args)
        let out = p.out.fileHandleForReading.readDataToEndOfFile()
        let err = p.err.fileHandleForReading.readDataToEndOfFile()
        p.process.waitUntilExit()
        return Result(status: p.process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: err, as: UTF8.self))
    }

    static func start(_ args: [String]) throws -> (process: Process, out: Pipe, err: Pipe) {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            fatalError("thinktop is not built at \(path): run the tests with `make test`")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["THINKTOP_MODEL"] = model
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return (p, out, err)
    }
}

func temporaryDirectory() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("thinktop-e2e-\(UUID())")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

@Suite("thinktop on the command line", .serialized)
struct CommandLineTests {
    @Test("run --max-tokens 64 --trace: text on stdout, a trace with every documented field")
    func headlessRun() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.jsonl").path
        let r = try Binary.run(["run", "--max-tokens", "64", "--trace", trace])
        #expect(r.status == 0)
        #expect(r.stderr.contains("tok/s"))
        let read = try TraceReader(path: trace)
        let header = try #require(read.header)
        #expect(header.format == TraceFormat.version)
        #expect(header.model.sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818")
        #expect(header.model.architecture == "gemma3")
        #expect(header.prompt == DemoProblem.prompt)
        #expect(header.settings.stops == ["\nProblem:"])
        #expect(header.seed == 7)
        let tokens = read.tokens
        #expect(tokens.count >= 1 && tokens.count <= 64)
        #expect(tokens.map(\.index) == Array(0..<tokens.count))
        #expect(tokens.map(\.position) == Array(header.promptTokens..<(header.promptTokens + tokens.count)))
        #expect(tokens.first?.phase == .thinking)
        for t in tokens {
            #expect(t.top.count >= 10)
            #expect(t.entropy >= 0 && t.varentropy >= 0)
            #expect(t.prob > 0 && t.prob <= 1 && abs(log(t.prob) - t.logprob) < 1e-9)
            #expect(t.top1 >= t.prob && t.margin >= 0 && t.margin <= t.top1)
            #expect(zip(t.top, t.top.dropFirst()).allSatisfy { $0.p >= $1.p })
        }
        let summary = try #require(read.summary)
        #expect(summary.tokens == tokens.count)
        #expect(summary.thinkingTokens + summary.answerTokens == tokens.count)
        // the text printed is the trace's visible output, and a run is reproducible
        #expect(r.stdout == summary.output + "\n")
        #expect(!summary.output.isEmpty && !summary.output.contains("\nProblem:"))
        let again = try Binary.run(["run", "--max-tokens", "64"])
        #expect(again.stdout == r.stdout)
        // every token line carries the documented fields by name
        let raw = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        let documented: Set<String> = ["type", "i", "pos", "id", "text", "phase", "input", "logprob", "p", "H",
                                       "varH", "top1", "margin", "topk", "H_win", "H_trend", "rstep", "H_rstep", "effects", "ms"]
        for line in raw.dropFirst() where line.contains("\"type\":\"token\"") {
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(Set(obj.keys) == documented)
        }
    }

    @Test("Ctrl-C stops generation cleanly: the trace ends with its summary")
    func interrupt() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.jsonl").path
        let p = try Binary.start(["run", "--max-tokens", "3000", "--stop", "NEVER-SEEN", "--trace", trace])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let s = try? String(contentsOfFile: trace, encoding: .utf8), s.components(separatedBy: "\"type\":\"token\"").count > 10 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(p.process.processIdentifier, SIGINT)
        _ = p.out.fileHandleForReading.readDataToEndOfFile()
        p.process.waitUntilExit()
        #expect(p.process.terminationStatus == 0)
        let read = try TraceReader(path: trace)
        let summary = try #require(read.summary)
        #expect(summary.stopReason == "stopped")
        #expect(summary.tokens >= 10 && summary.tokens < 3000)
        #expect(read.events.last?.kind == .stop)
    }

    @Test("inspect prints the model's facts")
    func inspect() throws {
        let r = try Binary.run(["inspect", Binary.model])
        #expect(r.status == 0)
        for expected in ["architecture            gemma3", "layers                  18", "n_embd                  640",
                         "sliding window          512", "vocabulary              262144", "KV bytes per token      18432 (f16)",
                         "embedding input scale   sqrt(n_embd)", "think tokens"] {
            #expect(r.stdout.contains(expected), "missing: \(expected)")
        }
    }

    @Test("bench prints both loops and their ratio")
    func bench() throws {
        let r = try Binary.run(["bench", "--tokens", "16", "--reps", "1", "--threads", "2", "--json"])
        #expect(r.status == 0)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        // speed targets are checked by `make bench`, not by tests: this checks what bench reports
        let ratio = try #require(obj["ratio_vs_plain"] as? Double)
        let analysed = try #require(obj["analysis_tok_s"] as? Double), plain = try #require(obj["plain_tok_s"] as? Double)
        #expect(analysed > 0 && plain > 0)
        #expect(abs(ratio - analysed / plain) < 1e-9)
        #expect(abs((obj["analysis_ms_per_token"] as? Double ?? .nan) - (1 / analysed - 1 / plain) * 1000) < 1e-9)
        #expect(obj["tokens"] as? Int == 16 && obj["reps"] as? Int == 1 && obj["threads"] as? Int == 2)
        #expect(obj["model"] as? String == "gemma-3-270m-q4_k_m.gguf")
    }

    @Test("eval prints its table and writes CSV and JSON; a malformed problem file names the line")
    func eval() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let problems = dir.appendingPathComponent("p.jsonl").path
        try "{\"id\": \"a\", \"question\": \"What is 2 + 3?\", \"answer\": \"5\"}\n{\"id\": \"b\", \"question\": \"What is 4 × 2?\", \"answer\": \"8\"}\n"
            .write(toFile: problems, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("res").path
        let r = try Binary.run(["eval", "--problems", problems, "--strategies", "none;budget=16", "--max-tokens", "48", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("| none | 2 |") && r.stdout.contains("| budget=16 | 2 |"), "\(r.stdout)")
        let csv = try String(contentsOfFile: out + ".csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 1 + 4)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + ".json"))) as? [String: Any])
        #expect((json["rows"] as? [Any])?.count == 2)
        try "{\"question\": \"ok\", \"answer\": \"1\"}\nnot json\n".write(toFile: problems, atomically: true, encoding: .utf8)
        try expectOneLineError(["eval", "--problems", problems, "--strategies", "none"], mentions: "line 2")
        try expectOneLineError(["eval", "--strategies", "none;bogus"], mentions: "unknown strategy")
    }

    /// The runs of an eval's JSON report: (set, problem) → the tokens it took.
    static func evalTokens(_ path: String) throws -> [String: [Int]] {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        let runs = try #require(json["runs"] as? [[String: Any]])
        var out: [String: [Int]] = [:]
        for r in runs { out["\(r["set"] ?? "") · \(r["problem"] ?? "")"] = r["tokens"] as? [Int] }
        return out
    }

    @Test("eval --parallel: a problem takes the same tokens with one lane and with eight, with or without the shared prefix and the prompts copied between its runs, probes and latent steps included")
    func parallelEvalIsBatchInvariant() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func eval(_ name: String, _ extra: [String]) throws -> [String: [Int]] {
            let out = dir.appendingPathComponent(name).path
            let r = try Binary.run(["eval", "--limit", "8", "--strategies", "none;deer;swir", "--max-tokens", "40", "--out", out] + extra,
                                   timeout: 600)
            #expect(r.status == 0, "\(r.stderr)")
            // each problem's prompt is evaluated once, its other two runs copy it (with the
            // shared prefix); evaluated whole, every run evaluates its own
            let copied = extra.contains("--no-shared-prefix") ? nil : "16 of 24 prompts copied from a run of the same problem"
            #expect(copied.map(r.stderr.contains) ?? !r.stderr.contains("prompts copied"), "\(r.stderr)")
            return try Self.evalTokens(out + ".json")
        }
        let one = try eval("one", ["--parallel", "1"])
        let eight = try eval("eight", ["--parallel", "8"])
        let whole = try eval("whole", ["--parallel", "8", "--no-shared-prefix"])
        #expect(one.count == 24 && one.values.allSatisfy { !$0.isEmpty })
        for (run, tokens) in one {
            #expect(eight[run] == tokens, "\(run): 8 lanes took other tokens")
            #expect(whole[run] == tokens, "\(run): the whole prompt evaluated took other tokens")
        }
    }

    @Test("eval --serial with the shared prefix copies the few-shot prefix once; --parallel refuses what a batch cannot do")
    func evalModes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("serial").path
        let r = try Binary.run(["eval", "--limit", "2", "--strategies", "none", "--max-tokens", "8", "--serial", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("one problem at a time, a shared prefix of"), "\(r.stderr)")
        #expect(try Self.evalTokens(out + ".json").values.allSatisfy { $0.count == 8 })
        let p = try Binary.run(["eval", "--limit", "2", "--strategies", "none", "--max-tokens", "8", "--parallel", "2", "--out", out])
        #expect(p.status == 0 && p.stderr.contains("2 problems at a time"), "\(p.stderr)")
        try expectOneLineError(["eval", "--parallel", "2", "--strategies", "none;kv=h2o", "--out", out], mentions: "--serial")
        try expectOneLineError(["eval", "--parallel", "0"], mentions: "at least 1")
        try expectOneLineError(["eval", "--parallel", "128"], mentions: "at most 127")
        try expectOneLineError(["eval", "--parallel", "2", "--serial"], mentions: "not both")
    }

    @Test("a trace that can no longer be written stops a headless run with one line and exit 1")
    func traceWriteFailure() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.jsonl").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        // 8 KiB of file: the header and a few token lines fit, then a write fails (EFBIG)
        p.arguments = ["-c", "ulimit -f 8; exec \"$0\" run --max-tokens 300 --stop NEVER-SEEN --trace \"$1\"", Binary.path, trace]
        var env = ProcessInfo.processInfo.environment
        env["THINKTOP_MODEL"] = Binary.model
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 1)
        #expect(stderr.split(separator: "\n").count == 1, "\(stderr)")
        #expect(stderr.hasPrefix("thinktop: cannot write the trace \(trace): File too large: generation was stopped there"), "\(stderr)")
        let read = try TraceReader(path: trace)
        #expect(read.header != nil && !read.tokens.isEmpty && read.tokens.count < 300)
        #expect(!stdout.isEmpty)
    }

    @Test("strategies lists every parameter; the README's table is its markdown")
    func strategiesTable() throws {
        let r = try Binary.run(["strategies"])
        #expect(r.status == 0)
        for line in ["budget — Budget [key b]: s1, simplescaling/s1", "  budget=512  thinking tokens allowed",
                     "  stops= },}\\n,}\\n\\n,}.,}.\\n,}\\\\,}},)},)}.,)}\\n  the probe ends once its text contains one of these",
                     "snapkv — SnapKV: FasterDecoding/SnapKV", "  capacity=2048"] {
            #expect(r.stdout.contains(line), "missing: \(line)")
        }
        let md = try Binary.run(["strategies", "--markdown"])
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let begin = try #require(text.range(of: "<!-- strategies:begin -->\n"))
        let end = try #require(text.range(of: "<!-- strategies:end -->"))
        #expect(String(text[begin.upperBound..<end.lowerBound]) == md.stdout,
                "README's strategy table is out of date: paste the output of `thinktop strategies --markdown` between the markers")
    }

    @Test("each subcommand has --help", arguments: ["tui", "run", "replay", "eval", "inspect", "bench", "strategies", "export", "compare", "import"])
    func help(_ sub: String) throws {
        let r = try Binary.run([sub, "--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("USAGE: thinktop \(sub)"))
    }

    /// A user's mistake: one line on stderr naming it, a non-zero exit, nothing decoded.
    func expectOneLineError(_ args: [String], mentions: String) throws {
        let r = try Binary.run(args.first == "run" ? args + ["--max-tokens", "4"] : args)
        #expect(r.status != 0, "\(args) exited 0")
        #expect(r.stdout.isEmpty, "\(args) printed \(r.stdout)")
        #expect(r.stderrLines.count == 1, "\(args): \(r.stderr)")
        #expect(r.stderr.hasPrefix("thinktop: "))
        #expect(r.stderr.contains(mentions), "\(args): \(r.stderr)")
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Backtrace"))
    }

    @Test("bad inputs: one clear line on stderr, a non-zero exit, before any decoding")
    func badInputs() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let notGGUF = dir.appendingPathComponent("notes.gguf").path
        try "plain text".write(toFile: notGGUF, atomically: true, encoding: .utf8)
        let truncated = dir.appendingPathComponent("cut.gguf").path
        let model = try Data(contentsOf: URL(fileURLWithPath: Binary.model), options: .alwaysMapped)
        FileManager.default.createFile(atPath: truncated, contents: model.prefix(model.count / 2))
        try expectOneLineError(["run", "--model", dir.appendingPathComponent("missing.gguf").path], mentions: "model file not found")
        try expectOneLineError(["run", "--model", notGGUF], mentions: "not a GGUF model file")
        try expectOneLineError(["run", "--model", truncated], mentions: "truncated")
        try expectOneLineError(["run", "--ctx", "64"], mentions: "the prompt is")
        try expectOneLineError(["run", "--prompt", String(repeating: "word ", count: 300), "--raw", "--ctx", "128"], mentions: "raise --ctx")
        try expectOneLineError(["run", "--ctx", "0"], mentions: "--ctx")
        let missingDir = dir.appendingPathComponent("no/such/dir/t.jsonl").path
        try expectOneLineError(["run", "--trace", missingDir], mentions: "does not exist")
        #expect(!FileManager.default.fileExists(atPath: missingDir))
        try expectOneLineError(["inspect", notGGUF], mentions: "not a GGUF")
        try expectOneLineError(["run", "--top-p", "2"], mentions: "--top-p")
        // Gemma 3 270M (base) ships no chat template
        try expectOneLineError(["run", "--chat", "--prompt", "hi"], mentions: "no chat template")
        // KV cache: unknown policies and parameters; the attention tap against a quantized V cache
        try expectOneLineError(["run", "--kv", "lru"], mentions: "unknown KV policy")
        try expectOneLineError(["run", "--kv", "streaming:window=4"], mentions: "has no parameter")
        try expectOneLineError(["run", "--kv-type", "q8_0", "--attention"], mentions: "flash attention")
        try expectOneLineError(["run", "--kv-type", "q4_0", "--kv", "h2o"], mentions: "--kv-type f16")
        // strategy specs: an empty one, an unknown one, a bad value
        try expectOneLineError(["run", "--strategy", ""], mentions: "--strategy \"\": name a strategy first")
        try expectOneLineError(["run", "--strategy", "waitless"], mentions: "unknown strategy \"waitless\"")
        try expectOneLineError(["run", "--strategy", "deer:probe=1"], mentions: "strategy deer: probe must be a whole number in 2…256")
        // a mistyped subcommand, with the one meant (tui is the default and takes no arguments)
        try expectOneLineError(["repaly", "t.jsonl"], mentions: "unknown subcommand 'repaly' (did you mean 'replay'?)")
        try expectOneLineError(["benchmark"], mentions: "unknown subcommand 'benchmark' (did you mean 'bench'?)")
        try expectOneLineError(["xyzzy"], mentions: "unknown subcommand 'xyzzy'; see `thinktop help`")
    }
}

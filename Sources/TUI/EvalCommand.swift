import ArgumentParser
import Core
import Engine
import Foundation

/// Runs a problem set under several strategy sets, headless, and tabulates accuracy and
/// token counts per set.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a problem set under several strategy sets: accuracy and token counts per set.",
        discussion: """
        Strategy sets are separated by ';', strategies within a set by '+'; an item kv=POLICY \
        sets the set's KV policy (kv=streaming:recent=128, kv=h2o): \
        "none;nowait;budget=128;nowait+budget=128". Each problem is asked in the demo's \
        few-shot format and the answer after </think> ("Answer: …", else the last \\boxed{…}) is \
        compared with the reference after normalisation (numbers, thousands separators, \
        fractions and \\frac, \\boxed, \\text, units). The table gives each set's pass rate with \
        its 95 % Wilson interval and the tokens it spent per correct answer.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Problems, JSON lines as published: GSM8K (question, answer ending #### N), MATH (problem, solution with \\boxed{…}, or answer), AIME (problem, answer), or {\"question\", \"answer\"} (default: the shipped set).")
    var problems: String?

    @Option(name: .long, help: "Strategy sets separated by ';' (strategies in a set joined by '+').")
    var strategies: String = "none;nowait;cgrs;budget=128;swir;deer"

    @Option(name: .customLong("max-tokens"), help: "Token limit per problem.")
    var maxTokens: Int = 384

    @Option(name: .long, help: "Only the first N problems.")
    var limit: Int?

    @OptionGroup var sampling: SamplingOptions

    @Option(name: .long, help: "Write PREFIX.csv (every run) and PREFIX.json (table and runs).")
    var out: String = "thinktop-eval"

    var problemsPath: String {
        if let p = problems { return p }
        for dir in ThemeFiles.directories.map({ ($0 as NSString).deletingLastPathComponent + "/problems" }) {
            let p = dir + "/arithmetic-and-logic.jsonl"
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return "problems/arithmetic-and-logic.jsonl"
    }

    var sets: [String] {
        strategies.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// the strategies of a set (its `kv=` item excluded)
    func specs(_ set: String) -> [String] {
        items(set).filter { !$0.hasPrefix("kv=") }
    }

    /// the set's KV policy: an item `kv=POLICY[:PARAM=VALUE]…`, none without one
    func kvSpec(_ set: String) -> String {
        items(set).first { $0.hasPrefix("kv=") }.map { String($0.dropFirst(3)) } ?? "none"
    }

    private func items(_ set: String) -> [String] {
        set == "none" ? [] : set.split(separator: "+").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        if let l = limit, l < 1 { throw ValidationError("--limit must be at least 1") }
        guard !sets.isEmpty else { throw ValidationError("--strategies names no strategy set") }
        for set in sets {
            do { _ = try StrategyRegistry.configure(specs(set)) } catch { throw ValidationError("\(error)") }
            do { _ = try KVPolicyRegistry.parse(kvSpec(set)) } catch { throw ValidationError("\(error)") }
        }
        let dir = (out as NSString).deletingLastPathComponent
        if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir) {
            throw ValidationError("--out: directory \(dir) does not exist")
        }
    }

    func run() throws {
        var list = try Problem.load(path: problemsPath)
        if let l = limit { list = Array(list.prefix(l)) }
        let sampling = try self.sampling.parameters()
        // on a server: its vocabulary here, the model there (every problem one run on it)
        let served = modelOptions.serverOptions.server != nil
        let model = modelOptions.serverTokenizer ? nil : served ? try modelOptions.loadVocabulary() : try modelOptions.loadModel()
        let server = try modelOptions.serverBackend(vocabulary: model)
        // an RPC server gone mid-run: one line naming it, not ggml's abort
        FatalExit(tracePath: nil, endpoints: try modelOptions.placement().rpc).install()
        // H2O and SnapKV need the attention tap; then every set runs with it (flash attention
        // off), so the sets differ only in what they choose
        let tap = try sets.contains { try KVPolicyRegistry.parse(kvSpec($0)).needsAttention }
        if served, tap { throw ThinktopError.invalidArgument("H2O and SnapKV read the attention in the model's graph: they need a local model, not --server") }
        let context = served ? nil : try LlamaContext(model: model!, options: try modelOptions.contextOptions(attentionTap: tap))
        let backend: ModelBackend = server ?? context!
        let markers = ThinkMarkers.resolve(backend: backend)
        let total = sets.count * list.count
        var runs: [EvalRun] = []
        var done = 0
        for set in sets {
            for (i, problem) in list.enumerated() {
                progress(done, total, "\(set) · \(problem.id ?? "#\(i + 1)")")
                context?.clearMemory()
                let prompt = DemoProblem.prompt(for: problem.question)
                let tokens = try backend.tokenize(prompt, addSpecial: true)
                let config = try SessionConfig(sampling: sampling, maxTokens: maxTokens, stops: [DemoProblem.stop], markers: markers)
                let session = try DecodingSession(backend: backend, config: config, promptTokens: tokens,
                                                  initialPhase: markers.initialPhase(prompt: prompt))
                try session.install(specs: specs(set))
                try session.setKVPolicy(KVPolicyRegistry.parse(kvSpec(set)))
                while try session.step() != nil {}
                let summary = session.summary()
                let extracted = AnswerExtractor.extract(session.output, close: markers.close)
                runs.append(EvalRun(set: set, problem: problem.id ?? "#\(i + 1)", reference: problem.answer,
                                    extracted: extracted, correct: AnswerExtractor.matches(extracted, reference: problem.answer),
                                    thinkingTokens: summary.thinkingTokens, totalTokens: summary.tokens,
                                    seconds: summary.seconds, interventions: session.interventionCount,
                                    stopReason: summary.stopReason))
                done += 1
            }
        }
        progress(nil, total, "")
        let rows = EvalRow.rows(runs, sets: sets)
        let on = server.map { " on \($0.endpoint)" } ?? ""
        let name = ((model?.path ?? server?.facts.model ?? "") as NSString).lastPathComponent
        let shapes = Set(list.compactMap(\.source)).sorted().joined(separator: ", ")
        print("\(list.count) problems from \((problemsPath as NSString).lastPathComponent) (\(shapes)) · \(name)\(on) · seed \(sampling.seed), temperature \(sampling.temperature), max \(maxTokens) tokens\n")
        print(EvalRow.markdown(rows))
        try EvalRow.csv(runs).write(toFile: out + ".csv", atomically: true, encoding: .utf8)
        struct Report: Encodable { var rows: [EvalRow]; var runs: [EvalRun] }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(Report(rows: rows, runs: runs)).write(to: URL(fileURLWithPath: out + ".json"))
        printError("wrote \(out).csv and \(out).json\n")
    }

    private func progress(_ done: Int?, _ total: Int, _ what: String) {
        guard isatty(2) == 1 else { return }
        guard let done else { printError("\r\u{1B}[K"); return }
        let width = 30
        let filled = total > 0 ? done * width / total : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        printError("\r\u{1B}[K\(bar) \(done)/\(total) \(what)")
    }
}

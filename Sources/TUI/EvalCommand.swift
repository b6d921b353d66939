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

    @Option(name: .long, help: "Problems decoded together, one row each in every llama_decode (default: from the cores and the memory the cache would take). A problem gives the same tokens whatever N is.")
    var parallel: Int?

    @Flag(name: .long, help: "One problem at a time on the standard context, as the first release did (what `make bench-eval` compares against; also what --server and the attention tap use).")
    var serial = false

    @Flag(name: .customLong("no-shared-prefix"), help: "Evaluate every prompt whole, not the prefix the problems share once.")
    var noSharedPrefix = false

    @Flag(name: .customLong("print-prompts"), help: "Print each problem's prompt as a JSON line (id, prompt, stop, answer, max_tokens and the sampling) and exit (what the model is asked; `make bench-eval` sends them to llama-server).")
    var printPrompts = false

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
        if let n = parallel, n < 1 { throw ValidationError("--parallel must be at least 1, got \(n)") }
        if let n = parallel, n > Eval.maxLanes {
            throw ValidationError("--parallel takes at most \(Eval.maxLanes) problems (llama.cpp holds \(Eval.maxSequences) sequences, two per problem), got \(n)")
        }
        if parallel != nil, serial { throw ValidationError("give --parallel or --serial, not both") }
        if parallel != nil, modelOptions.serverOptions.server != nil {
            throw ValidationError("--parallel decodes problems together on a local model; a server batches its own requests (llama-server --parallel): use --serial or leave it out")
        }
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
        if printPrompts {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            struct Line: Encodable {
                var id, prompt, stop, answer: String
                var max_tokens: Int, temperature: Double, top_k: Int, top_p: Double, min_p: Double, seed: UInt64
            }
            for (i, p) in list.enumerated() {
                let line = Line(id: p.id ?? "#\(i + 1)", prompt: DemoProblem.prompt(for: p.question), stop: DemoProblem.stop,
                                answer: p.answer, max_tokens: maxTokens, temperature: sampling.temperature, top_k: sampling.topK,
                                top_p: sampling.topP, min_p: sampling.minP, seed: sampling.seed)
                print(String(decoding: try enc.encode(line), as: UTF8.self))
            }
            return
        }
        // on a server: its vocabulary here, the model there (every problem one run on it)
        let served = modelOptions.serverOptions.server != nil
        // H2O and SnapKV need the attention tap; then every set runs with it (flash attention
        // off), so the sets differ only in what they choose
        let tap = try sets.contains { try KVPolicyRegistry.parse(kvSpec($0)).needsAttention }
        if served, tap { throw ThinktopError.invalidArgument("H2O and SnapKV read the attention in the model's graph: they need a local model, not --server") }
        if tap, parallel != nil {
            throw ThinktopError.invalidArgument("H2O and SnapKV read the attention of one sequence's graph, which a batch of problems does not give: drop --parallel (they run with --serial)")
        }
        let batched = !(serial || served || tap || modelOptions.attention)
        if batched { DecodeBatcher.makeMatmulsBatchInvariant() }
        var placementOverride: ModelPlacement?
        if batched { var p = try modelOptions.placement(); p.repack = false; placementOverride = p }
        let model = modelOptions.serverTokenizer ? nil : served ? try modelOptions.loadVocabulary() : try modelOptions.loadModel(placement: placementOverride)
        let server = try modelOptions.serverBackend(vocabulary: model)
        // an RPC server gone mid-run: one line naming it, not ggml's abort
        FatalExit(tracePath: nil, endpoints: try modelOptions.placement().rpc).install()
        func tokens(_ problem: Problem) throws -> [Int32] {
            let prompt = DemoProblem.prompt(for: problem.question)
            if let model { return try model.tokenize(prompt, addSpecial: true) }
            return try server!.tokenize(prompt, addSpecial: true)
        }
        let prompts = try list.map(tokens)
        // the prefix every prompt shares (the few-shot examples), evaluated once
        var prefix = noSharedPrefix || served || tap ? [] : prompts.first ?? []
        for p in prompts.dropFirst() { prefix = Array(prefix.prefix(LlamaContext.commonLength(prefix, p))) }
        let jobs = sets.flatMap { set in list.indices.map { (set: set, problem: $0) } }
        var runs: [EvalRun?] = Array(repeating: nil, count: jobs.count)
        let started = DispatchTime.now().uptimeNanoseconds
        var mode: String
        if batched, let model {
            let cells = cellsPerSequence(prompts)
            let count = parallel ?? Eval.automaticLanes(jobs: jobs.count, cellsPerSequence: cells, model: model)
            mode = "\(count) problem\(count == 1 ? "" : "s") at a time"
            // each problem is asked once per set: its prompt is evaluated once and held for
            // the others (the runs are taken problem by problem, so few need holding at once)
            let slots = prefix.isEmpty || sets.count < 2 ? 0 : Eval.promptSlots(lanes: count, sets: sets.count, problems: list.count)
            let options = try DecodeBatcher.contextOptions(lanes: count, promptSlots: slots, cellsPerSequence: cells,
                                                           threads: modelOptions.threads,
                                                           cacheType: KVCacheType(rawValue: modelOptions.kvType)!)
            let context = try LlamaContext(model: model, options: options)
            // latent strategies: the input-embedding scale is found before the lanes start
            let latent = try sets.contains { set in
                let (known, on) = try StrategyRegistry.configure(specs(set))
                return known.contains { on.contains($0.id) && type(of: $0).info.needs.contains(.embeddingInput) }
            }
            let batcher = try DecodeBatcher(context: context, lanes: count, promptSlots: slots, promptUses: sets.count,
                                            embeddings: latent)
            if !prefix.isEmpty { try batcher.holdPrefix(prefix) }
            let setUp = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let lanes = (0..<count).map(batcher.lane)
            let markers = ThinkMarkers.resolve(backend: lanes[0])
            let pool = EvalPool(jobs: jobs.count) { done, what in self.progress(done, jobs.count, what) }
            // problem by problem: a problem's runs under every set start close together
            let order = list.indices.flatMap { p in sets.indices.map { $0 * list.count + p } }
            try pool.run(lanes: count, order: order, describe: { j in "\(jobs[j].set) · \(list[jobs[j].problem].id ?? "#\(jobs[j].problem + 1)")" }) { lane, j in
                defer { lanes[lane].finish() }
                return try self.run(jobs[j].set, list[jobs[j].problem], index: jobs[j].problem, prompt: prompts[jobs[j].problem],
                                    backend: lanes[lane], markers: markers, sampling: sampling)
            } store: { j, run in runs[j] = run }
            if batcher.rounds > 0 {
                mode += String(format: ", %.1f rows per decode in %.2f micro-batches", Double(batcher.rows) / Double(batcher.rounds),
                               Double(batcher.microBatches) / Double(batcher.rounds))
                mode += String(format: "; set-up %.1f s, rounds %.1f s, prompts and probes' text %.1f s (%d decodes, %d tokens)",
                               setUp, batcher.roundSeconds, batcher.aloneSeconds, batcher.aloneDecodes, batcher.aloneTokens)
            }
            if slots > 0 {
                mode += ", \(batcher.promptsReused) of \(jobs.count) prompts copied from a run of the same problem"
            }
        } else {
            mode = "one problem at a time"
            let context = served ? nil : try LlamaContext(model: model!, options: try modelOptions.contextOptions(attentionTap: tap))
            let backend: ModelBackend = server ?? context!
            if let context, !prefix.isEmpty {
                try context.holdPrefix(prefix, in: SequenceID(rawValue: Int32(context.sequenceCount - 1)))
            }
            let markers = ThinkMarkers.resolve(backend: backend)
            for (j, job) in jobs.enumerated() {
                progress(j, jobs.count, "\(job.set) · \(list[job.problem].id ?? "#\(job.problem + 1)")")
                if context?.heldPrefix == nil { context?.clearMemory() }
                runs[j] = try run(job.set, list[job.problem], index: job.problem, prompt: prompts[job.problem],
                                  backend: backend, markers: markers, sampling: sampling)
            }
        }
        if !prefix.isEmpty { mode += ", a shared prefix of \(prefix.count) tokens evaluated once" }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let total = jobs.count
        progress(nil, total, "")
        let done = runs.compactMap { $0 }
        let rows = EvalRow.rows(done, sets: sets)
        let on = server.map { " on \($0.endpoint)" } ?? ""
        let name = ((model?.path ?? server?.facts.model ?? "") as NSString).lastPathComponent
        let shapes = Set(list.compactMap(\.source)).sorted().joined(separator: ", ")
        print("\(list.count) problems from \((problemsPath as NSString).lastPathComponent) (\(shapes)) · \(name)\(on) · seed \(sampling.seed), temperature \(sampling.temperature), max \(maxTokens) tokens\n")
        print(EvalRow.markdown(rows))
        try EvalRow.csv(done).write(toFile: out + ".csv", atomically: true, encoding: .utf8)
        struct Report: Encodable { var rows: [EvalRow]; var runs: [EvalRun] }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(Report(rows: rows, runs: done)).write(to: URL(fileURLWithPath: out + ".json"))
        let generated = done.reduce(0) { $0 + $1.totalTokens }
        printError("\(total) runs in \(String(format: "%.1f", seconds)) s (\(mode)): \(generated) tokens, \(String(format: "%.1f", Double(generated) / max(seconds, 1e-9))) tok/s\n")
        printError("wrote \(out).csv and \(out).json\n")
    }

    /// One problem under one set on `backend`: a session from the prompt to its end.
    func run(_ set: String, _ problem: Problem, index i: Int, prompt tokens: [Int32], backend: ModelBackend,
             markers: ThinkMarkers, sampling: SamplingParameters) throws -> EvalRun {
        let prompt = DemoProblem.prompt(for: problem.question)
        let config = try SessionConfig(sampling: sampling, maxTokens: maxTokens, stops: [DemoProblem.stop], markers: markers)
        let session = try DecodingSession(backend: backend, config: config, promptTokens: tokens,
                                          initialPhase: markers.initialPhase(prompt: prompt))
        try session.install(specs: specs(set))
        try session.setKVPolicy(KVPolicyRegistry.parse(kvSpec(set)))
        while try session.step() != nil {}
        let summary = session.summary()
        let extracted = AnswerExtractor.extract(session.output, close: markers.close)
        return EvalRun(set: set, problem: problem.id ?? "#\(i + 1)", reference: problem.answer,
                       extracted: extracted, correct: AnswerExtractor.matches(extracted, reference: problem.answer),
                       thinkingTokens: summary.thinkingTokens, totalTokens: summary.tokens,
                       seconds: summary.seconds, interventions: session.interventionCount,
                       stopReason: summary.stopReason, tokens: session.records.map(\.token))
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

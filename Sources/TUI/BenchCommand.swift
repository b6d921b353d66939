import ArgumentParser
import Core
import Engine
import Foundation

/// Decode throughput with thinktop's per-token work on, against the plain llama.cpp decode
/// loop on the same model, threads and tokens, in one process; optionally against
/// llama-bench's tg figure too.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure decode throughput with all per-token analysis on against plain llama.cpp decoding.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Tokens generated per repetition (llama-bench's tg128 uses 128).")
    var tokens: Int = 128

    @Option(name: .long, help: "Repetitions of each loop; the median is reported.")
    var reps: Int = 5

    @Option(name: .customLong("llama-bench"), help: "Path to llama-bench: also run `llama-bench -p 0 -n TOKENS` and report the ratio.")
    var llamaBench: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: "Also measure a KV policy's costs (e.g. streaming:sinks=4:recent=64): step time with and without an eviction (StreamingLLM's includes the shift).")
    var kv: String?

    @Option(name: .long, help: "Instead: how fast this trace opens and scrubs in the workbench (drawn off-screen), and the memory it takes.")
    var replay: String?

    @Option(name: .long, help: "With --replay: seeks to measure.")
    var seeks: Int = 20

    @Option(name: .long, help: "Strategy to run in the measured loop (repeatable); the demo problem is then the prompt, so thinking-phase strategies act. Reports step times by input kind and probe costs.")
    var strategy: [String] = []

    func validate() throws {
        guard tokens >= 8 else { throw ValidationError("--tokens must be at least 8") }
        guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
        do { _ = try StrategyRegistry.configure(strategy) } catch { throw ValidationError("\(error)") }
        if let kv { do { _ = try KVPolicyRegistry.parse(kv) } catch { throw ValidationError("\(error)") } }
        if let p = llamaBench, !FileManager.default.isExecutableFile(atPath: p) {
            throw ValidationError("--llama-bench: \(p) is not an executable file (run `make bench` to build it)")
        }
    }

    struct Result: Encodable {
        var model: String
        var threads: Int
        var tokens: Int
        var reps: Int
        var analysis_tok_s: Double
        var plain_tok_s: Double
        var ratio_vs_plain: Double
        var analysis_ms_per_token: Double
        var llama_bench_tok_s: Double?
        var ratio_vs_llama_bench: Double?
        var vocabulary_pass_ms: Double?
        var trace_line_ms: Double?
        var devices: [String]?
        var state_positions: Int?
        var state_bytes: Int?
        var state_save_ms: Double?
        var state_restore_ms: Double?
        var strategies: [String]?
        var explicit_step_ms: Double?
        var latent_step_ms: Double?
        var latent_over_explicit: Double?
        var forced_step_ms: Double?
        var latent_steps: Int?
        var probes: Int?
        var probe_ms: Double?
        var probe_in_decode_steps: Double?
        var attention_tok_s: Double?
        var attention_ratio: Double?
        var attention_plain_tok_s: Double?
        var flash_off_plain_tok_s: Double?
        var flash_off_tok_s: Double?
        var kv_policy: String?
        var evictions: Int?
        var evict_step_ms: Double?
        var other_step_ms: Double?
        var eviction_cost_ms: Double?
    }

    func run() throws {
        if let replay {
            print(try ReplayBench.run(path: replay, seeks: seeks), terminator: "")
            return
        }
        if modelOptions.serverOptions.server != nil { return try runServer() }
        let model = try modelOptions.loadModel()
        // an RPC server gone mid-run: one line naming it, not ggml's abort
        FatalExit(tracePath: nil, endpoints: try modelOptions.placement().rpc).install()
        // the main loops run without the tap; --attention measures it separately below
        var baseOptions = try modelOptions.contextOptions()
        baseOptions.attentionTap = false
        let context = try LlamaContext(model: model, options: baseOptions)
        let bos = model.bosToken
        let config: SessionConfig = try {
            // with strategies, the demo's own sampling (seeded, so repetitions stay identical)
            let sampling = strategy.isEmpty ? SamplingParameters.greedy
                : try SamplingParameters(temperature: 0.6, topK: 20, topP: 0.95, minP: 0, seed: 7)
            var c = try SessionConfig(sampling: sampling, maxTokens: tokens)
            c.ignoreEndOfGeneration = true
            return c
        }()
        let traceDir = FileManager.default.temporaryDirectory.appendingPathComponent("thinktop-bench-\(getpid())")
        try FileManager.default.createDirectory(at: traceDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: traceDir) }

        var lastRecord: StepRecord?
        var lastSession: DecodingSession?
        let prompt: [Int32] = strategy.isEmpty ? [bos] : try model.tokenize(DemoProblem.prompt, addSpecial: true)
        // one session generation from BOS: the full per-token path, trace lines included
        func analysed(on context: LlamaContext = context, kv: (any KVPolicy)? = nil) throws -> (Double, [Int32]) {
            context.clearMemory()
            let session = try DecodingSession(backend: context, config: config, promptTokens: prompt,
                                              initialPhase: strategy.isEmpty ? .answer : .thinking)
            if let kv { try session.setKVPolicy(kv) }
            try session.install(specs: strategy)
            lastSession = session
            let writer = try TraceWriter(path: traceDir.appendingPathComponent("t.jsonl").path)
            session.onStep = { try? writer.write(.token($0)); lastRecord = $0 }
            try session.prefill()
            let start = DispatchTime.now().uptimeNanoseconds
            while try session.step() != nil {}
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            // every record but the last was decoded; count decodes so both loops are per decode
            return (Double(session.records.count - 1) / seconds, session.records.map(\.token))
        }
        func plain(_ toks: [Int32], on context: LlamaContext = context) throws -> Double {
            context.clearMemory()
            try context.decode(tokens: prompt[...], at: 0, sequence: 0)
            // the session feeds every token but the last; the plain loop feeds the same ones
            let fed = Array(toks.dropLast())
            let seconds = try context.plainDecode(fed, startingAt: prompt.count)
            return Double(fed.count) / seconds
        }

        progress("warming up")
        let (_, reference) = try analysed()
        _ = try plain(reference)
        var a: [Double] = [], p: [Double] = [], lbs: [Double] = []
        for r in 0..<reps {
            progress("repetition \(r + 1)/\(reps)")
            let (tps, toks) = try analysed()
            guard toks == reference else { throw ThinktopError.io("greedy decoding was not deterministic across repetitions") }
            a.append(tps)
            p.append(try plain(reference))
            // llama-bench between the repetitions, not after them all: the machine's speed
            // drifts, and each ratio compares loops run moments apart
            if let lb = llamaBench {
                progress("repetition \(r + 1)/\(reps): llama-bench")
                lbs.append(try runLlamaBench(lb, model: model.path, threads: context.threads, repetitions: 1))
            }
        }
        let median = { (xs: [Double]) -> Double in let s = xs.sorted(); return s[s.count / 2] }
        let at = median(a), pt = median(p)
        var result = Result(model: (model.path as NSString).lastPathComponent, threads: context.threads, tokens: tokens,
                            reps: reps, analysis_tok_s: at, plain_tok_s: pt, ratio_vs_plain: at / pt,
                            analysis_ms_per_token: (1 / at - 1 / pt) * 1000)
        // a sequence's state saved and restored (what a branch or a restore across machines costs)
        do {
            _ = try plain(reference)
            let positions = (context.positionRange(sequence: .main)?.upperBound ?? -1) + 1
            var saves: [Double] = [], restores: [Double] = []
            var bytes = 0
            for _ in 0..<max(3, reps) {
                var t = DispatchTime.now().uptimeNanoseconds
                let state = try context.saveState(sequence: .main)
                saves.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
                bytes = state.count
                // back into the sequence it came from, emptied first: a second copy beside it
                // would not fit once the run takes more than half the context
                try context.removeCells(sequence: .main, from: 0, to: nil)
                t = DispatchTime.now().uptimeNanoseconds
                try context.restoreState(state, sequence: .main)
                restores.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
            }
            result.state_positions = positions
            result.state_bytes = bytes
            result.state_save_ms = median(saves)
            result.state_restore_ms = median(restores)
        }
        result.devices = model.placementFacts.devices.map { "\($0.name) \($0.description)" }
        if !lbs.isEmpty {
            result.llama_bench_tok_s = median(lbs)
            result.ratio_vs_llama_bench = median(zip(a, lbs).map { $0 / $1 })
        }
        // where the per-token time goes: the vocabulary passes and the trace line, each timed alone
        let analyzer = DistributionAnalyzer(topCount: 10)
        context.clearMemory()
        try context.decode(tokens: [bos][...], at: 0, sequence: 0)
        let logits = context.logits()
        var sink = 0.0
        let n = 200
        var t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<n { sink += analyzer.analyze(logits).entropy }
        result.vocabulary_pass_ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 / Double(n)
        let sample = try analysed().1.isEmpty ? nil : lastRecord
        if let record = sample {
            let writer = try TraceWriter(path: traceDir.appendingPathComponent("w.jsonl").path)
            t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<n { try writer.write(.token(record)) }
            result.trace_line_ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 / Double(n)
        }
        if sink.isNaN { print("") }
        if !strategy.isEmpty, let s = lastSession {
            result.strategies = strategy
            func mean(_ kind: InputKind) -> Double? {
                let ms = s.records.dropLast().filter { $0.input == kind }.map(\.ms)
                return ms.isEmpty ? nil : ms.reduce(0, +) / Double(ms.count)
            }
            result.explicit_step_ms = mean(.explicit)
            result.latent_step_ms = mean(.latent)
            result.forced_step_ms = mean(.forced)
            result.latent_steps = s.records.filter { $0.input == .latent }.count
            if let l = result.latent_step_ms, let e = result.explicit_step_ms { result.latent_over_explicit = l / e }
            let probeMs = s.events.filter { $0.kind == .probe }.compactMap(\.ms)
            result.probes = probeMs.count
            if !probeMs.isEmpty {
                result.probe_ms = probeMs.reduce(0, +) / Double(probeMs.count)
                result.probe_in_decode_steps = result.probe_ms! / (1000 / pt)
            }
        }
        if modelOptions.attention {
            // the tap forces flash attention off and adds an eval callback: measure both parts
            var tapOptions = baseOptions
            tapOptions.attentionTap = true
            let tapped = try LlamaContext(model: model, options: tapOptions)
            var flashOff = baseOptions
            flashOff.flashAttention = false
            let noFlash = try LlamaContext(model: model, options: flashOff)
            // flash attention off changes the float sums, so these loops have their own tokens
            let (_, tapReference) = try analysed(on: tapped)
            var t: [Double] = [], tp: [Double] = [], fp: [Double] = [], fa: [Double] = []
            for r in 0..<reps {
                progress("attention tap \(r + 1)/\(reps)")
                let (tps, toks) = try analysed(on: tapped)
                guard toks == tapReference else { throw ThinktopError.io("greedy decoding with the tap was not deterministic across repetitions") }
                t.append(tps)
                let (fps, ftoks) = try analysed(on: noFlash)
                guard ftoks == tapReference else { throw ThinktopError.io("the attention tap changed the greedy tokens") }
                fa.append(fps)
                tp.append(try plain(tapReference, on: tapped))
                fp.append(try plain(tapReference, on: noFlash))
            }
            result.flash_off_tok_s = median(fa)
            result.attention_tok_s = median(t)
            result.attention_ratio = median(t) / median(fa)
            result.attention_plain_tok_s = median(tp)
            result.flash_off_plain_tok_s = median(fp)
        }
        if let spec = kv {
            progress("KV policy \(spec)")
            let policy = try KVPolicyRegistry.parse(spec)
            var kvOptions = baseOptions
            kvOptions.attentionTap = policy.needsAttention
            let kvContext = policy.needsAttention ? try LlamaContext(model: model, options: kvOptions) : context
            _ = try analysed(on: kvContext, kv: policy)
            if let s = lastSession {
                let evicting = Set(s.events.filter { $0.kind == .evict && $0.position != nil }.map(\.step))
                let steps = s.records.dropLast()
                let withEviction = steps.filter { evicting.contains($0.index) }.map(\.ms)
                let without = steps.filter { !evicting.contains($0.index) }.map(\.ms)
                result.kv_policy = policy.spec
                result.evictions = withEviction.count
                if !withEviction.isEmpty { result.evict_step_ms = withEviction.sorted()[withEviction.count / 2] }
                if !without.isEmpty { result.other_step_ms = without.sorted()[without.count / 2] }
                if let e = result.evict_step_ms, let o = result.other_step_ms { result.eviction_cost_ms = e - o }
            }
        }
        progress(nil)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(result), as: UTF8.self))
            return
        }
        print("model \(result.model), \(result.threads) threads, \(tokens) tokens from BOS, median of \(reps)")
        print(String(format: "thinktop (analysis + sampling + trace)  %7.1f tok/s", at))
        print(String(format: "plain llama.cpp loop, same tokens        %7.1f tok/s   ratio %.3f", pt, at / pt))
        print(String(format: "per-token overhead                        %7.3f ms", result.analysis_ms_per_token))
        if let v = result.vocabulary_pass_ms, let t = result.trace_line_ms {
            print(String(format: "  of which: signals over the vocabulary %.3f ms, trace line %.3f ms", v, t))
        }
        if let st = result.strategies {
            print("with \(st.joined(separator: " ")) on the demo problem (thinking):")
            if let e = result.explicit_step_ms { print(String(format: "  explicit step  %7.2f ms", e)) }
            if let f = result.forced_step_ms { print(String(format: "  forced step    %7.2f ms", f)) }
            if let l = result.latent_step_ms, let r = result.latent_over_explicit {
                print(String(format: "  latent step    %7.2f ms   %.2f × explicit (%d latent steps)", l, r, result.latent_steps ?? 0))
            }
            if let p = result.probe_ms, let d = result.probe_in_decode_steps {
                print(String(format: "  probe          %7.2f ms   = %.1f decode steps (%d probes)", p, d, result.probes ?? 0))
            }
        }
        if let a = result.attention_tok_s, let r = result.attention_ratio, let f = result.flash_off_tok_s,
           let tp = result.attention_plain_tok_s, let fp = result.flash_off_plain_tok_s {
            print(String(format: "with the attention tap (--attention)    %7.1f tok/s   ratio %.3f to flash attention off, %.3f to the default", a, r, a / at))
            print(String(format: "  thinktop, flash attention off, no tap %7.1f tok/s", f))
            print(String(format: "  plain loops: flash attention off %.1f tok/s, with the tap %.1f tok/s, default %.1f", fp, tp, pt))
        }
        if let k = result.kv_policy {
            print("KV policy \(k), \(tokens) tokens from BOS:")
            if let e = result.evict_step_ms, let o = result.other_step_ms, let c = result.eviction_cost_ms {
                print(String(format: "  step with an eviction %7.2f ms, without %.2f ms (medians): eviction costs %.2f ms (%d evictions)", e, o, c, result.evictions ?? 0))
            } else {
                print("  no eviction happened: give a smaller budget (e.g. recent=64) or more --tokens")
            }
        }
        if let n = result.state_positions, let b = result.state_bytes, let sv = result.state_save_ms, let rs = result.state_restore_ms {
            print(String(format: "sequence state of %d positions, %.1f MiB: save %.2f ms, restore %.2f ms", n, Double(b) / 1048576, sv, rs))
        }
        if let d = result.devices, !d.isEmpty { print("offloaded to " + d.joined(separator: ", ")) }
        if let lb = result.llama_bench_tok_s, let r = result.ratio_vs_llama_bench {
            print(String(format: "llama-bench tg%d                         %7.1f tok/s   ratio %.3f (median of each repetition's)", tokens, lb, r))
        }
    }

    func progress(_ s: String?) {
        guard isatty(2) == 1 else { return }
        printError((s.map { "\r\u{1B}[Kbench: \($0)" } ?? "\r\u{1B}[K"))
    }

    /// Runs llama-bench's text-generation test and returns its average tokens per second.
    private func runLlamaBench(_ path: String, model: String, threads: Int, repetitions: Int) throws -> Double {
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: path)
        proc.arguments = ["-m", model, "-t", "\(threads)", "-p", "0", "-n", "\(tokens)", "-r", "\(repetitions)", "-o", "json"]
        let out = Pipe()
        proc.standardOutput = out
        proc.standardError = FileHandle.nullDevice
        try proc.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        proc.waitUntilExit()
        guard proc.terminationStatus == 0,
              let arr = try JSONSerialization.jsonObject(with: data) as? [[String: Any]],
              let ts = arr.first?["avg_ts"] as? Double else {
            throw ThinktopError.io("llama-bench at \(path) failed or printed no result")
        }
        return ts
    }
}

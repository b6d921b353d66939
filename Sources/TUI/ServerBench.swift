import Core
import Engine
import Foundation

/// `thinktop bench --server URL`: stepping a model through llama-server against the server
/// alone and against the same model here, interleaved, medians; and what steering costs
/// there — a stop and resubmit, a probe request, a scoring request.
extension Bench {
    struct ServerResult: Encodable {
        var server: String
        var model: String
        var tokens: Int
        var reps: Int
        var top_logprobs: Int
        /// thinktop stepping the server (every signal, the bracket, a trace line's encoding)
        var served_tok_s: Double
        /// a plain stream from the server with the same alternatives per token, nothing done with them
        var server_tok_s: Double
        /// a plain stream without alternatives (what the server does for a client that asks none)
        var server_no_probs_tok_s: Double
        /// thinktop on the same model here (nil when the model file is not here)
        var local_tok_s: Double?
        var ratio_vs_server: Double
        var ratio_vs_local: Double?
        var first_token_ms: Double
        var resubmit_ms: Double
        var streamed_token_ms: Double
        var probe_ms: Double
        var probe_tokens: Int
        var score_ms: Double
    }

    func runServer() throws {
        let vocabulary = try modelOptions.loadVocabulary()
        guard let backend = try modelOptions.serverBackend(vocabulary: vocabulary) else { return }
        let prompt = try vocabulary.tokenize(DemoProblem.prompt, addSpecial: true)
        let m = ServerMeasurements(backend: backend, prompt: prompt, tokens: tokens)
        // the same model here, when its file is (the vocabulary is read from it)
        let model = try? LlamaModel(path: vocabulary.path)
        let context = try model.map { try LlamaContext(model: $0, options: try modelOptions.contextOptions()) }
        func local() throws -> Double? {
            guard let context else { return nil }
            context.clearMemory()
            var config = try SessionConfig(sampling: .greedy, maxTokens: tokens)
            config.ignoreEndOfGeneration = true
            let s = try DecodingSession(backend: context, config: config, promptTokens: prompt, initialPhase: .answer)
            let encoder = JSONEncoder()
            var stamps: [UInt64] = []
            s.onStep = { r in _ = try? encoder.encode(r); stamps.append(DispatchTime.now().uptimeNanoseconds) }
            try s.prefill()
            while try s.step() != nil {}
            return Double(stamps.count - 1) / (Double(stamps.last! - stamps.first!) / 1e9)
        }
        var served: [Double] = [], plain: [Double] = [], bare: [Double] = [], here: [Double] = [], first: [Double] = []
        for r in 0..<reps {
            progress("rep \(r + 1)/\(reps): through the server")
            let (t, f) = try m.session()
            served.append(t)
            first.append(f)
            progress("rep \(r + 1)/\(reps): the server alone")
            plain.append(try m.plainStream(nProbs: backend.topCount))
            bare.append(try m.plainStream(nProbs: 0))
            progress("rep \(r + 1)/\(reps): here")
            if let l = try local() { here.append(l) }
        }
        progress("stop and resubmit, probes")
        let resubmit = try m.resubmission(trials: max(5, reps))
        let cue = try vocabulary.tokenize("\n**Final Answer**\n\\boxed{", addSpecial: false)
        let close = try vocabulary.singleToken("</think>") ?? vocabulary.tokenize("</think>", addSpecial: false).first ?? 0
        let probe = try m.probes(trials: max(5, reps), cue: cue, probeTokens: 8, scored: close)
        progress(nil)
        let med = ServerMeasurements.median
        let result = ServerResult(
            server: backend.endpoint, model: (vocabulary.path as NSString).lastPathComponent, tokens: tokens, reps: reps,
            top_logprobs: backend.topCount, served_tok_s: med(served), server_tok_s: med(plain),
            server_no_probs_tok_s: med(bare), local_tok_s: here.isEmpty ? nil : med(here),
            ratio_vs_server: med(served) / med(plain), ratio_vs_local: here.isEmpty ? nil : med(served) / med(here),
            first_token_ms: med(first), resubmit_ms: resubmit.resubmitMs, streamed_token_ms: resubmit.streamedMs,
            probe_ms: probe.probeMs, probe_tokens: 8, score_ms: probe.scoreMs)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(result), as: UTF8.self))
            return
        }
        print("model \(result.model) on \(result.server), \(tokens) tokens after the demo prompt, median of \(reps), interleaved")
        print(String(format: "  thinktop through the server  %7.1f tok/s  (%d alternatives per token)", result.served_tok_s, result.top_logprobs))
        print(String(format: "  the server alone, same n_probs %6.1f tok/s  → thinktop keeps %.1f %%", result.server_tok_s, 100 * result.ratio_vs_server))
        print(String(format: "  the server alone, no n_probs  %7.1f tok/s", result.server_no_probs_tok_s))
        if let l = result.local_tok_s, let r = result.ratio_vs_local {
            print(String(format: "  thinktop on the model here    %7.1f tok/s  → through the server %.1f %% of it", l, 100 * r))
        }
        print(String(format: "  first token (the prompt)      %7.1f ms", result.first_token_ms))
        print(String(format: "  a stop and resubmit           %7.1f ms  (a streamed token: %.1f ms)", result.resubmit_ms, result.streamed_token_ms))
        print(String(format: "  a probe request (8 tokens)    %7.1f ms;  a scoring request %.1f ms", result.probe_ms, result.score_ms))
    }
}

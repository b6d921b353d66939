import Core
import Foundation

/// What stepping a model through llama-server costs, measured from this side of the
/// connection: `thinktop bench --server URL`.
public struct ServerMeasurements {
    public let backend: ServerBackend
    /// the prompt every measurement starts from
    public let prompt: [Int32]
    public let tokens: Int

    public init(backend: ServerBackend, prompt: [Int32], tokens: Int) {
        self.backend = backend
        self.prompt = prompt
        self.tokens = tokens
    }

    /// A session of `tokens` greedy steps through the server (every signal, the bracket, the
    /// trace line's work but its write): tokens per second after the first token (which waits
    /// for the prompt), and the wait for that first token in ms.
    public func session() throws -> (tokPerS: Double, firstMs: Double) {
        var config = try SessionConfig(sampling: .greedy, maxTokens: tokens)
        config.ignoreEndOfGeneration = true
        backend.ignoreEndOfGeneration = true
        defer { backend.ignoreEndOfGeneration = false }
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .answer)
        var stamps: [UInt64] = []
        let encoder = JSONEncoder()
        s.onStep = { r in
            _ = try? encoder.encode(r)
            stamps.append(DispatchTime.now().uptimeNanoseconds)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        try s.prefill()
        while try s.step() != nil {}
        guard stamps.count >= 2 else { return (0, 0) }
        let steady = Double(stamps.last! - stamps.first!) / 1e9
        return (Double(stamps.count - 1) / steady, Double(stamps.first! - start) / 1e6)
    }

    /// The server alone: a plain stream of `tokens` greedy tokens from the same prompt, read
    /// and parsed, nothing else done with them; tokens per second after the first, with
    /// `nProbs` alternatives per token (0: none, what a client that wants no
    /// log-probabilities asks).
    public func plainStream(nProbs: Int) throws -> Double {
        backend.closeStream()
        var body = backend.body(prompt: prompt, request: ServedRequest(sampling: .greedy), limit: tokens)
        body["n_probs"] = nProbs
        body["ignore_eos"] = true
        let s = try backend.http.stream("/completion", body: body)
        defer { s.close() }
        var stamps: [UInt64] = []
        while let e = try s.next() {
            if (e["tokens"] as? [Any])?.isEmpty == false { stamps.append(DispatchTime.now().uptimeNanoseconds) }
        }
        guard stamps.count >= 2 else { return 0 }
        return Double(stamps.count - 1) / (Double(stamps.last! - stamps.first!) / 1e9)
    }

    /// Stop and resubmit: with `tokens` generated, the stream is closed and the same prefix
    /// asked again (served from the server's cache); the wait for the next token, in ms,
    /// against the median wait for a streamed token.
    public func resubmission(trials: Int) throws -> (resubmitMs: Double, streamedMs: Double) {
        var config = try SessionConfig(sampling: .greedy, maxTokens: tokens + trials + 1)
        config.ignoreEndOfGeneration = true
        backend.ignoreEndOfGeneration = true
        defer { backend.ignoreEndOfGeneration = false }
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .answer)
        try s.prefill()
        var streamed: [Double] = []
        for _ in 0..<tokens {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try s.step()
            streamed.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        var resubmits: [Double] = []
        for _ in 0..<trials {
            backend.closeStream()
            let t0 = DispatchTime.now().uptimeNanoseconds
            try s.step()
            resubmits.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        backend.closeStream()
        return (Self.median(resubmits), Self.median(Array(streamed.dropFirst())))
    }

    /// A probe as DEER makes one: the run's tokens and a cue, greedy up to `probeTokens`; and
    /// the one-token request that scores a token (ThinkBrake's close). Medians in ms.
    public func probes(trials: Int, cue: [Int32], probeTokens: Int, scored: Int32) throws -> (probeMs: Double, scoreMs: Double) {
        try backend.removeCells(sequence: .probe, from: 0, to: nil)
        try backend.decode(tokens: (prompt + cue)[...], at: 0, sequence: .probe)
        defer { try? backend.removeCells(sequence: .probe, from: 0, to: nil) }
        var probe: [Double] = [], score: [Double] = []
        for _ in 0..<trials {
            var t0 = DispatchTime.now().uptimeNanoseconds
            _ = try backend.greedy(sequence: .probe, maxTokens: probeTokens, stop: [])
            probe.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            t0 = DispatchTime.now().uptimeNanoseconds
            _ = try backend.logProbability(of: scored, after: .probe)
            score.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        return (Self.median(probe), Self.median(score))
    }

    public static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s[s.count / 2]
    }
}

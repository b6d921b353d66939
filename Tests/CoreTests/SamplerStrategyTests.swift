import Foundation
import Testing
@testable import Core

/// entropix, answer-candidate early stop and stop pressure, on hand-made distributions and
/// the scripted model with an embedding table (SwirBackend: 0 <eos>, 1 <think>, 2 </think>,
/// 3 \n, 4 " so", 5 "7", 6 "x", 7 " ok", 8 "\\n", 9 "The final answer is", 10 " =", 11 " 12",
/// 12 "\\boxed{12}", 13 " the answer is 12", 14 <unk>).
@Suite("Sampler strategies: entropix, answer stop, stop pressure")
struct SamplerStrategyTests {
    let markers = ThinkMarkers(openToken: 1, closeToken: 2)

    /// Runs `beforeSampling` of a strategy on `logits` (vocabulary of its own size).
    func decide(_ s: DecodingStrategy, _ logits: [Float], text: String = "", phase: Phase = .thinking,
                env: SwirTestEnvironment? = nil) throws -> (StepDecision, DistributionSummary) {
        let e = env ?? SwirTestEnvironment(SwirBackend(promptLength: 1) { _ in logits })
        return try logits.withUnsafeBufferPointer { l in
            let view = SwirTestEnvironment.view(phase: phase, logits: l, text: text, markers: markers)
            var d = StepDecision()
            try s.beforeSampling(view, &d, e)
            return (d, view.summary)
        }
    }

    /// logits giving probability `top` to token 0 and sharing the rest evenly over `n` others
    func twoLevel(top: Double, others n: Int) -> [Float] {
        [Float(Foundation.log(top / ((1 - top) / Double(n))))] + [Float](repeating: 0, count: n)
    }

    func bits(_ s: DistributionSummary) -> (Double, Double) { (s.entropy / M_LN2, s.varentropy / (M_LN2 * M_LN2)) }

    // MARK: entropix

    @Test("entropix: low entropy, low varentropy → greedy")
    func entropixArgmax() throws {
        var l = [Float](repeating: 0, count: 64)
        l[5] = 30
        let (d, s) = try decide(Entropix(), l)
        #expect(bits(s).0 < 0.1 && bits(s).1 < 0.1)
        #expect(d.sampling?.temperature == 0)
        #expect(d.force.isEmpty && d.bias.isEmpty)
    }

    @Test("entropix: high entropy, low varentropy → clarifying text, then a hotter draw")
    func entropixClarify() throws {
        let l = [Float](repeating: 0, count: 64)   // uniform: H = 6 bits, V = 0
        let e = Entropix()
        try e.set("clarify", " ok")
        let env = SwirTestEnvironment(SwirBackend(promptLength: 1) { _ in l })
        let (d, s) = try decide(e, l, env: env)
        #expect(abs(bits(s).0 - 6) < 1e-6 && bits(s).1 < 1e-6)
        #expect(d.force == [7])
        #expect(env.events.map(\.0) == [.entropixClarify])
        // just inserted: sample with T = min(1.5, 0.666·1.3)
        let (d2, _) = try decide(e, l, text: "so ok", env: env)
        #expect(d2.force.isEmpty)
        #expect(abs(d2.sampling!.temperature - 0.666 * 1.3) < 1e-12)
        #expect(d2.sampling!.topK == 27 && d2.sampling!.topP == 0.9 && d2.sampling!.minP == 0.03)
    }

    @Test("entropix: low entropy, high varentropy → warmer, wider top-k")
    func entropixExplore() throws {
        let (d, s) = try decide(Entropix(), twoLevel(top: 0.5, others: 64))   // H 4 bits, V 9
        #expect(abs(bits(s).0 - 4) < 1e-4 && abs(bits(s).1 - 9) < 1e-3)
        #expect(abs(d.sampling!.temperature - 0.666 * 1.2) < 1e-12)
        #expect(d.sampling!.topK == 40)        // max(5, ⌊27·1.5⌋)
        #expect(d.sampling!.topP == 0.9)
    }

    @Test("entropix: high entropy, high varentropy → temperature 2")
    func entropixResample() throws {
        let (d, s) = try decide(Entropix(), twoLevel(top: 0.3, others: 4096))
        #expect(bits(s).0 > 5 && bits(s).1 > 5)
        #expect(d.sampling!.temperature == 2.0)
        #expect(d.sampling!.topP == 0.9 && d.sampling!.topK == 27)
    }

    @Test("entropix: the middle ground adapts T and min-p to H + V")
    func entropixAdaptive() throws {
        let e = Entropix()
        try e.set("samples", "1")
        let (d, s) = try decide(e, [Float](repeating: 0, count: 4))   // H = 2 bits, V = 0
        let u = bits(s).0 + bits(s).1
        #expect(abs(u - 2) < 1e-6)
        #expect(abs(d.sampling!.temperature - 0.666 * (1 + 0.3 * u)) < 1e-9)
        #expect(d.sampling!.minP == 0.01)       // 0.03·(1 − 0.5·2) = 0, clipped
        #expect(d.sampling!.topK == 27 && d.sampling!.topP == 0.9)
        // rule order: H < 5 with V > 5 is "explore" even when H > 3
        #expect(e.choose(entropyBits: 4, varentropyBits: 6, justClarified: false).rule == .explore)
        #expect(e.choose(entropyBits: 5.5, varentropyBits: 6, justClarified: false).rule == .resample)
        #expect(e.choose(entropyBits: 0.05, varentropyBits: 0.2, justClarified: false).rule == .adaptive)
    }

    @Test("entropix: best of 5 draws, as the exact distribution of the most likely draw")
    func entropixBestOfFive() throws {
        let l: [Float] = [2, 1, 0, -1, -3]
        let (d, s) = try decide(Entropix(), l)
        let (h, v) = bits(s)
        let u = h + v
        let t = 0.666 * (1 + 0.3 * u)
        // the session sampler's filters on untempered probabilities: top-p 0.9 keeps 3 here
        let p = SwirBackend.probabilities(l)
        #expect(p[0] + p[1] < 0.9 && p[0] + p[1] + p[2] >= 0.9)
        let minP = min(0.5, max(0.01, 0.03 * (1 - 0.5 * u)))
        #expect(p[2] / p[0] >= minP)
        var q = (0..<3).map { Foundation.exp(Double(l[$0] - l[0]) / t) }
        let z = q.reduce(0, +)
        q = q.map { $0 / z }
        let tails = [1, q[1] + q[2], q[2], 0]
        let want = (0..<3).map { Foundation.pow(tails[$0], 5) - Foundation.pow(tails[$0 + 1], 5) }
        #expect(d.sampling?.temperature == 1 && d.sampling?.topK == 3 && d.sampling?.topP == 1 && d.sampling?.minP == 0)
        #expect(d.bias.count == 3)
        let adjusted = (0..<3).map { Double(l[$0] + d.bias[Int32($0)]!) }
        #expect(adjusted.allSatisfy { $0 > Double(l.max()!) })
        let m = adjusted.max()!
        let ez = adjusted.map { Foundation.exp($0 - m) }
        let total = ez.reduce(0, +)
        for i in 0..<3 { #expect(abs(ez[i] / total - want[i]) < 1e-5, "P(\(i))") }
    }

    @Test("entropix: ties share their group's probability, as a first-draw tie-break would")
    func entropixTies() {
        let cands = [Candidate(id: 0, logit: 1), Candidate(id: 1, logit: 1), Candidate(id: 2, logit: 0)]
        let p = try! SamplingParameters(temperature: 1, topK: 3, topP: 1, minP: 0, seed: 0)
        let best = Entropix.bestOf(3, candidates: cands, parameters: p)
        #expect(best.count == 3)
        #expect(abs(best[0].1 - best[1].1) < 1e-12)
        #expect(abs(best.map(\.1).reduce(0, +) - 1) < 1e-12)
    }

    @Test("entropix in a session: the override is used and recorded")
    func entropixSession() throws {
        let backend = SwirBackend(promptLength: 3) { step in
            step < 3 ? SwirBackend.peaked(4, 30) : SwirBackend.peaked(0, 30)
        }
        let sampling = try SamplingParameters(temperature: 0.8, topK: 20, topP: 0.95, minP: 0, seed: 3)
        let config = try SessionConfig(sampling: sampling, maxTokens: 10, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: [7, 1, 3], initialPhase: .thinking)
        try s.install(specs: ["entropix"])
        while try s.step() != nil {}
        #expect(s.records.prefix(3).allSatisfy { $0.token == 4 && $0.effects.contains { $0.line.hasPrefix("entropix: H") && $0.text.contains("argmax") } })
        #expect((s.strategy("entropix") as? Entropix)?.ruleCounts["argmax"] == 4)
        #expect(Entropix.info.fidelity.hasPrefix("logits-only variant"))
    }

    // MARK: answer stop

    @Test("answer candidates: boxed, 'the answer is', '= N' at the end of a line")
    func candidates() {
        #expect(AnswerStop.candidate(in: "So we get \\boxed{42}.") == "42")
        #expect(AnswerStop.candidate(in: "so \\boxed{\\frac{1}{2}} here") == "\\frac{1}{2}")
        #expect(AnswerStop.candidate(in: "Thus the answer is 17.") == "17")
        #expect(AnswerStop.candidate(in: "The final answer is: $3\\pi$") == "3\\pi")
        #expect(AnswerStop.candidate(in: "x + 3 = 12") == "12")
        #expect(AnswerStop.candidate(in: "total = 1,000.") == "1,000")
        #expect(AnswerStop.candidate(in: "so $x = -2.5$") == "-2.5")
        #expect(AnswerStop.candidate(in: "x = y + 2") == nil)
        #expect(AnswerStop.candidate(in: "12 = 12 is what we check") == nil)
        #expect(AnswerStop.candidate(in: "\\boxed{unbalanced") == nil)
        #expect(AnswerStop.candidate(in: "Let me think about the answer") == nil)
        #expect(AnswerStop.normalize("1,000") == AnswerStop.normalize("1000"))
        #expect(AnswerStop.normalize("$42$.") == "42")
        #expect(AnswerStop.normalize("(1,2)") == "(1,2)")
    }

    func answerSession(_ script: [Int32], specs: [String]) throws -> DecodingSession {
        let prompt: [Int32] = [7, 1, 3]
        let backend = SwirBackend(promptLength: prompt.count) { step in
            SwirBackend.peaked(step < script.count ? script[step] : 0, 9)
        }
        let config = try SessionConfig(sampling: .greedy, maxTokens: 40, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
        try s.install(specs: specs)
        return s
    }

    @Test("answer stop: ends thinking after the line with the k-th candidate")
    func answerStopK() throws {
        // " so = 12\n" then more thinking the model would have done
        let script: [Int32] = [4, 10, 11, 3, 4, 4, 4, 4, 2, 7, 0]
        let s = try answerSession(script, specs: ["answerstop"])
        while try s.step() != nil {}
        #expect(s.records[3].effects.contains { $0.line.contains("answerstop: candidate 1/1: \"12\"") })
        // text ends with "\n": the think-close and a newline are forced
        #expect(s.records[4].token == 2 && s.records[4].input == .forced)
        #expect(s.records[5].token == 3 && s.records[5].input == .forced && s.records[5].phase == .answer)
        #expect(s.events.first { $0.kind == .answerstopEnd }?.step == 4)
        #expect((s.strategy("answerstop") as? AnswerStop)?.ended == true)

        // k = 2: the second candidate line ends it
        let script2: [Int32] = [4, 10, 11, 3, 4, 3, 12, 3, 4, 4, 4, 2, 0]
        let s2 = try answerSession(script2, specs: ["answerstop=2"])
        while try s2.step() != nil {}
        #expect(s2.events.first { $0.kind == .answerstopEnd }?.step == 8)
        #expect(s2.records[8].token == 2 && s2.records[8].input == .forced)
        #expect((s2.strategy("answerstop") as? AnswerStop)?.candidates == ["12", "12"])
    }

    @Test("answer stop, same=k: only the k-th statement of one answer ends thinking")
    func answerStopSame() throws {
        // "= 12\n", "=7\n", " the answer is 12\n" → 12 twice on the third line
        let script: [Int32] = [10, 11, 3, 10, 5, 3, 13, 3, 4, 4, 2, 0]
        let s = try answerSession(script, specs: ["answerstop:same=2"])
        while try s.step() != nil {}
        let st = try #require(s.strategy("answerstop") as? AnswerStop)
        #expect(st.candidates == ["12", "7", "12"])
        #expect(s.events.first { $0.kind == .answerstopEnd }?.step == 8)
        #expect(AnswerStop.info.fidelity.contains("heuristic stand-in"))
        #expect(st.spec == "answerstop:k=1:same=2")
    }

    @Test("answer stop: a newline comes first when the text does not end with one")
    func answerStopNewline() throws {
        let a = AnswerStop()
        let backend = SwirBackend(promptLength: 1) { _ in SwirBackend.peaked(4, 9) }
        let env = SwirTestEnvironment(backend)
        let l = SwirBackend.peaked(4, 9)
        let record = StepRecord(index: 0, position: 5, token: 3, text: "= 12\n so", phase: .thinking, input: .explicit,
                                logprob: 0, prob: 1, entropy: 0, varentropy: 0, top1: 1, margin: 1, top: [],
                                windowMean: 0, trend: 0, reasoningStep: 0, stepMean: 0, effects: [], ms: 0)
        try l.withUnsafeBufferPointer { lp in
            let view = SwirTestEnvironment.view(logits: lp, text: "= 12\n so", markers: markers)
            var effects: [Effect] = []
            try a.afterToken(record, view: view.afterToken, prober: nil, env: env, effects: &effects)
            var d = StepDecision()
            try a.beforeSampling(view, &d, env)
            #expect(d.force == [3, 2, 3])
        }
    }

    // MARK: stop pressure

    @Test("stop pressure: τ divides the close logit's distance to the top; s adds ln s")
    func stopPressureBias() throws {
        var l = [Float](repeating: 0, count: 15)
        l[4] = 5        // the top
        l[2] = 1        // </think>
        l[7] = 3
        let sp = StopPressure()
        let (d0, s0) = try decide(sp, l)
        #expect(d0.bias.isEmpty)                       // τ = 1, s = 1: no change
        #expect(sp.closeRank == 3)
        #expect(abs(sp.closeProbability - s0.probability(ofLogit: 1)) < 1e-12)
        #expect(sp.liveState.hasPrefix(String(format: "close p %.4f · rank 3", sp.closeProbability)))

        try sp.set("tau", "2")
        let (d1, _) = try decide(sp, l)
        // c' = m − (m − c)/τ = 5 − 4/2 = 3: bias +2
        #expect(abs(d1.bias[2]! - 2) < 1e-6)
        #expect(d1.bias.count == 1)

        try sp.set("tau", "0.5")
        let (d2, _) = try decide(sp, l)
        #expect(abs(d2.bias[2]! - (-4)) < 1e-6)        // 5 − 4/0.5 = −3

        try sp.set("tau", "1")
        try sp.set("scale", "3")
        let (d3, _) = try decide(sp, l)
        #expect(abs(d3.bias[2]! - Float(Foundation.log(3.0))) < 1e-6)

        try sp.set("tau", "4")
        let (d4, _) = try decide(sp, l)
        #expect(abs(d4.bias[2]! - Float(3 + Foundation.log(3.0))) < 1e-5)   // (5 − 1)(1 − 1/4) + ln 3

        // not outside thinking
        let (d5, _) = try decide(sp, l, phase: .answer)
        #expect(d5.bias.isEmpty)
        #expect(StopPressure.bias(closeLogit: 5, maxLogit: 5, tau: 0.1, scale: 1) == 0)
    }

    @Test("stop pressure on a text marker pushes the token that continues it")
    func stopPressureTextMarker() throws {
        let text = ThinkMarkers(close: "</think>")   // no close token: matched as text
        let l = [Float](repeating: 0, count: 15).enumerated().map { $0.offset == 4 ? Float(5) : 0 }
        let sp = StopPressure()
        try sp.set("tau", "2")
        let env = SwirTestEnvironment(SwirBackend(promptLength: 1) { _ in l })
        try l.withUnsafeBufferPointer { lp in
            var d = StepDecision()
            try sp.beforeSampling(SwirTestEnvironment.view(logits: lp, text: " so", markers: text), &d, env)
            #expect(Array(d.bias.keys) == [2])            // the marker's first token ("</think>" is one piece here)
            var d2 = StepDecision()
            try sp.beforeSampling(SwirTestEnvironment.view(logits: lp, text: " so </", markers: text), &d2, env)
            #expect(Array(d2.bias.keys) == [SwirBackend.unk])   // the first token of the missing "think>"
        }
    }

    @Test("stop pressure in a session: primary value is τ, the close gets likelier")
    func stopPressureSession() throws {
        // the close is the runner-up at every step; with τ = 10 it is pulled within 0.4 of the top
        let prompt: [Int32] = [7, 1, 3]
        let backend = SwirBackend(promptLength: prompt.count) { step in
            var l = SwirBackend.peaked(4, 6)
            l[2] = 2
            return step < 6 ? l : SwirBackend.peaked(0, 9)
        }
        let config = try SessionConfig(sampling: .greedy, maxTokens: 20, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
        try s.install(specs: ["stoppressure=10"])
        try s.step()
        #expect((s.strategy("stoppressure") as? StopPressure)?.tau == 10)
        #expect(s.records[0].effects.contains { $0.line.hasPrefix("stoppressure: close logit +3.600") })
        #expect(s.records[0].token == 4)   // greedy still picks the top: 2 + 3.6 < 6
        #expect(StopPressure.info.fidelity.contains("stand-in"))
        #expect(throws: ThinktopError.self) { try StrategyRegistry.configure(["stoppressure=0"]) }
    }
}

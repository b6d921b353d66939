import Foundation

/// entropix-style adaptive sampling, logits-only variant (rules of the classic sampler in
/// xjdr-alt/entropix, `entropix/sampler.py`, before the "dslider" rewrite).
///
/// Every step, the raw distribution's entropy H and varentropy V are read in bits
/// (H = −Σ p log2 p, V = Σ p (log2 p + H)²; the session's summary holds nats, so H/ln 2 and
/// V/(ln 2)²) and one rule picks how this token is drawn:
///
/// | rule       | condition (defaults)  | this step                                                      |
/// |------------|-----------------------|----------------------------------------------------------------|
/// | argmax     | H < 0.1 and V < 0.1   | greedy                                                         |
/// | clarify    | H > 5 and V < 0.1     | force the clarifying text, unless the text already ends with it: |
/// |            |                       |   then T = min(1.5, T0·1.3)                                     |
/// | explore    | H < 5 and V > 5       | T = min(1.5, T0·1.2), top-k = max(5, ⌊k0·1.5⌋)                 |
/// | resample   | H > 3 and V > 5       | T = max(2.0, T0·2.0), top-p = max(0.5, p0)                     |
/// | adaptive   | otherwise             | with U = H + V: T = T0·(1 + 0.3·U), top-p = p0, top-k = k0,    |
/// |            |                       |   min-p = clip(m0·(1 − 0.5·U), 0.01, 0.5); best of 5 draws     |
///
/// T0 0.666, top-p 0.90, top-k 27, min-p 0.03 (the sampler's defaults). Rules are tried in
/// this order, as in the original, so "resample" applies only when H ≥ 5.
///
/// The original's attention terms (attention entropy and varentropy, agreement, interaction
/// strength) need attention scores that llama.cpp does not return per step: here they are
/// all zero, which is what leaves the constants above (1.3 = 1.3 + 0.2·0, 1.2 = 1.2 + 0.3·0,
/// ⌊27·(1 + 0.5·(1 − 0))⌋ = 40, 2.0 = 2.0 + 0.5·0, top-p 0.9 − 0.2·0, …).
///
/// How the choice is carried out:
/// - the per-step temperature/top-p/top-k/min-p go to the session's sampler as
///   `decision.sampling` (argmax is temperature 0). The session's sampler applies them in
///   llama.cpp's order (top-k → top-p → min-p on untempered probabilities → temperature);
///   the original's `_sample` tempered first and, as written, applied neither min-p (it
///   filters `logit` but samples from `probs`) nor a usual top-p (its cumulative sum runs
///   over an ascending sort): those accidents are not reproduced.
/// - the adaptive rule draws `samples` (5) tokens and keeps the one with the highest raw
///   log-probability (the original's score adds a confidence term that is the same for
///   every draw). The distribution of that winner is computed exactly — with the kept
///   candidates in descending order and tail masses T_i, P(i) = T_i^n − T_{i+1}^n — and
///   handed to the sampler as logit biases with temperature 1 over the kept candidates, so
///   the session draws from it with its own seeded generator. `samples=1` is one draw.
/// - the clarifying insertion is a forced text (the original inserted token id 2564 of its
///   tokenizer; here `clarify`, default "...", is configurable).
public final class Entropix: DecodingStrategy {
    public static let info = StrategyInfo(
        id: "entropix", name: "entropix", source: "xjdr-alt/entropix classic sampler", needs: [.topK, .tokenBans],
        fidelity: "logits-only variant: the attention terms are zero; bugs of the original (`min_p` never applied, top-p over an ascending sort) not copied; on a server H is its bracket's lower end and V approximate, best-of draws among the top k told",
        primary: nil)

    public static var parameters: [Parameter<Entropix>] {
        [.number("temp", \.temperature, 0.01...10, help: "base temperature T0"),
         .number("topp", \.topP, 0...1, lowerOpen: true, help: "base top-p"),
         .integer("topk", \.topK, 1...100, help: "base top-k"),
         .number("minp", \.minP, 0...0.99, help: "base min-p"),
         .number("lowent", \.lowEntropy, 0...64, help: "low entropy threshold (bits)"),
         .number("medent", \.mediumEntropy, 0...64, help: "medium entropy threshold (bits)"),
         .number("highent", \.highEntropy, 0...64, help: "high entropy threshold (bits)"),
         .number("lowvent", \.lowVarentropy, 0...4096, help: "low varentropy threshold (bits²)"),
         .number("highvent", \.highVarentropy, 0...4096, help: "high varentropy threshold (bits²)"),
         .text("clarify", \.clarify, nonEmpty: true, help: "the text the clarify rule inserts (the original: a token id of its tokenizer)"),
         .integer("samples", \.samples, 1...64, help: "draws of which the most likely wins (adaptive rule)")]
    }

    public enum Rule: String, Sendable {
        case argmax, clarify, explore, resample, adaptive
    }

    /// What a rule asks of this step.
    public struct Choice: Equatable, Sendable {
        public var rule: Rule
        /// force the clarifying text instead of sampling
        public var insert: Bool
        public var temperature: Double
        public var topP: Double
        public var topK: Int
        public var minP: Double
        /// draws of which the most likely wins
        public var samples: Int
    }

    public var temperature = 0.666
    public var topP = 0.90
    public var topK = 27
    public var minP = 0.03
    public var lowEntropy = 0.1
    public var mediumEntropy = 3.0
    public var highEntropy = 5.0
    public var lowVarentropy = 0.1
    public var highVarentropy = 5.0
    public var clarify = "..."
    public var samples = 5

    public struct State: Sendable {
        var entropyBits = 0.0
        var varentropyBits = 0.0
        var rule: Rule?
        var counts: [String: Int] = [:]
        var lastTemperature = 0.0
    }
    public var state = State()
    private let analyzer = DistributionAnalyzer(topCount: 100)

    public init() {}

    public var liveState: String {
        guard let r = state.rule else { return "waiting" }
        return String(format: "H %.2f V %.2f bits · %@ · T %.2f", state.entropyBits, state.varentropyBits, r.rawValue, state.lastTemperature)
    }

    /// how often each rule fired
    public var ruleCounts: [String: Int] { state.counts }

    /// The classic sampler's rule for entropy and varentropy in bits, attention terms zero.
    public func choose(entropyBits h: Double, varentropyBits v: Double, justClarified: Bool) -> Choice {
        var c = Choice(rule: .adaptive, insert: false, temperature: temperature, topP: topP, topK: topK, minP: minP, samples: 1)
        if h < lowEntropy && v < lowVarentropy {
            c.rule = .argmax
            c.temperature = 0
            c.topK = 1
        } else if h > highEntropy && v < lowVarentropy {
            c.rule = .clarify
            if justClarified {
                c.temperature = min(1.5, temperature * (1.3 + 0.2 * 0))
            } else {
                c.insert = true
            }
        } else if h < highEntropy && v > highVarentropy {
            c.rule = .explore
            c.temperature = min(1.5, temperature * (1.2 + 0.3 * 0))
            c.topK = max(5, Int(Double(topK) * (1 + 0.5 * (1 - 0))))
        } else if h > mediumEntropy && v > highVarentropy {
            c.rule = .resample
            c.temperature = max(2.0, temperature * (2.0 + 0.5 * 0))
            c.topP = max(0.5, topP - 0.2 * 0)
        } else {
            let u = h + v
            c.temperature = temperature * (1 + 0.3 * u + 0.2 * 0 - 0.2 * 0)
            c.topP = min(1, max(0.1, topP * (1 + 0.1 * 0)))
            c.topK = Int(min(100, max(1, (Double(topK) * (1 + 0.3 * 0 - 0.2 * 0)).rounded())))
            c.minP = min(0.5, max(0.01, minP * (1 - 0.5 * u)))
            c.samples = samples
        }
        return c
    }

    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        let ln2 = M_LN2
        let h = view.summary.entropy / ln2
        let v = view.summary.varentropy / (ln2 * ln2)
        state.entropyBits = h
        state.varentropyBits = v
        let c = choose(entropyBits: h, varentropyBits: v, justClarified: view.text.hasSuffix(clarify))
        state.rule = c.rule
        state.counts[c.rule.rawValue, default: 0] += 1
        state.lastTemperature = c.temperature
        let head = String(format: "H %.3f V %.3f bits: %@", h, v, c.rule.rawValue)
        if c.insert && view.queuedForced == 0 {
            decision.force = try env.tokenize(clarify)
            decision.effect(.force, "\(head), inserting \(String(reflecting: clarify))")
            env.event(.entropixClarify, String(format: "H %.2f bits, V %.2f: inserted %@", h, v, String(reflecting: clarify)))
            return
        }
        if c.rule == .argmax {
            decision.sampling = try SamplingParameters(temperature: 0, topK: 1, topP: 1, minP: 0, seed: view.sampling.seed)
            decision.effect(.sampling, "\(head), greedy")
            return
        }
        let params = try SamplingParameters(temperature: c.temperature, topK: c.topK, topP: c.topP, minP: c.minP, seed: view.sampling.seed)
        let settings = String(format: "T %.3f top-p %.2f top-k %d min-p %.3f", c.temperature, c.topP, c.topK, c.minP)
        if c.samples <= 1 {
            decision.sampling = params
            decision.effect(.sampling, "\(head), \(settings)")
            return
        }
        // best of n draws by raw log-probability, as an exact distribution over the kept candidates
        // a server's partial distribution: the draws are among the tokens it told (its top k)
        let top = view.logits.isEmpty ? view.summary.top : analyzer.analyze(view.logits).top
        let best = Self.bestOf(c.samples, candidates: top, parameters: params)
        guard let lowest = best.map({ Foundation.log($0.1) }).min() else { return }
        let first = Double(top[0].logit)
        // every kept candidate ends above every other logit: ln P + C > max logit
        let shift = first - lowest + 30
        for (cand, p) in best {
            decision.bias[cand.id, default: 0] += Float(Foundation.log(p) + shift - Double(cand.logit))
        }
        decision.sampling = try SamplingParameters(temperature: 1, topK: best.count, topP: 1, minP: 0, seed: view.sampling.seed)
        decision.effect(.sampling, "\(head), \(settings), best of \(c.samples) draws (\(best.count) candidates)")
    }

    /// The distribution of the most likely of `n` draws from the session sampler's filtered,
    /// tempered distribution over `candidates` (sorted by descending logit). Candidates with
    /// equal logits share their group's probability in proportion to their own.
    static func bestOf(_ n: Int, candidates: [Candidate], parameters p: SamplingParameters) -> [(Candidate, Double)] {
        guard !candidates.isEmpty else { return [] }
        let list = Array(candidates.prefix(max(1, p.topK)))
        // the session sampler's own filters and temperature
        var q: [Double] = []
        let keep = Sampler.keptWeights(list[...], p, into: &q)
        q.removeLast(q.count - keep)
        let z = q.reduce(0, +)
        q = q.map { $0 / z }
        // tail masses T_i = Σ_{j ≥ i} q_j
        var tail = [Double](repeating: 0, count: keep + 1)
        for i in stride(from: keep - 1, through: 0, by: -1) { tail[i] = tail[i + 1] + q[i] }
        var out: [(Candidate, Double)] = []
        var i = 0
        while i < keep {
            var j = i + 1
            while j < keep && list[j].logit == list[i].logit { j += 1 }
            // P(best in group [i, j)) = T_i^n − T_j^n, written without cancellation
            let a = tail[i], b = tail[j]
            var s = 0.0
            for k in 0..<n { s += Foundation.pow(a, Double(k)) * Foundation.pow(b, Double(n - 1 - k)) }
            let group = (a - b) * s
            let groupMass = a - b
            for m in i..<j where q[m] > 0 && group > 0 { out.append((list[m], group * q[m] / groupMass)) }
            i = j
        }
        return out
    }

}

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
    public let id = "entropix"
    public let name = "entropix"
    public let key: Character = "n"
    public let needs = ["logits"]
    public var fidelity: String { "logits-only variant" }

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

    public private(set) var temperature = 0.666
    public private(set) var topP = 0.90
    public private(set) var topK = 27
    public private(set) var minP = 0.03
    public private(set) var lowEntropy = 0.1
    public private(set) var mediumEntropy = 3.0
    public private(set) var highEntropy = 5.0
    public private(set) var lowVarentropy = 0.1
    public private(set) var highVarentropy = 5.0
    public private(set) var clarify = "..."
    public private(set) var samples = 5

    struct State {
        var entropyBits = 0.0
        var varentropyBits = 0.0
        var rule: Rule?
        var counts: [String: Int] = [:]
        var lastTemperature = 0.0
    }
    private var state = State()
    private let analyzer = DistributionAnalyzer(topCount: 100)

    public init() {}

    public var parameters: [(String, String)] {
        let d = (temperature: 0.666, topP: 0.90, topK: 27, minP: 0.03, lowEntropy: 0.1, mediumEntropy: 3.0,
                 highEntropy: 5.0, lowVarentropy: 0.1, highVarentropy: 5.0, clarify: "...", samples: 5)
        var p: [(String, String)] = []
        func add(_ k: String, _ v: Double, _ dv: Double) { if v != dv { p.append((k, String(v))) } }
        add("temp", temperature, d.temperature)
        add("topp", topP, d.topP)
        if topK != d.topK { p.append(("topk", "\(topK)")) }
        add("minp", minP, d.minP)
        add("lowent", lowEntropy, d.lowEntropy)
        add("medent", mediumEntropy, d.mediumEntropy)
        add("highent", highEntropy, d.highEntropy)
        add("lowvent", lowVarentropy, d.lowVarentropy)
        add("highvent", highVarentropy, d.highVarentropy)
        if clarify != d.clarify { p.append(("clarify", SwiReasoning.escape(clarify))) }
        if samples != d.samples { p.append(("samples", "\(samples)")) }
        return p
    }

    public var liveState: String {
        guard let r = state.rule else { return "waiting" }
        return String(format: "H %.2f V %.2f bits · %@ · T %.2f", state.entropyBits, state.varentropyBits, r.rawValue, state.lastTemperature)
    }

    /// how often each rule fired
    public var ruleCounts: [String: Int] { state.counts }

    public func set(_ name: String, _ value: String) throws {
        switch name {
        case "temp": temperature = try StrategyParameter.double(id, name, value, in: 0.01...10)
        case "topp":
            let v = try StrategyParameter.double(id, name, value, in: 0...1)
            guard v > 0 else { throw ThinktopError.invalidArgument("strategy entropix: topp must be in (0, 1], got \"\(value)\"") }
            topP = v
        case "topk": topK = try StrategyParameter.int(id, name, value, in: 1...100)
        case "minp": minP = try StrategyParameter.double(id, name, value, in: 0...0.99)
        case "lowent": lowEntropy = try StrategyParameter.double(id, name, value, in: 0...64)
        case "medent": mediumEntropy = try StrategyParameter.double(id, name, value, in: 0...64)
        case "highent": highEntropy = try StrategyParameter.double(id, name, value, in: 0...64)
        case "lowvent": lowVarentropy = try StrategyParameter.double(id, name, value, in: 0...4096)
        case "highvent": highVarentropy = try StrategyParameter.double(id, name, value, in: 0...4096)
        case "clarify":
            let t = StrategyParameter.text(value)
            guard !t.isEmpty else { throw ThinktopError.invalidArgument("strategy entropix: clarify must not be empty") }
            clarify = t
        case "samples": samples = try StrategyParameter.int(id, name, value, in: 1...64)
        default:
            throw StrategyParameter.unknown(id, name, known: ["temp", "topp", "topk", "minp", "lowent", "medent", "highent",
                                                              "lowvent", "highvent", "clarify", "samples"])
        }
    }

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
        if c.insert {
            decision.force = try env.tokenize(clarify)
            decision.effects.append("\(head), inserting \(String(reflecting: clarify))")
            env.event("entropix-clarify", String(format: "H %.2f bits, V %.2f: inserted %@", h, v, String(reflecting: clarify)))
            return
        }
        if c.rule == .argmax {
            decision.sampling = try SamplingParameters(temperature: 0, topK: 1, topP: 1, minP: 0, seed: view.sampling.seed)
            decision.effects.append("\(head), greedy")
            return
        }
        let params = try SamplingParameters(temperature: c.temperature, topK: c.topK, topP: c.topP, minP: c.minP, seed: view.sampling.seed)
        let settings = String(format: "T %.3f top-p %.2f top-k %d min-p %.3f", c.temperature, c.topP, c.topK, c.minP)
        if c.samples <= 1 {
            decision.sampling = params
            decision.effects.append("\(head), \(settings)")
            return
        }
        // best of n draws by raw log-probability, as an exact distribution over the kept candidates
        let top = analyzer.analyze(view.logits).top
        let best = Self.bestOf(c.samples, candidates: top, parameters: params)
        guard let lowest = best.map({ Foundation.log($0.1) }).min() else { return }
        let first = Double(top[0].logit)
        // every kept candidate ends above every other logit: ln P + C > max logit
        let shift = first - lowest + 30
        for (cand, p) in best {
            decision.bias[cand.id, default: 0] += Float(Foundation.log(p) + shift - Double(cand.logit))
        }
        decision.sampling = try SamplingParameters(temperature: 1, topK: best.count, topP: 1, minP: 0, seed: view.sampling.seed)
        decision.effects.append("\(head), \(settings), best of \(c.samples) draws (\(best.count) candidates)")
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

    public func saveState() -> Any { state }
    public func restoreState(_ s: Any) { if let s = s as? State { state = s } }
}

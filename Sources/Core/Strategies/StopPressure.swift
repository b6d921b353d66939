import Foundation

/// Stop pressure, a stand-in for the "temperature scaling" of the stopping decision reported
/// in arXiv 2505.07961 (small reasoning models keep the end-of-thinking marker among their
/// top candidates without choosing it; the paper's exact formula could not be checked).
///
/// During thinking the think-close logit c is moved, via `decision.bias`, relative to the
/// maximum logit m:
///   - `tau` τ: c' = m − (m − c)/τ, i.e. bias (m − c)·(1 − 1/τ), a temperature on the
///     close's distance to the top: τ > 1 pulls the close towards the top and makes stopping
///     likelier, τ < 1 pushes it away, τ = 1 (the default) changes nothing.
///   - `scale` s: bias ln s, i.e. p(close) multiplied by s before renormalising (s = 1,
///     the default, changes nothing).
/// Both compose (the biases add). When the marker is text over several tokens (models without
/// a think-close token, such as Gemma 3 270M), the token pushed is the one that starts the
/// rest of the marker: its first token, or, when the text already ends with part of the
/// marker ("</"), the first token of what is missing ("think"). Pushing only the first token
/// would make a model under strong pressure repeat "</" forever. The live state shows that
/// token's raw probability and rank every thinking step, whether or not pressure is applied.
public final class StopPressure: DecodingStrategy {
    public static let info = StrategyInfo(
        id: "stoppressure", name: "Stop pressure", source: "after 2505.07961", needs: [.fullDistribution, .tokenBans],
        fidelity: "**stand-in** until the paper's formula is checked: the think-close logit's distance to the maximum is divided by τ (τ > 1 makes stopping likelier), or ln s is added; with a text marker the token that continues it is pushed",
        primary: "tau")

    public static var parameters: [Parameter<StopPressure>] {
        [.number("tau", \.tau, 0...1000, lowerOpen: true, always: true, help: "divides the close's logit distance to the top (> 1: stop sooner)"),
         .number("scale", \.scale, 0...1e12, lowerOpen: true, help: "multiplies p(close) before renormalising (adds ln s)")]
    }

    public var tau = 1.0
    public var scale = 1.0

    public struct State: Sendable {
        var probability = 0.0
        var rank = 0
        var bias: Float = 0
        var seen = false
    }
    public var state = State()
    /// first token of each missing part of a text marker
    private var rest: [String: Int32?] = [:]

    public init() {}

    public var liveState: String {
        guard state.seen else { return "τ \(ParameterFormat.number(tau))" + (scale != 1 ? " · s \(ParameterFormat.number(scale))" : "") }
        return String(format: "close p %.4f · rank %d · bias %+.2f", state.probability, state.rank, state.bias)
    }

    public var closeProbability: Double { state.probability }
    public var closeRank: Int { state.rank }

    public func prepare(_ env: StrategyEnvironment) throws { rest = [:] }

    /// The token that moves towards closing: the close token, or for a text marker the first
    /// token of the part of the marker the text does not end with yet.
    func target(_ view: StepView, _ env: StrategyEnvironment) throws -> Int32? {
        if let c = view.markers.closeToken { return c }
        let close = view.markers.close
        guard !close.isEmpty else { return nil }
        var missing = close
        for k in stride(from: close.count - 1, through: 1, by: -1) where view.text.hasSuffix(String(close.prefix(k))) {
            missing = String(close.dropFirst(k))
            break
        }
        if let t = rest[missing] { return t }
        let t = try env.tokenize(missing).first
        rest.updateValue(t, forKey: missing)
        return t
    }

    /// The bias added to the close logit `c` when the largest logit is `m`.
    public static func bias(closeLogit c: Float, maxLogit m: Float, tau: Double, scale: Double) -> Float {
        let distance = Double(m - c)
        return Float(distance * (1 - 1 / tau) + Foundation.log(scale))
    }

    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        guard view.phase == .thinking else { return }
        guard let close = try target(view, env), Int(close) < view.logits.count else { return }
        let c = view.logits[Int(close)]
        state.seen = true
        state.probability = view.summary.probability(ofLogit: c)
        state.rank = Self.rank(of: c, in: view.logits)
        let b = Self.bias(closeLogit: c, maxLogit: view.summary.maxLogit, tau: tau, scale: scale)
        state.bias = b
        guard b != 0, b.isFinite else { return }
        decision.bias[close, default: 0] += b
        // p' = p·e^b / (1 − p + p·e^b)
        let p = state.probability
        let e = Foundation.exp(Double(b))
        decision.effect(.bias, String(format: "close logit %+.3f: p %.4f → %.4f (rank %d)", b, p, p * e / (1 - p + p * e), state.rank))
    }

    /// 1 + the number of logits strictly above `c` (vectorised).
    static func rank(of c: Float, in logits: UnsafeBufferPointer<Float>) -> Int {
        let n = logits.count
        let raw = UnsafeRawPointer(logits.baseAddress!)
        let cv = SIMD16<Float>(repeating: c)
        var above = SIMD16<Int32>()
        var i = 0
        while i + 16 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
            above &+= SIMD16<Int32>(repeating: 0).replacing(with: 1, where: v .> cv)
            i += 16
        }
        var count = Int(above.wrappedSum())
        while i < n { if logits[i] > c { count += 1 }; i += 1 }
        return count + 1
    }

}

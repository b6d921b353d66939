import Foundation

/// ThinkBrake (ssangjun706/ThinkBrake, `thinkbrake/func/handler.py::run_thinkbrake_step`):
/// at each sentence boundary of thinking (the text ends with ".\n\n"), compare how likely
/// the best continuation is with how likely closing thinking would have been: the top-1
/// next-token log-probability after the boundary, and — on a fork where the sentence ends
/// ".\n" instead — the log-probability of the think-close marker. When
/// top-1 − close ≤ threshold (1.0), thinking is closed. The margin is the live state, and
/// an effect at every boundary.
///
/// The boundary has been fed when the hook runs, so the fork is cut where the boundary's
/// "." starts and the rest of that token's text is fed again followed by ".\n" (the
/// reference's own fork is the text before the boundary plus ".\n</think>"). The top-1
/// log-probability is read from the main distribution at the next step (before sampling),
/// where the decision is taken. Closing forces the think-close marker and "\n\n" after the
/// boundary already written, where the reference replaces ".\n\n" by ".\n</think>\n\n"
/// (a fed token cannot be taken back).
public final class ThinkBrake: DecodingStrategy {
    public let id = "thinkbrake"
    public let name = "ThinkBrake"
    public let key: Character = "x"
    public let needs = ["logits", "fork"]

    /// close when top-1 − close ≤ this (nats)
    public private(set) var threshold = 1.0

    private struct State {
        /// (position, piece bytes) of the last few tokens, to find where a boundary starts
        var recent: [(Int, [UInt8])] = []
        /// log p(think-close | sentence + ".\n") measured at the last boundary, for the next step
        var pendingClose: Double?
        var lastMargin: Double?
        var boundaries = 0
        var closed = false
    }
    private var state = State()

    public init() {}

    public var parameters: [(String, String)] { [("threshold", DEER.format(threshold))] }

    public var liveState: String {
        guard let m = state.lastMargin else { return "margin – · boundaries 0" }
        return "margin \(String(format: "%.2f", m)) · boundaries \(state.boundaries)" + (state.closed ? " · closed" : "")
    }

    /// top-1 − close at the last boundary (nats)
    public var lastMargin: Double? { state.lastMargin }
    public var boundaries: Int { state.boundaries }
    /// whether thinking was closed by this strategy
    public var closed: Bool { state.closed }

    public func set(_ name: String, _ value: String) throws {
        switch name {
        case "threshold": threshold = try StrategyParameter.double(id, name, value, in: -100...100)
        default: throw StrategyParameter.unknown(id, name, known: ["threshold"])
        }
    }

    public func afterToken(_ record: StepRecord, view: StepView, env: StrategyEnvironment, effects: inout [String]) throws {
        state.recent.append((record.position, env.backend.piece(record.token)))
        if state.recent.count > 4 { state.recent.removeFirst() }
        guard record.phase == .thinking, !state.closed, record.token != view.markers.closeToken,
              ProbeSupport.endsWith(view.text, record.text, ".\n\n") else { return }
        guard env.canProbe else { return }
        guard let (cut, head) = boundaryStart() else {
            effects.append("thinkbrake: boundary spread over too many tokens: not measured")
            return
        }
        let appending = head + ".\n"
        guard let closeId = try view.markers.closeToken ?? env.tokenize(view.markers.close).first else { return }
        guard 8 + appending.utf8.count < env.freeCells else {
            effects.append("thinkbrake: probe skipped: it would not fit in the context")
            return
        }
        var close: Double?
        do {
            let r = try env.probe(appending: appending, maxTokens: 1, stopAt: nil, cutAt: cut) { logits, s in
                close = Double(logits[Int(closeId)]) - s.logSumExp
            }
            env.event("probe", "thinkbrake: log p(close | …\(String(reflecting: appending))) "
                      + String(format: "%.4f", close ?? .nan) + String(format: " %.1f ms", r.ms))
        } catch {
            env.event("probe-error", "thinkbrake: \(error)")
            effects.append("thinkbrake: probe failed: \(error)")
            return
        }
        state.pendingClose = close
    }

    /// Where the boundary's "." starts: the position of the token holding it and that
    /// token's text before it (nil when the boundary spreads over more tokens than kept).
    private func boundaryStart() -> (Int, String)? {
        var need = 3   // bytes of ".\n\n" not yet found, from the end
        for (position, bytes) in state.recent.reversed() {
            if bytes.count >= need {
                return (position, String(decoding: bytes.prefix(bytes.count - need), as: UTF8.self))
            }
            need -= bytes.count
        }
        return nil
    }

    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        guard let close = state.pendingClose else { return }
        state.pendingClose = nil
        guard view.phase == .thinking, !state.closed, let top = view.summary.top.first else { return }
        let top1 = view.summary.logProbability(ofLogit: top.logit)
        let margin = Self.margin(top1: top1, close: close)
        state.lastMargin = margin
        state.boundaries += 1
        let brakes = margin <= threshold
        decision.effects.append("margin \(String(format: "%.3f", margin)) = top-1 \(String(format: "%.3f", top1))"
                                + " − close \(String(format: "%.3f", close)) \(brakes ? "≤" : ">") \(DEER.format(threshold))")
        guard brakes else { return }
        var tokens: [Int32]
        if let closeToken = view.markers.closeToken {
            tokens = [closeToken] + (try env.tokenize("\n\n"))
        } else {
            tokens = try env.tokenize(view.markers.close + "\n\n")
        }
        decision.force = tokens
        state.closed = true
        env.event("brake", "thinkbrake: margin \(String(format: "%.4f", margin)) ≤ \(DEER.format(threshold)): closing thinking")
    }

    /// top-1 − close, both log-probabilities (nats).
    public static func margin(top1: Double, close: Double) -> Double { top1 - close }

    public func saveState() -> Any { state }
    public func restoreState(_ s: Any) { if let s = s as? State { state = s } }
}

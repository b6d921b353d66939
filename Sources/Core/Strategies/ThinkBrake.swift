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
///
/// `read=sampled` reads what the reference reads when it samples: the log-probability of the
/// token drawn after the boundary (`output_token_logprobs[-1]`), so the decision is taken once
/// the next token is sampled, and a brake replaces that token with the close (as the
/// reference discards its fork's token). Under greedy decoding both readings agree.
public final class ThinkBrake: DecodingStrategy {
    public static let info = StrategyInfo(
        id: "thinkbrake", name: "ThinkBrake", source: "ssangjun706/ThinkBrake", needs: [.topK, .forks],
        fidelity: "faithful margin rule (≤ threshold); top-1 read from the next step's raw distribution (`read=sampled`: the sampled token's, as the reference does when it samples); closes with the marker after the \".\\n\\n\" already written; with a text marker, its first token's log-probability",
        primary: "threshold")

    public static var parameters: [Parameter<ThinkBrake>] {
        [.number("threshold", \.threshold, -100...100, always: true, help: "close thinking when next − close ≤ this (nats; swept 0.1–5.0)"),
         .choice("read", \.read, help: "top1: the best next token's log-probability; sampled: the sampled token's (the reference when sampling)")]
    }

    /// Which next-token log-probability the margin reads.
    public enum Read: String, Sendable, CaseIterable { case top1, sampled }

    /// close when next − close ≤ this (nats)
    public var threshold = 1.0
    public var read = Read.top1

    public struct State: Sendable {
        /// (position, piece bytes) of the last few tokens, to find where a boundary starts
        var recent: [Recent] = []
        /// log p(think-close | sentence + ".\n") measured at the last boundary, for the next step
        var pendingClose: Double?
        var lastMargin: Double?
        var boundaries = 0
        var closed = false
    }
    public struct Recent: Sendable {
        var position: Int
        var bytes: [UInt8]
    }
    public var state = State()

    public init() {}

    public var liveState: String {
        guard let m = state.lastMargin else { return "margin – · boundaries 0" }
        return "margin \(String(format: "%.2f", m)) · boundaries \(state.boundaries)" + (state.closed ? " · closed" : "")
    }

    /// top-1 − close at the last boundary (nats)
    public var lastMargin: Double? { state.lastMargin }
    public var boundaries: Int { state.boundaries }
    /// whether thinking was closed by this strategy
    public var closed: Bool { state.closed }

    public func afterToken(_ record: StepRecord, view: TokenView, prober: Prober?, env: StrategyEnvironment,
                           effects: inout [Effect]) throws {
        state.recent.append(Recent(position: record.position, bytes: env.piece(record.token)))
        if state.recent.count > 4 { state.recent.removeFirst() }
        guard record.phase == .thinking, !state.closed, record.token != view.markers.closeToken,
              ProbeSupport.endsWith(view.text, record.text, ".\n\n") else { return }
        guard let prober else { return }
        guard let (cut, head) = boundaryStart() else {
            effects.append(Effect(id, .note, "boundary spread over too many tokens: not measured"))
            return
        }
        let appending = head + ".\n"
        guard let closeId = try view.markers.closeToken ?? env.tokenize(view.markers.close).first else { return }
        guard 8 + appending.utf8.count < prober.freeCells else {
            effects.append(Effect(id, .note, "probe skipped: it would not fit in the context"))
            return
        }
        var close: Double?
        do {
            let r = try prober.probe(appending: appending, maxTokens: 1, stop: .none, cutAt: cut, scoring: [closeId])
            close = r.scores.first
            env.event(.probe, "log p(close | …\(String(reflecting: appending))) " + String(format: "%.4f", close ?? .nan), ms: r.ms)
        } catch {
            env.event(.probeError, "\(error)")
            effects.append(Effect(id, .note, "probe failed: \(error)"))
            return
        }
        state.pendingClose = close
    }

    /// Where the boundary's "." starts: the position of the token holding it and that
    /// token's text before it (nil when the boundary spreads over more tokens than kept).
    private func boundaryStart() -> (Int, String)? {
        var need = 3   // bytes of ".\n\n" not yet found, from the end
        for r in state.recent.reversed() {
            if r.bytes.count >= need {
                return (r.position, String(decoding: r.bytes.prefix(r.bytes.count - need), as: UTF8.self))
            }
            need -= r.bytes.count
        }
        return nil
    }

    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        guard read == .top1, let close = state.pendingClose else { return }
        state.pendingClose = nil
        guard view.phase == .thinking, !state.closed, let top = view.summary.top.first else { return }
        guard view.queuedForced == 0 else {
            decision.effect(.note, "boundary not measured: forced tokens are being fed")
            return
        }
        let next = view.summary.logProbability(ofLogit: top.logit)
        guard let line = measure(next: next, close: close, what: "top-1") else { return }
        decision.effect(.probe, line)
        guard state.closed else { return }
        decision.force = try closing(view, env)
        env.event(.brake, "margin \(String(format: "%.4f", state.lastMargin ?? .nan)) ≤ \(ParameterFormat.number(threshold)): closing thinking")
    }

    /// A forced step after a boundary: no token was sampled to read (`read=sampled`), and
    /// braking now would come after the forced text.
    public func observeForced(sampled: Int32, view: StepView, env: StrategyEnvironment, effects: inout [Effect]) throws {
        if read == .sampled, state.pendingClose != nil {
            state.pendingClose = nil
            effects.append(Effect(id, .note, "boundary not measured: the token after it was forced"))
        }
    }

    /// `read=sampled`: the margin from the sampled token's log-probability; a brake replaces
    /// the sampled token with the close.
    public func review(sampled: Int32, view: StepView, env: StrategyEnvironment) throws -> [Int32]? {
        guard read == .sampled, let close = state.pendingClose else { return nil }
        state.pendingClose = nil
        guard view.phase == .thinking, !state.closed else { return nil }
        guard let next = view.logProbability(of: sampled) else { return nil }
        _ = measure(next: next, close: close, what: "sampled")
        guard state.closed else { return nil }
        env.event(.brake, "margin \(String(format: "%.4f", state.lastMargin ?? .nan)) ≤ \(ParameterFormat.number(threshold)): closing thinking instead of \(String(reflecting: env.text(of: sampled)))")
        return try closing(view, env)
    }

    /// Records the margin at a boundary and whether it brakes; returns the effect line.
    private func measure(next: Double, close: Double, what: String) -> String? {
        let margin = Self.margin(top1: next, close: close)
        state.lastMargin = margin
        state.boundaries += 1
        let brakes = margin <= threshold
        if brakes { state.closed = true }
        return "margin \(String(format: "%.3f", margin)) = \(what) \(String(format: "%.3f", next))"
            + " − close \(String(format: "%.3f", close)) \(brakes ? "≤" : ">") \(ParameterFormat.number(threshold))"
    }

    /// The close: the think-close marker and "\n\n".
    private func closing(_ view: StepView, _ env: StrategyEnvironment) throws -> [Int32] {
        if let closeToken = view.markers.closeToken { return [closeToken] + (try env.tokenize("\n\n")) }
        return try env.tokenize(view.markers.close + "\n\n")
    }

    /// next − close, both log-probabilities (nats).
    public static func margin(top1: Double, close: Double) -> Double { top1 - close }
}

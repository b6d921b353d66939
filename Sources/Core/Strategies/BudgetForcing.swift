/// Budget forcing (s1, simplescaling/s1): when thinking reaches `budget` tokens, end it —
/// a newline if needed, the think-close marker, then the optional answer cue — and continue
/// in the answer phase. With `extend` > 0, a think-close the model produces before the
/// budget is replaced by `ignore` ("Wait") and thinking goes on, up to `extend` times.
///
/// A think-close written as text over several tokens is caught at the token that starts it
/// ("</"): an approximation the trace labels; models with a think-close token are exact.
public final class BudgetForcing: DecodingStrategy {
    public static let info = StrategyInfo(
        id: "budget", name: "Budget", source: "s1, simplescaling/s1", needs: [.topK],
        fidelity: "faithful; a think-close written as text over several tokens is caught at its first token; the harness's \"Final Answer:\" cue is the option `cue` (off by default)",
        primary: "budget")

    public static var parameters: [Parameter<BudgetForcing>] {
        [.integer("budget", \.budget, 1...1_000_000, always: true, help: "thinking tokens allowed (512 when switched on without a value)"),
         .integer("extend", \.extend, 0...64, help: "times an early think-close is replaced by the `ignore` text (s1: 1, ablations 2/4/6)"),
         .text("ignore", \.ignore, nonEmpty: true, help: "what replaces an early think-close (s1: \"Wait\"; ablations \"Hmm\", \"Alternatively\")"),
         .text("cue", \.cue, help: "text after the forced think-close (the s1 harness: \"Final Answer:\")")]
    }

    /// thinking tokens allowed (thinktop's default when switched on without a value: 512)
    public var budget = 512
    public var extend = 0
    public var ignore = "Wait"
    public var cue = ""

    public struct State: Sendable {
        var extensionsUsed = 0
        var forcedEnd = false
        var used = 0
    }
    public var state = State()

    public init() {}

    public var liveState: String {
        "think \(state.used)/\(budget)" + (extend > 0 ? " · extended \(state.extensionsUsed)/\(extend)" : "")
            + (state.forcedEnd ? " · ended" : "")
    }

    public var forcedEnd: Bool { state.forcedEnd }
    public var extensionsUsed: Int { state.extensionsUsed }

    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        state.used = view.thinkingTokens
        guard view.phase == .thinking, view.thinkingTokens >= budget, !state.forcedEnd, view.queuedForced == 0 else { return }
        var tokens: [Int32] = []
        if !view.text.hasSuffix("\n") { tokens += try env.tokenize("\n") }
        if let close = view.markers.closeToken { tokens.append(close) } else { tokens += try env.tokenize(view.markers.close) }
        tokens += try env.tokenize("\n" + cue)
        decision.force = tokens
        decision.effect(.force, "budget of \(budget) reached: ending thinking")
        state.forcedEnd = true
        env.event(.budgetEnd, "thinking reached \(view.thinkingTokens) tokens")
    }

    /// The live count includes the token just generated, as the budget gauge does.
    public func afterToken(_ record: StepRecord, view: TokenView, prober: Prober?, env: StrategyEnvironment,
                           effects: inout [Effect]) throws {
        state.used = view.thinkingTokens + (record.phase == .thinking ? 1 : 0)
    }

    public func review(sampled: Int32, view: StepView, env: StrategyEnvironment) throws -> [Int32]? {
        guard extend > 0, state.extensionsUsed < extend, view.phase == .thinking, view.thinkingTokens < budget else { return nil }
        let isClose = sampled == view.markers.closeToken
            || (view.markers.closeToken == nil && env.text(of: sampled).contains(String(view.markers.close.prefix(2))))
        guard isClose else { return nil }
        state.extensionsUsed += 1
        env.event(.budgetExtend, "extension \(state.extensionsUsed)/\(extend): think-close replaced by \(String(reflecting: ignore))")
        return try env.tokenize(ignore)
    }
}

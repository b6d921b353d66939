import Foundation

/// Budget forcing (s1, simplescaling/s1): when thinking reaches `budget` tokens, end it —
/// a newline if needed, the think-close marker, then the optional answer cue — and continue
/// in the answer phase. With `extend` > 0, a think-close the model produces before the
/// budget is replaced by `ignore` ("Wait") and thinking goes on, up to `extend` times.
///
/// A think-close written as text over several tokens is caught at the token that starts it
/// ("</"): an approximation the trace labels; models with a think-close token are exact.
public final class BudgetForcing: DecodingStrategy {
    public let id = "budget"
    public let name = "Budget"
    public let key: Character = "b"
    public let needs = ["logits"]

    /// thinking tokens allowed (thinktop's default when switched on without a value: 512)
    public private(set) var budget = 512
    public private(set) var extend = 0
    public private(set) var ignore = "Wait"
    public private(set) var cue = ""

    private struct State { var extensionsUsed = 0; var forcedEnd = false; var used = 0 }
    private var state = State()

    public init() {}

    public var parameters: [(String, String)] {
        var p = [("budget", "\(budget)")]
        if extend != 0 { p.append(("extend", "\(extend)")) }
        if ignore != "Wait" { p.append(("ignore", ignore)) }
        if !cue.isEmpty { p.append(("cue", cue)) }
        return p
    }

    public var liveState: String {
        "think \(state.used)/\(budget)" + (extend > 0 ? " · extended \(state.extensionsUsed)/\(extend)" : "")
            + (state.forcedEnd ? " · ended" : "")
    }

    public var forcedEnd: Bool { state.forcedEnd }

    public func set(_ name: String, _ value: String) throws {
        switch name {
        case "budget": budget = try StrategyParameter.int(id, name, value, in: 1...1_000_000)
        case "extend": extend = try StrategyParameter.int(id, name, value, in: 0...64)
        case "ignore": ignore = StrategyParameter.text(value)
        case "cue": cue = StrategyParameter.text(value)
        default: throw StrategyParameter.unknown(id, name, known: ["budget", "extend", "ignore", "cue"])
        }
    }

    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        state.used = view.thinkingTokens
        guard view.phase == .thinking, view.thinkingTokens >= budget, !state.forcedEnd else { return }
        var tokens: [Int32] = []
        if !view.text.hasSuffix("\n") { tokens += try env.tokenize("\n") }
        if let close = view.markers.closeToken { tokens.append(close) } else { tokens += try env.tokenize(view.markers.close) }
        tokens += try env.tokenize("\n" + cue)
        decision.force = tokens
        decision.effects.append("budget of \(budget) reached: ending thinking")
        state.forcedEnd = true
        env.event("budget-end", "thinking reached \(view.thinkingTokens) tokens")
    }

    /// The live count includes the token just generated, as the budget gauge does.
    public func afterToken(_ record: StepRecord, view: StepView, env: StrategyEnvironment, effects: inout [String]) throws {
        state.used = view.thinkingTokens + (record.phase == .thinking ? 1 : 0)
    }

    public func review(sampled: Int32, view: StepView, env: StrategyEnvironment) throws -> [Int32]? {
        guard extend > 0, state.extensionsUsed < extend, view.phase == .thinking, view.thinkingTokens < budget else { return nil }
        let isClose = sampled == view.markers.closeToken
            || (view.markers.closeToken == nil && env.text(of: sampled).contains(String(view.markers.close.prefix(2))))
        guard isClose else { return nil }
        state.extensionsUsed += 1
        env.event("budget-extend", "extension \(state.extensionsUsed)/\(extend): think-close replaced by \(String(reflecting: ignore))")
        return try env.tokenize(ignore)
    }

    public func saveState() -> Any { state }
    public func restoreState(_ s: Any) { if let s = s as? State { state = s } }
}

import Foundation

/// DEER, dynamic early exit (iie-ycx/DEER, `vllm-deer.py`): at each transition point of
/// thinking (the model has just written "Wait"), a probe asks for a trial answer — the
/// thinking so far, then `"\n**Final Answer**\n\\boxed"`, greedy-decoded up to 20 tokens
/// until a closing brace — and the confidence in it is the mean probability of the probe's
/// greedy tokens from the second on (the first is the opening brace). Above the threshold
/// (0.95), thinking ends: `"\n</think>\n\n"` is fed on the next step and the model answers.
/// At most 10 probes per run.
///
/// The reference stops generating at the stop string "Wait", so its probe never sees the
/// word; here the token has already been fed when the hook runs, and the probe's fork is cut
/// before it (`context=before`, the default). `context=after` probes the whole sequence
/// instead (a plain probe, "Wait" included). The early exit itself comes after the "Wait"
/// (the session cannot take a fed token back), so the thinking text ends "Wait\n</think>".
public final class DEER: DecodingStrategy {
    public let id = "deer"
    public let name = "DEER"
    public let key: Character = "e"
    public let needs = ["logits", "fork"]

    public static let defaultCue = "\n**Final Answer**\n\\boxed"
    public static let defaultTriggers = ["Wait"]

    /// Which context the probe continues.
    public enum Context: String, Sendable {
        /// the thinking before the trigger token (as the reference, which stops at "Wait")
        case before
        /// the whole main sequence, the trigger token included
        case after
    }

    /// How the probe tokens' probabilities are averaged.
    public enum Mean: String, Sendable {
        case arithmetic, geometric
    }

    /// exit when the confidence is strictly above this
    public private(set) var threshold = 0.95
    /// transition words: a generated token whose trimmed text equals one (any case) is a trigger
    public private(set) var triggers = DEER.defaultTriggers
    public private(set) var cue = DEER.defaultCue
    /// greedy probe tokens at most
    public private(set) var probeTokens = 20
    /// the probe stops after a token whose text contains this
    public private(set) var stop = "}"
    public private(set) var mean = Mean.arithmetic
    /// thinking tokens after which a transition point exits whatever the confidence (0: off)
    public private(set) var limit = 0
    public private(set) var maxProbes = 10
    public private(set) var context = Context.before

    private struct State {
        var probes = 0
        var lastConfidence: Double?
        /// why thinking ends at the next step (set in afterToken, acted on in beforeSampling)
        var pendingExit: String?
        var exited = false
    }
    private var state = State()
    private var triggerSet: Set<String> = ["wait"]

    public init() {}

    public var parameters: [(String, String)] {
        var p = [("threshold", Self.format(threshold))]
        if triggers != Self.defaultTriggers { p.append(("triggers", triggers.joined(separator: ","))) }
        if cue != Self.defaultCue { p.append(("cue", Self.escape(cue))) }
        if probeTokens != 20 { p.append(("probe", "\(probeTokens)")) }
        if stop != "}" { p.append(("stop", Self.escape(stop))) }
        if mean != .arithmetic { p.append(("mean", mean.rawValue)) }
        if limit != 0 { p.append(("limit", "\(limit)")) }
        if maxProbes != 10 { p.append(("maxProbes", "\(maxProbes)")) }
        if context != .before { p.append(("context", context.rawValue)) }
        return p
    }

    public var liveState: String {
        let conf = state.lastConfidence.map { String(format: "%.2f", $0) } ?? "–"
        return "last conf \(conf) · probes \(state.probes)/\(maxProbes)" + (state.exited ? " · exited" : "")
    }

    /// probes run so far in this run
    public var probesRun: Int { state.probes }
    /// confidence of the last probe
    public var lastConfidence: Double? { state.lastConfidence }
    /// whether thinking was ended by this strategy
    public var exited: Bool { state.exited }

    public func set(_ name: String, _ value: String) throws {
        switch name {
        case "threshold": threshold = try StrategyParameter.double(id, name, value, in: 0...1)
        case "triggers":
            let list = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !list.isEmpty else {
                throw ThinktopError.invalidArgument("strategy deer: triggers must name at least one word, got \"\(value)\"")
            }
            triggers = list
        case "cue": cue = StrategyParameter.text(value)
        case "probe": probeTokens = try StrategyParameter.int(id, name, value, in: 2...256)
        case "stop":
            stop = StrategyParameter.text(value)
            guard !stop.isEmpty else { throw ThinktopError.invalidArgument("strategy deer: stop must not be empty") }
        case "mean":
            guard let m = Mean(rawValue: value.lowercased()) else {
                throw ThinktopError.invalidArgument("strategy deer: mean must be arithmetic or geometric, got \"\(value)\"")
            }
            mean = m
        case "limit": limit = try StrategyParameter.int(id, name, value, in: 0...10_000_000)
        case "maxProbes": maxProbes = try StrategyParameter.int(id, name, value, in: 0...100_000)
        case "context":
            guard let c = Context(rawValue: value.lowercased()) else {
                throw ThinktopError.invalidArgument("strategy deer: context must be before or after, got \"\(value)\"")
            }
            context = c
        default:
            throw StrategyParameter.unknown(id, name, known: ["threshold", "triggers", "cue", "probe", "stop", "mean",
                                                               "limit", "maxProbes", "context"])
        }
    }

    public func prepare(_ env: StrategyEnvironment) throws {
        triggerSet = Set(triggers.map { $0.lowercased() })
    }

    /// Whether a generated token's text is a transition point.
    public func isTrigger(_ text: String) -> Bool {
        triggerSet.contains(text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased())
    }

    /// The confidence of a probe: the mean of its greedy tokens' probabilities from the
    /// second to the last; 0 when the probe has fewer than two tokens (the reference would
    /// divide by zero).
    public static func confidence(_ probabilities: [Double], mean: Mean = .arithmetic) -> Double {
        let tail = probabilities.dropFirst()
        guard !tail.isEmpty else { return 0 }
        switch mean {
        case .arithmetic:
            return tail.reduce(0, +) / Double(tail.count)
        case .geometric:
            return exp(tail.reduce(0) { $0 + log(max($1, 1e-10)) } / Double(tail.count))
        }
    }

    public func afterToken(_ record: StepRecord, view: StepView, env: StrategyEnvironment, effects: inout [String]) throws {
        guard record.phase == .thinking, !state.exited, state.pendingExit == nil else { return }
        guard record.token != view.markers.closeToken, isTrigger(record.text) else { return }
        guard state.probes < maxProbes else { return }   // the reference stops looking for transitions
        guard env.canProbe else { return }
        let thinking = view.thinkingTokens + 1
        if limit > 0 && thinking >= limit {
            state.pendingExit = "thinking reached the limit of \(limit) tokens"
            effects.append("deer: transition at \(thinking) thinking tokens ≥ limit \(limit): exit")
            return
        }
        let cut = context == .before ? record.position : record.position + 1
        let appended = try env.tokenize(cue)
        guard appended.count + probeTokens < env.freeCells else {
            effects.append("deer: probe skipped: it would not fit in the context")
            return
        }
        let result: ProbeResult
        do {
            result = context == .before
                ? try env.probe(appending: cue, maxTokens: probeTokens, stopAt: stop, cutAt: cut, first: nil)
                : try env.probe(appending: cue, maxTokens: probeTokens, stopAt: stop, first: nil)
        } catch {
            env.event("probe-error", "deer: \(error)")
            effects.append("deer: probe failed: \(error)")
            return
        }
        let conf = Self.confidence(result.probabilities, mean: mean)
        state.probes += 1
        state.lastConfidence = conf
        let exits = conf > threshold
        env.event("probe", "deer: confidence \(Self.fixed(conf, 4)) (\(mean.rawValue) mean of \(max(0, result.probabilities.count - 1)) tokens) "
                  + "\(String(reflecting: result.text)) \(Self.fixed(result.ms, 1)) ms · probe \(state.probes)/\(maxProbes)")
        effects.append("deer: probe \(state.probes)/\(maxProbes) confidence \(Self.fixed(conf, 3)) \(exits ? ">" : "≤") \(Self.format(threshold))")
        if exits {
            state.pendingExit = "confidence \(Self.fixed(conf, 4)) > \(Self.format(threshold))"
        }
    }

    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        guard let reason = state.pendingExit else { return }
        state.pendingExit = nil
        guard view.phase == .thinking else { return }
        var tokens = try env.tokenize("\n")
        if let close = view.markers.closeToken {
            tokens.append(close)
            tokens += try env.tokenize("\n\n")
        } else {
            tokens += try env.tokenize(view.markers.close + "\n\n")
        }
        decision.force = tokens
        decision.effects.append("early exit: \(reason)")
        state.exited = true
        env.event("early-exit", "deer: \(reason) after \(view.thinkingTokens) thinking tokens")
    }

    public func saveState() -> Any { state }
    public func restoreState(_ s: Any) { if let s = s as? State { state = s } }

    /// `v` with `digits` decimals.
    static func fixed(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }

    /// A parameter value without trailing zeros: 0.95, 1, 0.125.
    static func format(_ v: Double) -> String {
        var s = String(format: "%.4f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }

    /// The C escapes `StrategyParameter.text` reads, so a spec round-trips.
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
            .replacingOccurrences(of: "\t", with: "\\t")
    }
}

/// What the probing strategies (DEER, ThinkBrake, CGRS) share.
enum ProbeSupport {
    /// Whether the generated text ends with `suffix` once `text` is appended to `before`,
    /// without copying the whole text.
    static func endsWith(_ before: String, _ text: String, _ suffix: String) -> Bool {
        guard !text.isEmpty else { return false }   // an unfinished character: nothing new
        if text.hasSuffix(suffix) { return true }
        return (String(before.suffix(suffix.count + 1)) + text).hasSuffix(suffix)
    }
}

import Foundation

/// DEER, dynamic early exit (iie-ycx/DEER, `vllm-deer.py`): at each transition point of
/// thinking — the text "Wait" appears in the generated text (case-sensitive, anywhere, as the
/// reference's vLLM stop string matches) — a probe asks for a trial answer: the thinking before
/// the transition, then `"\n**Final Answer**\n\\boxed"`, greedy-decoded up to 20 tokens until
/// the text contains one of the reference's stop strings (`" }"`, `"}\n"`, `"}."`, `"}}"`, …,
/// so `\frac{1}{2}` does not end it). The confidence is the mean probability of the probe's
/// tokens from the second on (the first is the opening brace). Above the threshold (0.95), or
/// once thinking has reached the reference's limit (think ratio 0.9 × max tokens − 50),
/// thinking ends: `"\n</think>\n\n"` is fed on the next step and the model answers. Thinking
/// is also ended when it reaches ratio × max tokens (the reference's cap on each chunk). At
/// most 10 probes per run.
///
/// The reference stops generating at the stop string, so its probe never sees the word; here
/// the token has already been fed when the hook runs, and the probe's fork is cut where the
/// transition's token starts, that token's text before "Wait" fed again (`context=before`,
/// the default). `context=after` probes the whole sequence instead. The early exit comes after
/// the fed "Wait" (a fed token cannot be taken back), so the thinking text ends "Wait\n</think>".
/// The reference's probe samples at vLLM's default temperature 1 (its greedy setting is
/// commented out); here, as in `vanilla_deer.py` and STRATEGIES.md, it is greedy.
public final class DEER: DecodingStrategy {
    public static let info = StrategyInfo(
        id: "deer", name: "DEER", source: "iie-ycx/DEER", needs: [.topK, .forks],
        fidelity: "faithful probe (on a fork cut where the \"Wait\" starts, as the reference stops there; greedy, where the reference's vLLM call samples at T 1); the exit comes after the fed \"Wait\"; `trigger=token` (a whole token reading \"wait\", any case) is the former rule",
        primary: "threshold")

    public static var parameters: [Parameter<DEER>] {
        [.number("threshold", \.threshold, 0...1, always: true, help: "exit when the confidence is strictly above this"),
         .choice("trigger", \.trigger, help: "text: a trigger word appears in the generated text (case-sensitive, the reference); token: a generated token reads a trigger word (any case)"),
         .words("triggers", \.triggers, help: "transition words (the reference: Wait, or Alternatively with --points 2)"),
         .text("cue", \.cue, nonEmpty: true, help: "what the probe appends (the reference's answer prompt)"),
         .integer("probe", \.probeTokens, 2...256, help: "probe tokens at most (the reference's prob_check_max_tokens)"),
         .texts("stops", \.stops, help: "the probe ends once its text contains one of these (the reference's list)"),
         .choice("mean", \.mean, help: "how the probe tokens' probabilities are averaged (geometric: the authors' Qwen3 setting)"),
         .number("ratio", \.ratio, 0...1, help: "think ratio: thinking is limited to ratio × --max-tokens (0: no limit)"),
         .optionalInteger("limit", \.limit, 1...10_000_000, unset: "auto",
                          help: "thinking tokens after which a transition exits whatever the confidence (auto: ratio × --max-tokens − 50)"),
         .integer("maxProbes", \.maxProbes, 0...100_000, help: "probes per run at most (the reference's max_judge_steps)"),
         .choice("context", \.context, help: "before: probe the thinking before the transition (the reference); after: the whole sequence")]
    }

    public static let defaultCue = "\n**Final Answer**\n\\boxed"
    /// `pred_prob_stop_tokens` of `vllm-deer.py`
    public static let defaultStops = [" }", "}\n", "}\n\n", "}.", "}.\n", "}\\", "}}", ")}", ")}.", ")}\n"]

    /// How transition points are found.
    public enum Trigger: String, Sendable, CaseIterable {
        /// a trigger word appears in the generated text, case-sensitive (vLLM's stop strings)
        case text
        /// a generated token whose trimmed text is a trigger word, any case
        case token
    }

    /// Which context the probe continues.
    public enum Context: String, Sendable, CaseIterable {
        /// the thinking before the transition (as the reference, which stops at "Wait")
        case before
        /// the whole main sequence, the transition included
        case after
    }

    /// How the probe tokens' probabilities are averaged.
    public enum Mean: String, Sendable, CaseIterable {
        case arithmetic, geometric
    }

    public var threshold = 0.95
    public var trigger = Trigger.text
    public var triggers = ["Wait"]
    public var cue = DEER.defaultCue
    public var probeTokens = 20
    public var stops = DEER.defaultStops
    public var mean = Mean.arithmetic
    public var ratio = 0.9
    public var limit: Int?
    public var maxProbes = 10
    public var context = Context.before

    public struct State: Sendable {
        var probes = 0
        var lastConfidence: Double?
        /// why thinking ends at the next step (set in afterToken, acted on in beforeSampling)
        var pendingExit: String?
        var exited = false
        /// (position, bytes) of the last few thinking tokens, to find where a transition starts
        var recent: [Recent] = []
    }
    public struct Recent: Sendable {
        var position: Int
        var bytes: [UInt8]
    }
    public var state = State()

    public init() {}

    public var liveState: String {
        let conf = state.lastConfidence.map { String(format: "%.2f", $0) } ?? "–"
        return "last conf \(conf) · probes \(state.probes)/\(maxProbes)" + (state.exited ? " · exited" : "")
    }

    public var probesRun: Int { state.probes }
    public var lastConfidence: Double? { state.lastConfidence }
    public var exited: Bool { state.exited }

    /// Thinking tokens after which a transition point exits whatever the confidence: `limit`,
    /// else the reference's think ratio × max tokens − 50 (nil: no limit).
    public func exitLimit(maxTokens: Int) -> Int? {
        if let limit { return limit }
        return ratio > 0 ? Int(Double(maxTokens) * ratio) - 50 : nil
    }

    /// Thinking tokens at which thinking is ended outright: the reference caps each chunk of
    /// thinking at ratio × max tokens.
    public func hardLimit(maxTokens: Int) -> Int? { ratio > 0 ? Int(Double(maxTokens) * ratio) : nil }

    /// Whether a generated token's text is a transition point under `trigger=token`.
    public func isTriggerToken(_ text: String) -> Bool {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        return triggers.contains { $0.lowercased() == t }
    }

    /// Where a trigger word completes in `text` appended to `before`, as the byte offset from
    /// the end of `text` at which the word starts (nil: no trigger ends in `text`).
    public func triggerStart(before: String, text: String) -> Int? {
        guard !text.isEmpty else { return nil }
        let keep = (triggers.map(\.utf8.count).max() ?? 1) - 1
        let head = Array(before.utf8.suffix(keep))
        let joined = head + Array(text.utf8)
        for word in triggers {
            let w = Array(word.utf8)
            guard !w.isEmpty, joined.count >= w.count else { continue }
            // occurrences that end inside the new text, earliest first (vLLM stops at the first)
            var i = max(0, head.count - w.count + 1)
            while i + w.count <= joined.count {
                if Array(joined[i..<(i + w.count)]) == w { return joined.count - i }
                i += 1
            }
        }
        return nil
    }

    /// The confidence of a probe: the mean of its tokens' probabilities from the second to the
    /// last; 0 when the probe has fewer than two tokens (the reference would divide by zero).
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

    public func afterToken(_ record: StepRecord, view: TokenView, prober: Prober?, env: StrategyEnvironment,
                           effects: inout [Effect]) throws {
        guard record.phase == .thinking, !state.exited, state.pendingExit == nil else { return }
        state.recent.append(Recent(position: record.position, bytes: Array(record.text.utf8)))
        if state.recent.count > 8 { state.recent.removeFirst() }
        let thinking = view.thinkingTokens + 1
        if let hard = hardLimit(maxTokens: view.maxTokens), thinking >= hard {
            state.pendingExit = "thinking reached ratio \(ParameterFormat.number(ratio)) × \(view.maxTokens) = \(hard) tokens"
            effects.append(Effect(id, .note, "thinking limit \(hard) reached: exit"))
            return
        }
        guard record.token != view.markers.closeToken else { return }
        // the transition: where the trigger starts (token, bytes of its text before the trigger)
        let start: (position: Int, head: String)?
        switch trigger {
        case .token:
            start = isTriggerToken(record.text) ? (record.position, "") : nil
        case .text:
            start = triggerStart(before: view.text, text: record.text).flatMap(transitionStart)
        }
        guard let start else { return }
        guard state.probes < maxProbes else { return }   // the reference stops looking for transitions
        guard let prober else { return }
        if let l = exitLimit(maxTokens: view.maxTokens), thinking >= l {
            state.pendingExit = "thinking reached the limit of \(l) tokens"
            effects.append(Effect(id, .note, "transition at \(thinking) thinking tokens ≥ limit \(l): exit"))
            return
        }
        let appending = (context == .before ? start.head : "") + cue
        let appended = try env.tokenize(appending)
        guard appended.count + probeTokens < prober.freeCells else {
            effects.append(Effect(id, .note, "probe skipped: it would not fit in the context"))
            return
        }
        let result: ProbeResult
        do {
            result = try prober.probe(appending: appending, maxTokens: probeTokens, stop: .anyOf(stops),
                                      cutAt: context == .before ? start.position : nil, scoring: [])
        } catch {
            env.event(.probeError, "\(error)")
            effects.append(Effect(id, .note, "probe failed: \(error)"))
            return
        }
        let conf = Self.confidence(result.probabilities, mean: mean)
        state.probes += 1
        state.lastConfidence = conf
        let exits = conf > threshold
        env.event(.probe, "confidence \(Self.fixed(conf, 4)) (\(mean.rawValue) mean of \(max(0, result.probabilities.count - 1)) tokens) "
                  + "\(String(reflecting: result.text)) · probe \(state.probes)/\(maxProbes)", ms: result.ms)
        effects.append(Effect(id, .probe, "probe \(state.probes)/\(maxProbes) confidence \(Self.fixed(conf, 3)) \(exits ? ">" : "≤") \(ParameterFormat.number(threshold))"))
        if exits {
            state.pendingExit = "confidence \(Self.fixed(conf, 4)) > \(ParameterFormat.number(threshold))"
        }
    }

    /// The token where a trigger that starts `back` bytes before the end of the text begins,
    /// and that token's text before it (nil when it began before the tokens kept).
    private func transitionStart(back: Int) -> (position: Int, head: String)? {
        var need = back
        for r in state.recent.reversed() {
            if r.bytes.count >= need {
                return (r.position, String(decoding: r.bytes.prefix(r.bytes.count - need), as: UTF8.self))
            }
            need -= r.bytes.count
        }
        return nil
    }

    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        guard let reason = state.pendingExit, view.queuedForced == 0 else { return }
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
        decision.effect(.force, "early exit: \(reason)")
        state.exited = true
        env.event(.earlyExit, "\(reason) after \(view.thinkingTokens) thinking tokens")
    }

    /// `v` with `digits` decimals.
    static func fixed(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
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

import Foundation

/// CGRS, certainty-guided reflection suppression (Huang et al., arXiv 2508.05337; no
/// official code). Every blank line of thinking is a checkpoint: a probe appends the answer
/// cue `"**Final Answer**\n\\boxed{"` and greedy-decodes up to 10 tokens until the closing
/// brace; the certainty is C = 1 − mean(H_i) / ln|V| over the probe tokens' full-vocabulary
/// entropies, and the suppression probability p = max(0, (C − δ) / (1 − δ)), δ = 0.9. Until
/// the next checkpoint, each thinking step draws Bernoulli(p) from the strategies' seeded
/// generator (`per=step`; `per=segment` draws once per checkpoint), and when it fires every
/// vocabulary variant of the trigger words (Wait, But, Alternatively, Alternative, Hmm) is
/// banned for that step.
///
/// A token is a variant of a trigger when its text, with leading spaces and punctuation
/// removed, equals the word in any case or starts with it followed by a non-letter
/// (" wait", "But", ",Hmm", "Wait," are variants; "Waiter", "button", "Butter", "Hmmm" are not:
/// they are other words, and the list can name them if wanted).
public final class CGRS: DecodingStrategy {
    public static let info = StrategyInfo(
        id: "cgrs", name: "CGRS", source: "Huang et al. 2508.05337 (no official code)", needs: [.topK, .tokenBans, .forks, .vocabulary],
        fidelity: "as summarised from the paper; cue and probe length are parameters (unverified against the paper text); bans in thinking only; on a server the probe entropies are brackets, `partial` says which point stands for them",
        primary: "delta")

    public static var parameters: [Parameter<CGRS>] {
        [.number("delta", \.delta, 0...1, always: true, help: "certainty threshold δ: p = max(0, (C − δ)/(1 − δ))"),
         .text("cue", \.cue, nonEmpty: true, help: "the answer cue a probe appends (unverified against the paper)"),
         .integer("probe", \.probeTokens, 1...256, help: "greedy probe tokens at most (stops at \"}\")"),
         .choice("per", \.per, help: "when the Bernoulli(p) draw is made: every thinking step, or once per segment"),
         .words("triggers", \.triggers, help: "words whose every vocabulary variant is banned when suppression fires"),
         .choice("partial", \.partial, help: "on a server (top-k only): the point of each probe token's entropy bracket that stands for H_i")]
    }

    public static let defaultCue = "**Final Answer**\n\\boxed{"
    public static let defaultTriggers = ["Wait", "But", "Alternatively", "Alternative", "Hmm"]

    /// When the Bernoulli(p) draw is made.
    public enum Per: String, Sendable, CaseIterable {
        /// at every thinking step (the reading of the paper's summary)
        case step
        /// once per checkpoint, for the whole segment up to the next one
        case segment
    }

    /// Which point of an entropy bracket stands for a probe token's entropy when only the top
    /// of its distribution is known (an inference server). Exact entropies ignore it.
    public enum Partial: String, Sendable, CaseIterable {
        case lower, mid, upper
    }

    /// the certainty threshold δ
    public var delta = 0.9
    public var cue = CGRS.defaultCue
    /// greedy probe tokens at most
    public var probeTokens = 10
    public var per = Per.step
    public var partial = Partial.mid
    public var triggers = CGRS.defaultTriggers
    /// the banned token ids (built by `prepare` from the vocabulary)
    public private(set) var triggerIds: Set<Int32> = []

    public struct State: Sendable {
        var certainty: Double?
        var p = 0.0
        /// per=segment: the draw made at the last checkpoint
        var segmentFires = false
        var probes = 0
        var suppressedSteps = 0
    }
    public var state = State()

    public init() {}

    public var liveState: String {
        let c = state.certainty.map { String(format: "%.2f", $0) } ?? "–"
        return "C \(c) p \(String(format: "%.2f", state.p))"
    }

    /// certainty of the last probe
    public var certainty: Double? { state.certainty }
    /// the suppression probability in force until the next checkpoint
    public var probability: Double { state.p }
    public var probesRun: Int { state.probes }
    public var suppressedSteps: Int { state.suppressedSteps }

    /// C = 1 − mean(H_i) / ln|V|, clamped to [0, 1] against rounding.
    public static func certainty(entropies: [Double], vocabularySize: Int) -> Double {
        guard !entropies.isEmpty, vocabularySize > 1 else { return 0 }
        let meanH = entropies.reduce(0, +) / Double(entropies.count)
        return min(1, max(0, 1 - meanH / log(Double(vocabularySize))))
    }

    /// The probe tokens' entropies: exact ones as they are; brackets (a server's top k) at the
    /// point `partial` names.
    static func entropies(_ r: ProbeResult, _ partial: Partial) -> [Double] {
        guard r.entropyUpper.count == r.entropies.count else { return r.entropies }
        switch partial {
        case .lower: return r.entropies
        case .upper: return r.entropyUpper
        case .mid: return zip(r.entropies, r.entropyUpper).map { ($0 + $1) / 2 }
        }
    }

    /// p = max(0, (C − δ) / (1 − δ)); 0 when δ = 1 (C cannot exceed 1).
    public static func suppressionProbability(certainty c: Double, delta: Double) -> Double {
        guard c > delta, delta < 1 else { return 0 }
        return min(1, (c - delta) / (1 - delta))
    }

    /// Whether a token text is a variant of one of `triggers` (see the type's description).
    public static func isVariant(_ text: String, of triggers: [String]) -> Bool {
        matches(Array(text.utf8), triggers.map { Array($0.lowercased().utf8) })
    }

    /// Byte-level rule behind `isVariant`: skip leading ASCII whitespace and punctuation,
    /// compare ASCII-lower-cased, then require that no letter, digit or non-ASCII byte follows.
    static func matches(_ bytes: [UInt8], _ words: [[UInt8]]) -> Bool {
        var i = 0
        while i < bytes.count, isSpaceOrPunctuation(bytes[i]) { i += 1 }
        guard i < bytes.count else { return false }
        for w in words where !w.isEmpty && i + w.count <= bytes.count {
            var j = 0
            while j < w.count {
                let b = bytes[i + j]
                if (b >= 65 && b <= 90 ? b + 32 : b) != w[j] { break }
                j += 1
            }
            guard j == w.count else { continue }
            let next = i + w.count
            if next == bytes.count || !isWordByte(bytes[next]) { return true }
        }
        return false
    }

    private static func isSpaceOrPunctuation(_ b: UInt8) -> Bool {
        b == 32 || b == 9 || b == 10 || b == 13 || (b >= 33 && b <= 47) || (b >= 58 && b <= 64)
            || (b >= 91 && b <= 96) || (b >= 123 && b <= 126)
    }

    private static func isWordByte(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b >= 128
    }

    /// Scans the whole vocabulary for the trigger variants, once per model and trigger list.
    public func prepare(_ env: StrategyEnvironment) throws {
        let rule = "cgrs\u{0}" + triggers.joined(separator: "\u{1}")
        triggerIds = Set(env.vocabularyTokens(rule: rule) {
            let words = triggers.map { Array($0.lowercased().utf8) }
            let shortest = words.map(\.count).min() ?? 1
            var ids: [Int32] = []
            for i in 0..<env.vocabularySize {
                let t = Int32(i)
                let bytes = env.piece(t)
                if bytes.count < shortest { continue }
                if Self.matches(bytes, words) { ids.append(t) }
            }
            return ids
        })
    }

    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        guard view.phase == .thinking, state.p > 0, !triggerIds.isEmpty else { return }
        let fires: Bool
        switch per {
        case .step: fires = env.uniform() < state.p
        case .segment: fires = state.segmentFires
        }
        guard fires else { return }
        decision.banned.formUnion(triggerIds)
        state.suppressedSteps += 1
        var line = "suppressed \(triggerIds.count) trigger tokens (p \(String(format: "%.2f", state.p)))"
        if let top = view.summary.top.first, triggerIds.contains(top.id) {
            line += ": the favourite \(String(reflecting: env.text(of: top.id))) (p \(String(format: "%.2f", view.summary.top1)))"
        }
        decision.effect(.suppress, line)
    }

    public func afterToken(_ record: StepRecord, view: TokenView, prober: Prober?, env: StrategyEnvironment,
                           effects: inout [Effect]) throws {
        guard record.phase == .thinking, record.token != view.markers.closeToken,
              ProbeSupport.endsWith(view.text, record.text, "\n\n") else { return }
        guard let prober else { return }
        let appended = try env.tokenize(cue)
        guard appended.count + probeTokens < prober.freeCells else {
            effects.append(Effect(id, .note, "probe skipped: it would not fit in the context"))
            return
        }
        let result: ProbeResult
        do {
            result = try prober.probe(appending: cue, maxTokens: probeTokens, stop: .anyOf(["}"]))
        } catch {
            env.event(.probeError, "\(error)")
            effects.append(Effect(id, .note, "probe failed: \(error)"))
            return
        }
        let c = Self.certainty(entropies: Self.entropies(result, partial), vocabularySize: env.vocabularySize)
        let p = Self.suppressionProbability(certainty: c, delta: delta)
        state.certainty = c
        state.p = p
        state.probes += 1
        if per == .segment { state.segmentFires = p > 0 && env.uniform() < p }
        let c4 = String(format: "%.4f", c), p4 = String(format: "%.4f", p)
        let bracketed = result.entropyUpper.isEmpty ? "" : " (entropy brackets at their \(partial.rawValue))"
        env.event(.probe, "C \(c4) p \(p4) from \(result.entropies.count) tokens\(bracketed) \(String(reflecting: result.text))"
                  + (per == .segment ? (state.segmentFires ? " · segment suppressed" : " · segment free") : ""),
                  ms: result.ms)
        effects.append(Effect(id, .probe, "checkpoint C \(String(format: "%.3f", c)) p \(String(format: "%.3f", p))"))
    }
}

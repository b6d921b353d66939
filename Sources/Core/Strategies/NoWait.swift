/// NoWait (Wang et al., arXiv 2506.08343): during thinking, every token whose lower-cased
/// text contains a reflection keyword gets logit −∞, at every step. Keywords as reproduced
/// in public implementations; tokens that merely contain a keyword inside an unrelated word
/// (the false friends: "know", "button", "Ohio", …) are excluded by an explicit list.
public final class NoWait: DecodingStrategy {
    public let id = "nowait"
    public let name = "NoWait"
    public let key: Character = "w"
    public let needs = ["logits"]

    public static let defaultKeywords = ["wait", "alternatively", "hmm", "but", "however", "alternative", "another",
                                         "check", "double-check", "oh", "maybe", "verify", "other", "again", "now",
                                         "ah", "any"]
    /// Substrings that mark a token as a false friend: it contains a keyword only inside
    /// an unrelated word.
    public static let defaultExclusions = ["ohio", "butane", "button", "butter", "tribute", "know", "snow", "nowhere",
                                           "many", "company", "germany", "botany", "canyon", "mother", "brother",
                                           "bother", "smother", "john", "ohm", "yeah", "ahead", "utah", "noah",
                                           "sarah", "hannah", "shah", "blah", "ahmed", "rebut", "debut", "brahm"]

    public private(set) var keywords = NoWait.defaultKeywords
    public private(set) var exclusions = NoWait.defaultExclusions
    /// the masked token ids (built by `prepare` from the vocabulary)
    public private(set) var masked: [Int32] = []
    private var maskedSet: Set<Int32> = []
    private var suppressedCount = 0

    public init() {}

    public var parameters: [(String, String)] {
        var p: [(String, String)] = []
        if keywords != Self.defaultKeywords { p.append(("keywords", keywords.joined(separator: ","))) }
        if exclusions != Self.defaultExclusions { p.append(("exclude", exclusions.joined(separator: ","))) }
        return p
    }

    public var liveState: String { "\(masked.count) tokens masked · \(suppressedCount) steps hit" }

    public func set(_ name: String, _ value: String) throws {
        let list = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        switch name {
        case "keywords": keywords = list
        case "exclude": exclusions = list
        default: throw StrategyParameter.unknown(id, name, known: ["keywords", "exclude"])
        }
    }

    /// Whether a token text is masked.
    public func masks(_ text: String) -> Bool {
        let t = text.lowercased()
        guard keywords.contains(where: { t.contains($0) }) else { return false }
        return !exclusions.contains(where: { t.contains($0) })
    }

    /// Scans the whole vocabulary once (262,144 tokens for Gemma 3) on bytes: ASCII-lower-cased
    /// pieces are searched for the keywords' bytes, and only hits are checked against the
    /// exclusions with full string rules.
    public func prepare(_ env: StrategyEnvironment) throws {
        let keys = keywords.map { Array($0.utf8) }
        var ids: [Int32] = []
        var lower = [UInt8]()
        for i in 0..<env.backend.vocabularySize {
            let t = Int32(i)
            let bytes = env.backend.piece(t)
            if bytes.count < 2 { continue }
            lower.removeAll(keepingCapacity: true)
            for b in bytes { lower.append(b >= 65 && b <= 90 ? b + 32 : b) }
            guard keys.contains(where: { Self.contains(lower, $0) }) else { continue }
            if masks(String(decoding: bytes, as: UTF8.self)) { ids.append(t) }
        }
        masked = ids
        maskedSet = Set(ids)
    }

    private static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= hay.count, let first = needle.first else { return false }
        var i = 0
        let last = hay.count - needle.count
        while i <= last {
            if hay[i] == first {
                var j = 1
                while j < needle.count && hay[i + j] == needle[j] { j += 1 }
                if j == needle.count { return true }
            }
            i += 1
        }
        return false
    }

    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        guard view.phase == .thinking else { return }
        decision.banned.formUnion(maskedSet)
        // say so when the mask changed what the model wanted most
        if let top = view.summary.top.first, maskedSet.contains(top.id) {
            suppressedCount += 1
            decision.effects.append("suppressed \(String(reflecting: env.text(of: top.id))) (p \(String(format: "%.2f", view.summary.top1)))")
        }
    }

    public func saveState() -> Any { suppressedCount }
    public func restoreState(_ state: Any) { suppressedCount = state as? Int ?? 0 }
}

import Foundation

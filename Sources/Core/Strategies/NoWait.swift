import Foundation

/// NoWait (Wang et al., arXiv 2506.08343): during thinking, every token whose lower-cased
/// text contains a reflection keyword gets logit −∞, at every step; nothing is masked in the
/// answer. Keywords as reproduced in public implementations; tokens that merely contain a
/// keyword inside an unrelated word (the false friends: "know", "button", "checkout",
/// "alcohol", "coherent", …) are excluded by an explicit list.
public final class NoWait: DecodingStrategy {
    public static let info = StrategyInfo(
        id: "nowait", name: "NoWait", source: "Wang et al. 2506.08343", needs: [.tokenBans, .vocabulary],
        fidelity: "faithful (keyword list of public implementations; explicit false-friend exclusions); thinking only",
        primary: nil)

    public static var parameters: [Parameter<NoWait>] {
        [.words("keywords", \.keywords, lowercased: true, nonEmpty: false, help: "a token whose lower-cased text contains one is masked"),
         .words("exclude", \.exclusions, lowercased: true, nonEmpty: false, help: "a token containing one of these is never masked (false friends)")]
    }

    public static let defaultKeywords = ["wait", "alternatively", "hmm", "but", "however", "alternative", "another",
                                         "check", "double-check", "oh", "maybe", "verify", "other", "again", "now",
                                         "ah", "any"]
    /// Substrings that mark a token as a false friend: it contains a keyword only inside
    /// an unrelated word.
    public static let defaultExclusions = [
        "ohio", "butane", "button", "butter", "tribute", "know", "snow", "nowhere", "many", "company", "germany",
        "botany", "canyon", "mother", "brother", "bother", "smother", "john", "ohm", "yeah", "ahead", "utah", "noah",
        "sarah", "hannah", "shah", "blah", "ahmed", "rebut", "debut", "brahm",
        // words that contain "check", "oh", "ah", "but", "any", "again" or "wait" without meaning them
        "checkout", "checksum", "checkbox", "checker", "checkmate", "alcohol", "coher", "cohes", "cohort", "soho",
        "idaho", "oklahoma", "sahara", "bahama", "mahogany", "cheetah", "pharaoh", "allah", "butcher", "butler",
        "halibut", "tiffany", "albany", "epiphany", "litany", "brittany", "against", "waiter", "tribution", "await",
        "doha", "abraham", "graham", "bahrain", "cohen", "bohr", "mohammed", "mohamed", "messiah", "jonah",
    ]

    public var keywords = NoWait.defaultKeywords
    public var exclusions = NoWait.defaultExclusions
    /// the masked token ids (built by `prepare` from the vocabulary)
    public private(set) var masked: [Int32] = []
    private var maskedSet: Set<Int32> = []

    /// steps at which the mask took the model's favourite
    public var state = 0

    public init() {}

    public var liveState: String { "\(masked.count) tokens masked · \(state) steps hit" }

    /// Whether a token text is masked.
    public func masks(_ text: String) -> Bool {
        let t = text.lowercased()
        guard keywords.contains(where: { t.contains($0) }) else { return false }
        return !exclusions.contains(where: { t.contains($0) })
    }

    /// Scans the whole vocabulary (262,144 tokens for Gemma 3) on bytes, once per model and
    /// word lists (`vocabularyTokens`: every run and lane on the model shares it):
    /// ASCII-lower-cased pieces are searched for the keywords' bytes, and only hits are checked
    /// against the exclusions with full string rules.
    public func prepare(_ env: StrategyEnvironment) throws {
        let rule = "nowait\u{0}" + keywords.joined(separator: "\u{1}") + "\u{0}" + exclusions.joined(separator: "\u{1}")
        masked = env.vocabularyTokens(rule: rule) {
            let keys = keywords.map { Array($0.utf8) }
            var ids: [Int32] = []
            var lower = [UInt8]()
            for i in 0..<env.vocabularySize {
                let t = Int32(i)
                let bytes = env.piece(t)
                if bytes.count < 2 { continue }
                lower.removeAll(keepingCapacity: true)
                for b in bytes { lower.append(b >= 65 && b <= 90 ? b + 32 : b) }
                guard keys.contains(where: { Self.contains(lower, $0) }) else { continue }
                if masks(String(decoding: bytes, as: UTF8.self)) { ids.append(t) }
            }
            return ids
        }
        maskedSet = Set(masked)
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
            state += 1
            decision.effect(.suppress, "suppressed \(String(reflecting: env.text(of: top.id))) (p \(String(format: "%.2f", view.summary.top1)))")
        }
    }
}

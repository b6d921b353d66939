/// Every kind of trace event (docs/TRACE.md). The raw values are the trace's `kind`
/// strings, unchanged since format 1.
public enum EventKind: String, Codable, Sendable, CaseIterable {
    // commands applied between steps
    case pause, resume, step, rewind, stop, enable, disable, parameter, error
    /// sampling or the token limit changed mid-run (the detail says what, old → new)
    case settings
    // interventions
    case force, replace, suppress, latent, probe
    case probeError = "probe-error"
    case budgetEnd = "budget-end"
    case budgetExtend = "budget-extend"
    case earlyExit = "early-exit"
    case brake
    case answerstopEnd = "answerstop-end"
    case swirSwitch = "swir-switch"
    case swirCap = "swir-cap"
    case swirEnd = "swir-end"
    case entropixClarify = "entropix-clarify"
    // the KV cache
    case kvPolicy = "kv-policy"
    case evict, rebuild
    case contextFull = "context-full"
    // the end of the visible text (format 2)
    case stopString = "stop-string"
    // branches: one begins at a fork (`branch`, `parent`, `cause`), another becomes current
    case branch
    case switchBranch = "switch"

    /// Commands a person gave (as opposed to what strategies or the cache did).
    public var isCommand: Bool {
        switch self {
        case .pause, .resume, .step, .rewind, .stop, .enable, .disable, .parameter, .settings, .branch, .switchBranch:
            return true
        default: return false
        }
    }

    /// What strategies and KV policies did to the run, counted per problem by `eval`
    /// (latent steps are counted as tokens, not interventions).
    public var isIntervention: Bool {
        switch self {
        case .force, .replace, .suppress, .probe, .probeError, .budgetEnd, .budgetExtend, .earlyExit, .brake,
             .answerstopEnd, .swirSwitch, .swirCap, .swirEnd, .entropixClarify, .evict:
            return true
        default: return false
        }
    }
}

/// What a strategy (or the session) did at a step, on the step's record.
public struct Effect: Codable, Sendable, Equatable {
    /// the strategy's id; nil for the session's own effects
    public var strategy: String?
    public var kind: EffectKind
    public var text: String

    public init(_ strategy: String?, _ kind: EffectKind, _ text: String) {
        self.strategy = strategy
        self.kind = kind
        self.text = text
    }

    /// "cgrs: suppressed 24 trigger tokens (p 0.30)", as format 1 wrote effects.
    public var line: String { strategy.map { "\($0): \(text)" } ?? text }

    enum CodingKeys: String, CodingKey { case strategy, kind, text }

    /// Format 1 wrote effects as lines of text; they read back as notes of the strategy the
    /// line names (its "id: " prefix), so nothing is lost (`TraceReader` upgrades suppressions
    /// from format 1's `suppress` events).
    public init(from decoder: Decoder) throws {
        if let line = try? decoder.singleValueContainer().decode(String.self) {
            self = Effect(formatOneLine: line)
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        strategy = try c.decodeIfPresent(String.self, forKey: .strategy)
        kind = try c.decode(EffectKind.self, forKey: .kind)
        text = try c.decode(String.self, forKey: .text)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(strategy, forKey: .strategy)
        try c.encode(kind, forKey: .kind)
        try c.encode(text, forKey: .text)
    }

    /// A format-1 effect line: "id: text" for the strategies format 1 knew, else the session's.
    init(formatOneLine line: String) {
        for id in Effect.formatOneStrategies {
            let prefix = id + ": "
            if line.hasPrefix(prefix) {
                self.init(id, .note, String(line.dropFirst(prefix.count)))
                return
            }
        }
        self.init(nil, .note, line)
    }

    static let formatOneStrategies = ["budget", "deer", "thinkbrake", "answerstop", "stoppressure", "cgrs", "nowait",
                                      "entropix", "swir"]
}

public enum EffectKind: String, Codable, Sendable, CaseIterable {
    /// tokens banned where it mattered (NoWait, CGRS): the token is marked suppressed
    case suppress
    /// logits moved (stop pressure)
    case bias
    /// tokens queued to be forced (an early end of thinking, a queued text)
    case force
    /// this token was forced instead of the sampled one
    case forced
    /// a decision that lost to an earlier strategy's (composition order)
    case overridden
    /// the sampled token was replaced (budget forcing's "Wait")
    case replace
    /// this step's sampling parameters (entropix)
    case sampling
    /// the signals of the distribution after the strategies' edits
    case adjusted
    /// an embedding fed instead of the token
    case latent
    /// a probe's outcome
    case probe
    /// a change of mode (SwiReasoning's switches)
    case modeSwitch = "switch"
    /// anything else worth knowing
    case note
}

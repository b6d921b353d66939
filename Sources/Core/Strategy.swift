import Foundation

// Decoding-time strategies: the hooks a strategy has at each step, what it may decide, and
// how several strategies compose.
//
// Call order at a step (session thread):
//   1. the session computes the raw signals (`StepView.summary`) on the untouched logits;
//   2. `beforeSampling` of every enabled strategy, in `StrategyOrder` order: each may ban
//      tokens, bias logits, ask to force tokens, or override sampling for this step;
//      bans union, biases add, the first strategy that forces wins (the trace says who);
//   3. the session samples from the adjusted logits (raw signals stay in the record);
//   4. `review` of every enabled strategy, in order: the first that replaces the sampled
//      token wins (budget forcing's "Wait" instead of an early think-close);
//   5. `input` of every enabled strategy: the first that returns an embedding decides that
//      the token is fed as that embedding (latent thinking);
//   6. after the token is decoded, `afterToken`: strategies update their state and may run
//      probes on a forked sequence (the main sequence's KV and logits are left as they were).
// Every decision a strategy takes goes into the record's `effects` and, for interventions,
// into a trace event.

/// What the session shows a strategy at a step. Read-only.
public struct StepView {
    /// generation step (index of the token about to be generated)
    public let step: Int
    /// KV position the token will take
    public let position: Int
    /// the phase the token about to be generated belongs to (before markers are seen)
    public let phase: Phase
    /// tokens generated in thinking so far
    public let thinkingTokens: Int
    /// signals of the raw distribution
    public let summary: DistributionSummary
    /// raw logits (read-only)
    public let logits: UnsafeBufferPointer<Float>
    /// generated text so far, all phases, stop strings not yet removed
    public let text: String
    /// the think-close marker the session uses
    public let markers: ThinkMarkers
    /// the session's sampling parameters (for strategies that adapt them)
    public let sampling: SamplingParameters
    /// max_new_tokens of the run
    public let maxTokens: Int
}

/// What a strategy decides before sampling.
public struct StepDecision {
    /// tokens whose logit becomes −∞ for this step
    public var banned: Set<Int32> = []
    /// logit additions (summed when several strategies bias one token)
    public var bias: [Int32: Float] = [:]
    /// tokens to feed instead of sampled ones, starting now; first strategy wins
    public var force: [Int32] = []
    public var forceBy: String?
    /// sampling parameters for this step only (entropix); first strategy wins
    public var sampling: SamplingParameters?
    public var samplingBy: String?
    /// lines for the record's `effects`
    public var effects: [String] = []
    public init() {}
}

/// What a probe on a forked sequence returned.
public struct ProbeResult: Sendable, Equatable {
    /// greedy tokens decoded after the appended text
    public var tokens: [Int32]
    public var text: String
    /// full-vocabulary entropy (nats) of the distribution each probe token was drawn from
    public var entropies: [Double]
    /// probability of each greedy token under its distribution
    public var probabilities: [Double]
    /// wall time, ms
    public var ms: Double
}

/// Services the session gives strategies: tokens, text, embeddings, probes, events.
public protocol StrategyEnvironment: AnyObject {
    var backend: ModelBackend { get }
    /// the text of a token (special tokens rendered)
    func text(of token: Int32) -> String
    func tokenize(_ text: String) throws -> [Int32]
    /// Forks the main sequence, feeds `appending`, reads the next-token distribution after it
    /// (handed to `first`), then greedy-decodes up to `maxTokens` tokens, stopping after a
    /// token whose text contains `stopAt`. The fork is removed; the main sequence and its
    /// next-token logits are untouched.
    func probe(appending: String, maxTokens: Int, stopAt: String?,
               first: ((UnsafeBufferPointer<Float>, DistributionSummary) -> Void)?) throws -> ProbeResult
    /// The same on a fork that keeps only the positions below `cutAt`, for rules that probe
    /// a context the main sequence has already gone past.
    func probe(appending: String, maxTokens: Int, stopAt: String?, cutAt: Int?,
               first: ((UnsafeBufferPointer<Float>, DistributionSummary) -> Void)?) throws -> ProbeResult
    /// Whether a probe may run now: inside `afterToken`, once the token was fed (not when the
    /// run ends at this token).
    var canProbe: Bool { get }
    /// Whether the model can be fed embeddings (latent thinking).
    var canFeedEmbeddings: Bool { get }
    /// Cells of the KV cache no sequence uses: what a probe's appended text and tokens must
    /// fit in (positions alone no longer tell once a policy has evicted).
    var freeCells: Int { get }
    /// uniform draw in [0, 1) from the strategies' own seeded generator (restored on rewind)
    func uniform() -> Double
    /// writes a trace event at the current step
    func event(_ kind: String, _ detail: String)
    /// E[token]·scale, the embedding that stands for feeding `token` (latent thinking)
    func embedding(of token: Int32) throws -> [Float]
    /// Σ_i weights[i]·E[ids[i]]·scale over the given tokens
    func mixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) throws -> [Float]
}

/// A decoding-time strategy. Implementations keep their parameters validated (with the
/// authors' defaults), expose their live state for display, and can save/restore their
/// state so a rewind puts them back exactly.
public protocol DecodingStrategy: AnyObject {
    /// name in `--strategy` specs, e.g. "cgrs"
    var id: String { get }
    /// display name, e.g. "CGRS"
    var name: String { get }
    /// the TUI key that toggles it
    var key: Character { get }
    /// what it needs: "logits", "fork", "embeddings", "attention"
    var needs: [String] { get }
    /// "faithful" or a label such as "heuristic stand-in"
    var fidelity: String { get }
    /// current parameters as `k=v` pairs, in spec order
    var parameters: [(String, String)] { get }
    /// live state for the panel, e.g. "C 0.93 p 0.30"
    var liveState: String { get }
    /// Sets one parameter; throws with a one-line message for a bad name or value.
    func set(_ name: String, _ value: String) throws
    /// Called once before the first step (and again after a parameter change).
    func prepare(_ env: StrategyEnvironment) throws
    func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws
    /// Replacement tokens for the sampled one (nil: keep it).
    func review(sampled: Int32, view: StepView, env: StrategyEnvironment) throws -> [Int32]?
    /// An embedding to feed instead of the token (nil: feed the token).
    func input(for token: Int32, view: StepView, env: StrategyEnvironment, effects: inout [String]) throws -> [Float]?
    /// After the token was appended (and decoded, when it was).
    func afterToken(_ record: StepRecord, view: StepView, env: StrategyEnvironment, effects: inout [String]) throws
    /// State for exact rewinds.
    func saveState() -> Any
    func restoreState(_ state: Any)
}

extension StrategyEnvironment {
    /// Test doubles that answer probes whenever asked.
    public var canProbe: Bool { true }
    public var canFeedEmbeddings: Bool { backend is EmbeddingSource }
    public var freeCells: Int { backend.contextSize - ((backend.positionRange(sequence: 0)?.upperBound ?? -1) + 1) }

    /// Environments without cut probes (test doubles) answer plain probes only.
    public func probe(appending: String, maxTokens: Int, stopAt: String?, cutAt: Int?,
                      first: ((UnsafeBufferPointer<Float>, DistributionSummary) -> Void)?) throws -> ProbeResult {
        guard cutAt == nil else { throw ThinktopError.invalidArgument("this environment cannot cut probes") }
        return try probe(appending: appending, maxTokens: maxTokens, stopAt: stopAt, first: first)
    }
}

extension DecodingStrategy {
    public var fidelity: String { "faithful" }
    public var liveState: String { "" }
    public func prepare(_ env: StrategyEnvironment) throws {}
    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {}
    public func review(sampled: Int32, view: StepView, env: StrategyEnvironment) throws -> [Int32]? { nil }
    public func input(for token: Int32, view: StepView, env: StrategyEnvironment, effects: inout [String]) throws -> [Float]? { nil }
    public func afterToken(_ record: StepRecord, view: StepView, env: StrategyEnvironment, effects: inout [String]) throws {}
    public func saveState() -> Any { () }
    public func restoreState(_ state: Any) {}

    /// "cgrs:delta=0.9" — the spec that recreates this strategy as it is now.
    public var spec: String {
        ([id] + parameters.map { "\($0.0)=\($0.1)" }).joined(separator: ":")
    }
}

/// Parameter parsing with one-line errors naming the strategy (or KV policy: `kind`) and parameter.
public enum StrategyParameter {
    public static func double(_ strategy: String, _ name: String, _ value: String, in range: ClosedRange<Double>,
                              kind: String = "strategy") throws -> Double {
        guard let v = Double(value), range.contains(v) else {
            throw ThinktopError.invalidArgument("\(kind) \(strategy): \(name) must be a number in \(range.lowerBound)…\(range.upperBound), got \"\(value)\"")
        }
        return v
    }

    public static func int(_ strategy: String, _ name: String, _ value: String, in range: ClosedRange<Int>,
                           kind: String = "strategy") throws -> Int {
        guard let v = Int(value), range.contains(v) else {
            throw ThinktopError.invalidArgument("\(kind) \(strategy): \(name) must be a whole number in \(range.lowerBound)…\(range.upperBound), got \"\(value)\"")
        }
        return v
    }

    public static func bool(_ strategy: String, _ name: String, _ value: String) throws -> Bool {
        switch value.lowercased() {
        case "1", "true", "on", "yes": return true
        case "0", "false", "off", "no": return false
        default: throw ThinktopError.invalidArgument("strategy \(strategy): \(name) must be on or off, got \"\(value)\"")
        }
    }

    /// C escapes in texts given on the command line: \n, \t, \\.
    public static func text(_ value: String) -> String {
        var out = ""
        var escape = false
        for c in value {
            if escape {
                switch c {
                case "n": out.append("\n")
                case "t": out.append("\t")
                default: out.append(c)
                }
                escape = false
            } else if c == "\\" {
                escape = true
            } else {
                out.append(c)
            }
        }
        if escape { out.append("\\") }
        return out
    }

    public static func unknown(_ strategy: String, _ name: String, known: [String], kind: String = "strategy") -> ThinktopError {
        .invalidArgument("\(kind) \(strategy) has no parameter \"\(name)\"" + (known.isEmpty ? " (it has none)" : " (it has: \(known.joined(separator: ", ")))"))
    }
}

import Foundation

// Decoding-time strategies: the hooks a strategy has at each step, what it may decide, and
// how several strategies compose (`StrategyPipeline`).
//
// Call order at a step (session thread), each hook over the enabled strategies in
// composition order (`StrategyRegistry`):
//   1. the session computes the raw signals (`StepView.summary`) on the untouched logits;
//   2. `beforeSampling`: each may ban tokens, bias logits, ask to force tokens, or override
//      sampling for this step; bans add up, biases add, the first that forces wins and the
//      first sampling override wins (the others are recorded as overridden);
//   3. the session samples from the adjusted logits (a copy it owns; the raw signals stay in
//      the record);
//   4. the token: a forced one if tokens are queued (then `observeForced` sees what the
//      sampler drew), else `review` may replace the sampled token (the first that does wins);
//   5. `input`: the first strategy that returns an embedding has the token fed as that
//      embedding (latent thinking);
//   6. after the token was decoded, `afterToken`: strategies update their state and may run
//      probes on a fork (`Prober`, only handed over when the token was fed), leaving the main
//      sequence's cells and next-token logits as they were.
// Every decision goes into the record's typed `effects` and, for interventions, a trace event.

/// Who a strategy is, for specs, the panel, `thinktop strategies` and the README table.
public struct StrategyInfo: Sendable {
    /// name in `--strategy` specs, e.g. "cgrs"
    public var id: String
    /// display name, e.g. "CGRS"
    public var name: String
    /// paper and reference code
    public var source: String
    /// what the backend must offer
    public var needs: Set<Capability>
    /// how closely it follows the reference, and its deviations (one line)
    public var fidelity: String
    /// the parameter `NAME=VALUE` sets in a spec
    public var primary: String?

    public init(id: String, name: String, source: String, needs: Set<Capability>, fidelity: String, primary: String?) {
        self.id = id; self.name = name; self.source = source; self.needs = needs; self.fidelity = fidelity
        self.primary = primary
    }
}

/// What the session shows a strategy before the token is fed. Read-only; `logits` is valid
/// only during the hook call it is passed to.
public struct StepView {
    /// generation step (index of the token about to be generated)
    public let step: Int
    /// the token's position in the sequence
    public let position: Int
    /// the phase the token about to be generated belongs to (before markers are seen)
    public let phase: Phase
    /// tokens generated in thinking so far
    public let thinkingTokens: Int
    /// tokens already queued to be fed, this step's included: while there are, a new forcing
    /// would be dropped, so strategies that force wait for the queue to empty
    public let queuedForced: Int
    /// signals of the raw distribution
    public let summary: DistributionSummary
    /// raw logits (read-only); empty when the backend gives only the top of each distribution
    /// (an inference server: then `summary` is partial)
    public let logits: UnsafeBufferPointer<Float>
    /// generated text so far, all phases, stop strings not yet removed
    public let text: String
    /// the think markers the session uses
    public let markers: ThinkMarkers
    /// the session's sampling parameters (for strategies that adapt them)
    public let sampling: SamplingParameters
    /// max_new_tokens of the run
    public let maxTokens: Int

    public init(step: Int, position: Int, phase: Phase, thinkingTokens: Int, queuedForced: Int = 0,
                summary: DistributionSummary, logits: UnsafeBufferPointer<Float>, text: String, markers: ThinkMarkers,
                sampling: SamplingParameters, maxTokens: Int) {
        self.step = step; self.position = position; self.phase = phase; self.thinkingTokens = thinkingTokens
        self.queuedForced = queuedForced
        self.summary = summary; self.logits = logits; self.text = text; self.markers = markers
        self.sampling = sampling; self.maxTokens = maxTokens
    }

    /// ln p(token) under the raw distribution: from the logits when the backend gives every
    /// one, else from the known tokens of a partial distribution (a served token is always
    /// known); nil when the token is not among them.
    public func logProbability(of token: Int32) -> Double? {
        if token >= 0, Int(token) < logits.count { return summary.logProbability(ofLogit: logits[Int(token)]) }
        return summary.top.first { $0.id == token }.map { summary.logProbability(ofLogit: $0.logit) }
    }

    /// The same step as `afterToken` sees it: the logits are gone by then.
    public var afterToken: TokenView {
        TokenView(step: step, position: position, phase: phase, thinkingTokens: thinkingTokens, summary: summary,
                  text: text, markers: markers, maxTokens: maxTokens)
    }
}

/// What `afterToken` sees of the step: no logits (the context has moved on to the next
/// position's by then).
public struct TokenView: Sendable {
    public let step: Int
    public let position: Int
    /// the phase before this token (its own is the record's)
    public let phase: Phase
    /// thinking tokens before this one
    public let thinkingTokens: Int
    /// signals of the raw distribution the token was drawn from
    public let summary: DistributionSummary
    /// the generated text before this token
    public let text: String
    public let markers: ThinkMarkers
    public let maxTokens: Int

    public init(step: Int, position: Int, phase: Phase, thinkingTokens: Int, summary: DistributionSummary, text: String,
                markers: ThinkMarkers, maxTokens: Int) {
        self.step = step; self.position = position; self.phase = phase; self.thinkingTokens = thinkingTokens
        self.summary = summary; self.text = text; self.markers = markers; self.maxTokens = maxTokens
    }
}

/// What a strategy decides before sampling.
public struct StepDecision {
    /// tokens whose logit becomes −∞ for this step
    public var banned: Set<Int32> = []
    /// logit additions (summed when several strategies bias one token)
    public var bias: [Int32: Float] = [:]
    /// tokens to feed instead of sampled ones, starting now
    public var force: [Int32] = []
    /// sampling parameters for this step only (entropix)
    public var sampling: SamplingParameters?
    /// what the strategy did, for the record (the pipeline fills in the strategy)
    public var effects: [Effect] = []
    public init() {}

    public mutating func effect(_ kind: EffectKind, _ text: String) { effects.append(Effect(nil, kind, text)) }
}

/// When a probe's greedy decoding stops.
public enum ProbeStop: Sendable, Equatable {
    /// after `maxTokens`
    case none
    /// once the probe's generated text contains one of these (checked across token
    /// boundaries, as inference engines match stop strings)
    case anyOf([String])
}

/// What a probe on a forked sequence returned.
public struct ProbeResult: Sendable, Equatable {
    /// greedy tokens decoded after the appended text
    public var tokens: [Int32]
    public var text: String
    /// entropy (nats) of the distribution each probe token was drawn from: exact over the
    /// whole vocabulary, or the lower end of its bracket when only the top k is known
    public var entropies: [Double]
    /// the upper ends of the brackets when the distributions were partial (else empty)
    public var entropyUpper: [Double] = []
    /// ln p of each token asked for in `scoring`, under the first distribution (after the
    /// appended text)
    public var scores: [Double] = []
    /// probability of each greedy token under its distribution
    public var probabilities: [Double]
    /// wall time, ms
    public var ms: Double

    public init(tokens: [Int32] = [], text: String = "", entropies: [Double] = [], probabilities: [Double] = [], ms: Double = 0) {
        self.tokens = tokens; self.text = text; self.entropies = entropies; self.probabilities = probabilities; self.ms = ms
    }
}

/// Probes on a fork of the main sequence, handed to `afterToken` only when the token was fed
/// (not when the run ends at it).
public protocol Prober {
    /// Cells of the KV cache no sequence uses: what a probe's appended text and tokens must
    /// fit in.
    var freeCells: Int { get }
    /// Forks the main sequence (keeping only the inputs below `cutAt` when given: a context
    /// the run has already gone past), feeds `appending`, reads the log-probabilities of the
    /// `scoring` tokens in the distribution after it, then greedy-decodes up to `maxTokens`
    /// tokens until `stop`. The fork is removed; the main sequence and its next-token logits
    /// are untouched. On a server: extra requests on the cached prefix.
    func probe(appending: String, maxTokens: Int, stop: ProbeStop, cutAt: Int?,
               scoring: [Int32]) throws -> ProbeResult
}

extension Prober {
    public func probe(appending: String, maxTokens: Int, stop: ProbeStop) throws -> ProbeResult {
        try probe(appending: appending, maxTokens: maxTokens, stop: stop, cutAt: nil, scoring: [])
    }
}

/// Services the session gives strategies: tokens, text, embeddings, randomness, events.
public protocol StrategyEnvironment: AnyObject {
    var vocabularySize: Int { get }
    /// the bytes of a token (special tokens rendered)
    func piece(_ token: Int32) -> [UInt8]
    /// the text of a token (special tokens rendered)
    func text(of token: Int32) -> String
    func tokenize(_ text: String) throws -> [Int32]
    func isEndOfGeneration(_ token: Int32) -> Bool
    /// The tokens `scan` picks from the vocabulary, scanned once per model and `rule` (which
    /// names everything the scan depends on: the strategy and its word lists).
    func vocabularyTokens(rule: String, _ scan: () throws -> [Int32]) rethrows -> [Int32]
    /// uniform draw in [0, 1) from the strategies' own seeded generator (restored on rewind)
    func uniform() -> Double
    /// writes a trace event at the current step, in the name of the strategy being called
    func event(_ kind: EventKind, _ detail: String, ms: Double?)
    /// E[token]·scale, the embedding that stands for feeding `token` (latent thinking)
    func embedding(of token: Int32) throws -> [Float]
    /// Σ_i weights[i]·E[ids[i]]·scale over the given tokens
    func mixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) throws -> [Float]
}

extension StrategyEnvironment {
    public func event(_ kind: EventKind, _ detail: String) { event(kind, detail, ms: nil) }
    /// Without a model to keep it for: scanned every time.
    public func vocabularyTokens(rule: String, _ scan: () throws -> [Int32]) rethrows -> [Int32] { try scan() }
}

/// A decoding-time strategy: a class holding its parameters (declared once in `parameters`,
/// with the authors' defaults) and a typed, Sendable `State` that a rewind puts back exactly.
public protocol DecodingStrategy: Configurable {
    associatedtype State: Sendable
    static var info: StrategyInfo { get }
    /// everything that changes while it runs (restored exactly on a rewind)
    var state: State { get set }
    /// live state for the panel, e.g. "C 0.93 p 0.30"
    var liveState: String { get }
    /// Called once before the first step it is on for (and again after a parameter change).
    func prepare(_ env: StrategyEnvironment) throws
    func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws
    /// Replacement tokens for the sampled one (nil: keep it).
    func review(sampled: Int32, view: StepView, env: StrategyEnvironment) throws -> [Int32]?
    /// An embedding to feed instead of the token (nil: feed the token).
    func input(for token: Int32, view: StepView, env: StrategyEnvironment, effects: inout [Effect]) throws -> [Float]?
    /// On a step whose token was forced (queued, or a strategy's replacement of the sampled
    /// one): the token the sampler drew, for rules that follow it (SwiReasoning's lock).
    /// Nothing is fed from here.
    func observeForced(sampled: Int32, view: StepView, env: StrategyEnvironment, effects: inout [Effect]) throws
    /// After the token was appended (and decoded, when it was: then `prober` is given).
    func afterToken(_ record: StepRecord, view: TokenView, prober: Prober?, env: StrategyEnvironment,
                    effects: inout [Effect]) throws
}

extension DecodingStrategy {
    public static var kindName: String { "strategy" }
    public static var specName: String { info.id }
    public var id: String { Self.info.id }
    public var name: String { Self.info.name }
    public var liveState: String { "" }
    public func prepare(_ env: StrategyEnvironment) throws {}
    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {}
    public func review(sampled: Int32, view: StepView, env: StrategyEnvironment) throws -> [Int32]? { nil }
    public func input(for token: Int32, view: StepView, env: StrategyEnvironment, effects: inout [Effect]) throws -> [Float]? { nil }
    public func observeForced(sampled: Int32, view: StepView, env: StrategyEnvironment, effects: inout [Effect]) throws {}
    public func afterToken(_ record: StepRecord, view: TokenView, prober: Prober?, env: StrategyEnvironment,
                           effects: inout [Effect]) throws {}

    /// The state as it is now, to put back on a rewind.
    public func memento() -> StrategyMemento {
        let saved = state
        return StrategyMemento { self.state = saved }
    }

    /// Back to a fresh run's state, parameters kept.
    public func resetState() { state = Self().state }
}

/// A strategy's state at one step, typed and captured by value; `restore` puts it back.
public struct StrategyMemento {
    let put: () -> Void
    public func restore() { put() }
}

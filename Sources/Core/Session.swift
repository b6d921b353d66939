import Foundation

public struct SessionConfig: Sendable {
    public var sampling: SamplingParameters
    public var maxTokens: Int
    public var stops: [String]
    /// alternatives kept per step (at least 10)
    public var topAlternatives: Int
    public var markers: ThinkMarkers
    public var blockWindow: Int
    /// keep generating through end-of-generation tokens (benchmarks)
    public var ignoreEndOfGeneration = false
    /// write each token's attention vector into its record (needs the attention tap)
    public var recordAttention = false

    public init(sampling: SamplingParameters, maxTokens: Int, stops: [String] = [], topAlternatives: Int = 10,
                markers: ThinkMarkers = ThinkMarkers(), blockWindow: Int = 32) throws {
        guard maxTokens >= 1 else { throw ThinktopError.invalidArgument("--max-tokens must be at least 1, got \(maxTokens)") }
        guard topAlternatives >= 10 else { throw ThinktopError.invalidArgument("at least 10 alternatives are kept per token, got \(topAlternatives)") }
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.stops = stops
        self.topAlternatives = topAlternatives
        self.markers = markers
        self.blockWindow = blockWindow
    }
}

public enum StopReason: String, Sendable, Codable {
    case endOfGeneration = "end of generation"
    case stopString = "stop string"
    case maxTokens = "max tokens"
    case contextFull = "context full"
    case stopped = "stopped"
    case error = "error"
}

/// Steps a model token by token through prompt → thinking → answer → done, computing the
/// signals of every distribution, letting the strategies steer, sampling with a seeded
/// generator, and publishing immutable step records and events. It lives on one thread (the
/// one that runs it, see `SessionThread`); other threads reach it through `commands`.
///
/// The parts: `SessionState` (what a checkpoint copies), `StrategyRoster` and
/// `StrategyPipeline` (which strategies, and how their decisions merge), `KVController` (the
/// policy, its evictions, rebuilds), `ForkProber` (probes on `SequenceID.probe`), and the
/// command loop in SessionCommands.swift.
public final class DecodingSession {
    /// the settings; sampling and the token limit change between steps (`setSampling`,
    /// `setMaxTokens`), the rest is fixed at the start
    public internal(set) var config: SessionConfig
    public let promptTokens: [Int32]
    /// the backend every cache operation goes through, keeping `ledger` in step
    public let backend: ModelBackend
    /// the inference server when the model is served (it samples; the session steers)
    public let served: ServedBackend?
    let kv: LedgerBackend
    let kvc: KVController
    let roster: StrategyRoster
    /// what other threads send; applied between steps
    public let commands: CommandQueue

    public internal(set) var records: [StepRecord] = []
    public internal(set) var events: [TraceEvent] = []
    /// visible text: every generated token's text minus stop strings and control tokens
    public internal(set) var output = ""
    /// generated text of every token (stop strings included), for strategies
    public internal(set) var fullText = ""
    public internal(set) var stopReason: StopReason?
    public internal(set) var lastError: Error?
    public internal(set) var isPaused = false
    public private(set) var generationSeconds = 0.0
    /// every step taken, also those a rewind later removed (the work `generationSeconds` timed)
    public private(set) var stepsGenerated = 0
    /// inputs fed so far (prompt and generated): the next input's index in the sequence
    public internal(set) var fedPositions = 0

    /// tokens to take at given steps, whatever is sampled (`run --force-at`): the run a
    /// branch that chose that token at that step is compared with
    public var forcedAt: [Int: Int32] = [:]

    public var onStep: ((StepRecord) -> Void)?
    public var onEvent: ((TraceEvent) -> Void)?
    /// text safe to show as it is produced (stop strings held back)
    public var onText: ((String) -> Void)?
    /// called when generation finishes (also after a later rewind and rerun)
    public var onFinish: ((StopReason) -> Void)?

    var state: SessionState
    var checkpoints: [Checkpoint] = []
    /// latent inputs by position, to evaluate them again on a rewind
    var latentInputs: [Int: [Float]] = [:]
    let stash = LogitsStash()
    var analyzer: DistributionAnalyzer
    let adjustedAnalyzer = DistributionAnalyzer(topCount: 10)
    let probeAnalyzer = DistributionAnalyzer(topCount: 1)
    var sampler: Sampler
    /// the logits strategies edit: a copy the session owns (llama.cpp's buffer is read-only)
    var edited: [Float] = []
    private(set) lazy var environment = SessionEnvironment(self)
    private(set) var prefilled = false
    /// the strategy whose hook is running, named in the events it writes
    var currentStrategy: String?
    var pieceCache: [Int32: String] = [:]
    /// served runs: the request the last token was drawn under (the next draw asks the same,
    /// so a stream runs on while the strategies' decisions stay), and this step's token
    var standingRequest: ServedRequest
    var servedDraw: (token: ServedToken, request: ServedRequest)?
    /// the branches (SessionBranches.swift)
    var tree = BranchTree()
    /// the logits the prefill gave (step 0's), for a rewind or a fork back to the prompt's end
    var prefillLogits: [Float]?
    /// how parked branches keep their cache
    public var branchCache: BranchCacheMode = .exact
    /// host memory the parked branches' caches may take (`exact`), bytes
    public var hostLimit = 2 << 30

    public init(backend: ModelBackend, config: SessionConfig, promptTokens: [Int32], initialPhase: Phase,
                commands: CommandQueue = CommandQueue()) throws {
        guard !promptTokens.isEmpty else { throw ThinktopError.invalidArgument("the prompt is empty") }
        guard promptTokens.count < backend.contextSize else {
            throw ThinktopError.promptTooLong(tokens: promptTokens.count, context: backend.contextSize)
        }
        kv = backend as? LedgerBackend ?? LedgerBackend(backend)
        self.backend = kv
        served = kv.base as? ServedBackend
        standingRequest = ServedRequest(sampling: config.sampling)
        self.config = config
        self.commands = commands
        self.promptTokens = promptTokens
        analyzer = DistributionAnalyzer(topCount: Self.candidatesKept(config, vocabularySize: backend.vocabularySize))
        sampler = Sampler(parameters: config.sampling)
        state = SessionState(config: config, initialPhase: initialPhase)
        kvc = KVController(kv: kv, prompt: promptTokens)
        roster = StrategyRoster(offered: kv.capabilities, backend: kv.backendName, hints: kv.capabilityHints)
        kvc.beforeShift = { [unowned self] in self.dropCopiesSharingMain() }
    }

    /// The candidates the analyzer keeps: the alternatives shown, and all that top-k samples from.
    static func candidatesKept(_ config: SessionConfig, vocabularySize: Int) -> Int {
        let needed = config.sampling.isGreedy ? 0 : config.sampling.topK
        return max(config.topAlternatives, min(needed, vocabularySize))
    }

    public var isDone: Bool { stopReason != nil }
    public var phase: Phase { isDone ? .done : state.tracker.phase }
    public var ledger: KVLedger { kv.ledger }
    /// the KV-cache policy in force (`setKVPolicy` switches it)
    public var kvPolicy: any KVPolicy { kvc.policy }
    /// whether the attention tap is on (H2O and SnapKV need it)
    public var capturesAttention: Bool { kv.attention != nil }
    /// the KV position the next input takes (below `fedPositions` once StreamingLLM shifted)
    public var nextKVPosition: Int { kvc.nextPosition }

    /// Attention received so far by each position (index) the cache still holds; 0 for the
    /// others; empty without the tap.
    public func attentionByPosition() -> [Float] {
        guard kv.attention != nil else { return [] }
        var out = [Float](repeating: 0, count: fedPositions)
        for (_, e) in ledger.cells[.main] ?? [:] where e.index < out.count { out[e.index] = e.score }
        return out
    }

    // MARK: strategies

    /// every strategy the session knows, in composition order
    public var strategies: [any DecodingStrategy] { roster.all }
    /// ids of the strategies on
    public var enabled: Set<String> { roster.enabled }
    public func strategy(_ id: String) -> (any DecodingStrategy)? { roster.strategy(id) }
    /// the panel's rows
    public func strategyStatus() -> [StrategyStatus] { roster.status() }
    /// specs of the strategies on (the trace header's `strategies`)
    public var enabledSpecs: [String] { roster.enabledSpecs }

    /// Adds strategies (in composition order), turning on those in `enabled`. Call before
    /// stepping. Refuses, in one line, a strategy the backend cannot serve.
    public func install(_ list: [any DecodingStrategy], enabled on: Set<String>) throws {
        try roster.install(list, enabled: on, prepare: prepare)
        noteStrategies()
    }

    /// Every known strategy, those named by `--strategy` specs switched on.
    public func install(specs: [String]) throws {
        let (list, on) = try StrategyRegistry.configure(specs)
        try install(list, enabled: on)
    }

    /// Prepares a strategy. One that feeds embeddings gets the model's input ready first
    /// (its scale calibration decodes on the context: the main logits are kept aside).
    func prepare(_ s: any DecodingStrategy) throws {
        if type(of: s).info.needs.contains(.embeddingInput), let source = kv.base as? EmbeddingSource {
            if prefilled { stash.keep(kv.logits()) }
            try source.prepareInput()
        }
        currentStrategy = s.id
        defer { currentStrategy = nil }
        try s.prepare(environment)
    }

    // MARK: the KV policy

    /// Sets the KV-cache policy. Before the first step this is the `--kv` choice; later it is
    /// a switch mid-generation (the next step evicts down to the new policy's budget).
    public func setKVPolicy(_ policy: any KVPolicy) throws {
        try kvc.setPolicy(policy)
        if prefilled { emit(TraceEvent(step: records.count, kind: .kvPolicy, strategy: policy.id, detail: policy.spec)) }
    }

    /// whether the policy in force keeps the cache under a budget as generation goes on
    var policyEvictsDuringGeneration: Bool { kvc.evictsDuringGeneration }

    // MARK: stepping

    /// Evaluates the prompt, then lets the KV policy evict (SnapKV and H2O act on the prompt).
    public func prefill() throws {
        guard !prefilled else { return }
        let eviction = try kvc.prefill { stash.keep(kv.logits()) }
        fedPositions = promptTokens.count
        prefilled = true
        // kept for a return to the prompt's end: the prompt's last token evaluated alone (as a
        // rewind would) gives other logits than the prefill's batch did
        if served == nil {
            if let held = stash.take() { prefillLogits = Array(held); stash.keep(held) }
            else { prefillLogits = Array(kv.logits()) }
        }
        if let eviction { emit(eviction) }
    }

    /// One step: observe → decide → sample → choose the token → feed → look back → publish.
    /// Returns nil when the run is done.
    @discardableResult
    public func step() throws -> StepRecord? {
        if !prefilled { try prefill() }
        guard !isDone else { return nil }
        if ledger.count(sequence: .main) >= backend.contextSize {
            finish(.contextFull)
            return nil
        }
        let started = DispatchTime.now().uptimeNanoseconds
        if !tree.parked.isEmpty { makeRoom(1, keepLogits: true) }
        if let served {
            // the server's next token under the standing request; none: it ended generation
            guard let t = try served.next(request: standingRequest, limit: config.maxTokens - records.count) else {
                finish(.endOfGeneration)
                return nil
            }
            servedDraw = (t, standingRequest)
        }
        checkpoints.append(Checkpoint(state: state, strategies: roster.mementos()))
        if let t = forcedAt[records.count], state.forced.isEmpty { state.forced = [t] }
        let active = roster.active
        let view = try observe()
        var (merged, effects) = try decide(view, active)
        let sampled = served == nil ? sample(view.logits, view.summary, &merged, &effects) : try draw(view, merged, &effects)
        if let note = servedDraw?.token.note { effects.append(Effect(nil, .note, note)) }
        var (token, input) = try choose(sampled, view, active, &effects)
        // read now: feeding overwrites llama.cpp's buffer; a served token's own is the server's Double
        let logprob = servedDraw.flatMap { $0.token.token == token ? $0.token.logprob : nil }
            ?? view.logProbability(of: token) ?? .nan
        let (text, phase, stop) = appendText(of: token, entropy: view.summary.entropy, position: view.position)
        let ending = finishReason(token: token, stop: stop)
        let kvPosition = try feed(token, &input, phase: phase, view, active, ending: ending, &effects)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        generationSeconds += elapsed
        stepsGenerated += 1
        var record = makeRecord(token, logprob: logprob, text: text, phase: phase, input: input, kvPosition: kvPosition,
                                view, effects: effects, ending: ending, ms: elapsed * 1000)
        try lookBack(&record, view, active, fed: ending == nil)
        publish(record)
        if let reason = ending { finish(reason) }
        return record
    }

    /// 1. The next-token distribution (kept aside by a probe or the prefill, or llama.cpp's
    /// buffer) and its raw signals. Served: the server's next token under the standing
    /// request, and the top of the distribution it was drawn from (no logits).
    private func observe() throws -> StepView {
        let logits: UnsafeBufferPointer<Float>
        let summary: DistributionSummary
        if served != nil, let t = servedDraw?.token {
            stash.drop()
            logits = UnsafeBufferPointer(start: nil, count: 0)
            summary = t.distribution(vocabularySize: backend.vocabularySize).summary
        } else {
            logits = stash.take() ?? backend.logits()
            summary = analyzer.analyze(logits)
        }
        return StepView(step: records.count, position: fedPositions, phase: state.tracker.phase,
                        thinkingTokens: state.thinkingTokens, queuedForced: state.forced.count,
                        summary: summary, logits: logits, text: fullText, markers: config.markers,
                        sampling: config.sampling, maxTokens: config.maxTokens)
    }

    /// 2. The strategies' decisions, merged; a forcing queues its tokens (while none are queued).
    private func decide(_ view: StepView, _ active: [any DecodingStrategy]) throws -> (StrategyPipeline.Merged, [Effect]) {
        let merged = StrategyPipeline.merge(try active.map { s in
            var d = StepDecision()
            try hook(s) { try s.beforeSampling(view, &d, environment) }
            return (s.id, d)
        })
        var effects = merged.effects
        if !merged.force.isEmpty {
            if state.forced.isEmpty {
                state.forced = merged.force
                emit(TraceEvent(step: records.count, kind: .force, strategy: merged.forceBy,
                                detail: "\(merged.force.count) tokens \(String(reflecting: merged.force.map(pieceText).joined()))"))
            } else {
                effects.append(Effect(merged.forceBy, .overridden, "forcing dropped: \(state.forced.count) tokens are still queued"))
            }
        }
        return (merged, effects)
    }

    /// 4. The token: the next forced one, a strategy's replacement of the sampled one, or the
    /// sampled one. On a forced or replaced step the strategies see what was sampled.
    private func choose(_ sampled: Int32, _ view: StepView, _ active: [any DecodingStrategy],
                        _ effects: inout [Effect]) throws -> (Int32, InputKind) {
        var token = sampled
        if !state.forced.isEmpty {
            token = state.forced.removeFirst()
            effects.append(Effect(nil, .forced, "forced instead of sampled \(sampled)"))
        } else if let (by, replacement) = try StrategyPipeline.first(active, { s in
            try hook(s) { try s.review(sampled: sampled, view: view, env: environment) }.flatMap { $0.isEmpty ? nil : $0 }
        }) {
            token = replacement[0]
            state.forced = Array(replacement.dropFirst())
            effects.append(Effect(by.id, .replace, "replaced sampled \(sampled)"))
            emit(TraceEvent(step: records.count, kind: .replace, strategy: by.id,
                            detail: "\(String(reflecting: pieceText(sampled))) → \(String(reflecting: replacement.map(pieceText).joined()))"))
        } else {
            return (sampled, .explicit)
        }
        for s in active { try hook(s) { try s.observeForced(sampled: sampled, view: view, env: environment, effects: &effects) } }
        return (token, .forced)
    }

    /// 5. Feeds the token — or the embedding a strategy chose for it — at the KV position the
    /// policy leaves it, unless the run ends here. Returns the KV position (taken or not).
    private func feed(_ token: Int32, _ input: inout InputKind, phase: Phase, _ view: StepView,
                      _ active: [any DecodingStrategy], ending: StopReason?, _ effects: inout [Effect]) throws -> Int {
        guard ending == nil else {
            if ending == .contextFull {
                emit(TraceEvent(step: records.count, kind: .contextFull, position: view.position,
                                detail: "the cache holds \(ledger.count(sequence: .main)) of \(backend.contextSize) positions and the KV policy is \(kvc.policy.id): raise --ctx or choose an evicting policy (--kv streaming)"))
            }
            return kvc.nextPosition
        }
        let latent: [Float]? = input == .forced ? nil : try StrategyPipeline.first(active) { s in
            try hook(s) { try s.input(for: token, view: view, env: environment, effects: &effects) }
        }?.value
        if let e = try kvc.evict(.generation(incoming: 1), fedPositions: fedPositions, step: records.count,
                                 stash: { stash.keep(kv.logits()) }) { emit(e) }
        let at = kvc.nextPosition
        ledger.nextIndex = view.position
        ledger.nextPhase = phase
        if let latent {
            try latent.withUnsafeBufferPointer { try backend.decode(embedding: $0, at: at, sequence: .main) }
            latentInputs[view.position] = latent
            input = .latent
        } else {
            try backend.decode(tokens: [token][...], at: at, sequence: .main)
        }
        stash.drop()
        fedPositions = view.position + 1
        kvc.fed(index: view.position, at: at)
        return at
    }

    /// 6. The step's record: the raw signals, the alternatives, the block statistics. The
    /// view's logits are stale by now (the feed overwrote them): the chosen token's logit was
    /// read before.
    private func makeRecord(_ token: Int32, logprob: Double, text: String, phase: Phase, input: InputKind,
                            kvPosition: Int, _ view: StepView, effects: [Effect], ending: StopReason?, ms: Double) -> StepRecord {
        let summary = view.summary
        var record = StepRecord(
            index: records.count, position: view.position, token: token, text: text, phase: phase, input: input,
            logprob: logprob, prob: Foundation.exp(logprob),
            entropy: summary.entropy, varentropy: summary.varentropy, top1: summary.top1, margin: summary.margin,
            top: summary.top.prefix(config.topAlternatives).map {
                Alternative(id: $0.id, p: summary.probability(ofLogit: $0.logit), text: pieceText($0.id))
            },
            windowMean: state.blocks.windowMean, trend: state.blocks.trend, reasoningStep: state.blocks.reasoningStep,
            stepMean: state.blocks.stepMean, effects: effects, ms: ms)
        if kvPosition != view.position { record.kvPosition = kvPosition }
        if let b = summary.entropyBracket {
            record.entropyRange = [b.lowerBound, b.upperBound]
            record.missingMass = summary.missingMass
        }
        if config.recordAttention, kv.attention != nil, ending == nil { record.attention = ledger.lastContribution }
        return record
    }

    /// 7. The strategies look back at the token, with probes on a fork when it was fed (the
    /// view has no logits by then: the context holds the next step's).
    private func lookBack(_ record: inout StepRecord, _ view: StepView, _ active: [any DecodingStrategy], fed: Bool) throws {
        guard !active.isEmpty else { return }
        let prober: Prober?
        if !fed {
            prober = nil
        } else if let served {
            prober = ServedProber(kv: kv, served: served, fedPositions: fedPositions)
        } else {
            prober = ForkProber(kv: kv, stash: stash, analyzer: probeAnalyzer, fedPositions: fedPositions,
                                nextKVPosition: kvc.nextPosition)
        }
        let tokenView = view.afterToken
        var more: [Effect] = []
        for s in active {
            try hook(s) { try s.afterToken(record, view: tokenView, prober: prober, env: environment, effects: &more) }
        }
        record.effects += more
    }

    /// 8. The record to the observers, then the events that belong to it.
    private func publish(_ record: StepRecord) {
        records.append(record)
        onStep?(record)
        let suppressions = record.effects.filter { $0.kind == .suppress }
        if !suppressions.isEmpty {
            emit(TraceEvent(step: record.index, kind: .suppress, strategy: suppressions[0].strategy, position: record.position,
                            detail: suppressions.map(\.line).joined(separator: "; ")))
        }
        if record.input == .latent {
            emit(TraceEvent(step: record.index, kind: .latent, strategy: record.effects.first { $0.kind == .latent }?.strategy,
                            position: record.position, detail: "fed an embedding mixture instead of \(String(reflecting: record.text))"))
        }
        if let e = pendingStopString { pendingStopString = nil; emit(e) }
    }

    /// Runs a strategy's hook with its id as the author of the events it writes.
    private func hook<T>(_ s: any DecodingStrategy, _ body: () throws -> T) rethrows -> T {
        currentStrategy = s.id
        defer { currentStrategy = nil }
        return try body()
    }

    /// Appends a token's text: the UTF-8 stream, the phase, the full text, the entropy blocks,
    /// and the visible output (stop strings held back; control tokens never shown). When a
    /// stop string completes, notes where the hidden tail begins (a `stop-string` event).
    private func appendText(of token: Int32, entropy: Double, position: Int) -> (text: String, phase: Phase, stop: String?) {
        let text = state.utf8.append(backend.piece(token))
        let phase = state.tracker.observe(token: token, text: text)
        fullText += text
        state.fullTextBytes = fullText.utf8.count
        if phase == .thinking { state.thinkingTokens += 1 }
        state.blocks.add(entropy: entropy, text: text)
        guard !backend.isControl(token) else { return (text, phase, nil) }
        let heldBefore = state.stopMatcher.heldBytes
        let (visible, stop) = state.stopMatcher.feed(text)
        if let stop {
            pendingStopString = hiddenTail(stop, hidden: heldBefore + text.utf8.count - visible.utf8.count,
                                           current: (position, text.utf8.count))
        }
        if !visible.isEmpty {
            output += visible
            state.outputBytes = output.utf8.count
            onText?(visible)
        }
        return (text, phase, stop)
    }

    /// Where `hidden` bytes from the end of the visible stream begin: the record holding that
    /// byte, and how many of its bytes stay visible (control tokens never entered the stream).
    private func hiddenTail(_ stop: String, hidden: Int, current: (position: Int, bytes: Int)) -> TraceEvent {
        var remaining = hidden
        var at = current
        var i = records.count
        while remaining > at.bytes, i > 0 {
            remaining -= at.bytes
            i -= 1
            if backend.isControl(records[i].token) { at.bytes = 0; at.position = records[i].position; continue }
            at = (records[i].position, records[i].text.utf8.count)
        }
        return TraceEvent(step: records.count + 1, kind: .stopString, position: at.position,
                          detail: String(reflecting: stop),
                          visibleBytes: max(0, at.bytes - remaining))
    }

    /// the `stop-string` event of this step, written after its record
    private var pendingStopString: TraceEvent?
}

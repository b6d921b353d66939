import Foundation

/// What a session is asked to do between two steps.
public enum SessionCommand: Sendable, Equatable {
    case pause
    case resume
    /// exactly one more step, then paused again
    case step
    /// drop every generated position ≥ the given one and continue from there
    case rewind(toPosition: Int)
    /// end thinking now: feed the think-close marker (after a newline if the text does not
    /// end with one), as budget forcing does at its budget
    case endThinking
    /// turn a strategy (by id) on or off
    case enableStrategy(String, Bool)
    /// set a strategy's parameter (id, name, value)
    case setParameter(String, String, String)
    /// switch the KV-cache policy (a `--kv` spec such as "streaming:recent=256")
    case setKVPolicy(String)
    case stop
}

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
/// signals of every distribution, sampling with a seeded generator, and applying queued
/// commands between steps. Observers receive immutable step records and events on the
/// session's thread.
public final class DecodingSession: @unchecked Sendable {
    /// the backend every cache operation goes through, keeping `ledger` in step
    public let backend: ModelBackend
    private let kv: LedgerBackend
    var kvBase: ModelBackend { kv.base }
    /// whether the attention tap is on (H2O and SnapKV need it)
    public var capturesAttention: Bool { kv.attention != nil }
    /// Attention received so far by each position (index) the cache still holds; 0 for the
    /// others; empty without the tap. Call on the session's thread.
    public func attentionByPosition() -> [Float] {
        guard kv.attention != nil else { return [] }
        var out = [Float](repeating: 0, count: fedPositions)
        for (_, e) in ledger.cells[sequence] ?? [:] where e.index < out.count { out[e.index] = e.score }
        return out
    }
    /// what the KV cache holds
    public var ledger: KVLedger { kv.ledger }
    /// the KV-cache policy in force (`setKVPolicy` switches it)
    public private(set) var kvPolicy: KVPolicy = NoEviction()
    public let config: SessionConfig
    public let promptTokens: [Int32]
    public let sequence: Int32 = 0

    public private(set) var records: [StepRecord] = []
    public private(set) var events: [TraceEvent] = []
    /// visible text: every generated token's text minus stop strings
    public private(set) var output = ""
    public private(set) var stopReason: StopReason?
    public private(set) var lastError: Error?
    public private(set) var isPaused = false
    public private(set) var generationSeconds = 0.0
    /// every step taken, also those a rewind later removed (the work `generationSeconds` timed)
    public private(set) var stepsGenerated = 0

    public var onStep: ((StepRecord) -> Void)?
    public var onEvent: ((TraceEvent) -> Void)?
    /// text safe to show as it is produced (stop strings held back)
    public var onText: ((String) -> Void)?
    /// called on the session's thread when generation finishes (also after a later rewind and rerun)
    public var onFinish: ((StopReason) -> Void)?

    public var isDone: Bool { stopReason != nil }
    public var phase: Phase { isDone ? .done : tracker.phase }
    /// inputs fed so far (prompt and generated): the next input's index in the sequence
    public private(set) var fedPositions = 0
    /// the KV position the next input takes (below `fedPositions` once StreamingLLM shifted)
    public private(set) var nextKVPosition = 0
    /// the cache operations eviction policies carried out, in order, so that a rewind can
    /// rebuild the cache as it was
    private struct EvictionRecord {
        /// index of the last input fed before it (prompt − 1 for the prefill's)
        var afterInput: Int
        /// made by the prefill (the prompt's), not by a step
        var prefill: Bool
        var removed: [(from: Int, to: Int)]
        var shifts: [(from: Int, to: Int, delta: Int)]
        /// the sequence indices removed
        var indices: [Int]
        var nextKVPosition: Int
    }
    private var evictionLog: [EvictionRecord] = []
    /// number of ledger contributions (attention vectors) after each input, by input index
    private var contributionsAfter: [Int: Int] = [:]

    private let analyzer: DistributionAnalyzer
    private var sampler: Sampler
    private var rng: SeededGenerator
    private var tracker: PhaseTracker
    private var utf8 = UTF8Stream()
    private var stopMatcher: StopMatcher
    private var blocks: BlockStatistics
    /// state before each step, for exact rewinds
    private struct Checkpoint {
        var rng: SeededGenerator
        var tracker: PhaseTracker
        var utf8: UTF8Stream
        var stopMatcher: StopMatcher
        var blocks: BlockStatistics
        var outputBytes: Int
        var strategyRNG: SeededGenerator
        var strategyStates: [String: Any]
        var fullTextBytes: Int
    }
    private var checkpoints: [Checkpoint] = []
    /// tokens to feed instead of sampled ones, in order
    private var forced: [Int32] = []
    /// every strategy the session knows, in composition order, and which are on
    public private(set) var strategies: [DecodingStrategy] = []
    public private(set) var enabled: Set<String> = []
    private var prepared: Set<String> = []
    private var strategyRNG: SeededGenerator
    /// generated text of every token (stop strings included), for strategies
    public private(set) var fullText = ""
    /// latent inputs by position, to re-evaluate them on a rewind
    private var latentInputs: [Int: [Float]] = [:]
    /// main-sequence logits kept aside while a probe used the context
    private var savedLogits: UnsafeMutableBufferPointer<Float>?
    private var logitsSaved = false
    private let adjustedAnalyzer = DistributionAnalyzer(topCount: 10)
    private let probeAnalyzer = DistributionAnalyzer(topCount: 1)
    private lazy var environment = SessionEnvironment(self)
    private var prefilled = false

    private let commandLock = NSCondition()
    private var commands: [SessionCommand] = []
    private var stepCredit = 0
    private var stopRequested = false

    public init(backend: ModelBackend, config: SessionConfig, promptTokens: [Int32], initialPhase: Phase) throws {
        guard !promptTokens.isEmpty else { throw ThinktopError.invalidArgument("the prompt is empty") }
        guard promptTokens.count < backend.contextSize else {
            throw ThinktopError.promptTooLong(tokens: promptTokens.count, context: backend.contextSize)
        }
        kv = backend as? LedgerBackend ?? LedgerBackend(backend)
        self.backend = kv
        self.config = config
        self.promptTokens = promptTokens
        let needed = config.sampling.isGreedy ? 0 : config.sampling.topK
        analyzer = DistributionAnalyzer(topCount: max(config.topAlternatives, min(needed, backend.vocabularySize)))
        sampler = Sampler(parameters: config.sampling)
        rng = SeededGenerator(seed: config.sampling.seed)
        tracker = PhaseTracker(markers: config.markers, initial: initialPhase)
        stopMatcher = StopMatcher(stops: config.stops)
        blocks = BlockStatistics(window: config.blockWindow)
        strategyRNG = SeededGenerator(seed: config.sampling.seed ^ 0x5354_5241_5445_4759)
    }

    deinit { savedLogits?.deallocate() }

    // MARK: strategies

    /// Adds strategies (in the given order; `StrategyRegistry.all` gives every known one),
    /// turning on those in `enabled`. Call before stepping.
    public func install(_ list: [DecodingStrategy], enabled on: Set<String>) throws {
        strategies = list
        enabled = on
        for s in list where on.contains(s.id) { try prepareIfNeeded(s) }
    }

    /// Every known strategy, those named by `--strategy` specs switched on.
    public func install(specs: [String]) throws {
        let (list, on) = try StrategyRegistry.configure(specs)
        try install(list, enabled: on)
    }

    private func prepareIfNeeded(_ s: DecodingStrategy) throws {
        guard !prepared.contains(s.id) else { return }
        try s.prepare(environment)
        prepared.insert(s.id)
    }

    private var active: [DecodingStrategy] { strategies.filter { enabled.contains($0.id) } }

    public func strategy(_ id: String) -> DecodingStrategy? { strategies.first { $0.id == id } }

    // MARK: stepping

    /// Evaluates the prompt, in batches of the backend's batch size, then lets the KV policy
    /// evict (SnapKV and H2O act on the prompt).
    public func prefill() throws {
        guard !prefilled else { return }
        prefillQueries = kvPolicy.prefillQueries(promptTokens: promptTokens.count)
        try decodePrompt()
        fedPositions = promptTokens.count
        nextKVPosition = promptTokens.count
        contributionsAfter = [promptTokens.count - 1: ledger.contributions.count]
        prefilled = true
        try applyKVPolicy(.prefill)
    }

    /// the prompt rows the attention tap counted at the prefill (replayed by rebuilds)
    private var prefillQueries: Range<Int>?

    private func decodePrompt() throws {
        kv.attentionQueries = prefillQueries
        defer { kv.attentionQueries = nil }
        var start = 0
        while start < promptTokens.count {
            let end = min(start + backend.batchSize, promptTokens.count)
            ledger.nextIndex = start
            ledger.nextPhase = .prompt
            try backend.decode(tokens: promptTokens[start..<end], at: start, sequence: sequence)
            start = end
        }
    }

    // MARK: KV policy

    /// Sets the KV-cache policy. Before the first step this is the `--kv` choice; later it is
    /// a switch mid-generation (the next step evicts down to the new policy's budget).
    public func setKVPolicy(_ policy: KVPolicy) throws {
        if policy.needsAttention && kv.attention == nil {
            throw ThinktopError.invalidArgument("the KV policy \(policy.name) needs the attention tap: start with --attention (it cannot be turned on mid-run)")
        }
        if policy.shiftsPositions && !ledger.shape.canShift {
            throw ThinktopError.invalidArgument("\(policy.name) moves positions down after evicting, and this model's KV cache cannot shift positions: choose h2o or none")
        }
        kvPolicy = policy
        if prefilled { emit(TraceEvent(step: records.count, kind: "kv-policy", detail: policy.spec)) }
    }

    /// whether the policy in force keeps the cache under a budget as generation goes on
    private var policyEvictsDuringGeneration: Bool { kvPolicy.budget(promptTokens: promptTokens.count) != nil }

    /// Asks the policy what to evict and carries it out: removals, then for StreamingLLM the
    /// shifts that make the positions after the sinks contiguous again. One trace event
    /// lists the positions (sequence indices) removed.
    private func applyKVPolicy(_ moment: EvictionMoment) throws {
        // most steps need no eviction: skip building the sorted entries for them
        if case .generation(let incoming) = moment {
            guard let budget = kvPolicy.budget(promptTokens: promptTokens.count),
                  ledger.count(sequence: sequence) + incoming > min(budget, backend.contextSize - 1) else { return }
        }
        guard let plan = kvPolicy.plan(ledger.entries(), moment: moment, capacity: backend.contextSize - 1,
                                       promptTokens: promptTokens.count),
              !plan.positions.isEmpty else { return }
        if case .prefill = moment { stashLogits() }   // step 0 still needs the prompt's logits
        var record = EvictionRecord(afterInput: fedPositions - 1, prefill: moment == .prefill, removed: [], shifts: [],
                                    indices: [], nextKVPosition: nextKVPosition)
        let started = DispatchTime.now().uptimeNanoseconds
        for run in Self.runs(plan.positions).reversed() {
            record.indices += try kv.evictCells(sequence: sequence, from: run.lowerBound, to: run.upperBound + 1)
            record.removed.append((run.lowerBound, run.upperBound + 1))
        }
        if let base = plan.compactFrom {
            record.shifts = Self.compaction(ledger.entries().map(\.position), from: base)
            for sh in record.shifts { try kv.shiftCells(sequence: sequence, from: sh.from, to: sh.to, delta: sh.delta) }
            nextKVPosition = (ledger.range(sequence: sequence)?.upperBound ?? -1) + 1
        }
        record.nextKVPosition = nextKVPosition
        record.indices.sort()
        evictionLog.append(record)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        let shifted = record.shifts.isEmpty ? "" : String(format: ", later positions moved down by %d", -(record.shifts.first?.delta ?? 0))
        emit(TraceEvent(step: records.count, kind: "evict", position: moment == .prefill ? nil : fedPositions,
                        detail: "\(kvPolicy.spec): removed \(record.indices.count) positions \(Self.describe(record.indices))\(shifted) (\(String(format: "%.2f", ms)) ms)",
                        removed: record.indices))
    }

    /// Sorted positions as maximal runs of consecutive ones.
    static func runs(_ positions: [Int]) -> [ClosedRange<Int>] {
        var out: [ClosedRange<Int>] = []
        for p in positions.sorted() {
            if let last = out.last, last.upperBound + 1 == p { out[out.count - 1] = last.lowerBound...p } else { out.append(p...p) }
        }
        return out
    }

    /// The shifts that move the held positions ≥ `base` down to base, base + 1, … in order.
    static func compaction(_ held: [Int], from base: Int) -> [(from: Int, to: Int, delta: Int)] {
        var out: [(from: Int, to: Int, delta: Int)] = []
        var target = base
        for p in held.sorted() where p >= base {
            let delta = target - p
            if delta != 0 {
                if let last = out.last, last.delta == delta, last.to == p { out[out.count - 1].to = p + 1 }
                else { out.append((p, p + 1, delta)) }
            }
            target += 1
        }
        return out
    }

    /// "4–130, 140" for a sorted list of positions.
    static func describe(_ positions: [Int]) -> String {
        runs(positions).map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)–\($0.upperBound)" }.joined(separator: ", ")
    }

    /// One step: analyse the distribution, sample, feed the token. Returns nil when done.
    @discardableResult
    public func step() throws -> StepRecord? {
        if !prefilled { try prefill() }
        guard !isDone else { return nil }
        let position = fedPositions
        if ledger.count(sequence: sequence) >= backend.contextSize {
            finish(.contextFull)
            return nil
        }
        let started = DispatchTime.now().uptimeNanoseconds
        var states: [String: Any] = [:]
        for st in strategies where prepared.contains(st.id) { states[st.id] = st.saveState() }
        checkpoints.append(Checkpoint(rng: rng, tracker: tracker, utf8: utf8, stopMatcher: stopMatcher,
                                      blocks: blocks, outputBytes: output.utf8.count, strategyRNG: strategyRNG,
                                      strategyStates: states, fullTextBytes: fullText.utf8.count))
        let logits: UnsafeBufferPointer<Float> = logitsSaved ? UnsafeBufferPointer(savedLogits!) : backend.logits()
        logitsSaved = false
        let summary = analyzer.analyze(logits)
        let thinkingSoFar = thinkingCount
        let view = StepView(step: records.count, position: position, phase: tracker.phase, thinkingTokens: thinkingSoFar,
                            summary: summary, logits: logits, text: fullText, markers: config.markers,
                            sampling: config.sampling, maxTokens: config.maxTokens)
        var effects: [String] = []
        let strategiesNow = active

        // 2. strategies decide before sampling
        var decision = StepDecision()
        for st in strategiesNow {
            var d = StepDecision()
            try st.beforeSampling(view, &d, environment)
            decision.banned.formUnion(d.banned)
            for (t, b) in d.bias { decision.bias[t, default: 0] += b }
            if !d.force.isEmpty {
                if decision.force.isEmpty { decision.force = d.force; decision.forceBy = st.id }
                else { effects.append("\(st.id): forcing overridden by \(decision.forceBy!)") }
            }
            if let sp = d.sampling {
                if decision.sampling == nil { decision.sampling = sp; decision.samplingBy = st.id }
                else { effects.append("\(st.id): sampling overridden by \(decision.samplingBy!)") }
            }
            effects += d.effects.map { "\(st.id): \($0)" }
        }
        if !decision.force.isEmpty && forced.isEmpty {
            forced = decision.force
            emit(TraceEvent(step: records.count, kind: "force", detail: "\(decision.forceBy!): \(decision.force.count) tokens \(String(reflecting: decision.force.map { environment.text(of: $0) }.joined()))"))
        }

        // 3. sample from the adjusted distribution
        let sampled = try sampleAdjusted(logits: logits, summary: summary, decision: decision, effects: &effects)
        var token = sampled
        var input = InputKind.explicit
        if !forced.isEmpty {
            token = forced.removeFirst()
            input = .forced
            effects.append("forced instead of sampled \(sampled)")
        } else {
            // 4. a strategy may replace the sampled token
            for st in strategiesNow {
                if let replacement = try st.review(sampled: sampled, view: view, env: environment), !replacement.isEmpty {
                    token = replacement[0]
                    forced = Array(replacement.dropFirst())
                    input = .forced
                    effects.append("\(st.id): replaced sampled \(sampled)")
                    emit(TraceEvent(step: records.count, kind: "replace", detail: "\(st.id): \(String(reflecting: environment.text(of: sampled))) → \(String(reflecting: replacement.map { environment.text(of: $0) }.joined()))"))
                    break
                }
            }
        }
        let chosenLogit = logits[Int(token)]
        var kvPosition = nextKVPosition
        let text = utf8.append(backend.piece(token))
        let tokenPhase = tracker.observe(token: token, text: text)
        fullText += text
        if tokenPhase == .thinking { thinkingCount += 1 }
        blocks.add(entropy: summary.entropy, text: text)
        let (emit, stop) = stopMatcher.feed(text)
        if !emit.isEmpty {
            output += emit
            onText?(emit)
        }
        let alternatives = summary.top.prefix(config.topAlternatives).map {
            Alternative(id: $0.id, p: summary.probability(ofLogit: $0.logit), text: pieceText($0.id))
        }
        let eog = !config.ignoreEndOfGeneration && backend.isEndOfGeneration(token)
        let willFinish: StopReason? = eog ? .endOfGeneration
            : stop != nil ? .stopString
            : records.count + 1 >= config.maxTokens ? .maxTokens
            : !policyEvictsDuringGeneration && ledger.count(sequence: sequence) + 1 >= backend.contextSize ? .contextFull : nil
        if willFinish == nil {
            // 5. explicit token or a strategy's embedding
            var latent: [Float]?
            if input != .forced {
                for st in strategiesNow {
                    if let e = try st.input(for: token, view: view, env: environment, effects: &effects) { latent = e; break }
                }
            }
            try applyKVPolicy(.generation(incoming: 1))
            kvPosition = nextKVPosition
            ledger.nextIndex = position
            ledger.nextPhase = tokenPhase
            if let latent {
                try latent.withUnsafeBufferPointer { try backend.decode(embedding: $0, at: kvPosition, sequence: sequence) }
                latentInputs[position] = latent
                input = .latent
            } else {
                try backend.decode(tokens: [token][...], at: kvPosition, sequence: sequence)
            }
            fedPositions = position + 1
            nextKVPosition = kvPosition + 1
            contributionsAfter[position] = ledger.contributions.count
        } else if willFinish == .contextFull {
            self.emit(TraceEvent(step: records.count, kind: "context-full", position: position,
                            detail: "the cache holds \(ledger.count(sequence: sequence)) of \(backend.contextSize) positions and the KV policy is \(kvPolicy.id): raise --ctx or choose an evicting policy (--kv streaming)"))
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        generationSeconds += elapsed
        stepsGenerated += 1
        var record = StepRecord(
            index: records.count, position: position, token: token, text: text, phase: tokenPhase,
            input: input, logprob: summary.logProbability(ofLogit: chosenLogit),
            prob: summary.probability(ofLogit: chosenLogit), entropy: summary.entropy,
            varentropy: summary.varentropy, top1: summary.top1, margin: summary.margin, top: alternatives,
            windowMean: blocks.windowMean, trend: blocks.trend, reasoningStep: blocks.reasoningStep,
            stepMean: blocks.stepMean, effects: effects, ms: elapsed * 1000)
        if kvPosition != position { record.kvPosition = kvPosition }
        if config.recordAttention, kv.attention != nil, willFinish == nil { record.attention = ledger.lastContribution }
        // 6. strategies update state, may probe and stop thinking
        var final = record
        if !strategiesNow.isEmpty {
            var more: [String] = []
            inAfterToken = willFinish == nil
            defer { inAfterToken = false }
            for st in strategiesNow { try st.afterToken(record, view: view, env: environment, effects: &more) }
            final.effects += more
        }
        records.append(final)
        onStep?(final)
        // interventions that live on the token line also get an event line, with their step
        let suppressions = final.effects.filter { $0.localizedCaseInsensitiveContains("suppress") }
        if !suppressions.isEmpty {
            self.emit(TraceEvent(step: final.index, kind: "suppress", position: final.position, detail: suppressions.joined(separator: "; ")))
        }
        if final.input == .latent {
            self.emit(TraceEvent(step: final.index, kind: "latent", position: final.position,
                            detail: "fed an embedding mixture instead of \(String(reflecting: final.text))"))
        }
        if let reason = willFinish { finish(reason) }
        return final
    }

    private var thinkingCount = 0
    var probesAllowed: Bool { inAfterToken }
    /// true while `afterToken` hooks run after the token was fed: the context's logits are
    /// then the next step's, and anything else using the context must keep them aside
    private var inAfterToken = false

    /// Samples with the strategies' bans, biases and sampling override applied; the raw
    /// summary is left as it was. The adjusted distribution's entropy and confidence go
    /// into the effects when it differs from the raw one.
    private func sampleAdjusted(logits: UnsafeBufferPointer<Float>, summary: DistributionSummary,
                                decision: StepDecision, effects: inout [String]) throws -> Int32 {
        var params = decision.sampling ?? config.sampling
        if decision.sampling != nil { params.seed = config.sampling.seed }
        var stepSampler = decision.sampling == nil ? sampler : Sampler(parameters: params)
        let needK = params.isGreedy ? 1 : params.topK
        if decision.banned.isEmpty && decision.bias.isEmpty {
            if needK <= summary.top.count || needK == 0 {
                return stepSampler.sample(summary: summary, logits: logits, rng: &rng)
            }
            adjustedAnalyzer.setTopCount(needK)
            return stepSampler.sample(summary: adjustedAnalyzer.analyze(logits), logits: logits, rng: &rng)
        }
        // edit the logits in place, sample, put them back
        let mutable = UnsafeMutablePointer(mutating: logits.baseAddress!)
        var saved: [(Int, Float)] = []
        for t in decision.banned where Int(t) < logits.count {
            saved.append((Int(t), mutable[Int(t)]))
            mutable[Int(t)] = -.infinity
        }
        for (t, b) in decision.bias where Int(t) < logits.count && !decision.banned.contains(t) {
            saved.append((Int(t), mutable[Int(t)]))
            mutable[Int(t)] += b
        }
        defer { for (i, v) in saved.reversed() { mutable[i] = v } }
        if adjustedAnalyzer.topCount < max(needK, 10) { adjustedAnalyzer.setTopCount(max(needK, 10)) }
        let adjusted = adjustedAnalyzer.analyze(logits)
        effects.append(String(format: "adjusted: H %.3f p1 %.3f", adjusted.entropy, adjusted.top1))
        return stepSampler.sample(summary: adjusted, logits: logits, rng: &rng)
    }

    /// A probe on a fork of the main sequence (see `StrategyEnvironment.probe`).
    func runProbe(appending text: String, maxTokens: Int, stopAt: String?, cutAt: Int? = nil,
                  first: ((UnsafeBufferPointer<Float>, DistributionSummary) -> Void)?) throws -> ProbeResult {
        guard inAfterToken else {
            throw ThinktopError.invalidArgument("a probe can only run after the token was fed (in afterToken)")
        }
        let started = DispatchTime.now().uptimeNanoseconds
        keepMainLogits()
        let fork: Int32 = 1
        try backend.removeCells(sequence: fork, from: 0, to: nil)
        backend.copySequence(from: sequence, to: fork, from: 0, to: nil)
        defer { try? backend.removeCells(sequence: fork, from: 0, to: nil) }
        var pos = nextKVPosition
        let appended = try backend.tokenize(text, addSpecial: false)
        if let cut = cutAt {
            guard cut > 0, cut <= fedPositions, !appended.isEmpty else {
                throw ThinktopError.invalidArgument("a probe cut at \(cut) needs a position in 1…\(fedPositions) and text to append")
            }
            // the cut is a sequence index; the fork keeps the KV positions of the indices below it
            let kvCut = ledger.entries(sequence: sequence).first { $0.entry.index >= cut }?.position ?? nextKVPosition
            try backend.removeCells(sequence: fork, from: kvCut, to: nil)
            pos = kvCut
        }
        var free = backend.contextSize - ledger.cellsInUse
        guard free > appended.count else {
            throw ThinktopError.contextFull(backend.contextSize)
        }
        guard !appended.isEmpty else {
            throw ThinktopError.invalidArgument("a probe needs text to append before it can read a distribution")
        }
        var start = 0
        while start < appended.count {
            let end = min(start + backend.batchSize, appended.count)
            try backend.decode(tokens: appended[start..<end], at: pos, sequence: fork)
            pos += end - start
            start = end
        }
        var result = ProbeResult(tokens: [], text: "", entropies: [], probabilities: [], ms: 0)
        var bytes = UTF8Stream()
        for i in 0..<maxTokens {
            let l = backend.logits()
            let s = probeAnalyzer.analyze(l)
            if i == 0 { first?(l, s) }
            let t = s.top[0].id
            result.tokens.append(t)
            result.entropies.append(s.entropy)
            result.probabilities.append(s.top1)
            let piece = bytes.append(backend.piece(t))
            result.text += piece
            if let stop = stopAt, piece.contains(stop) { break }
            if backend.isEndOfGeneration(t) || i == maxTokens - 1 || free - appended.count <= 1 { break }
            try backend.decode(tokens: [t][...], at: pos, sequence: fork)
            pos += 1
            free -= 1
        }
        result.text += bytes.flush()
        result.ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        return result
    }

    /// Keeps the main sequence's next-token logits aside before anything else uses the
    /// context (a probe's decodes, the embedding-scale calibration), for the next step.
    func keepMainLogits() {
        guard inAfterToken, !logitsSaved, prefilled, fedPositions > 0 else { return }
        stashLogits()
    }

    /// Copies the context's logits aside for the next step.
    private func stashLogits() {
        guard !logitsSaved else { return }
        if savedLogits == nil { savedLogits = .allocate(capacity: backend.vocabularySize) }
        _ = savedLogits!.initialize(from: backend.logits())
        logitsSaved = true
    }

    func nextStrategyUniform() -> Double { strategyRNG.nextUnit() }

    func emitStrategyEvent(_ kind: String, _ detail: String) {
        emit(TraceEvent(step: records.count, kind: kind, detail: detail))
    }

    private var pieceCache: [Int32: String] = [:]
    /// A token's text, cached (alternatives and strategies ask for the same few often).
    func pieceText(_ id: Int32) -> String {
        if let s = pieceCache[id] { return s }
        let s = String(decoding: backend.piece(id), as: UTF8.self)
        pieceCache[id] = s
        return s
    }

    private func finish(_ reason: StopReason) {
        guard stopReason == nil else { return }
        stopReason = reason
        forced.removeAll()
        defer { onFinish?(reason) }
        let rest = stopMatcher.flush() + utf8.flush()
        if !rest.isEmpty, reason != .stopString {
            output += rest
            onText?(rest)
        }
    }

    /// Drops every generated position ≥ `position` and makes the session ready to generate
    /// there again. The generator, phase and text state return to what they were at that
    /// step, so continuing with the same settings reproduces the same tokens.
    public func rewind(toPosition position: Int) throws {
        let first = promptTokens.count
        guard position >= first, position <= first + records.count else {
            throw ThinktopError.invalidArgument("cannot rewind to position \(position): generated positions are \(first)…\(first + records.count - 1)")
        }
        let keep = position - first
        if keep == records.count, !isDone { return }
        // the input at position − 1 is re-evaluated to get the logits for `position`; when a
        // policy evicted after it was fed, the cache is rebuilt as it was (the same operations
        // replayed), since what was evicted cannot be brought back any other way
        let redo = position - 1
        logitsSaved = false
        let rebuild = evictionLog.contains { $0.afterInput >= redo }
            || (kv.attention != nil && (redo < first || ledger.contributionsDropped))
        evictionLog.removeAll { !$0.prefill && $0.afterInput >= redo }
        if rebuild {
            let replayed = try rebuildCache(through: redo)
            emit(TraceEvent(step: keep, kind: "rebuild", position: position,
                            detail: "the cache was rebuilt to undo evictions: \(replayed) inputs evaluated again"))
        } else {
            guard let at = ledger.position(ofIndex: redo, sequence: sequence) else {
                throw ThinktopError.kvEditFailed("position \(redo) is no longer in the cache")
            }
            try backend.removeCells(sequence: sequence, from: at, to: nil)
            ledger.keepContributions(contributionsAfter[redo - 1] ?? 0)
            try decodeInput(redo, at: at)
            nextKVPosition = at + 1
        }
        ledger.setEvicted(Set(evictionLog.flatMap(\.indices)))
        for k in contributionsAfter.keys where k > redo { contributionsAfter[k] = nil }
        contributionsAfter[redo] = ledger.contributions.count
        for p in latentInputs.keys where p >= position { latentInputs[p] = nil }
        fedPositions = position
        if keep < checkpoints.count {
            let c = checkpoints[keep]
            rng = c.rng
            tracker = c.tracker
            utf8 = c.utf8
            stopMatcher = c.stopMatcher
            blocks = c.blocks
            output = String(decoding: output.utf8.prefix(c.outputBytes), as: UTF8.self)
            strategyRNG = c.strategyRNG
            fullText = String(decoding: fullText.utf8.prefix(c.fullTextBytes), as: UTF8.self)
            for st in strategies { if let state = c.strategyStates[st.id] { st.restoreState(state) } }
        }
        let removed = records.count - keep
        forced.removeAll()
        records.removeLast(removed)
        thinkingCount = records.filter { $0.phase == .thinking }.count
        checkpoints.removeLast(checkpoints.count - keep)
        stopReason = nil
        emit(TraceEvent(step: keep, kind: "rewind", position: position, detail: "removed \(removed) tokens"))
    }

    /// Feeds the input of sequence index `index` (a generated token, its latent embedding, or
    /// the last prompt token) at KV position `at`.
    private func decodeInput(_ index: Int, at: Int) throws {
        let first = promptTokens.count
        ledger.nextIndex = index
        ledger.nextPhase = index < first ? .prompt : records[index - first].phase
        if let latent = latentInputs[index] {
            try latent.withUnsafeBufferPointer { try backend.decode(embedding: $0, at: at, sequence: sequence) }
        } else {
            let token = index < first ? promptTokens[index] : records[index - first].token
            try backend.decode(tokens: [token][...], at: at, sequence: sequence)
        }
    }

    /// Empties the main sequence and evaluates everything up to input `redo` again: the prompt
    /// as the prefill fed it, each later input at the KV position it had, and the policies'
    /// evictions and shifts where they happened. Returns the number of inputs evaluated.
    private func rebuildCache(through redo: Int) throws -> Int {
        let first = promptTokens.count
        try backend.removeCells(sequence: 1, from: 0, to: nil)
        try backend.removeCells(sequence: sequence, from: 0, to: nil)
        ledger.cleared()
        logitsSaved = false
        try decodePrompt()
        func replay(after input: Int) throws {
            for e in evictionLog where e.afterInput == input {
                if e.prefill { stashLogits() }
                for r in e.removed { try kv.evictCells(sequence: sequence, from: r.from, to: r.to) }
                for sh in e.shifts { try kv.shiftCells(sequence: sequence, from: sh.from, to: sh.to, delta: sh.delta) }
                nextKVPosition = e.nextKVPosition
            }
        }
        nextKVPosition = first
        try replay(after: first - 1)
        if redo >= first {
            logitsSaved = false
            for i in first...redo {
                let at = records[i - first].kvPosition ?? records[i - first].position
                try decodeInput(i, at: at)
                nextKVPosition = at + 1
                if i < redo { try replay(after: i) }
            }
        }
        return promptTokens.count + max(0, redo - first + 1)
    }

    /// Queues tokens to be fed in place of the next sampled ones (marked `forced`).
    public func force(text: String, reason: String) throws {
        let tokens = try backend.tokenize(text, addSpecial: false)
        guard !tokens.isEmpty else { return }
        forced.append(contentsOf: tokens)
        emit(TraceEvent(step: records.count, kind: "force", detail: "\(reason): \(tokens.count) tokens \(String(reflecting: text))"))
    }

    /// Ends thinking now: the think-close marker, after a newline when the text does not
    /// end with one. Does nothing outside thinking.
    public func endThinking() throws {
        guard !isDone, tracker.phase == .thinking, forced.isEmpty else { return }
        var tokens: [Int32] = []
        if !output.hasSuffix("\n") { tokens += try backend.tokenize("\n", addSpecial: false) }
        if let close = config.markers.closeToken {
            tokens.append(close)
        } else {
            tokens += try backend.tokenize(config.markers.close + "\n", addSpecial: false)
        }
        forced += tokens
        emit(TraceEvent(step: records.count, kind: "force", detail: "end thinking: \(tokens.count) tokens"))
    }

    private func emit(_ event: TraceEvent) {
        events.append(event)
        onEvent?(event)
    }

    // MARK: commands and the loop

    /// Queues a command; it is applied before the next step. Safe from any thread.
    public func send(_ command: SessionCommand) {
        commandLock.lock()
        commands.append(command)
        commandLock.signal()
        commandLock.unlock()
    }

    /// Applies the queued commands now (for drivers that step the session themselves).
    public func applyCommands() {
        commandLock.lock()
        let pending = commands
        commands.removeAll()
        commandLock.unlock()
        for c in pending { apply(c) }
    }

    /// Runs until done (or until `.stop` when `stayAfterDone`, so a rewind can continue a
    /// finished run). Call on the session's own thread.
    public func run(stayAfterDone: Bool = false) {
        do {
            try prefill()
        } catch {
            lastError = error
            finish(.error)
            return
        }
        while true {
            commandLock.lock()
            while commands.isEmpty && ((isPaused && stepCredit == 0) || (isDone && stayAfterDone)) && !stopRequested {
                commandLock.wait()
            }
            let pending = commands
            commands.removeAll()
            commandLock.unlock()
            for c in pending { apply(c) }
            if stopRequested { finish(.stopped); return }
            if isDone {
                if stayAfterDone { continue }
                return
            }
            if isPaused {
                guard stepCredit > 0 else { continue }
                stepCredit -= 1
            }
            do {
                try step()
            } catch {
                lastError = error
                emit(TraceEvent(step: records.count, kind: "error", detail: "\(error)"))
                finish(.error)
                if !stayAfterDone { return }
            }
        }
    }

    private func apply(_ c: SessionCommand) {
        switch c {
        case .pause:
            if !isPaused { isPaused = true; emit(TraceEvent(step: records.count, kind: "pause")) }
        case .resume:
            if isPaused { isPaused = false; stepCredit = 0; emit(TraceEvent(step: records.count, kind: "resume")) }
        case .step:
            isPaused = true
            stepCredit += 1
            emit(TraceEvent(step: records.count, kind: "step"))
        case .rewind(let p):
            do { try rewind(toPosition: p) } catch {
                emit(TraceEvent(step: records.count, kind: "error", position: p, detail: "\(error)"))
            }
        case .endThinking:
            do { try endThinking() } catch {
                emit(TraceEvent(step: records.count, kind: "error", detail: "\(error)"))
            }
        case .enableStrategy(let id, let on):
            guard let st = strategy(id) else {
                emit(TraceEvent(step: records.count, kind: "error", detail: "no strategy \(id)"))
                return
            }
            do {
                if on { try prepareIfNeeded(st) }
                if on { enabled.insert(id) } else { enabled.remove(id) }
                emit(TraceEvent(step: records.count, kind: on ? "enable" : "disable", detail: st.spec))
            } catch {
                emit(TraceEvent(step: records.count, kind: "error", detail: "\(error)"))
            }
        case .setParameter(let id, let name, let value):
            guard let st = strategy(id) else { return }
            do {
                try st.set(name, value)
                prepared.remove(id)
                if enabled.contains(id) { try prepareIfNeeded(st) }
                emit(TraceEvent(step: records.count, kind: "parameter", detail: st.spec))
            } catch {
                emit(TraceEvent(step: records.count, kind: "error", detail: "\(error)"))
            }
        case .setKVPolicy(let spec):
            do {
                try setKVPolicy(KVPolicyRegistry.parse(spec))
                // a run that stopped at a full context goes on once a policy can make room:
                // its last token (sampled but not fed) is drawn again, the same way
                if stopReason == .contextFull, policyEvictsDuringGeneration, !records.isEmpty {
                    try rewind(toPosition: promptTokens.count + records.count - 1)
                }
            } catch {
                emit(TraceEvent(step: records.count, kind: "error", detail: "\(error)"))
            }
        case .stop:
            stopRequested = true
            emit(TraceEvent(step: records.count, kind: "stop"))
        }
    }

    /// Summary of the run so far.
    public func summary() -> TraceSummary {
        let thinking = records.filter { $0.phase == .thinking }.count
        let answer = records.filter { $0.phase == .answer }.count
        return TraceSummary(tokens: records.count, thinkingTokens: thinking, answerTokens: answer,
                            stopReason: stopReason?.rawValue ?? "running", seconds: generationSeconds,
                            tokensPerSecond: generationSeconds > 0 ? Double(stepsGenerated) / generationSeconds : 0,
                            events: events.count, output: output)
    }
}

/// The services strategies get, backed by the session.
final class SessionEnvironment: StrategyEnvironment {
    unowned let session: DecodingSession
    init(_ session: DecodingSession) { self.session = session }

    var backend: ModelBackend { session.backend }

    func text(of token: Int32) -> String { session.pieceText(token) }

    var canProbe: Bool { session.probesAllowed }

    /// the model behind the ledger decides (the ledger's wrapper always passes embeddings on)
    var canFeedEmbeddings: Bool { session.kvBase is EmbeddingSource }

    var freeCells: Int { session.backend.contextSize - session.ledger.cellsInUse }

    func tokenize(_ text: String) throws -> [Int32] { try backend.tokenize(text, addSpecial: false) }

    func probe(appending: String, maxTokens: Int, stopAt: String?, cutAt: Int?,
               first: ((UnsafeBufferPointer<Float>, DistributionSummary) -> Void)?) throws -> ProbeResult {
        try session.runProbe(appending: appending, maxTokens: maxTokens, stopAt: stopAt, cutAt: cutAt, first: first)
    }

    func probe(appending: String, maxTokens: Int, stopAt: String?,
               first: ((UnsafeBufferPointer<Float>, DistributionSummary) -> Void)?) throws -> ProbeResult {
        try session.runProbe(appending: appending, maxTokens: maxTokens, stopAt: stopAt, cutAt: nil, first: first)
    }

    func uniform() -> Double { session.nextStrategyUniform() }

    func event(_ kind: String, _ detail: String) { session.emitStrategyEvent(kind, detail) }

    func embedding(of token: Int32) throws -> [Float] {
        guard let source = backend as? EmbeddingSource else {
            throw ThinktopError.embeddingUnavailable("this backend cannot feed embeddings")
        }
        session.keepMainLogits()   // the first call calibrates the input scale on the context
        return try source.inputEmbedding(of: token)
    }

    func mixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) throws -> [Float] {
        guard let source = backend as? EmbeddingSource else {
            throw ThinktopError.embeddingUnavailable("this backend cannot feed embeddings")
        }
        session.keepMainLogits()
        return try source.inputMixture(ids: ids, weights: weights)
    }
}

/// A backend that can give token embeddings in its input scale (for latent thinking).
public protocol EmbeddingSource: AnyObject {
    /// E[token]·scale
    func inputEmbedding(of token: Int32) throws -> [Float]
    /// Σ weights[i]·E[ids[i]]·scale
    func inputMixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) throws -> [Float]
}

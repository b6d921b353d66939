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
    public let backend: ModelBackend
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

    public var onStep: ((StepRecord) -> Void)?
    public var onEvent: ((TraceEvent) -> Void)?
    /// text safe to show as it is produced (stop strings held back)
    public var onText: ((String) -> Void)?
    /// called on the session's thread when generation finishes (also after a later rewind and rerun)
    public var onFinish: ((StopReason) -> Void)?

    public var isDone: Bool { stopReason != nil }
    public var phase: Phase { isDone ? .done : tracker.phase }
    /// positions held in the KV cache
    public private(set) var fedPositions = 0

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
    }
    private var checkpoints: [Checkpoint] = []
    /// tokens to feed instead of sampled ones, in order
    private var forced: [Int32] = []
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
        self.backend = backend
        self.config = config
        self.promptTokens = promptTokens
        let needed = config.sampling.isGreedy ? 0 : config.sampling.topK
        analyzer = DistributionAnalyzer(topCount: max(config.topAlternatives, min(needed, backend.vocabularySize)))
        sampler = Sampler(parameters: config.sampling)
        rng = SeededGenerator(seed: config.sampling.seed)
        tracker = PhaseTracker(markers: config.markers, initial: initialPhase)
        stopMatcher = StopMatcher(stops: config.stops)
        blocks = BlockStatistics(window: config.blockWindow)
    }

    // MARK: stepping

    /// Evaluates the prompt, in batches of the backend's batch size.
    public func prefill() throws {
        guard !prefilled else { return }
        var start = 0
        while start < promptTokens.count {
            let end = min(start + backend.batchSize, promptTokens.count)
            try backend.decode(tokens: promptTokens[start..<end], at: start, sequence: sequence)
            start = end
        }
        fedPositions = promptTokens.count
        prefilled = true
    }

    /// One step: analyse the distribution, sample, feed the token. Returns nil when done.
    @discardableResult
    public func step() throws -> StepRecord? {
        if !prefilled { try prefill() }
        guard !isDone else { return nil }
        let position = fedPositions
        if position >= backend.contextSize {
            finish(.contextFull)
            return nil
        }
        let started = DispatchTime.now().uptimeNanoseconds
        checkpoints.append(Checkpoint(rng: rng, tracker: tracker, utf8: utf8, stopMatcher: stopMatcher,
                                      blocks: blocks, outputBytes: output.utf8.count))
        let logits = backend.logits()
        let summary = analyzer.analyze(logits)
        let sampled = sampler.sample(summary: summary, logits: logits, rng: &rng)
        var token = sampled
        var input = InputKind.explicit
        var effects: [String] = []
        if !forced.isEmpty {
            token = forced.removeFirst()
            input = .forced
            effects.append("forced instead of sampled \(sampled)")
        }
        let chosenLogit = logits[Int(token)]
        let text = utf8.append(backend.piece(token))
        let tokenPhase = tracker.observe(token: token, text: text)
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
            : position + 1 >= backend.contextSize ? .contextFull : nil
        if willFinish == nil {
            try backend.decode(tokens: [token][...], at: position, sequence: sequence)
            fedPositions = position + 1
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        generationSeconds += elapsed
        let record = StepRecord(
            index: records.count, position: position, token: token, text: text, phase: tokenPhase,
            input: input, logprob: summary.logProbability(ofLogit: chosenLogit),
            prob: summary.probability(ofLogit: chosenLogit), entropy: summary.entropy,
            varentropy: summary.varentropy, top1: summary.top1, margin: summary.margin, top: alternatives,
            windowMean: blocks.windowMean, trend: blocks.trend, reasoningStep: blocks.reasoningStep,
            stepMean: blocks.stepMean, effects: effects, ms: elapsed * 1000)
        records.append(record)
        onStep?(record)
        if let reason = willFinish { finish(reason) }
        return record
    }

    private var pieceCache: [Int32: String] = [:]
    private func pieceText(_ id: Int32) -> String {
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
        // the input at position − 1 is re-evaluated to get the logits for `position`
        let previous: Int32 = keep == 0 ? promptTokens[first - 1] : records[keep - 1].token
        try backend.removeCells(sequence: sequence, from: position - 1, to: nil)
        try backend.decode(tokens: [previous][...], at: position - 1, sequence: sequence)
        fedPositions = position
        if keep < checkpoints.count {
            let c = checkpoints[keep]
            rng = c.rng
            tracker = c.tracker
            utf8 = c.utf8
            stopMatcher = c.stopMatcher
            blocks = c.blocks
            output = String(decoding: output.utf8.prefix(c.outputBytes), as: UTF8.self)
        }
        let removed = records.count - keep
        forced.removeAll()
        records.removeLast(removed)
        checkpoints.removeLast(checkpoints.count - keep)
        stopReason = nil
        emit(TraceEvent(step: keep, kind: "rewind", position: position, detail: "removed \(removed) tokens"))
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
                            tokensPerSecond: generationSeconds > 0 ? Double(records.count) / generationSeconds : 0,
                            events: events.count, output: output)
    }
}

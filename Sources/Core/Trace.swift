import Foundation

/// The JSON Lines trace: a header, one line per generated token, one per event, and a
/// summary. Documented in docs/TRACE.md; `TraceFormat.version` goes up whenever a field
/// changes meaning, and the reader keeps reading every version written before.
public enum TraceFormat {
    /// 2: effects are objects (strategy, kind, text); events name their strategy and carry a
    /// probe's or an eviction's time in `ms`; `stop-string` events. Format 1 reads as 2.
    public static let version = 2
}

/// One alternative the model weighed at a step.
public struct Alternative: Codable, Sendable, Equatable {
    public var id: Int32
    /// probability under the raw distribution
    public var p: Double
    public var text: String
    public init(id: Int32, p: Double, text: String) {
        self.id = id
        self.p = p
        self.text = text
    }
}

/// Facts about the model that produced a trace.
public struct ModelFacts: Codable, Sendable, Equatable {
    public var file: String
    public var sha256: String?
    public var architecture: String
    public var description: String
    public var layers: Int
    public var embeddingSize: Int
    public var heads: Int
    public var kvHeads: Int
    public var slidingWindow: Int
    public var vocabularySize: Int
    public var trainedContext: Int
    public var parameters: UInt64
    public var sizeBytes: UInt64
    public var thinkOpenToken: Int32?
    public var thinkCloseToken: Int32?
    public var hasChatTemplate: Bool
    /// bytes one position takes in the KV cache over all layers, for the cache type used
    public var kvBytesPerToken: Int?
    /// the devices the model was offloaded to and where its weights sit (format 2)
    public var placement: PlacementFacts?

    enum CodingKeys: String, CodingKey {
        case file, sha256, architecture, description, layers
        case embeddingSize = "n_embd", heads = "n_head", kvHeads = "n_head_kv", slidingWindow = "n_swa"
        case vocabularySize = "n_vocab", trainedContext = "n_ctx_train", parameters = "n_params"
        case sizeBytes = "size_bytes", thinkOpenToken = "think_open_token", thinkCloseToken = "think_close_token"
        case hasChatTemplate = "chat_template", kvBytesPerToken = "kv_bytes_per_token", placement
    }

    public init(file: String, sha256: String?, architecture: String, description: String, layers: Int,
                embeddingSize: Int, heads: Int, kvHeads: Int, slidingWindow: Int, vocabularySize: Int,
                trainedContext: Int, parameters: UInt64, sizeBytes: UInt64, thinkOpenToken: Int32?,
                thinkCloseToken: Int32?, hasChatTemplate: Bool, kvBytesPerToken: Int? = nil, placement: PlacementFacts? = nil) {
        self.file = file; self.sha256 = sha256; self.architecture = architecture; self.description = description
        self.layers = layers; self.embeddingSize = embeddingSize; self.heads = heads; self.kvHeads = kvHeads
        self.slidingWindow = slidingWindow; self.vocabularySize = vocabularySize; self.trainedContext = trainedContext
        self.parameters = parameters; self.sizeBytes = sizeBytes; self.thinkOpenToken = thinkOpenToken
        self.thinkCloseToken = thinkCloseToken; self.hasChatTemplate = hasChatTemplate
        self.kvBytesPerToken = kvBytesPerToken
        self.placement = placement
    }
}

/// Settings a run was made with.
public struct RunSettings: Codable, Sendable, Equatable {
    /// absent for an imported trace (the response does not say how it was sampled)
    public var sampling: SamplingParameters?
    public var maxTokens: Int
    public var contextSize: Int
    public var threads: Int
    public var stops: [String]
    public var chatTemplate: Bool
    public var topAlternatives: Int
    public var thinkOpen: String
    public var thinkClose: String
    public var strategies: [String]
    /// the KV policy at the start (`--kv`; switches are `kv-policy` events); absent: none
    public var kvPolicy: String?
    /// whether the attention tap was on
    public var attention: Bool?

    enum CodingKeys: String, CodingKey {
        case sampling, stops, strategies, attention
        case maxTokens = "max_tokens", contextSize = "n_ctx", threads, chatTemplate = "chat"
        case topAlternatives = "top_k_shown", thinkOpen = "think_open", thinkClose = "think_close"
        case kvPolicy = "kv_policy"
    }

    public init(sampling: SamplingParameters?, maxTokens: Int, contextSize: Int, threads: Int, stops: [String],
                chatTemplate: Bool, topAlternatives: Int, thinkOpen: String, thinkClose: String, strategies: [String],
                kvPolicy: String? = nil, attention: Bool? = nil) {
        self.sampling = sampling; self.maxTokens = maxTokens; self.contextSize = contextSize; self.threads = threads
        self.stops = stops; self.chatTemplate = chatTemplate; self.topAlternatives = topAlternatives
        self.thinkOpen = thinkOpen; self.thinkClose = thinkClose; self.strategies = strategies
        self.kvPolicy = kvPolicy; self.attention = attention
    }
}

public struct TraceHeader: Codable, Sendable, Equatable {
    public var type = "header"
    public var format: Int
    public var tool: String
    public var created: String
    public var model: ModelFacts
    public var prompt: String
    /// the problem as the user gave it (the demo's question, or the prompt before any chat
    /// template); absent in format 1
    public var problem: String?
    public var promptTokens: Int
    public var settings: RunSettings
    public var seed: UInt64?
    /// for a trace imported from a server's response: what it was read from
    public var source: ImportSource?
    /// for a run stepped on an inference server: which, and what it told
    public var server: ServerSource?

    enum CodingKeys: String, CodingKey {
        case type, format, tool, created, model, prompt, problem, settings, seed, source, server
        case promptTokens = "prompt_tokens"
    }

    public init(format: Int = TraceFormat.version, tool: String, created: String, model: ModelFacts, prompt: String,
                problem: String? = nil, promptTokens: Int, settings: RunSettings) {
        self.format = format; self.tool = tool; self.created = created; self.model = model
        self.prompt = prompt; self.problem = problem; self.promptTokens = promptTokens; self.settings = settings
        self.seed = settings.sampling?.seed
    }
}

/// Where an imported trace came from.
public struct ImportSource: Codable, Sendable, Equatable {
    /// the file's name (not its path)
    public var file: String
    /// OpenAI chat completion, OpenAI chat completion stream, OpenAI completion (legacy),
    /// llama-server /completion
    public var format: String
    /// the response's name in the file (its id, or FILE#N in a JSON-lines file)
    public var run: String
    public init(file: String, format: String, run: String) { self.file = file; self.format = format; self.run = run }
}

/// The inference server a run was stepped on (`--server`).
public struct ServerSource: Codable, Sendable, Equatable {
    public var url: String
    /// the model file the server loaded (its name)
    public var model: String
    public var build: String
    /// positions of a slot
    public var contextSize: Int
    /// alternatives asked per token (`n_probs`)
    public var topLogprobs: Int

    enum CodingKeys: String, CodingKey {
        case url, model, build
        case contextSize = "n_ctx", topLogprobs = "top_logprobs"
    }

    public init(url: String, model: String, build: String, contextSize: Int, topLogprobs: Int) {
        self.url = url; self.model = model; self.build = build; self.contextSize = contextSize; self.topLogprobs = topLogprobs
    }
}

/// One generated position.
public struct StepRecord: Codable, Sendable, Equatable {
    public var type = "token"
    /// generation step, 0 for the first generated token
    public var index: Int
    /// the token's position in the sequence (prompt first, from 0); also its KV-cache
    /// position unless an eviction policy shifted positions (then see `kvPosition`)
    public var position: Int
    /// the KV-cache position it was fed at, when that differs from `position` (StreamingLLM
    /// moves later positions down after an eviction)
    public var kvPosition: Int?
    /// with `--attention` in the trace: the attention this token's query paid to each earlier
    /// position (by `position`, evicted ones 0), summed over heads and layers
    public var attention: [Float]?
    public var token: Int32
    /// the text this token completed (a character split over tokens appears with its last token)
    public var text: String
    public var phase: Phase
    public var input: InputKind
    /// ln p(chosen) under the raw distribution
    public var logprob: Double
    /// p(chosen) under the raw distribution
    public var prob: Double
    /// entropy of the raw distribution, nats (for a partial distribution: the lower end of
    /// `entropyRange`)
    public var entropy: Double
    /// for a distribution known by its top k only (a server's): the bracket [lo, hi] the
    /// entropy lies in, and the mass the known tokens leave out; absent when exact
    public var entropyRange: [Double]?
    public var missingMass: Double?
    /// variance of the surprisal, nats²
    public var varentropy: Double
    /// p(top-1), the model's confidence
    public var top1: Double
    /// p(top-1) − p(top-2)
    public var margin: Double
    /// best alternatives by descending probability
    public var top: [Alternative]
    /// entropy mean and least-squares slope over the sliding window; reasoning-step number
    /// and mean entropy of that step so far
    public var windowMean: Double
    public var trend: Double
    public var reasoningStep: Int
    public var stepMean: Double
    /// what strategies did at this step (empty without strategies)
    public var effects: [Effect]
    /// wall time of the step (analysis, sampling and the decode of this token), ms
    public var ms: Double

    /// whether the signals are exact (the whole vocabulary was seen)
    public var isExact: Bool { entropyRange == nil }
    /// the entropy bracket, [H, H] when exact ([0, 0] for an entropy that is not a number:
    /// a record read from a damaged trace)
    public var entropyBounds: ClosedRange<Double> {
        if let r = entropyRange, r.count == 2, r[0].isFinite, r[1].isFinite, r[0] <= r[1] { return r[0]...r[1] }
        return entropy.isFinite ? entropy...entropy : 0...0
    }

    enum CodingKeys: String, CodingKey {
        case type, text, phase, input, logprob, top1, margin, effects, ms, attention
        case kvPosition = "kv_pos", entropyRange = "H_range", missingMass = "missing"
        case index = "i", position = "pos", token = "id", prob = "p", entropy = "H", varentropy = "varH"
        case top = "topk", windowMean = "H_win", trend = "H_trend", reasoningStep = "rstep", stepMean = "H_rstep"
    }

    public init(index: Int, position: Int, token: Int32, text: String, phase: Phase, input: InputKind,
                logprob: Double, prob: Double, entropy: Double, varentropy: Double, top1: Double, margin: Double,
                top: [Alternative], windowMean: Double, trend: Double, reasoningStep: Int, stepMean: Double,
                effects: [Effect], ms: Double) {
        self.index = index; self.position = position; self.token = token; self.text = text; self.phase = phase
        self.input = input; self.logprob = logprob; self.prob = prob; self.entropy = entropy
        self.varentropy = varentropy; self.top1 = top1; self.margin = margin; self.top = top
        self.windowMean = windowMean; self.trend = trend; self.reasoningStep = reasoningStep
        self.stepMean = stepMean; self.effects = effects; self.ms = ms
    }
}

/// Something that happened between steps: a command applied, an intervention.
public struct TraceEvent: Codable, Sendable, Equatable {
    public var type = "event"
    /// the generation step the event happened before
    public var step: Int
    public var kind: EventKind
    /// the strategy that acted (interventions), or the KV policy (`evict`)
    public var strategy: String?
    public var position: Int?
    public var detail: String?
    /// for `evict`: the positions (sequence indices) the KV policy removed
    public var removed: [Int]?
    /// wall time of a probe or an eviction, ms
    public var ms: Double?
    /// for `stop-string`: the bytes of the token at `position` that stay visible
    public var visibleBytes: Int?
    /// for `branch`: the new branch; for `switch`: the branch made current
    public var branch: Int?
    /// for `branch`: the branch it forks off (at `step`)
    public var parent: Int?
    /// for `branch`: what is different from the fork on
    public var cause: BranchCause?

    enum CodingKeys: String, CodingKey {
        case type, step, kind, strategy, position, detail, removed, ms, branch, parent, cause
        case visibleBytes = "visible_bytes"
    }

    public init(step: Int, kind: EventKind, strategy: String? = nil, position: Int? = nil, detail: String? = nil,
                removed: [Int]? = nil, ms: Double? = nil, visibleBytes: Int? = nil, branch: Int? = nil, parent: Int? = nil,
                cause: BranchCause? = nil) {
        self.step = step; self.kind = kind; self.strategy = strategy; self.position = position; self.detail = detail
        self.removed = removed; self.ms = ms; self.visibleBytes = visibleBytes
        self.branch = branch; self.parent = parent; self.cause = cause
    }
}

public struct TraceSummary: Codable, Sendable, Equatable {
    public var type = "summary"
    public var tokens: Int
    public var thinkingTokens: Int
    public var answerTokens: Int
    public var stopReason: String
    public var seconds: Double
    public var tokensPerSecond: Double
    public var events: Int
    public var output: String
    /// a served run's requests: streams, resubmissions, probe requests
    public var served: ServedStatistics?
    /// every branch of a run that forked (the other fields are the current branch's)
    public var branches: [Branch]?

    /// A branch's end, in the summary.
    public struct Branch: Codable, Sendable, Equatable {
        public var id: Int
        public var parent: Int?
        public var forkStep: Int
        public var tokens: Int
        public var thinkingTokens: Int
        public var stopReason: String?
        public var cause: String

        enum CodingKeys: String, CodingKey {
            case id, parent, tokens, cause
            case forkStep = "fork_step", thinkingTokens = "thinking_tokens", stopReason = "stop_reason"
        }

        public init(id: Int, parent: Int?, forkStep: Int, tokens: Int, thinkingTokens: Int, stopReason: String?, cause: String) {
            self.id = id; self.parent = parent; self.forkStep = forkStep; self.tokens = tokens
            self.thinkingTokens = thinkingTokens; self.stopReason = stopReason; self.cause = cause
        }
    }

    enum CodingKeys: String, CodingKey {
        case type, tokens, seconds, events, output, served, branches
        case thinkingTokens = "thinking_tokens", answerTokens = "answer_tokens", stopReason = "stop_reason"
        case tokensPerSecond = "tokens_per_second"
    }

    public init(tokens: Int, thinkingTokens: Int, answerTokens: Int, stopReason: String, seconds: Double,
                tokensPerSecond: Double, events: Int, output: String) {
        self.tokens = tokens; self.thinkingTokens = thinkingTokens; self.answerTokens = answerTokens
        self.stopReason = stopReason; self.seconds = seconds; self.tokensPerSecond = tokensPerSecond
        self.events = events; self.output = output
    }
}

/// One line of a trace. Every case is boxed (`indirect`): a line is then one pointer in an
/// array, not as wide as the widest case (the header), and the arrays that hold a long trace's
/// lines (the reader's, the replay's) share each record instead of copying it.
public indirect enum TraceLine: Sendable, Equatable {
    case header(TraceHeader)
    case token(StepRecord)
    case event(TraceEvent)
    case summary(TraceSummary)
}

/// Appends trace lines to a file, one write per line, so a crash loses at most the step in flight.
public final class TraceWriter {
    public let path: String
    private let fd: Int32
    private let encoder: JSONEncoder
    private var tokens = TokenLineEncoder()

    /// Fails with a one-line error when the file cannot be created.
    public init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        if !dir.isEmpty, !(FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) && isDir.boolValue) {
            throw ThinktopError.traceUnwritable(path: path, reason: "directory \(dir) does not exist")
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd < 0 {
            throw ThinktopError.traceUnwritable(path: path, reason: String(cString: strerror(errno)))
        }
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    }

    deinit { close(fd) }

    public func write(_ line: TraceLine) throws {
        var data: Data
        switch line {
        case .token(let t):
            // every step writes one: encoded by hand, the same bytes (TokenLineEncoder)
            tokens.encode(t, newline: true)
            return try write(tokens.bytes)
        case .header(let h): data = try encoder.encode(h)
        case .event(let e): data = try encoder.encode(e)
        case .summary(let s): data = try encoder.encode(s)
        }
        data.append(0x0A)
        try write(data)
    }

    /// The whole line, or one line naming the trace and why not.
    private func write<Bytes: ContiguousBytes>(_ bytes: Bytes) throws {
        try bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ThinktopError.traceUnwritable(path: path, reason: String(cString: strerror(errno)))
                }
                off += n
            }
        }
    }
}

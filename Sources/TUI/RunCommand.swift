import ArgumentParser
import CNcurses
import Core
import Dispatch
import Engine
import Foundation
import Synchronization

/// Trace lines written as the run goes, one write per line. A write that fails stops the
/// recording — the file keeps every line before it — and says so once, through `onFailure`,
/// instead of failing silently. Lives on the session's thread. Without a file it can keep the
/// lines (`keepLines`), so that recording started later (`start(path:)`) writes the whole run.
final class TraceRecorder {
    private var writer: TraceWriter?
    private(set) var path: String?
    private(set) var failure: String?
    /// every line so far while there is no file (nil: not kept)
    private var kept: [TraceLine]?
    /// called once, with a one-line reason, when a write fails
    var onFailure: ((String) -> Void)?
    /// sees every line the run produces, also when there is no file (`compare` builds its table from them)
    var observer: ((TraceLine) -> Void)?

    init(path: String?, keepLines: Bool = false) throws {
        self.path = path
        writer = try path.map { try TraceWriter(path: $0) }
        if writer == nil && keepLines { kept = [] }
    }

    func write(_ line: TraceLine) {
        observer?(line)
        guard let w = writer else {
            kept?.append(line)
            return
        }
        do { try w.write(line) } catch {
            writer = nil
            let why = "\(error)"
            failure = why
            onFailure?(why)
        }
    }

    /// Starts writing to `path`: every line kept so far first, then each as it comes.
    func start(path: String) throws {
        if let current = self.path, writer != nil {
            throw ThinktopError.invalidArgument("the trace is already being written to \(current)")
        }
        guard let lines = kept else {
            throw ThinktopError.invalidArgument("this run's lines were not kept: start it with --trace FILE")
        }
        let w = try TraceWriter(path: path)
        do {
            for line in lines { try w.write(line) }
        } catch {
            throw ThinktopError.traceUnwritable(path: path, reason: "\(error)")
        }
        writer = w
        self.path = path
        kept = nil
        failure = nil
    }
}

/// What a run is asked, before the model sees it: the prompt before any template, the problem
/// as the user gave it, whether the chat template applies, and the stop strings.
struct ProblemInput {
    var text: String
    var problem: String
    /// true: the template; false: the text as it is; nil: the template when the model has one
    var chat: Bool?
    var stops: [String]
    /// the demo's worked examples frame it (a new problem goes into them too)
    var demoFramed: Bool

    /// The options' problem: `--prompt`, `--prompt-file`, else the demo.
    static func from(_ g: GenerationOptions) throws -> ProblemInput {
        if g.isDemo { return demo(g) }
        let text = try g.problemText()
        return ProblemInput(text: text, problem: text, chat: g.chat ? true : g.raw ? false : nil, stops: g.stop, demoFramed: false)
    }

    static func demo(_ g: GenerationOptions) -> ProblemInput {
        ProblemInput(text: DemoProblem.prompt, problem: DemoProblem.question, chat: g.chat ? true : false,
                     stops: g.stop.isEmpty ? [DemoProblem.stop] : g.stop, demoFramed: true)
    }

    /// Another question in the demo's worked examples, as `eval` asks it.
    static func demoQuestion(_ q: String, _ g: GenerationOptions) -> ProblemInput {
        ProblemInput(text: DemoProblem.prompt(for: q), problem: q, chat: g.chat ? true : false,
                     stops: g.stop.isEmpty ? [DemoProblem.stop] : g.stop, demoFramed: true)
    }

    /// A prompt as `--prompt` takes it.
    static func prompt(_ text: String, _ g: GenerationOptions) -> ProblemInput {
        ProblemInput(text: text, problem: text, chat: g.chat ? true : g.raw ? false : nil, stops: g.stop, demoFramed: false)
    }

    /// The prompt text as the model will see it, and whether the chat template was applied.
    func promptText(hasTemplate: Bool, apply: (String) throws -> String) throws -> (String, Bool) {
        let useChat = chat ?? hasTemplate
        return (useChat ? try apply(text) : text, useChat)
    }
}

/// A model, a context and a session set up from the command line, with the trace attached.
/// Not Sendable: the whole of it goes to the session's thread (`start`).
struct PreparedRun {
    /// the model, or only its vocabulary when it is served (nil: the server's tokenizer)
    let model: LlamaModel?
    /// the local context (nil when the model is served)
    let context: LlamaContext?
    let server: ServerBackend?
    let session: DecodingSession
    let recorder: TraceRecorder
    let header: TraceHeader
    /// the problem as the user gave it (before any chat template)
    let problem: String
    /// keeps the trace whole if ggml gives up mid-run
    let fatal: FatalExit
    /// what the run was asked, and the options it came from (a next problem reuses them)
    let input: ProblemInput
    let generation: GenerationOptions
    let contextOptions: ContextOptions

    /// `setUp` sees the session before the trace's header is written (a command's own settings,
    /// checked against the model's vocabulary). `keepLines`: keep the trace's lines without a
    /// file, for `trace FILE` later. `report`: how the model's loading is shown.
    static func prepare(model modelOptions: ModelOptions, generation g: GenerationOptions, quietLoad: Bool = false,
                        keepLines: Bool = false, report: LoadReport? = nil, commands: CommandQueue = CommandQueue(),
                        setUp: (DecodingSession) throws -> Void = { _ in }) throws -> PreparedRun {
        let contextOptions = try modelOptions.contextOptions(attentionTap: g.needsAttention)
        let policy = try KVPolicyRegistry.parse(g.kv)
        // the trace file is created first, so a bad path fails before any model work
        let recorder = try TraceRecorder(path: g.trace, keepLines: keepLines)
        let served = modelOptions.serverOptions.server != nil
        if served, g.traceAttention || policy.needsAttention || modelOptions.attention {
            throw ThinktopError.invalidArgument("the attention tap reads the model's graph: it needs a local model, not --server")
        }
        let input = try ProblemInput.from(g)
        let model = modelOptions.serverTokenizer ? nil
            : served ? try modelOptions.loadVocabulary() : try modelOptions.loadModel(quiet: quietLoad, report: report)
        let server = try modelOptions.serverBackend(vocabulary: model)
        let room = server?.contextSize ?? modelOptions.ctx
        // the prompt is checked against the context before one is made
        _ = try tokens(input, model: model, server: server, room: room)
        let context = server == nil ? try LlamaContext(model: model!, options: contextOptions) : nil
        let fatal = FatalExit(tracePath: g.trace, endpoints: try modelOptions.placement().rpc,
                              restore: { CursesTerminal.emergencyRestore() })
        let run = try start(input, model: model, context: context, server: server, generation: g, contextOptions: contextOptions,
                            recorder: recorder, fatal: fatal, commands: commands, previous: nil, setUp: setUp)
        recorder.write(.header(run.header))
        if let why = recorder.failure { throw ThinktopError.traceUnwritable(path: g.trace ?? "", reason: why) }
        fatal.install()
        return run
    }

    /// The prompt's tokens, checked against the room the context has.
    private static func tokens(_ input: ProblemInput, model: LlamaModel?, server: ServerBackend?, room: Int) throws -> (String, Bool, [Int32]) {
        let (promptText, usedChat) = if let model { try input.promptText(hasTemplate: model.chatTemplate != nil, apply: model.applyChatTemplate(user:)) }
            else { try input.promptText(hasTemplate: server!.facts.chatTemplate != nil, apply: server!.applyChatTemplate(user:)) }
        let tokens = try model?.tokenize(promptText, addSpecial: true) ?? server!.tokenize(promptText, addSpecial: true)
        guard tokens.count < room else {
            throw ThinktopError.promptTooLong(tokens: tokens.count, context: room)
        }
        return (promptText, usedChat, tokens)
    }

    /// A session on `input` over the loaded model, and its trace header (not written yet). With
    /// `previous`, the settings as that session left them (strategies, KV policy, sampling,
    /// the token limit); else the options'.
    private static func start(_ input: ProblemInput, model: LlamaModel?, context: LlamaContext?, server: ServerBackend?,
                              generation g: GenerationOptions, contextOptions: ContextOptions, recorder: TraceRecorder,
                              fatal: FatalExit, commands: CommandQueue, previous: DecodingSession?,
                              setUp: (DecodingSession) throws -> Void = { _ in }) throws -> PreparedRun {
        let room = server?.contextSize ?? context!.contextSize
        let (promptText, usedChat, tokens) = try tokens(input, model: model, server: server, room: room)
        let backend: ModelBackend = server ?? context!
        let markers = ThinkMarkers.resolve(backend: backend)
        var config = try SessionConfig(sampling: try g.sampling.parameters(), maxTokens: g.maxTokens, stops: input.stops,
                                       topAlternatives: server.map { max(10, min(20, $0.topCount)) } ?? 10, markers: markers)
        config.recordAttention = g.traceAttention
        let session = try DecodingSession(backend: backend, config: config, promptTokens: tokens,
                                          initialPhase: markers.initialPhase(prompt: promptText), commands: commands)
        if let previous {
            try session.install(specs: [])
            try session.adoptSettings(of: previous)
            session.branchCache = previous.branchCache
        } else {
            try session.setKVPolicy(KVPolicyRegistry.parse(g.kv))
            try session.install(specs: g.strategy)
        }
        try setUp(session)
        let sha = model.flatMap { try? SHA256.cachedHex(ofFile: $0.path, cacheDirectory: Paths.cache + "/hashes") }
        let settings = RunSettings(sampling: session.config.sampling, maxTokens: session.config.maxTokens, contextSize: backend.contextSize,
                                   threads: context?.threads ?? 0, stops: input.stops, chatTemplate: usedChat,
                                   topAlternatives: config.topAlternatives, thinkOpen: markers.open,
                                   thinkClose: markers.close, strategies: session.enabledSpecs,
                                   kvPolicy: session.kvPolicy.spec, attention: contextOptions.attentionTap)
        var header = TraceHeader(tool: "thinktop \(Thinktop.version)", created: ISO8601DateFormatter().string(from: Date()),
                                 model: model?.facts(sha256: sha, cacheType: contextOptions.cacheType) ?? server!.modelFacts(),
                                 prompt: promptText,
                                 problem: input.problem, promptTokens: tokens.count, settings: settings)
        if let server {
            header.server = ServerSource(url: server.endpoint, model: (server.facts.model as NSString).lastPathComponent,
                                         build: server.facts.build, contextSize: server.contextSize, topLogprobs: server.topCount)
        }
        session.onStep = { [unowned session] record in
            recorder.write(.token(record))
            fatal.note(session.summary())
        }
        session.onEvent = { event in recorder.write(.event(event)) }
        return PreparedRun(model: model, context: context, server: server, session: session, recorder: recorder, header: header,
                           problem: input.problem, fatal: fatal, input: input, generation: g, contextOptions: contextOptions)
    }

    /// Whether `input` can run here (its prompt fits the context); nothing of this run changes.
    func check(_ input: ProblemInput) throws {
        _ = try Self.tokens(input, model: model, server: server, room: server?.contextSize ?? context!.contextSize)
    }

    /// A run on another problem over the same model and trace, with this session's settings
    /// as they are now. Making its session empties the cache: call it once this run is over.
    func next(_ input: ProblemInput) throws -> PreparedRun {
        try Self.start(input, model: model, context: context, server: server, generation: generation,
                              contextOptions: contextOptions, recorder: recorder, fatal: fatal, commands: session.commands,
                              previous: session)
    }

    /// Empties the context's cache (every sequence) for a new session on it.
    func clearCache() { context?.clearMemory() }

    /// Writes the summary line; returns it.
    func finish() -> TraceSummary {
        let summary = session.summary()
        recorder.write(.summary(summary))
        return summary
    }

    /// Runs `work` (stepping the session) on the session's thread, then writes the summary
    /// line; an error `work` throws is its `refusal`.
    static func headless(_ prepared: sending PreparedRun,
                         work: sending @escaping (PreparedRun) throws -> Void) -> RunOutcome.Value {
        let commands = prepared.session.commands
        let outcome = RunOutcome()
        // a trace that can no longer be written ends the run: recording it was the point
        prepared.recorder.onFailure = { why in
            outcome.value.withLock { $0.traceFailure = why }
            commands.send(.stop)
        }
        // Ctrl-C and SIGTERM stop generation cleanly: the trace still gets its summary
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { commands.send(.stop) }
            s.resume()
            return s
        }
        defer { sources.forEach { $0.cancel() } }
        let thread = SessionThread(commands: commands) {
            var failure: String?
            do { try work(prepared) } catch { failure = "\(error)" }
            let summary = prepared.finish()
            outcome.value.withLock {
                $0.summary = summary
                $0.error = prepared.session.lastError.map { "\($0)" }
                $0.refusal = failure
            }
        }
        thread.join()
        return outcome.value.withLock { $0 }
    }
}

/// A token named on the command line (`--token`): a whole number is a token id, checked
/// against the vocabulary; any other text must be exactly one token of it.
enum TokenArgument {
    static let help = "The token to take: its text (exactly one token of the vocabulary, e.g. \" But\") or its id."

    /// `--force-at`/`--fork-at` STEP and `--token` go together; the step is one the run can reach.
    static func validate(step: Int?, stepOption: String, token: String?, maxTokens: Int) throws {
        switch (step, token) {
        case (nil, nil): return
        case (nil, _?): throw ValidationError("--token goes with \(stepOption) STEP")
        case (_?, nil): throw ValidationError("\(stepOption) needs --token TEXT|ID")
        case let (step?, _?):
            guard step >= 0 else { throw ValidationError("\(stepOption) takes a step from 0 on, got \(step)") }
            guard step < maxTokens else { throw ValidationError("\(stepOption) \(step) is past --max-tokens \(maxTokens) (steps 0…\(maxTokens - 1))") }
        }
    }

    static func resolve(_ text: String, option: String = "--token", backend: ModelBackend) throws -> Int32 {
        if let id = Int(text) {
            guard id >= 0, id < backend.vocabularySize else {
                throw ThinktopError.invalidArgument("\(option) \(id) is not a token id of the model's vocabulary (0…\(backend.vocabularySize - 1))")
            }
            return Int32(id)
        }
        if let id = backend.singleToken(text) { return id }
        let pieces = ((try? backend.tokenize(text, addSpecial: false)) ?? []).map { String(reflecting: String(decoding: backend.piece($0), as: UTF8.self)) }
        throw ThinktopError.invalidArgument("\(option) \(String(reflecting: text)) is not one token of the model's vocabulary: "
            + (pieces.isEmpty ? "it is no token at all" : "it is \(pieces.count) tokens, \(pieces.joined(separator: " "))"))
    }
}

/// What a headless run reports back from the session's thread.
final class RunOutcome: Sendable {
    struct Value: Sendable {
        var summary: TraceSummary?
        var error: String?
        var traceFailure: String?
        /// what the command's own work refused (not a generation error)
        var refusal: String?
    }
    let value = Mutex(Value())
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate headless: text to stdout, the trace to --trace, a summary to stderr.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var generation: GenerationOptions

    @Flag(name: .long, help: "Print no summary on stderr.")
    var quiet = false

    @Option(name: .customLong("force-at"), help: "Take the --token at this step, whatever is sampled (the run a branch that chose it there is compared with).")
    var forceAt: Int?

    @Option(name: .long, help: ArgumentHelp(TokenArgument.help))
    var token: String?

    func validate() throws {
        try TokenArgument.validate(step: forceAt, stepOption: "--force-at", token: token, maxTokens: generation.maxTokens)
    }

    /// " · server: 3 streams (2 resubmitted), 4 probe requests" for a served run's summary line.
    static func servedLine(_ s: ServedStatistics?) -> String {
        guard let s else { return "" }
        return " · server: \(s.streams) stream\(s.streams == 1 ? "" : "s") (\(s.resubmissions) resubmitted), \(s.probeRequests) probe request\(s.probeRequests == 1 ? "" : "s")"
    }

    /// " (after 23 tokens, which the trace keeps)" for the line that says why a run stopped.
    static func kept(_ tokens: Int, trace: String?) -> String {
        guard tokens > 0 else { return "" }
        return " (after \(tokens) tokens\(trace == nil ? "" : ", which the trace keeps"))"
    }

    func run() throws {
        let prepared = try PreparedRun.prepare(model: modelOptions, generation: generation, quietLoad: quiet) { session in
            if let step = forceAt, let token {
                session.forcedAt[step] = try TokenArgument.resolve(token, backend: session.backend)
            }
        }
        let tracePath = prepared.recorder.path
        prepared.session.onText = { text in
            fputs(text, tt_stdout())
            fflush(tt_stdout())
        }
        let result = PreparedRun.headless(prepared) { $0.session.run() }
        print("")
        fflush(tt_stdout())
        if let why = result.traceFailure {
            throw ThinktopError.io("\(why): generation was stopped there")
        }
        if let error = result.error { throw ThinktopError.io(error + Self.kept(result.summary?.tokens ?? 0, trace: tracePath)) }
        if !quiet, let summary = result.summary {
            let line = String(format: "%d tokens (thinking %d, answer %d) · %.1f tok/s · %d events · stopped: %@%@",
                              summary.tokens, summary.thinkingTokens, summary.answerTokens, summary.tokensPerSecond,
                              summary.events, summary.stopReason, tracePath.map { " · trace \($0)" } ?? "")
            printError((line + Self.servedLine(summary.served) + "\n"))
        }
    }
}

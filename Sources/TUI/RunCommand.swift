import ArgumentParser
import CNcurses
import Core
import Dispatch
import Engine
import Foundation
import Synchronization

/// Trace lines written as the run goes, one write per line. A write that fails stops the
/// recording — the file keeps every line before it — and says so once, through `onFailure`,
/// instead of failing silently. Lives on the session's thread.
final class TraceRecorder {
    private var writer: TraceWriter?
    let path: String?
    private(set) var failure: String?
    /// called once, with a one-line reason, when a write fails
    var onFailure: ((String) -> Void)?
    /// sees every line the run produces, also when there is no file (`compare` builds its table from them)
    var observer: ((TraceLine) -> Void)?

    init(path: String?) throws {
        self.path = path
        writer = try path.map { try TraceWriter(path: $0) }
    }

    func write(_ line: TraceLine) {
        observer?(line)
        guard let w = writer else { return }
        do { try w.write(line) } catch {
            writer = nil
            let why = "\(error)"
            failure = why
            onFailure?(why)
        }
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

    /// `setUp` sees the session before the trace's header is written (a command's own settings,
    /// checked against the model's vocabulary).
    static func prepare(model modelOptions: ModelOptions, generation g: GenerationOptions, quietLoad: Bool = false,
                        setUp: (DecodingSession) throws -> Void = { _ in }) throws -> PreparedRun {
        let sampling = try g.sampling.parameters()
        let contextOptions = try modelOptions.contextOptions(attentionTap: g.needsAttention)
        let policy = try KVPolicyRegistry.parse(g.kv)
        // the trace file is created first, so a bad path fails before any model work
        let recorder = try TraceRecorder(path: g.trace)
        let served = modelOptions.serverOptions.server != nil
        if served, g.traceAttention || policy.needsAttention || modelOptions.attention {
            throw ThinktopError.invalidArgument("the attention tap reads the model's graph: it needs a local model, not --server")
        }
        let model = modelOptions.serverTokenizer ? nil
            : served ? try modelOptions.loadVocabulary() : try modelOptions.loadModel(quiet: quietLoad)
        let server = try modelOptions.serverBackend(vocabulary: model)
        let (promptText, usedChat) = if let model { try g.promptText(model: model) }
            else { try g.promptText(hasTemplate: server!.facts.chatTemplate != nil, apply: server!.applyChatTemplate(user:)) }
        let tokens = try model?.tokenize(promptText, addSpecial: true) ?? server!.tokenize(promptText, addSpecial: true)
        let room = server?.contextSize ?? modelOptions.ctx
        guard tokens.count < room else {
            throw ThinktopError.promptTooLong(tokens: tokens.count, context: room)
        }
        let context = server == nil ? try LlamaContext(model: model!, options: contextOptions) : nil
        let backend: ModelBackend = server ?? context!
        let markers = ThinkMarkers.resolve(backend: backend)
        var config = try SessionConfig(sampling: sampling, maxTokens: g.maxTokens, stops: g.stops,
                                       topAlternatives: server.map { max(10, min(20, $0.topCount)) } ?? 10, markers: markers)
        config.recordAttention = g.traceAttention
        let session = try DecodingSession(backend: backend, config: config, promptTokens: tokens,
                                          initialPhase: markers.initialPhase(prompt: promptText))
        try session.setKVPolicy(policy)
        try session.install(specs: g.strategy)
        try setUp(session)
        let sha = model.flatMap { try? SHA256.cachedHex(ofFile: $0.path, cacheDirectory: Paths.cache + "/hashes") }
        let settings = RunSettings(sampling: sampling, maxTokens: g.maxTokens, contextSize: backend.contextSize,
                                   threads: context?.threads ?? 0, stops: g.stops, chatTemplate: usedChat,
                                   topAlternatives: config.topAlternatives, thinkOpen: markers.open,
                                   thinkClose: markers.close, strategies: session.enabledSpecs,
                                   kvPolicy: policy.spec, attention: contextOptions.attentionTap)
        let problem = try g.problemText()
        var header = TraceHeader(tool: "thinktop \(Thinktop.version)", created: ISO8601DateFormatter().string(from: Date()),
                                 model: model?.facts(sha256: sha, cacheType: contextOptions.cacheType) ?? server!.modelFacts(),
                                 prompt: promptText,
                                 problem: problem, promptTokens: tokens.count, settings: settings)
        if let server {
            header.server = ServerSource(url: server.endpoint, model: (server.facts.model as NSString).lastPathComponent,
                                         build: server.facts.build, contextSize: server.contextSize, topLogprobs: server.topCount)
        }
        recorder.write(.header(header))
        if let why = recorder.failure { throw ThinktopError.traceUnwritable(path: g.trace ?? "", reason: why) }
        let fatal = FatalExit(tracePath: g.trace, endpoints: try modelOptions.placement().rpc,
                              restore: { CursesTerminal.emergencyRestore() })
        fatal.install()
        session.onStep = { [unowned session] record in
            recorder.write(.token(record))
            fatal.note(session.summary())
        }
        session.onEvent = { event in recorder.write(.event(event)) }
        return PreparedRun(model: model, context: context, server: server, session: session, recorder: recorder, header: header,
                           problem: problem, fatal: fatal)
    }

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

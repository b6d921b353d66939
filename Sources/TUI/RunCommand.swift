import ArgumentParser
import CNcurses
import Core
import Dispatch
import Engine
import Foundation

/// A model, a context and a session set up from the command line, with the trace attached.
struct PreparedRun {
    let model: LlamaModel
    let context: LlamaContext
    let session: DecodingSession
    let trace: TraceWriter?
    let header: TraceHeader

    static func prepare(model modelOptions: ModelOptions, generation g: GenerationOptions, quietLoad: Bool = false) throws -> PreparedRun {
        let sampling = try g.sampling.parameters()
        let contextOptions = try modelOptions.contextOptions(attentionTap: g.needsAttention)
        let policy = try KVPolicyRegistry.parse(g.kv)
        // the trace file is created first, so a bad path fails before any model work
        let trace = try g.trace.map { try TraceWriter(path: $0) }
        let model = try modelOptions.loadModel(quiet: quietLoad)
        let (promptText, usedChat) = try g.promptText(model: model)
        let tokens = try model.tokenize(promptText, addSpecial: true)
        guard tokens.count < modelOptions.ctx else {
            throw ThinktopError.promptTooLong(tokens: tokens.count, context: modelOptions.ctx)
        }
        let context = try LlamaContext(model: model, options: contextOptions)
        let markers = ThinkMarkers.resolve(backend: context)
        var config = try SessionConfig(sampling: sampling, maxTokens: g.maxTokens, stops: g.stops, markers: markers)
        config.recordAttention = g.traceAttention
        let session = try DecodingSession(backend: context, config: config, promptTokens: tokens,
                                          initialPhase: markers.initialPhase(prompt: promptText))
        try session.setKVPolicy(policy)
        try session.install(specs: g.strategy)
        let sha = try? SHA256.cachedHex(ofFile: model.path, cacheDirectory: Paths.cache + "/hashes")
        let settings = RunSettings(sampling: sampling, maxTokens: g.maxTokens, contextSize: context.contextSize,
                                   threads: context.threads, stops: g.stops, chatTemplate: usedChat,
                                   topAlternatives: config.topAlternatives, thinkOpen: markers.open,
                                   thinkClose: markers.close,
                                   strategies: session.strategies.filter { session.enabled.contains($0.id) }.map(\.spec),
                                   kvPolicy: policy.spec, attention: contextOptions.attentionTap)
        let header = TraceHeader(tool: "thinktop \(Thinktop.version)", created: ISO8601DateFormatter().string(from: Date()),
                                 model: model.facts(sha256: sha, cacheType: contextOptions.cacheType), prompt: promptText, promptTokens: tokens.count,
                                 settings: settings)
        try trace?.write(.header(header))
        if let trace {
            session.onStep = { record in try? trace.write(.token(record)) }
            session.onEvent = { event in try? trace.write(.event(event)) }
        }
        return PreparedRun(model: model, context: context, session: session, trace: trace, header: header)
    }

    func finish() throws -> TraceSummary {
        let summary = session.summary()
        try trace?.write(.summary(summary))
        return summary
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate headless: text to stdout, the trace to --trace, a summary to stderr.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var generation: GenerationOptions

    @Flag(name: .long, help: "Print no summary on stderr.")
    var quiet = false

    func run() throws {
        let prepared = try PreparedRun.prepare(model: modelOptions, generation: generation, quietLoad: quiet)
        let session = prepared.session
        session.onText = { text in
            fputs(text, tt_stdout())
            fflush(tt_stdout())
        }
        // Ctrl-C and SIGTERM stop generation cleanly: the trace still gets its summary
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { session.send(.stop) }
            s.resume()
            return s
        }
        defer { sources.forEach { $0.cancel() } }
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            session.run()
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        done.wait()
        print("")
        fflush(tt_stdout())
        let summary = try prepared.finish()
        if let error = session.lastError { throw error }
        if !quiet {
            let line = String(format: "%d tokens (thinking %d, answer %d) · %.1f tok/s · %d events · stopped: %@%@",
                              summary.tokens, summary.thinkingTokens, summary.answerTokens, summary.tokensPerSecond,
                              summary.events, summary.stopReason,
                              prepared.trace.map { " · trace \($0.path)" } ?? "")
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }
}

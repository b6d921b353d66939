import Core
@testable import Engine
import Foundation
import Testing
import TestSupport

/// The default model behind a real llama-server (built from the pinned source, started by
/// each test on 127.0.0.1 and a free port, stopped by process id), against the same model
/// run here.
@Suite("The model behind llama-server", .serialized)
struct ServerTests {
    static let modelPath: String = {
        if let m = ProcessInfo.processInfo.environment["THINKTOP_MODEL"], !m.isEmpty { return m }
        return NSHomeDirectory() + "/.cache/thinktop/models/gemma-3-270m-q4_k_m.gguf"
    }()
    static let model: LlamaModel = try! LlamaModel(path: modelPath)
    static let vocabulary: LlamaModel = try! LlamaModel(path: modelPath, vocabularyOnly: true)
    /// the demo, a little way into thinking: the model says "Wait" within a few tokens
    static let beforeWait = DemoProblem.prompt + "All but 9 run away, so 9 sheep are left.\n\n"

    func session(_ backend: ModelBackend, prompt: String = DemoProblem.prompt, specs: [String] = [],
                 sampling: SamplingParameters = .greedy, maxTokens: Int = 40) throws -> DecodingSession {
        let tokens = try Self.vocabulary.tokenize(prompt, addSpecial: true)
        let config = try SessionConfig(sampling: sampling, maxTokens: maxTokens, stops: [DemoProblem.stop],
                                       markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: tokens, initialPhase: .thinking)
        try s.install(specs: specs)
        return s
    }

    func local() throws -> LlamaContext {
        try LlamaContext(model: Self.model, options: ContextOptions(contextSize: 4096, threads: 2))
    }

    func run(_ s: DecodingSession) throws -> [StepRecord] {
        while try s.step() != nil {}
        return s.records
    }

    @Test("greedy through llama-server is the local run: the same tokens; at every step the bracket holds the exact local entropy and the token's log-probability is the local one")
    func sameRun() throws {
        let server = try TestServer.llama(model: Self.modelPath)
        defer { server.kill() }
        let backend = try ServerBackend(url: server.url, apiKey: nil, vocabulary: Self.vocabulary, topCount: 20)
        #expect(backend.facts.vocabularySize == Self.model.vocabularySize && backend.contextSize == 4096)
        let served = try run(try session(backend, maxTokens: 48))
        let here = try run(try session(try local(), maxTokens: 48))
        #expect(served.map(\.token) == here.map(\.token))
        // two processes sum floats in their own order: the numbers agree to about 1e-4
        var worstOutside = 0.0, worstLogprob = 0.0
        for (s, l) in zip(served, here) {
            let b = s.entropyBounds
            worstOutside = max(worstOutside, b.lowerBound - l.entropy, l.entropy - b.upperBound)
            worstLogprob = max(worstLogprob, abs(s.logprob - l.logprob))
            #expect(!s.isExact && l.isExact)
            #expect((s.missingMass ?? 0) > 0)
        }
        #expect(worstOutside < 2e-3, "the bracket misses the local entropy by \(worstOutside)")
        #expect(worstLogprob < 2e-3)
        #expect(backend.statistics.streams == 1 && backend.statistics.resubmissions == 0)
        #expect(backend.statistics.tokensRead == served.count)
    }

    @Test("NoWait on a server: its bans go as logit_bias and hold; greedy, the run is the local NoWait run")
    func noWait() throws {
        let masked = try #require(try session(try local(), specs: ["nowait"]).strategy("nowait") as? NoWait)
        let without = try run(try session(try local(), prompt: Self.beforeWait))
        #expect(without.contains { masked.masked.contains($0.token) }, "the prompt should make the model say Wait")
        let server = try TestServer.llama(model: Self.modelPath)
        defer { server.kill() }
        let backend = try ServerBackend(url: server.url, apiKey: nil, vocabulary: Self.vocabulary)
        let served = try run(try session(backend, prompt: Self.beforeWait, specs: ["nowait"]))
        let here = try run(try session(try local(), prompt: Self.beforeWait, specs: ["nowait"]))
        #expect(served.map(\.token) == here.map(\.token))
        #expect(!served.contains { $0.phase == .thinking && masked.masked.contains($0.token) })
        // sampled: the server draws under the bans itself
        let hot = try SamplingParameters(temperature: 1.0, topK: 40, topP: 1, minP: 0, seed: 11)
        let sampled = try run(try session(backend, prompt: Self.beforeWait, specs: ["nowait"], sampling: hot, maxTokens: 60))
        #expect(!sampled.contains { $0.phase == .thinking && masked.masked.contains($0.token) })
        #expect(sampled.first?.effects.contains { $0.text.hasPrefix("drawn again by the server") } == true)
    }

    @Test("a budget run on a server ends thinking at its budget, as the local one does")
    func budget() throws {
        let server = try TestServer.llama(model: Self.modelPath)
        defer { server.kill() }
        let backend = try ServerBackend(url: server.url, apiKey: nil, vocabulary: Self.vocabulary)
        let served = try run(try session(backend, specs: ["budget=12"], maxTokens: 30))
        let here = try run(try session(try local(), specs: ["budget=12"], maxTokens: 30))
        #expect(served.prefix(12).allSatisfy { $0.phase == .thinking && $0.input == .explicit })
        #expect(served[12].input == .forced)
        #expect(served.filter { $0.phase == .thinking }.count == here.filter { $0.phase == .thinking }.count)
        #expect(served.map(\.token) == here.map(\.token))
        #expect(backend.statistics.resubmissions >= 1)   // the forced close changed the prefix
    }

    @Test("probes run as extra requests on the cached prefix: DEER's confidences are the local ones")
    func probes() throws {
        let server = try TestServer.llama(model: Self.modelPath)
        defer { server.kill() }
        let backend = try ServerBackend(url: server.url, apiKey: nil, vocabulary: Self.vocabulary)
        let spec = "deer:threshold=1:ratio=0"   // probes at every transition, never exits
        let s = try session(backend, prompt: Self.beforeWait, specs: [spec], maxTokens: 40)
        let l = try session(try local(), prompt: Self.beforeWait, specs: [spec], maxTokens: 40)
        _ = try run(s)
        _ = try run(l)
        let served = s.events.filter { $0.kind == .probe }.map { $0.detail ?? "" }
        let here = l.events.filter { $0.kind == .probe }.map { $0.detail ?? "" }
        #expect(!here.isEmpty)
        #expect(served.count == here.count)
        // "confidence 0.9123 (…)": the same probe text, the same confidence to 3 decimals
        for (a, b) in zip(served, here) {
            #expect(a.dropFirst(11).prefix(5) == b.dropFirst(11).prefix(5), "\(a) vs \(b)")
        }
        #expect(backend.statistics.probeRequests == here.count)
    }

    @Test("the server's own tokenizer (no GGUF here): the same greedy run; no vocabulary listing; an end of generation learned from the server")
    func serverTokenizer() throws {
        let server = try TestServer.llama(model: Self.modelPath)
        defer { server.kill() }
        let backend = try ServerBackend(url: server.url, apiKey: nil, vocabulary: nil)
        #expect(backend.tokenizerIsServers && !backend.capabilities.contains(.vocabulary))
        #expect(try backend.tokenize(DemoProblem.prompt, addSpecial: true) == (try Self.vocabulary.tokenize(DemoProblem.prompt, addSpecial: true)))
        let s = try session(backend, maxTokens: 48)
        let served = try run(s)
        let l = try session(try local(), maxTokens: 48)
        let here = try run(l)
        #expect(served.map(\.token) == here.map(\.token))
        #expect(s.output == l.output)
        #expect(served.map(\.text) == here.map(\.text))
        #expect(throws: ThinktopError.invalidArgument("strategy nowait cannot run here: it needs vocabulary listing, which llama-server does not offer (pass --model with the served GGUF)")) {
            _ = try session(backend, specs: ["nowait"])
        }
        // <end_of_turn> (which /props does not name) drawn by bias: the stream ends after it,
        // and the tokenizer learns that it ends generation
        let endOfTurn = try #require(Self.vocabulary.singleToken("<end_of_turn>"))
        #expect(Self.vocabulary.isEndOfGeneration(endOfTurn) && !backend.isEndOfGeneration(endOfTurn))
        try backend.removeCells(sequence: .all, from: 0, to: nil)
        try backend.decode(tokens: try backend.tokenize("Hello", addSpecial: true)[...], at: 0, sequence: .main)
        let first = try #require(try backend.next(request: ServedRequest(sampling: .greedy, bias: [endOfTurn: 1000]), limit: 8))
        #expect(first.token == endOfTurn)
        try backend.decode(tokens: [endOfTurn][...], at: backend.positionRange(sequence: .main)!.upperBound + 1, sequence: .main)
        #expect(try backend.next(request: ServedRequest(sampling: .greedy, bias: [endOfTurn: 1000]), limit: 8) == nil)
        #expect(backend.isEndOfGeneration(endOfTurn))
    }

    @Test("a vocabulary of another model, a path that is not llama-server, nothing listening: one line each")
    func refusals() throws {
        let server = try TestServer.llama(model: Self.modelPath)
        defer { server.kill() }
        let source = ProcessInfo.processInfo.environment["THINKTOP_LLAMA_SOURCE"]
            ?? NSHomeDirectory() + "/.cache/thinktop/src/llama_cpp_python-0.3.36/vendor/llama.cpp"
        let other = try LlamaModel(path: source + "/models/ggml-vocab-llama-spm.gguf", vocabularyOnly: true)
        do {
            _ = try ServerBackend(url: server.url, apiKey: nil, vocabulary: other)
            Issue.record("another model's vocabulary was accepted")
        } catch let e as ThinktopError {
            #expect("\(e)".hasPrefix("inference server \(server.url): it serves another model (gemma-3-270m-q4_k_m.gguf, 262144 tokens) than the vocabulary's (32000 tokens)"))
        }
        #expect(throws: ThinktopError.serverFailed(url: server.url + "/nope/props", reason: "answered 404 Not Found: File Not Found (is this llama-server?)")) {
            _ = try ServerBackend(url: server.url + "/nope", apiKey: nil, vocabulary: Self.vocabulary)
        }
        let port = try TestServer.freePort()
        #expect(throws: ThinktopError.serverFailed(url: "http://127.0.0.1:\(port)/props", reason: "cannot connect (nothing listens there): start the server or check --server")) {
            _ = try ServerBackend(url: "http://127.0.0.1:\(port)", apiKey: nil, vocabulary: Self.vocabulary)
        }
    }
}

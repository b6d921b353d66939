import Foundation
import Testing
@testable import Core

@Suite("Decoding session on a scripted model")
struct SessionTests {
    let prompt: [Int32] = [5, 5, 5, 5, 5, 1, 3]   // " ok" ×5, "<think>", "\n"
    let V = ScriptedBackend.pieces.count + 5

    func session(script: [Int32], maxTokens: Int = 50, stops: [String] = [], sampling: SamplingParameters = .greedy,
                 context: Int = 64) throws -> (DecodingSession, ScriptedBackend) {
        let backend = ScriptedBackend(contextSize: context, rule: ScriptedBackend.following(script, promptLength: prompt.count, vocabulary: V))
        let markers = ThinkMarkers.resolve(backend: backend)
        let config = try SessionConfig(sampling: sampling, maxTokens: maxTokens, stops: stops, markers: markers)
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
        return (s, backend)
    }

    @Test("prompt in batches, then thinking → answer → done at end of generation")
    func phasesAndEOG() throws {
        let (s, backend) = try session(script: [4, 8, 9, 2, 6, 0])
        try s.prefill()
        #expect(backend.decodeCalls.map(\.count) == [4, 3])   // batch size 4
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == [4, 8, 9, 2, 6, 0])
        #expect(s.records.map(\.phase) == [.thinking, .thinking, .thinking, .thinking, .answer, .answer])
        #expect(s.records.map(\.position) == Array(7..<13))
        #expect(s.stopReason == .endOfGeneration)
        #expect(s.phase == .done)
        // the end-of-generation token's text is not part of the output (the record keeps it)
        #expect(s.output == "Wait so 9</think>Answer: 9")
        #expect(s.records.last?.text == "<eos>")
        // the final token is not fed: nothing needs its logits
        #expect(backend.positionRange(sequence: 0) == 0...11)
    }

    @Test("a shared prefix is copied in, not evaluated: only the rest of the prompt is decoded, and the run is the same")
    func sharedPrefix() throws {
        let script: [Int32] = [4, 8, 9, 2, 6, 0]
        let (plain, _) = try session(script: script)
        while try plain.step() != nil {}
        let (shared, backend) = try session(script: script)
        // the prefix another run left on sequence 5: the prompt's first five tokens, then others
        let held = Array(prompt.prefix(5)) + [9, 9]
        try backend.decode(tokens: held[0..<4], at: 0, sequence: 5)
        try backend.decode(tokens: held[4..<7], at: 4, sequence: 5)
        backend.heldPrefix = (held, 5)
        let before = backend.decodeCalls.count
        while try shared.step() != nil {}
        let mainCalls = zip(backend.decodeSequences, backend.decodeCalls).dropFirst(before).filter { $0.0 == .main }.map(\.1)
        #expect(mainCalls.first.map { [$0.position, $0.count] } == [5, 2])   // the prompt's last two tokens
        #expect(shared.records.map(\.token) == plain.records.map(\.token))
        #expect(shared.records.map(\.entropy) == plain.records.map(\.entropy))
        #expect(backend.positionRange(sequence: .main) == 0...11)
        #expect(shared.ledger.count(sequence: .main) == plain.ledger.count(sequence: .main))
        #expect(shared.ledger.entries(sequence: .main).prefix(5).allSatisfy { $0.entry.phase == .prompt })
    }

    @Test("signals of each step come from the raw distribution")
    func stepSignals() throws {
        let (s, _) = try session(script: [4, 0])
        let r = try #require(try s.step())
        // logits: 8 for the favourite, 1 for the runner-up, 0 for the other V−2 tokens
        let z = exp(8.0) + exp(1.0) + Double(V - 2)
        #expect(abs(r.prob - exp(8.0) / z) < 1e-6)
        #expect(abs(r.logprob - (8 - log(z))) < 1e-6)
        #expect(abs(r.top1 - r.prob) < 1e-12)
        #expect(abs(r.margin - (exp(8.0) - exp(1.0)) / z) < 1e-6)
        let ps = [exp(8.0) / z, exp(1.0) / z] + Array(repeating: 1 / z, count: V - 2)
        let h = -ps.reduce(0) { $0 + $1 * log($1) }
        #expect(abs(r.entropy - h) < 1e-6)
        #expect(r.top.count == 10)
        #expect(r.top[0].id == 4 && r.top[1].id == 5 && r.top[0].text == "Wait")
        #expect(r.input == .explicit)
    }

    @Test("a stop string ends generation and never reaches the output")
    func stopString() throws {
        let (s, _) = try session(script: [4, 2, 6, 7, 5, 5], stops: ["\nProblem:"])
        var shown = ""
        s.onText = { shown += $0 }
        while try s.step() != nil {}
        #expect(s.stopReason == .stopString)
        #expect(s.records.count == 4)
        #expect(shown == "Wait</think>Answer: 9")
        #expect(s.output == shown)
    }

    @Test("max tokens and a full context end generation")
    func limits() throws {
        let (a, _) = try session(script: Array(repeating: 5, count: 40), maxTokens: 5)
        while try a.step() != nil {}
        #expect(a.records.count == 5 && a.stopReason == .maxTokens)
        let (b, _) = try session(script: Array(repeating: 5, count: 40), context: 12)
        while try b.step() != nil {}
        #expect(b.records.count == 5 && b.stopReason == .contextFull)   // positions 7…11
    }

    @Test("a prompt longer than the context is refused before decoding")
    func promptTooLong() throws {
        let backend = ScriptedBackend(contextSize: 6, rule: { _, _ in [Float](repeating: 0, count: 15) })
        let config = try SessionConfig(sampling: .greedy, maxTokens: 4)
        #expect(throws: ThinktopError.promptTooLong(tokens: 7, context: 6)) {
            try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .answer)
        }
        #expect(backend.decodeCalls.isEmpty)
    }

    @Test("rewind to a position, continue: the same tokens as the uninterrupted run (seeded sampling)")
    func rewindReproduces() throws {
        let sampling = try SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 99)
        func wavy(_ last: Int32, _ pos: Int) -> [Float] {
            (0..<15).map { i in Float(sin(Double(i * 7 + Int(last) * 13 + pos * 3)) * 2) }
        }
        func make() throws -> DecodingSession {
            let backend = ScriptedBackend(contextSize: 64, rule: wavy)
            let config = try SessionConfig(sampling: sampling, maxTokens: 30)
            var c = config
            c.ignoreEndOfGeneration = true
            return try DecodingSession(backend: backend, config: c, promptTokens: prompt, initialPhase: .thinking)
        }
        let straight = try make()
        while try straight.step() != nil {}
        let rewound = try make()
        for _ in 0..<20 { try rewound.step() }
        let outputBefore = rewound.output
        try rewound.rewind(toPosition: prompt.count + 12)
        #expect(rewound.records.count == 12)
        #expect(rewound.output.utf8.count <= outputBefore.utf8.count)
        #expect(rewound.events.last?.kind == .rewind)
        #expect(rewound.events.last?.position == prompt.count + 12)
        while try rewound.step() != nil {}
        #expect(rewound.records.map(\.token) == straight.records.map(\.token))
        #expect(rewound.output == straight.output)
        #expect(rewound.records.map(\.entropy) == straight.records.map(\.entropy))
        // back to the very first generated position, and past a finished run
        try rewound.rewind(toPosition: prompt.count)
        #expect(rewound.records.isEmpty && !rewound.isDone)
        while try rewound.step() != nil {}
        #expect(rewound.records.map(\.token) == straight.records.map(\.token))
        #expect(throws: ThinktopError.self) { try rewound.rewind(toPosition: 3) }
    }

    @Test("commands from another thread: pause holds, step advances exactly one, rewind and resume, stop ends")
    func commandQueue() throws {
        let (s, _) = try session(script: Array(repeating: 5, count: 100), maxTokens: 100, context: 256)
        let timeline = SessionTimeline()
        timeline.watch(s)
        s.send(.pause)
        let p = prompt.count
        let thread = SessionThread(commands: s.commands) { s.run(stayAfterDone: true) }
        // each command is sent once the previous one's effect was published, so the order of
        // what the session did is fixed: a record between two commands would show in it
        thread.send(.step)
        #expect(timeline.wait { $0.count == 3 })
        thread.send(.step)
        #expect(timeline.wait { $0.count == 5 })
        thread.send(.rewind(toPosition: p + 1))
        #expect(timeline.wait(for: .rewind))
        #expect(timeline.labels == ["pause", "step", "r\(p)", "step", "r\(p + 1)", "rewind"])
        thread.send(.resume)
        #expect(timeline.wait { $0.last == .finished(.maxTokens) })
        thread.send(.stop)
        thread.join()
        let labels = timeline.labels
        // paused after the rewind: nothing was generated until the resume
        #expect(Array(labels.prefix(7)) == ["pause", "step", "r\(p)", "step", "r\(p + 1)", "rewind", "resume"])
        #expect(Array(labels.dropFirst(7)) == (1..<100).map { "r\(p + $0)" } + ["done: max tokens", "stop"])
        #expect(timeline.events.map(\.step) == [0, 0, 1, 1, 1, 100])
    }

    @Test("end thinking now: a newline and the think-close marker are forced, then the answer phase")
    func endThinkingForcesClose() throws {
        let (s, _) = try session(script: [4, 8, 9, 9, 9, 9, 6, 0])
        try s.step()
        try s.step()
        s.send(.endThinking)
        s.send(.stop)
        s.run()   // applies both commands; stop ends before another step
        #expect(s.events.map(\.kind.rawValue) == ["force", "stop"])
        let (t, _) = try session(script: [4, 8, 9, 9, 9, 9, 6, 0])
        try t.step()
        try t.step()
        try t.endThinking()
        while try t.step() != nil {}
        #expect(t.records.map(\.token) == [4, 8, 3, 2, 9, 9, 6, 0])
        #expect(t.records.map(\.input) == [.explicit, .explicit, .forced, .forced, .explicit, .explicit, .explicit, .explicit])
        #expect(t.records[2].effects == [Effect(nil, .forced, "forced instead of sampled 9")])
        #expect(t.records[3].phase == .thinking && t.records[4].phase == .answer)
        try t.endThinking()   // outside thinking: nothing
        #expect(t.events.count == 1)
    }

    @Test("the trace: every token line has the documented fields; read back equals written")
    func traceRoundTrip() throws {
        let (s, _) = try session(script: [4, 8, 9, 2, 6, 0])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("thinktop-trace-\(UUID()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try TraceWriter(path: path)
        let facts = ModelFacts(file: "m.gguf", sha256: "ab", architecture: "scripted", description: "d", layers: 1,
                               embeddingSize: 4, heads: 1, kvHeads: 1, slidingWindow: 0, vocabularySize: V,
                               trainedContext: 64, parameters: 1, sizeBytes: 2, thinkOpenToken: 1, thinkCloseToken: 2,
                               hasChatTemplate: false)
        let settings = RunSettings(sampling: .greedy, maxTokens: 50, contextSize: 64, threads: 1, stops: [],
                                   chatTemplate: false, topAlternatives: 10, thinkOpen: "<think>", thinkClose: "</think>",
                                   strategies: [])
        let header = TraceHeader(tool: "test", created: "now", model: facts, prompt: "p", promptTokens: 7, settings: settings)
        try writer.write(.header(header))
        var written: [StepRecord] = []
        s.onStep = { try? writer.write(.token($0)); written.append($0) }
        s.onEvent = { try? writer.write(.event($0)) }
        while try s.step() != nil {}
        try s.rewind(toPosition: 10)
        while try s.step() != nil {}
        try writer.write(.summary(s.summary()))

        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        let fields: Set<String> = ["type", "i", "pos", "id", "text", "phase", "input", "logprob", "p", "H", "varH",
                                   "top1", "margin", "topk", "H_win", "H_trend", "rstep", "H_rstep", "effects", "ms"]
        var tokenLines = 0
        for line in lines {
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard obj["type"] as? String == "token" else { continue }
            tokenLines += 1
            #expect(Set(obj.keys) == fields)
            let top = try #require(obj["topk"] as? [[String: Any]])
            #expect(top.count == 10 && Set(top[0].keys) == ["id", "p", "text"])
        }
        #expect(tokenLines == 9)   // 6, then 3 again after the rewind to the 4th position

        let read = try TraceReader(path: path)
        #expect(!read.truncated)
        #expect(read.header == header)
        #expect(read.events.map(\.kind.rawValue) == ["rewind"])
        #expect(read.summary == s.summary())
        #expect(read.tokens == written)
        // replaying the lines in order, rewinds included, ends at the session's final text
        #expect(read.finalTokens == s.records)
    }

    @Test("a trace cut off mid-line reads up to its last whole line; other files are refused")
    func traceTruncated() throws {
        let (s, _) = try session(script: [4, 8, 0])
        let dir = FileManager.default.temporaryDirectory
        let path = dir.appendingPathComponent("thinktop-cut-\(UUID()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try TraceWriter(path: path)
        let settings = RunSettings(sampling: .greedy, maxTokens: 5, contextSize: 64, threads: 1, stops: [],
                                   chatTemplate: false, topAlternatives: 10, thinkOpen: "<think>", thinkClose: "</think>", strategies: [])
        let facts = ModelFacts(file: "m", sha256: nil, architecture: "a", description: "", layers: 1, embeddingSize: 4,
                               heads: 1, kvHeads: 1, slidingWindow: 0, vocabularySize: V, trainedContext: 1, parameters: 0,
                               sizeBytes: 0, thinkOpenToken: nil, thinkCloseToken: nil, hasChatTemplate: false)
        try writer.write(.header(TraceHeader(tool: "t", created: "c", model: facts, prompt: "p", promptTokens: 7, settings: settings)))
        s.onStep = { try? writer.write(.token($0)) }
        while try s.step() != nil {}
        var data = try #require(FileManager.default.contents(atPath: path))
        data.removeLast(40)
        let cut = try TraceReader(data: data)
        #expect(cut.truncated)
        #expect(cut.tokens.count == 2)
        #expect(throws: ThinktopError.self) { try TraceReader(data: Data("hello\nworld\n".utf8)) }
        #expect(throws: ThinktopError.self) { try TraceReader(data: Data("{\"type\":\"token\"}\n".utf8)) }
        #expect(throws: ThinktopError.self) { try TraceWriter(path: "/nonexistent-dir-\(UUID())/t.jsonl") }
    }
}

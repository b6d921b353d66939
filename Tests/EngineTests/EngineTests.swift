import Core
import Engine
import Foundation
import Testing

/// The default model, set up by `make test` (scripts/setup-model.sh) and passed in
/// THINKTOP_MODEL; the per-user cache location otherwise.
enum DefaultModel {
    static let path: String = {
        if let p = ProcessInfo.processInfo.environment["THINKTOP_MODEL"], !p.isEmpty { return p }
        return NSHomeDirectory() + "/.cache/thinktop/models/gemma-3-270m-q4_k_m.gguf"
    }()
    static let model: LlamaModel = {
        guard FileManager.default.fileExists(atPath: path) else {
            fatalError("the default model is missing at \(path): run the tests with `make test`, which downloads it")
        }
        return try! LlamaModel(path: path)
    }()
    static func context(ctx: Int = 1024) throws -> LlamaContext {
        try LlamaContext(model: model, options: try ContextOptions(contextSize: ctx, threads: 2))
    }
}

@Suite("Engine on the default model (Gemma 3 270M)", .serialized)
struct EngineTests {
    let prompt = DemoProblem.prompt

    func session(_ context: LlamaContext, sampling: SamplingParameters = .greedy, maxTokens: Int = 48) throws -> DecodingSession {
        let tokens = try context.model.tokenize(prompt, addSpecial: true)
        var config = try SessionConfig(sampling: sampling, maxTokens: maxTokens, markers: ThinkMarkers.resolve(backend: context))
        config.ignoreEndOfGeneration = true
        return try DecodingSession(backend: context, config: config, promptTokens: tokens, initialPhase: .thinking)
    }

    @Test("model facts read off the file")
    func facts() throws {
        let m = DefaultModel.model
        let f = m.facts(sha256: nil)
        #expect(f.architecture == "gemma3")
        #expect(f.layers == 18)
        #expect(f.embeddingSize == 640)
        #expect(f.kvHeads == 1)
        #expect(f.slidingWindow == 512)
        #expect(f.vocabularySize == 262_144)
        #expect(m.keyLength == 256 && m.valueLength == 256)
        #expect(m.kvBytesPerToken() == 18 * 1 * (256 * 2 + 256 * 2))
    }

    @Test("control tokens (end of turn, end of text) are known as such; their text never reaches the output")
    func controlTokens() throws {
        let m = DefaultModel.model
        let endOfTurn = try #require(m.singleToken("<end_of_turn>"))
        let startOfTurn = try #require(m.singleToken("<start_of_turn>"))
        #expect(m.isControl(endOfTurn) && m.isControl(startOfTurn))
        #expect(m.isEndOfGeneration(endOfTurn) && !m.isEndOfGeneration(startOfTurn))
        for word in [" the", "Answer", "\n", "<"] {
            let t = try m.tokenize(word, addSpecial: false)
            #expect(t.count == 1 && !m.isControl(t[0]), "\(word)")
        }
        // a session fed "<start_of_turn>" as a forced token shows nothing of it
        let ctx = try DefaultModel.context()
        let s = try session(ctx, maxTokens: 3)
        try s.force(text: "<start_of_turn>", reason: "test")
        try s.step()
        #expect(s.records[0].token == startOfTurn && s.records[0].text == "<start_of_turn>")
        #expect(s.output.isEmpty)
    }

    @Test("greedy output is identical across two runs")
    func greedyDeterministic() throws {
        func run() throws -> [Int32] {
            let s = try session(try DefaultModel.context())
            while try s.step() != nil {}
            return s.records.map(\.token)
        }
        let a = try run()
        let b = try run()
        #expect(a.count == 48)
        #expect(a == b)
    }

    @Test("rewind to position p and continue: the same tokens as the uninterrupted run")
    func rewindMatchesStraightRun() throws {
        let sampling = try SamplingParameters(temperature: 0.6, topK: 20, topP: 0.95, minP: 0, seed: 7)
        let ctx = try DefaultModel.context()
        let straight = try session(ctx, sampling: sampling)
        while try straight.step() != nil {}
        let expected = straight.records.map(\.token)

        ctx.clearMemory()
        let s = try session(ctx, sampling: sampling)
        for _ in 0..<40 { try s.step() }
        let p = s.promptTokens.count + 20
        try s.rewind(toPosition: p)
        #expect(s.records.count == 20)
        #expect(ctx.positionRange(sequence: 0) == 0...(p - 1))
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == expected)
        #expect(s.records.last!.entropy == straight.records.last!.entropy)
    }

    @Test("feeding the calibrated embedding E[t]·scale gives the logits of feeding t")
    func embeddingInputEquivalence() throws {
        let ctx = try DefaultModel.context()
        let scale = try ctx.calibrateInputScale()
        #expect(abs(scale - Float(640.0.squareRoot())) < 1e-4)
        let tokens = try ctx.model.tokenize("The capital of France is", addSpecial: true)
        try ctx.decode(tokens: tokens.dropLast(), at: 0, sequence: 0)
        let last = tokens.last!
        let p = tokens.count - 1
        try ctx.decode(tokens: [last][...], at: p, sequence: 0)
        let byToken = Array(ctx.logits())
        try ctx.removeCells(sequence: 0, from: p, to: nil)
        var row = [Float](repeating: 0, count: ctx.embeddingSize)
        try ctx.scaledEmbedding(of: last, into: &row)
        try row.withUnsafeBufferPointer { try ctx.decode(embedding: $0, at: p, sequence: 0) }
        let byEmbedding = Array(ctx.logits())
        var worst: Float = 0
        for i in byToken.indices { worst = max(worst, abs(byToken[i] - byEmbedding[i])) }
        #expect(worst <= 1e-3)
        let argmax = { (v: [Float]) in v.indices.max { v[$0] < v[$1] }! }
        #expect(argmax(byToken) == argmax(byEmbedding))
        // unscaled rows are not equivalent: the scale matters
        try ctx.removeCells(sequence: 0, from: p, to: nil)
        let table = try ctx.loadEmbeddings()
        table.row(last, into: &row)
        try row.withUnsafeBufferPointer { try ctx.decode(embedding: $0, at: p, sequence: 0) }
        let unscaled = Array(ctx.logits())
        var diff: Float = 0
        for i in byToken.indices { diff = max(diff, abs(byToken[i] - unscaled[i])) }
        #expect(diff > 0.1)
    }

    @Test("a sequence's state saved and restored continues exactly")
    func stateRoundTrip() throws {
        let ctx = try DefaultModel.context()
        let tokens = try ctx.model.tokenize("Once upon a time, in a small village,", addSpecial: true)
        try ctx.decode(tokens: tokens[...], at: 0, sequence: 0)
        let saved = try ctx.saveState(sequence: 0)
        #expect(saved.count > 0)
        let next = try ctx.model.tokenize(" there", addSpecial: false)[0]
        try ctx.decode(tokens: [next][...], at: tokens.count, sequence: 0)
        let before = Array(ctx.logits())
        ctx.clearMemory()
        #expect(ctx.positionRange(sequence: 0) == nil)
        try ctx.restoreState(saved, sequence: 0)
        #expect(ctx.positionRange(sequence: 0) == 0...(tokens.count - 1))
        try ctx.decode(tokens: [next][...], at: tokens.count, sequence: 0)
        #expect(Array(ctx.logits()) == before)
        #expect(throws: ThinktopError.self) { try ctx.restoreState([1, 2, 3], sequence: 0) }
    }

    @Test("multi-byte text round-trips through tokens and streamed pieces")
    func multibyteRoundTrip() throws {
        let ctx = try DefaultModel.context()
        for text in ["naïve — 東京", "Ελληνικά καὶ 日本語 🙂 ok", "emoji 👩‍👩‍👧 mix"] {
            let tokens = try ctx.model.tokenize(text, addSpecial: false)
            var stream = UTF8Stream()
            var out = ""
            for t in tokens { out += stream.append(ctx.piece(t)) }
            out += stream.flush()
            #expect(out == text)
            #expect(ctx.model.detokenize(tokens) == text)
        }
    }

    @Test("KV edits: position ranges after decode, remove, copy and shift")
    func kvEdits() throws {
        let ctx = try DefaultModel.context()
        let tokens = try ctx.model.tokenize("one two three four five six seven eight nine ten", addSpecial: true)
        try ctx.decode(tokens: tokens[...], at: 0, sequence: 0)
        #expect(ctx.positionRange(sequence: 0) == 0...(tokens.count - 1))
        try ctx.removeCells(sequence: 0, from: 6, to: nil)
        #expect(ctx.positionRange(sequence: 0) == 0...5)
        ctx.copySequence(from: 0, to: 1, from: 0, to: nil)
        #expect(ctx.positionRange(sequence: 1) == 0...5)
        try ctx.removeCells(sequence: 1, from: 0, to: nil)
        #expect(ctx.positionRange(sequence: 1) == nil)
        #expect(ctx.positionRange(sequence: 0) == 0...5)
        try ctx.removeCells(sequence: 0, from: 2, to: 4)
        try ctx.shiftCells(sequence: 0, from: 4, to: nil, delta: -2)
        #expect(ctx.positionRange(sequence: 0) == 0...3)
    }

    @Test("bad model files fail with one clear error, never a crash")
    func badModelFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("thinktop-bad-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: ThinktopError.modelNotFound(dir.path + "/missing.gguf")) {
            try LlamaModel(path: dir.path + "/missing.gguf")
        }
        let text = dir.appendingPathComponent("notes.gguf").path
        try "hello, not a model".write(toFile: text, atomically: true, encoding: .utf8)
        #expect(throws: ThinktopError.notGGUF(text)) { try LlamaModel(path: text) }
        let whole = try Data(contentsOf: URL(fileURLWithPath: DefaultModel.path), options: .alwaysMapped)
        for (name, length) in [("head.gguf", 1 << 20), ("body.gguf", whole.count - 4096)] {
            let cut = dir.appendingPathComponent(name).path
            FileManager.default.createFile(atPath: cut, contents: whole.prefix(length))
            do {
                _ = try LlamaModel(path: cut)
                Issue.record("a truncated model (\(name)) loaded")
            } catch let e as ThinktopError {
                guard case .modelLoadFailed(let p, let reason) = e else { Issue.record("wrong error \(e)"); continue }
                #expect(p == cut)
                #expect(reason.contains("truncated"))
                #expect(!"\(e)".contains("\n"))
            }
        }
    }
}

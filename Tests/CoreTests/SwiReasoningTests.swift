import Foundation
import Testing
@testable import Core

/// A scripted model that can also be fed embeddings, with a tiny known embedding table, so
/// that every mixture SwiReasoning feeds can be checked exactly. Logits are a function of
/// the generation step only (position − prompt length + 1); every input is logged by position.
final class SwirBackend: ModelBackend, EmbeddingSource {
    static let pieces: [String] = ["<eos>", "<think>", "</think>", "\n", " so", "7", "x", " ok", "\\n",
                                   "The final answer is", " =", " 12", "\\boxed{12}", " the answer is 12", "<unk>"]
    static let unk: Int32 = 14
    var vocabularySize: Int { Self.pieces.count }
    let embeddingSize = 4
    let contextSize = 256
    let batchSize = 8
    let capabilities: Set<Capability> = [.fullDistribution, .topK, .tokenBans, .forks, .vocabulary, .kvEdits, .embeddingInput]
    let promptLength: Int

    enum Input: Equatable {
        case token(Int32)
        case embedding([Float])
    }
    /// position → what was fed there
    private(set) var fed: [Int: Input] = [:]
    /// the last decode's logits, overwritten in place by every decode (as llama.cpp's buffer)
    private let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 64)
    private var valid = 0
    private var current: [Float] {
        get { Array(buffer.prefix(valid)) }
        set { _ = buffer.initialize(from: newValue); valid = newValue.count }
    }
    deinit { buffer.deallocate() }
    /// logits for generation step `step`
    var rule: (Int) -> [Float]

    init(promptLength: Int, rule: @escaping (Int) -> [Float]) {
        self.promptLength = promptLength
        self.rule = rule
    }

    /// The embedding table: E[t][j] = sin(7t + 3j + 1).
    static func row(_ t: Int32) -> [Float] { (0..<4).map { Float(sin(Double(7 * Int(t) + 3 * $0 + 1))) } }

    func inputEmbedding(of token: Int32) throws -> [Float] { Self.row(token) }

    func inputMixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) throws -> [Float] {
        var out = [Float](repeating: 0, count: embeddingSize)
        for (i, t) in ids.enumerated() {
            let r = Self.row(t)
            for j in 0..<embeddingSize { out[j] += weights[i] * r[j] }
        }
        return out
    }

    func decode(tokens: ArraySlice<Int32>, at position: Int, sequence: SequenceID) throws {
        for p in 0..<position where fed[p] == nil { throw ThinktopError.decodeFailed(position: p, code: -99) }
        for (i, t) in tokens.enumerated() { fed[position + i] = .token(t) }
        current = rule(position + tokens.count - promptLength)
    }

    func decode(embedding: UnsafeBufferPointer<Float>, at position: Int, sequence: SequenceID) throws {
        for p in 0..<position where fed[p] == nil { throw ThinktopError.decodeFailed(position: p, code: -99) }
        fed[position] = .embedding(Array(embedding))
        current = rule(position + 1 - promptLength)
    }

    func logits() -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: buffer.baseAddress, count: valid)
    }

    func removeCells(sequence: SequenceID, from: Int, to: Int?) throws {
        for p in fed.keys where p >= from && (to == nil || p < to!) { fed[p] = nil }
    }
    func shiftCells(sequence: SequenceID, from: Int, to: Int?, delta: Int) throws {}
    func copySequence(from source: SequenceID, to destination: SequenceID, from start: Int, to end: Int?) {}
    func positionRange(sequence: SequenceID) -> ClosedRange<Int>? {
        guard sequence == .main, let lo = fed.keys.min(), let hi = fed.keys.max() else { return nil }
        return lo...hi
    }

    /// Greedy longest match over the pieces; anything else is <unk>.
    func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32] {
        var out: [Int32] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            var best: (Int32, Int)?
            for (i, p) in Self.pieces.enumerated() where i != 0 && i != Int(Self.unk) && rest.hasPrefix(p) {
                if best == nil || p.count > best!.1 { best = (Int32(i), p.count) }
            }
            if let (t, n) = best {
                out.append(t)
                rest = rest.dropFirst(n)
            } else {
                out.append(Self.unk)
                rest = rest.dropFirst()
            }
        }
        return out
    }

    func piece(_ token: Int32) -> [UInt8] { Array(Self.pieces[Int(token)].utf8) }
    func isEndOfGeneration(_ token: Int32) -> Bool { token == 0 }
    func singleToken(_ text: String) -> Int32? { Self.pieces.firstIndex(of: text).map { Int32($0) } }

    /// Logits with `favourite` at `sharpness` and every other token at 0.
    static func peaked(_ favourite: Int32, _ sharpness: Float) -> [Float] {
        var l = [Float](repeating: 0, count: pieces.count)
        l[Int(favourite)] = sharpness
        return l
    }

    /// softmax in Double
    static func probabilities(_ logits: [Float]) -> [Double] {
        let m = Double(logits.max()!)
        let e = logits.map { Foundation.exp(Double($0) - m) }
        let z = e.reduce(0, +)
        return e.map { $0 / z }
    }

    static func entropy(_ logits: [Float]) -> Double {
        probabilities(logits).reduce(0) { $0 - ($1 > 0 ? $1 * Foundation.log($1) : 0) }
    }

    /// pᵀE over the whole vocabulary, in Double
    static func mixture(_ logits: [Float]) -> [Double] {
        let p = probabilities(logits)
        var out = [Double](repeating: 0, count: 4)
        for (t, pt) in p.enumerated() {
            let r = row(Int32(t))
            for j in 0..<4 { out[j] += pt * Double(r[j]) }
        }
        return out
    }

    static func blend(_ a: [Double], _ w: Double, _ b: [Float]) -> [Double] {
        (0..<a.count).map { w * a[$0] + (1 - w) * Double(b[$0]) }
    }
}

/// The strategy services without a session, for calling hooks directly.
final class SwirTestEnvironment: StrategyEnvironment {
    let backend: ModelBackend
    private(set) var events: [(EventKind, String)] = []
    init(_ backend: ModelBackend) { self.backend = backend }
    var vocabularySize: Int { backend.vocabularySize }
    func piece(_ token: Int32) -> [UInt8] { backend.piece(token) }
    func isEndOfGeneration(_ token: Int32) -> Bool { backend.isEndOfGeneration(token) }
    func text(of token: Int32) -> String { String(decoding: backend.piece(token), as: UTF8.self) }
    func tokenize(_ text: String) throws -> [Int32] { try backend.tokenize(text, addSpecial: false) }
    func uniform() -> Double { 0.5 }
    func event(_ kind: EventKind, _ detail: String, ms: Double?) { events.append((kind, detail)) }
    func embedding(of token: Int32) throws -> [Float] {
        guard let s = backend as? EmbeddingSource else { throw ThinktopError.embeddingUnavailable("none") }
        return try s.inputEmbedding(of: token)
    }
    func mixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) throws -> [Float] {
        guard let s = backend as? EmbeddingSource else { throw ThinktopError.embeddingUnavailable("none") }
        return try s.inputMixture(ids: ids, weights: weights)
    }

    /// A step view over `logits` (kept alive by the caller).
    static func view(step: Int = 0, phase: Phase = .thinking, logits: UnsafeBufferPointer<Float>, text: String = "",
                     markers: ThinkMarkers, maxTokens: Int = 100) -> StepView {
        StepView(step: step, position: 10 + step, phase: phase, thinkingTokens: step,
                 summary: DistributionAnalyzer(topCount: 10).analyze(logits), logits: logits, text: text,
                 markers: markers, sampling: .greedy, maxTokens: maxTokens)
    }
}

@Suite("SwiReasoning: switching, blends, math tokens, switch cap")
struct SwiReasoningTests {
    let prompt: [Int32] = [7, 7, 1, 3]

    func session(_ backend: SwirBackend, specs: [String], maxTokens: Int) throws -> DecodingSession {
        let config = try SessionConfig(sampling: .greedy, maxTokens: maxTokens, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
        try s.install(specs: specs)
        return s
    }

    func expectClose(_ got: [Float], _ want: [Double], _ what: String) {
        #expect(got.count == want.count, "\(what): size")
        for j in 0..<min(got.count, want.count) {
            #expect(abs(Double(got[j]) - want[j]) < 1e-5, "\(what)[\(j)]: \(got[j]) vs \(want[j])")
        }
    }

    @Test("switches on entropy exactly as specified, with the blends of the formulas")
    func switchingAndBlends() throws {
        // (favourite, sharpness) per step: a larger sharpness is a lower entropy
        let script: [(Int32, Float)] = [
            (4, 2),     // 0: t = 0, ref = H(2), latent: 0.9·pᵀE + 0.1·E["\\n"]
            (4, 1),     // 1: H > ref: stays latent
            (4, 3),     // 2: H < ref: → explicit, β blend with </think>; ref = H(3)
            (4, 0.5),   // 3: H > ref, 1 step < window 3: stays explicit
            (4, 0.5),   // 4: 2 steps: stays explicit
            (4, 0.5),   // 5: 3 steps ≥ window: → latent, α blend with <think>; ref = H(0.5)
            (5, 0.2),   // 6: H > ref: latent, but "7" is a math token: fed explicitly
            (4, 0.5),   // 7: H == ref (not below): stays latent, pᵀE
            (6, 5),     // 8: H < ref: → explicit (switch 2); β blend, although "x" is a math token
            (2, 5),     // 9: explicit: </think> fed as a token; locked
            (0, 5),     // 10: answer: end of generation
        ]
        let backend = SwirBackend(promptLength: prompt.count) { step in
            let (f, a) = step < script.count ? script[step] : (0, 5)
            return SwirBackend.peaked(f, a)
        }
        let maxTokens = 40
        let s = try session(backend, specs: ["swir:window=3:alpha=0.5"], maxTokens: maxTokens)
        while try s.step() != nil {}
        let swir = try #require(s.strategy("swir") as? SwiReasoning)
        #expect(s.records.count == script.count)
        #expect(s.records.map(\.token) == script.map(\.0))

        let kinds = s.records.map(\.input)
        #expect(kinds == [.latent, .latent, .latent, .explicit, .explicit, .latent, .explicit, .latent, .latent, .explicit, .explicit])
        let l = { (i: Int) in SwirBackend.peaked(script[i].0, script[i].1) }
        func fedEmbedding(_ step: Int) -> [Float]? {
            if case .embedding(let e)? = backend.fed[prompt.count + step] { return e }
            return nil
        }
        let t = { (i: Int) in Double(i) / Double(maxTokens) }
        // t = 0: 0.9·pᵀE + 0.1·E[first token of "\\n"]
        expectClose(try #require(fedEmbedding(0)), SwirBackend.blend(SwirBackend.mixture(l(0)), 0.9, SwirBackend.row(8)), "step 0")
        expectClose(try #require(fedEmbedding(1)), SwirBackend.mixture(l(1)), "step 1")
        // latent → explicit: β·pᵀE + (1−β)·E[</think>], β = 0.7 + 0.3·t/max
        let beta2 = 0.7 + 0.3 * t(2)
        expectClose(try #require(fedEmbedding(2)), SwirBackend.blend(SwirBackend.mixture(l(2)), beta2, SwirBackend.row(2)), "step 2")
        #expect(backend.fed[prompt.count + 3] == .token(4))
        #expect(backend.fed[prompt.count + 4] == .token(4))
        // explicit → latent: α·pᵀE + (1−α)·E[<think>], α = 0.5 + 0.5·t/max
        let alpha5 = 0.5 + 0.5 * t(5)
        expectClose(try #require(fedEmbedding(5)), SwirBackend.blend(SwirBackend.mixture(l(5)), alpha5, SwirBackend.row(1)), "step 5")
        #expect(backend.fed[prompt.count + 6] == .token(5))
        expectClose(try #require(fedEmbedding(7)), SwirBackend.mixture(l(7)), "step 7")
        let beta8 = 0.7 + 0.3 * t(8)
        expectClose(try #require(fedEmbedding(8)), SwirBackend.blend(SwirBackend.mixture(l(8)), beta8, SwirBackend.row(2)), "step 8")
        #expect(backend.fed[prompt.count + 9] == .token(2))

        #expect(swir.switches == 2)
        #expect(swir.locked)
        #expect(abs(swir.referenceEntropy - SwirBackend.entropy(l(8))) < 1e-6)
        #expect(s.events.filter { $0.kind == .swirSwitch }.map(\.step) == [2, 5, 8])
        #expect(s.records[6].effects.contains { $0.line.contains("math token \"7\" fed explicitly") })
        #expect(s.records[2].effects.contains { $0.line.contains("latent → explicit") })
        #expect(s.records[1].effects.contains { $0.line.contains("pᵀE over all 15 tokens") })
        #expect(swir.liveState == String(format: "explicit · ref %.2f · switches 2 · locked", swir.referenceEntropy))
    }

    @Test("the window holds explicit mode however high the entropy, and only then lets it go")
    func windowHolds() throws {
        // step 1 drops below ref (→ explicit), then the entropy stays above ref
        let backend = SwirBackend(promptLength: prompt.count) { step in
            step == 0 ? SwirBackend.peaked(4, 2) : step == 1 ? SwirBackend.peaked(4, 6) : step < 30 ? SwirBackend.peaked(4, 0.3) : SwirBackend.peaked(0, 9)
        }
        let s = try session(backend, specs: ["swir:window=10"], maxTokens: 60)
        while try s.step() != nil {}
        let kinds = s.records.map(\.input)
        // 0 latent, 1 the β blend (latent), 2…10 explicit (1…9 steps since the switch),
        // 11 back to latent (10 steps ≥ window)
        #expect(kinds[0] == .latent && kinds[1] == .latent)
        #expect(kinds[2...10].allSatisfy { $0 == .explicit })
        #expect(kinds[11] == .latent)
        // (then the end-of-generation step's low entropy switches to explicit again)
        #expect(s.events.filter { $0.kind == .swirSwitch }.map(\.step) == [1, 11, 30])
    }

    @Test("latent steps feed the mixture but keep the sampled token in the text")
    func latentTokensStayVisible() throws {
        let backend = SwirBackend(promptLength: prompt.count) { step in
            step < 3 ? SwirBackend.peaked(4, 1) : step == 3 ? SwirBackend.peaked(2, 9) : SwirBackend.peaked(0, 9)
        }
        let s = try session(backend, specs: ["swir"], maxTokens: 20)
        while try s.step() != nil {}
        #expect(s.records.prefix(3).allSatisfy { $0.input == .latent && $0.text == " so" })
        #expect(s.fullText.hasPrefix(" so so so</think>"))
    }

    @Test("the truncated mixture: smallest top set reaching the mass, renormalised, recorded")
    func truncatedMixture() throws {
        let logits = SwirBackend.peaked(4, 3)
        let backend = SwirBackend(promptLength: prompt.count) { step in step == 0 ? logits : SwirBackend.peaked(0, 9) }
        let s = try session(backend, specs: ["swir:mix=top:mass=0.9"], maxTokens: 5)
        try s.step()
        let p = SwirBackend.probabilities(logits)
        // by probability, ties by id: the favourite, then 0, 1, 2, …
        let order = [4] + (0..<15).filter { $0 != 4 }
        var cum = 0.0, kept: [Int] = []
        for i in order { kept.append(i); cum += p[i]; if cum >= 0.9 { break } }
        var want = [Double](repeating: 0, count: 4)
        for i in kept { for j in 0..<4 { want[j] += p[i] / cum * Double(SwirBackend.row(Int32(i))[j]) } }
        want = SwirBackend.blend(want, 0.9, SwirBackend.row(8))
        guard case .embedding(let got)? = backend.fed[prompt.count] else { Issue.record("no embedding fed"); return }
        expectClose(got, want, "truncated")
        #expect(s.records[0].effects.contains { $0.line.contains("top \(kept.count) tokens") })
        #expect(s.strategy("swir")?.spec.contains(":mix=top") == true)

        // distinct probabilities: the smallest top set is a sorted prefix (the histogram's
        // crossing bin is sorted, the bins above are taken whole)
        let distinct: [Float] = (0..<15).map { Float(($0 * 7 + 1) % 15) * 0.37 }   // top: 4 " so"
        let b3 = SwirBackend(promptLength: prompt.count) { step in step == 0 ? distinct : SwirBackend.peaked(0, 9) }
        let s3 = try session(b3, specs: ["swir:mix=top:mass=0.8"], maxTokens: 5)
        try s3.step()
        let pd = SwirBackend.probabilities(distinct)
        var cumd = 0.0, keptd: [Int] = []
        for i in (0..<15).sorted(by: { pd[$0] > pd[$1] }) { keptd.append(i); cumd += pd[i]; if cumd >= 0.8 { break } }
        var wantd = [Double](repeating: 0, count: 4)
        for i in keptd { for j in 0..<4 { wantd[j] += pd[i] / cumd * Double(SwirBackend.row(Int32(i))[j]) } }
        guard case .embedding(let gotd)? = b3.fed[prompt.count] else { Issue.record("no embedding fed"); return }
        expectClose(gotd, SwirBackend.blend(wantd, 0.9, SwirBackend.row(8)), "distinct")
        #expect(s3.records[0].effects.contains { $0.line.contains("top \(keptd.count) tokens") })

        // topk alone (mass 1): exactly the k most likely
        let b2 = SwirBackend(promptLength: prompt.count) { step in step == 0 ? logits : SwirBackend.peaked(0, 9) }
        let s2 = try session(b2, specs: ["swir:mix=top:mass=1:topk=3"], maxTokens: 5)
        try s2.step()
        let top3 = [4, 0, 1]
        let m3 = top3.reduce(0.0) { $0 + p[$1] }
        var want3 = [Double](repeating: 0, count: 4)
        for i in top3 { for j in 0..<4 { want3[j] += p[i] / m3 * Double(SwirBackend.row(Int32(i))[j]) } }
        guard case .embedding(let got3)? = b2.fed[prompt.count] else { Issue.record("no embedding fed"); return }
        expectClose(got3, SwirBackend.blend(want3, 0.9, SwirBackend.row(8)), "top-3")
    }

    @Test("switch cap: convergence text at cap ≤ count ≤ 2·cap")
    func capConverges() throws {
        let backend = SwirBackend(promptLength: prompt.count) { step in
            step == 0 ? SwirBackend.peaked(4, 2) : step == 1 ? SwirBackend.peaked(4, 3) : step < 7 ? SwirBackend.peaked(4, 1) : SwirBackend.peaked(0, 9)
        }
        let s = try session(backend, specs: ["swir=1"], maxTokens: 30)
        while try s.step() != nil {}
        // switch 1 at step 1 → the close token alone forced at step 2 (the reference's setting
        // for models with a single think-close token)
        #expect(s.records[2].token == 2 && s.records[2].input == .forced)
        #expect(s.records[3].phase == .answer && s.records[3].input != .forced)
        #expect(s.events.contains { $0.kind == .swirCap && $0.step == 1 && $0.detail == "switch 1 (cap 1): convergence \"</think>\"" })

        // a model whose close marker is text over tokens: "\n\n</think>\n\n", its setting for the others
        let b2 = SwirBackend(promptLength: prompt.count) { step in
            step == 0 ? SwirBackend.peaked(4, 2) : step == 1 ? SwirBackend.peaked(4, 3) : step < 7 ? SwirBackend.peaked(4, 1) : SwirBackend.peaked(0, 9)
        }
        let config = try SessionConfig(sampling: .greedy, maxTokens: 30, markers: ThinkMarkers(open: "<think>", close: "</think>"))
        let t = try DecodingSession(backend: b2, config: config, promptTokens: prompt, initialPhase: .thinking)
        try t.install(specs: ["swir=1"])
        while try t.step() != nil {}
        #expect(t.records[2...6].map(\.token) == [3, 3, 2, 3, 3])
        #expect(t.records[2...6].allSatisfy { $0.input == .forced })
        #expect(t.records[6].phase == .answer)
    }

    @Test("switch cap: termination text past 2·cap, then the answer allowance ends generation")
    func capTerminates() throws {
        // sharpness per step: 0 ref; 1 → explicit (1); 2 → latent; 3 → explicit (2); 4 → latent; 5 → explicit (3 > 2·cap)
        let sharp: [Float] = [2, 3, 1, 2, 1, 2]
        let backend = SwirBackend(promptLength: prompt.count) { step in
            step < sharp.count ? SwirBackend.peaked(4, sharp[step]) : SwirBackend.peaked(4, 1)
        }
        let s = try session(backend, specs: ["swir:cap=1:window=1:converge= ok:answer=6"], maxTokens: 40)
        while try s.step() != nil {}
        #expect(s.records[2].token == 7 && s.records[2].input == .forced)   // convergence " ok" after switch 1
        #expect(s.records[4].token == 7 && s.records[4].input == .forced)   // after switch 2
        // switch 3 at step 5: "</think>\n\nThe final answer is" from step 6
        #expect(s.records[6...9].map(\.token) == [2, 3, 3, 9])
        #expect(s.records[10].input == .explicit && s.records[10].phase == .answer)
        // the allowance: steps 5…10 (6 tokens), then end of generation forced at step 11
        #expect(s.records.count == 12)
        #expect(s.records[11].token == 0 && s.records[11].input == .forced)
        #expect(s.stopReason == .endOfGeneration)
        let caps = s.events.filter { $0.kind == .swirCap }
        #expect(caps.map(\.step) == [1, 3, 5])
        #expect((caps[2].detail ?? "").contains("termination"))
        #expect(s.events.contains { $0.kind == .swirEnd && $0.step == 11 })
        #expect((s.strategy("swir") as? SwiReasoning)?.switches == 3)
    }

    @Test("a rewind restores mode, reference and count exactly")
    func rewindRestores() throws {
        let sharp: [Float] = [2, 1, 3, 0.5, 0.5, 4, 4, 4]
        let backend = SwirBackend(promptLength: prompt.count) { step in
            step < sharp.count ? SwirBackend.peaked(4, sharp[step]) : SwirBackend.peaked(0, 9)
        }
        let s = try session(backend, specs: ["swir:window=1"], maxTokens: 30)
        while try s.step() != nil {}
        let first = s.records.map { ($0.input, $0.effects) }
        let swir = try #require(s.strategy("swir") as? SwiReasoning)
        let state = swir.liveState
        try s.rewind(toPosition: prompt.count + 2)
        while try s.step() != nil {}
        #expect(s.records.map(\.input) == first.map(\.0))
        #expect(s.records.map(\.effects) == first.map(\.1))
        #expect(swir.liveState == state)
    }

    @Test("parameters: spec round trip, primary value is the cap, errors name the problem")
    func parameters() throws {
        let (list, on) = try StrategyRegistry.configure(["swir=2:window=64:beta=0.5:mix=top:mass=0.99"])
        #expect(on == ["swir"])
        let s = try #require(list.first { $0.id == "swir" } as? SwiReasoning)
        #expect(s.cap == 2 && s.window == 64 && s.beta0 == 0.5 && s.mix == .top && s.mass == 0.99)
        #expect(s.spec == "swir:window=64:alpha=1.0:beta=0.5:cap=2:mix=top:mass=0.99")
        let (again, _) = try StrategyRegistry.configure([s.spec])
        #expect((again.first { $0.id == "swir" } as? SwiReasoning)?.spec == s.spec)
        let d = SwiReasoning()
        #expect(d.window == 512 && d.alpha0 == 1.0 && d.beta0 == 0.7 && d.cap == nil && d.mix == .exact)
        #expect(throws: ThinktopError.self) { try StrategyRegistry.configure(["swir:mix=some"]) }
        #expect(throws: ThinktopError.self) { try StrategyRegistry.configure(["swir:beta=2"]) }
        #expect(throws: ThinktopError.self) { try StrategyRegistry.configure(["swir:mass=0"]) }
    }

    @Test("a backend without embeddings is refused when the strategy is switched on")
    func needsEmbeddings() throws {
        let backend = ScriptedBackend(contextSize: 64, rule: { _, _ in [Float](repeating: 0, count: 15) })
        let config = try SessionConfig(sampling: .greedy, maxTokens: 5, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: [5, 1], initialPhase: .thinking)
        let (list, on) = try StrategyRegistry.configure(["swir"])
        #expect(throws: ThinktopError.self) { try s.install(list, enabled: on) }
    }

    @Test("math tokens: digits, single letters, operators and LaTeX pieces")
    func mathTokens() throws {
        let backend = SwirBackend(promptLength: 1) { _ in SwirBackend.peaked(0, 1) }
        let env = SwirTestEnvironment(backend)
        let s = SwiReasoning()
        try s.prepare(env)
        #expect(s.mathTokens.contains(5))      // "7"
        #expect(s.mathTokens.contains(6))      // "x"
        #expect(s.mathTokens.contains(SwirBackend.unk))
        #expect(!s.mathTokens.contains(4) && !s.mathTokens.contains(7) && !s.mathTokens.contains(2))
        #expect(s.markerToken == 8)
    }
}

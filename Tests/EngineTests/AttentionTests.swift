import Core
import Engine
import Foundation
import Testing

/// The attention tap (`AttentionSource` on `LlamaContext`) on the real model: it must not
/// change what the model computes, every probability must land on the position its cell
/// holds, and that mapping must survive the KV edits the session makes.
@Suite("Attention tap on the default model (Gemma 3 270M)", .serialized)
struct AttentionTests {
    static func context(tap: Bool, ctx: Int = 512) throws -> LlamaContext {
        // the untapped reference runs without flash attention too: the tap turns it off, so
        // only the plain softmax path computes the same numbers
        try LlamaContext(model: DefaultModel.model,
                         options: ContextOptions(contextSize: ctx, threads: 2, batchSize: 512, sequences: 2,
                                                 flashAttention: tap ? nil : false, attentionTap: tap))
    }

    /// one query row's attention summed over layers and heads: each softmax row sums to 1
    var perRow: Float { Float(DefaultModel.model.layers * DefaultModel.model.heads) }

    func prompt(_ ctx: LlamaContext) throws -> [Int32] {
        try ctx.tokenize("The quick brown fox jumps over the lazy dog. Once upon a time, in a small village by the sea, there lived an old fisherman who", addSpecial: true)
    }

    static func argmax(_ v: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in 1..<v.count where v[i] > v[best] { best = i }
        return Int32(best)
    }

    func sum(_ a: UnsafeBufferPointer<Float>, _ r: Range<Int>? = nil) -> Float {
        (r ?? 0..<a.count).reduce(Float(0)) { $0 + a[$1] }
    }

    func expectRowSum(_ a: UnsafeBufferPointer<Float>, rows: Int = 1, _ comment: Comment? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) {
        let expected = perRow * Float(rows)
        let got = sum(a)
        #expect(abs(got - expected) <= 1e-3 * expected, "sum \(got), expected \(expected) \(comment?.rawValue ?? "")",
                sourceLocation: sourceLocation)
    }

    @Test("the tap changes nothing the model computes: same greedy tokens, same logits")
    func tapIsInvisible() throws {
        func greedy(_ ctx: LlamaContext) throws -> (tokens: [Int32], logits: [[Float]], captured: Int) {
            let p = try prompt(ctx)
            try ctx.decode(tokens: p[...], at: 0, sequence: 0)
            var tokens: [Int32] = [], logits: [[Float]] = [], captured = 0
            for i in 0..<20 {
                let l = ctx.logits()
                logits.append(Array(l))
                let t = Self.argmax(l)
                tokens.append(t)
                try ctx.decode(tokens: [t][...], at: p.count + i, sequence: 0)
                captured += ctx.lastAttention().count
            }
            return (tokens, logits, captured)
        }
        let plain = try greedy(try Self.context(tap: false))
        let tapped = try greedy(try Self.context(tap: true))
        #expect(plain.captured == 0)
        #expect(tapped.captured > 0)
        #expect(tapped.tokens == plain.tokens)
        var worst: Float = 0
        for (a, b) in zip(plain.logits, tapped.logits) {
            for i in a.indices { worst = max(worst, abs(a[i] - b[i])) }
        }
        #expect(worst < 1e-4, "max logit difference \(worst)")
    }

    @Test("one decoded token (by token or by embedding): its attention sums to layers × heads over positions ≤ p")
    func rowSums() throws {
        let ctx = try Self.context(tap: true)
        #expect(ctx.capturesAttention)
        #expect(ctx.attentionQueries == nil)
        _ = try ctx.calibrateInputScale()
        let p = try prompt(ctx)
        try ctx.decode(tokens: p[...], at: 0, sequence: 0)
        expectRowSum(ctx.lastAttention(), "after the prefill (its last row)")
        let next = Self.argmax(ctx.logits())
        try ctx.decode(tokens: [next][...], at: p.count, sequence: 0)
        let a = ctx.lastAttention()
        #expect(a.count == p.count + 1)
        expectRowSum(a)
        #expect(a[p.count] > 0)
        #expect(a.allSatisfy { $0 >= 0 })
        #expect(a[0] > 0, "the attention sink")

        // the same through an input embedding
        var row = [Float](repeating: 0, count: ctx.embeddingSize)
        try ctx.scaledEmbedding(of: Self.argmax(ctx.logits()), into: &row)
        try row.withUnsafeBufferPointer { try ctx.decode(embedding: $0, at: p.count + 1, sequence: 0) }
        let e = ctx.lastAttention()
        #expect(e.count == p.count + 2)
        expectRowSum(e, "embedding decode")
        #expect(e[p.count + 1] > 0)

        // a KV edit invalidates it; a context without the tap reports nothing
        try ctx.removeCells(sequence: 0, from: p.count + 1, to: nil)
        #expect(ctx.lastAttention().isEmpty)
        let plain = try Self.context(tap: false)
        #expect(!plain.capturesAttention)
        try plain.decode(tokens: p[...], at: 0, sequence: 0)
        #expect(plain.lastAttention().isEmpty)
    }

    @Test("removed positions read exactly 0 on the next decode, the sink still draws attention")
    func removal() throws {
        let ctx = try Self.context(tap: true)
        let p = try prompt(ctx)
        try ctx.decode(tokens: p[...], at: 0, sequence: 0)
        let next = Self.argmax(ctx.logits())
        try ctx.removeCells(sequence: 0, from: 5, to: 15)
        try ctx.decode(tokens: [next][...], at: p.count, sequence: 0)
        let a = ctx.lastAttention()
        #expect(a.count == p.count + 1)
        for i in 5..<15 { #expect(a[i] == 0, "position \(i)") }
        #expect(a[0] > 0)
        for i in 0..<a.count where !(5..<15).contains(i) { #expect(a[i] > 0, "position \(i)") }
        expectRowSum(a)
    }

    @Test("after an eviction and a shift down the attention lands on 0…newEnd with no hole")
    func shift() throws {
        let ctx = try Self.context(tap: true)
        let p = try prompt(ctx)
        try ctx.decode(tokens: p[...], at: 0, sequence: 0)
        let next = Self.argmax(ctx.logits())
        let k = 8
        try ctx.removeCells(sequence: 0, from: 4, to: 4 + k)
        try ctx.shiftCells(sequence: 0, from: 4 + k, to: nil, delta: -k)
        let newEnd = p.count - k
        #expect(ctx.positionRange(sequence: 0) == 0...(newEnd - 1))
        try ctx.decode(tokens: [next][...], at: newEnd, sequence: 0)
        let a = ctx.lastAttention()
        #expect(a.count == newEnd + 1)
        for i in 0...newEnd { #expect(a[i] > 0, "position \(i)") }
        expectRowSum(a)
    }

    @Test("past the sliding window a shift lets llama.cpp reuse a masked cell; the mirror follows")
    func slidingWindowReuse() throws {
        let ctx = try Self.context(tap: true, ctx: 1024)
        let window = DefaultModel.model.slidingWindow
        var text: [Int32] = []
        let p = try prompt(ctx)
        while text.count < window + 40 { text += p.dropFirst() }
        text = [p[0]] + text.prefix(window + 40)
        try ctx.decode(tokens: text[..<300], at: 0, sequence: 0)
        try ctx.decode(tokens: text[300...], at: 300, sequence: 0)
        let n = text.count
        let next = Self.argmax(ctx.logits())
        let k = 8
        try ctx.removeCells(sequence: 0, from: 4, to: 4 + k)
        try ctx.shiftCells(sequence: 0, from: 4 + k, to: nil, delta: -k)
        let newEnd = n - k
        try ctx.decode(tokens: [next][...], at: newEnd, sequence: 0)
        // llama.cpp's report is the sliding-window cache's: it put the new token in the cell of
        // position 0 (masked for those layers, 545 positions behind), which leaves that cache
        let range = ctx.positionRange(sequence: 0)
        #expect(range == 1...newEnd)
        let a = ctx.lastAttention()
        #expect(a.count == newEnd + 1)
        expectRowSum(a)
        // the full-attention layers still see position 0 and every other one
        for i in 0...newEnd { #expect(a[i] > 0, "position \(i)") }
        // the new token's own attention: all 18 layers see it, not only the full-attention ones
        try ctx.decode(tokens: [Self.argmax(ctx.logits())][...], at: newEnd + 1, sequence: 0)
        let b = ctx.lastAttention()
        expectRowSum(b)
        #expect(b.count == newEnd + 2)
        #expect(ctx.positionRange(sequence: 0) == 2...(newEnd + 1))
    }

    @Test("with attentionQueries covering a prefill every row counts")
    func queryRange() throws {
        let ctx = try Self.context(tap: true)
        let p = try prompt(ctx)
        ctx.attentionQueries = 0..<p.count
        try ctx.decode(tokens: p[...], at: 0, sequence: 0)
        expectRowSum(ctx.lastAttention(), rows: p.count)
        // a window over the last 5 rows of the next chunk, and one outside it
        let more = try ctx.tokenize(" lived in a hut by the shore", addSpecial: false)
        ctx.attentionQueries = (p.count + more.count - 5)..<(p.count + more.count + 100)
        try ctx.decode(tokens: more[...], at: p.count, sequence: 0)
        expectRowSum(ctx.lastAttention(), rows: 5)
        ctx.attentionQueries = 0..<5
        try ctx.decode(tokens: [more[0]][...], at: p.count + more.count, sequence: 0)
        #expect(sum(ctx.lastAttention()) == 0)
        ctx.attentionQueries = nil
        try ctx.decode(tokens: [more[1]][...], at: p.count + more.count + 1, sequence: 0)
        expectRowSum(ctx.lastAttention())
    }

    @Test("a quantized cache with the tap is refused in one line before llama.cpp is asked")
    func quantizedRefused() throws {
        let expected = ThinktopError.invalidArgument(
            "the attention tap (needed by --attention, H2O and SnapKV) needs flash attention off, and a quantized V cache (--kv-type q8_0/q4_0) needs it on: use --kv-type f16 or drop the attention option")
        for type in [KVCacheType.q8_0, .q4_0] {
            let options = try ContextOptions(contextSize: 512, threads: 2, cacheType: type, attentionTap: true)
            // llama.cpp itself would fail with contextCreationFailed (quantized V without flash attention)
            #expect(throws: expected) { _ = try LlamaContext(model: DefaultModel.model, options: options) }
        }
        #expect(!expected.description.contains("\n"))
    }

    @Test("a probe-like fork (copy 0→1, decode on 1, drop 1) leaves sequence 0's attention as without it")
    func forkKeepsMapping() throws {
        func run(fork: Bool) throws -> (attention: [Float], forkAttention: [Float]) {
            let ctx = try Self.context(tap: true)
            let p = try prompt(ctx)
            try ctx.decode(tokens: p[...], at: 0, sequence: 0)
            let t1 = Self.argmax(ctx.logits())
            try ctx.decode(tokens: [t1][...], at: p.count, sequence: 0)
            let t2 = Self.argmax(ctx.logits())
            var forkAttention: [Float] = []
            if fork {
                ctx.copySequence(from: 0, to: 1, from: 0, to: nil)
                let probe = try ctx.tokenize(" Wait, is that right?", addSpecial: false)
                try ctx.decode(tokens: probe[...], at: p.count + 1, sequence: 1)
                try ctx.decode(tokens: [Self.argmax(ctx.logits())][...], at: p.count + 1 + probe.count, sequence: 1)
                forkAttention = Array(ctx.lastAttention())
                #expect(forkAttention.count == p.count + 2 + probe.count)
                expectRowSum(ctx.lastAttention(), "on the fork")
                try ctx.removeCells(sequence: 1, from: 0, to: nil)
                #expect(ctx.positionRange(sequence: 1) == nil)
            }
            try ctx.decode(tokens: [t2][...], at: p.count + 1, sequence: 0)
            return (Array(ctx.lastAttention()), forkAttention)
        }
        let straight = try run(fork: false).attention
        let (forked, onFork) = try run(fork: true)
        #expect(forked.count == straight.count)
        var worst: Float = 0
        for i in straight.indices { worst = max(worst, abs(straight[i] - forked[i])) }
        #expect(worst < 1e-3, "largest difference \(worst)")
        // the fork saw the shared prompt the way sequence 0 did
        #expect(onFork.prefix(straight.count - 1).allSatisfy { $0 > 0 })
    }
}

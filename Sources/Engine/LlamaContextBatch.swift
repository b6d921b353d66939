import CLlama
import Core
import Foundation

extension LlamaContext: PrefixSharing {
    /// Evaluates `tokens` into `sequence` (emptied first) and keeps them there as the prefix
    /// `placeSharedPrefix` copies into the runs' sequences. Returns the seconds it took.
    @discardableResult
    public func holdPrefix(_ tokens: [Int32], in sequence: SequenceID) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        heldPrefix = nil
        try removeCells(sequence: sequence, from: 0, to: nil)
        var at = 0
        while at < tokens.count {
            let end = min(at + options.batchSize, tokens.count)
            try decode(tokens: tokens[at..<end], at: at, sequence: sequence, logits: false)
            at = end
        }
        if !tokens.isEmpty { heldPrefix = (tokens, sequence) }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Copies the held prefix's cells into `sequence`: in a unified cache the cells are shared
    /// (no data moves); in a split one the prefix's stream is copied whole and cut back.
    public func placeSharedPrefix(of prompt: [Int32], in sequence: SequenceID) throws -> Int {
        guard let held = heldPrefix, held.sequence != sequence else { return 0 }
        let n = min(Self.commonLength(held.tokens, prompt), prompt.count - 1)
        guard n > 0 else { return 0 }
        lastLogits = nil
        if options.unifiedCache {
            llama_memory_seq_cp(memory, held.sequence.rawValue, sequence.rawValue, 0, Int32(n))
        } else {
            llama_memory_seq_cp(memory, held.sequence.rawValue, sequence.rawValue, -1, -1)
            if n < held.tokens.count { _ = llama_memory_seq_rm(memory, sequence.rawValue, Int32(n), -1) }
        }
        return n
    }
}

/// Batched decoding (`DecodeBatcher`): single inputs of several sequences in one
/// llama_decode.
extension LlamaContext {
    /// One input of a batched decode: a token, or an embedding, at a position of a sequence.
    public struct BatchInput {
        public var token: Int32
        public var embedding: UnsafeBufferPointer<Float>?
        public var position: Int
        public var sequence: SequenceID
        public init(token: Int32, position: Int, sequence: SequenceID) {
            self.token = token; embedding = nil; self.position = position; self.sequence = sequence
        }
        public init(embedding: UnsafeBufferPointer<Float>, position: Int, sequence: SequenceID) {
            token = -1; self.embedding = embedding; self.position = position; self.sequence = sequence
        }
    }

    /// Decodes single inputs of several sequences in one llama_decode (the tokens in one, the
    /// embeddings in another: a batch holds one kind) and hands each input's next-token logits
    /// to `logits(i, row)` before anything else can use the context.
    public func decodeBatch(_ inputs: [BatchInput], logits: (Int, UnsafeBufferPointer<Float>) -> Void) throws {
        precondition(inputs.count <= options.batchSize, "batch of \(inputs.count) inputs")
        lastLogits = nil
        var tokens = inputs.indices.filter { inputs[$0].embedding == nil }
        var embedded = inputs.indices.filter { inputs[$0].embedding != nil }
        // both kinds: one decode instead of two when a token's scaled embedding is the token
        // exactly (the calibration found no logit differing), the tokens fed as embeddings
        var inputs = inputs
        let d = embeddingSize
        let converted = UnsafeMutableBufferPointer<Float>.allocate(capacity: !tokens.isEmpty && !embedded.isEmpty ? tokens.count * d : 0)
        defer { converted.deallocate() }
        if converted.count > 0, inputScaleError == 0 {
            var row = [Float](repeating: 0, count: d)
            for (i, k) in tokens.enumerated() {
                try scaledEmbedding(of: inputs[k].token, into: &row)
                let slot = UnsafeMutableBufferPointer(rebasing: converted[i * d ..< (i + 1) * d])
                _ = slot.initialize(from: row)
                inputs[k].embedding = UnsafeBufferPointer(slot)
            }
            embedded = Array(inputs.indices)
            tokens = []
        }
        if !tokens.isEmpty {
            for (i, k) in tokens.enumerated() { tokenBatch.token[i] = inputs[k].token }
            try decodeRows(&tokenBatch, tokens, inputs, logits)
        }
        if !embedded.isEmpty {
            var b = llama_batch_init(Int32(embedded.count), Int32(d), 1)
            defer { llama_batch_free(b) }
            for (i, k) in embedded.enumerated() {
                let e = inputs[k].embedding!
                precondition(e.count == d, "embedding of \(e.count) floats, model takes \(d)")
                (b.embd + i * d).update(from: e.baseAddress!, count: d)
            }
            try decodeRows(&b, embedded, inputs, logits)
        }
        lastLogits = nil
    }

    /// Places `inputs[k]` for each k of `rows` (their token or embedding already in `batch`)
    /// at its position and sequence, every one with logits, decodes, and hands each row on.
    private func decodeRows(_ batch: inout llama_batch, _ rows: [Int], _ inputs: [BatchInput],
                            _ logits: (Int, UnsafeBufferPointer<Float>) -> Void) throws {
        for (i, k) in rows.enumerated() {
            batch.pos[i] = Int32(inputs[k].position)
            batch.n_seq_id[i] = 1
            batch.seq_id[i]![0] = inputs[k].sequence.rawValue
            batch.logits[i] = 1
        }
        batch.n_tokens = Int32(rows.count)
        try run(batch, position: inputs[rows[0]].position)
        for (i, k) in rows.enumerated() { logits(k, try row(i, position: inputs[k].position)) }
    }

    private func row(_ i: Int, position: Int) throws -> UnsafeBufferPointer<Float> {
        guard let l = llama_get_logits_ith(pointer, Int32(i)) else {
            throw ThinktopError.decodeFailed(position: position, code: -100)
        }
        return UnsafeBufferPointer(start: l, count: vocabularySize)
    }
}

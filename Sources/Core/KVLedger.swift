/// What the KV cache holds, mirrored from every decode, removal, shift and sequence copy,
/// because llama.cpp no longer exposes a per-cell view. Per sequence and position: the
/// token (or a latent input) that was evaluated there. Removed positions that a policy
/// evicted (rather than a rewind) are remembered as evicted.
public final class KVLedger {
    public struct Entry: Equatable, Sendable {
        /// the token evaluated at this position; -1 for an embedding (latent) input
        public var token: Int32
        public var latent: Bool { token < 0 }
    }

    /// sequence → position → entry
    public private(set) var cells: [Int32: [Int: Entry]] = [:]
    /// sequence → positions evicted by a policy
    public private(set) var evicted: [Int32: Set<Int>] = [:]
    /// bytes one position takes over all layers (0 when unknown)
    public let bytesPerCell: Int

    public init(bytesPerCell: Int = 0) { self.bytesPerCell = bytesPerCell }

    public func decoded(sequence: Int32, at position: Int, tokens: ArraySlice<Int32>) {
        for (i, t) in tokens.enumerated() {
            cells[sequence, default: [:]][position + i] = Entry(token: t)
            evicted[sequence]?.remove(position + i)
        }
    }

    public func decodedEmbedding(sequence: Int32, at position: Int) {
        cells[sequence, default: [:]][position] = Entry(token: -1)
        evicted[sequence]?.remove(position)
    }

    /// Positions in [from, to) leave `sequence`; `eviction` marks them evicted, not rewound.
    public func removed(sequence: Int32, from: Int, to: Int?, eviction: Bool = false) {
        let seqs = sequence < 0 ? Array(cells.keys) : [sequence]
        for s in seqs {
            guard let held = cells[s] else { continue }
            let gone = held.keys.filter { $0 >= max(0, from) && (to == nil || $0 < to!) }
            for p in gone { cells[s]![p] = nil }
            if eviction { evicted[s, default: []].formUnion(gone) }
        }
    }

    public func shifted(sequence: Int32, from: Int, to: Int?, delta: Int) {
        guard let held = cells[sequence] else { return }
        var next: [Int: Entry] = [:]
        for (p, e) in held {
            if p >= from && (to == nil || p < to!) { next[p + delta] = e } else { next[p] = e }
        }
        cells[sequence] = next
    }

    public func copied(from source: Int32, to destination: Int32, from start: Int, to end: Int?) {
        guard let held = cells[source] else { return }
        for (p, e) in held where p >= max(0, start) && (end == nil || p < end!) {
            cells[destination, default: [:]][p] = e
        }
    }

    public func cleared() {
        cells.removeAll()
        evicted.removeAll()
    }

    /// Smallest and largest position held for `sequence`.
    public func range(sequence: Int32) -> ClosedRange<Int>? {
        guard let held = cells[sequence], let lo = held.keys.min(), let hi = held.keys.max() else { return nil }
        return lo...hi
    }

    public func count(sequence: Int32) -> Int { cells[sequence]?.count ?? 0 }

    /// Bytes the sequence's live cells take.
    public func bytes(sequence: Int32) -> Int { count(sequence: sequence) * bytesPerCell }

    /// A description of the first disagreement with the backend's position ranges, nil when
    /// the ledger and the cache agree for every sequence either knows.
    public func disagreement(with backend: ModelBackend, sequences: [Int32] = [0, 1]) -> String? {
        for s in sequences {
            let mine = range(sequence: s)
            let theirs = backend.positionRange(sequence: s)
            if mine != theirs {
                return "sequence \(s): ledger holds \(mine.map { "\($0)" } ?? "nothing"), the cache \(theirs.map { "\($0)" } ?? "nothing")"
            }
        }
        return nil
    }
}

/// A backend that keeps a `KVLedger` in step with every cache operation passing through it.
/// Everything a session, a probe or a strategy does to the cache goes through here.
public final class LedgerBackend: ModelBackend, EmbeddingSource {
    public let base: ModelBackend
    public let ledger: KVLedger

    public init(_ base: ModelBackend, bytesPerCell: Int = 0) {
        self.base = base
        ledger = KVLedger(bytesPerCell: bytesPerCell)
        // whatever the cache held before, the ledger starts from an empty cache
        for s: Int32 in [0, 1] { try? base.removeCells(sequence: s, from: 0, to: nil) }
    }

    public var vocabularySize: Int { base.vocabularySize }
    public var embeddingSize: Int { base.embeddingSize }
    public var contextSize: Int { base.contextSize }
    public var batchSize: Int { base.batchSize }

    public func decode(tokens: ArraySlice<Int32>, at position: Int, sequence: Int32) throws {
        try base.decode(tokens: tokens, at: position, sequence: sequence)
        ledger.decoded(sequence: sequence, at: position, tokens: tokens)
    }

    public func decode(embedding: UnsafeBufferPointer<Float>, at position: Int, sequence: Int32) throws {
        try base.decode(embedding: embedding, at: position, sequence: sequence)
        ledger.decodedEmbedding(sequence: sequence, at: position)
    }

    public func logits() -> UnsafeBufferPointer<Float> { base.logits() }

    public func removeCells(sequence: Int32, from: Int, to: Int?) throws {
        try base.removeCells(sequence: sequence, from: from, to: to)
        ledger.removed(sequence: sequence, from: from, to: to)
    }

    /// A removal by an eviction policy: the positions are remembered as evicted.
    public func evictCells(sequence: Int32, from: Int, to: Int?) throws {
        try base.removeCells(sequence: sequence, from: from, to: to)
        ledger.removed(sequence: sequence, from: from, to: to, eviction: true)
    }

    public func shiftCells(sequence: Int32, from: Int, to: Int?, delta: Int) throws {
        try base.shiftCells(sequence: sequence, from: from, to: to, delta: delta)
        ledger.shifted(sequence: sequence, from: from, to: to, delta: delta)
    }

    public func copySequence(from source: Int32, to destination: Int32, from start: Int, to end: Int?) {
        base.copySequence(from: source, to: destination, from: start, to: end)
        ledger.copied(from: source, to: destination, from: start, to: end)
    }

    public func positionRange(sequence: Int32) -> ClosedRange<Int>? { base.positionRange(sequence: sequence) }
    public func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32] { try base.tokenize(text, addSpecial: addSpecial) }
    public func piece(_ token: Int32) -> [UInt8] { base.piece(token) }
    public func isEndOfGeneration(_ token: Int32) -> Bool { base.isEndOfGeneration(token) }
    public func singleToken(_ text: String) -> Int32? { base.singleToken(text) }

    public func inputEmbedding(of token: Int32) throws -> [Float] {
        guard let e = base as? EmbeddingSource else { throw ThinktopError.embeddingUnavailable("this backend cannot feed embeddings") }
        return try e.inputEmbedding(of: token)
    }

    public func inputMixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) throws -> [Float] {
        guard let e = base as? EmbeddingSource else { throw ThinktopError.embeddingUnavailable("this backend cannot feed embeddings") }
        return try e.inputMixture(ids: ids, weights: weights)
    }
}

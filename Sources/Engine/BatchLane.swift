import Core
import Foundation

/// One lane of a `DecodeBatcher`: the `ModelBackend` one session steps, on its own thread.
/// Its run is sequence 1 + i, its probes' fork 1 + N + i, and the session never sees more.
/// Unchecked Sendable: one thread uses a lane at a time; the round that fills its logits
/// buffer runs while that thread waits, under the batcher's lock.
public final class BatchLane: ModelBackend, EmbeddingSource, KVShapeSource, PrefixSharing, @unchecked Sendable {
    unowned let batcher: DecodeBatcher
    public let index: Int
    /// its run's sequence and its probes' fork (they change only when the batcher moves the
    /// lane, under its lock, while the lane waits in a round)
    var main: SequenceID
    var probe: SequenceID
    /// taking part in the batcher's rounds (guarded by the batcher's lock)
    var joined = false
    /// holding its sequences (between runs they are free for others; guarded by the lock)
    var seated = true
    private let buffer: UnsafeMutableBufferPointer<Float>
    private var hasLogits = false
    private var context: LlamaContext { batcher.context }

    init(batcher: DecodeBatcher, index: Int) {
        self.batcher = batcher
        self.index = index
        main = SequenceID(rawValue: Int32(1 + index))
        probe = SequenceID(rawValue: Int32(1 + batcher.laneCount + index))
        buffer = .allocate(capacity: batcher.context.vocabularySize)
    }

    deinit { buffer.deallocate() }

    /// Called by the round, under the batcher's lock: the row is valid only until the next decode.
    func keep(_ row: UnsafeBufferPointer<Float>) {
        _ = buffer.initialize(from: row)
        hasLogits = true
    }

    /// The run on this lane ended: the other lanes stop waiting for it, and its sequences are
    /// free for the runs going on to move into (the lane's next run takes free ones again when
    /// it first uses the context).
    public func finish() { batcher.leave(self) }

    /// Before any use of the lane's sequences: a run starting takes its place in the rounds
    /// (free sequences if it gave its own up). Only the lane's own thread changes `joined`
    /// and `seated`.
    private func claim() {
        if !joined || !seated { batcher.seat(self) }
    }

    /// A probe's fork kept in the run's own stream: set when the fork is made, the position
    /// where the run ends and the fork's own inputs begin. A fork copies the run's whole
    /// stream into the probe's and decodes after it; decoding in the run's stream instead,
    /// after its end, places every cell where the copy would have (same cells, same free-cell
    /// search) and keeps the probe's rows next to the other runs' in a round (their sequence
    /// ids consecutive: one micro-batch, not two). Removing the fork removes those cells. A
    /// fork cut back into the run (ThinkBrake's) becomes a real copy first.
    var forkStart: Int?

    private func mapped(_ s: SequenceID) -> SequenceID {
        switch s {
        case .main: return main
        case .probe: return forkStart == nil ? probe : main
        default: preconditionFailure("a batch lane has two sequences, not \(s)")
        }
    }

    // MARK: ModelBackend

    public var vocabularySize: Int { context.vocabularySize }
    public var embeddingSize: Int { context.embeddingSize }
    public var contextSize: Int { context.contextSize }
    public var batchSize: Int { context.batchSize }
    public var capabilities: Set<Capability> { context.capabilities.subtracting([.attention]) }
    public var sequenceCount: Int { 2 }
    public var kvShape: KVShape { context.kvShape }

    public func decode(tokens: ArraySlice<Int32>, at position: Int, sequence: SequenceID) throws {
        claim()
        hasLogits = false
        if tokens.count == 1 {
            try batcher.submit(.init(token: tokens.first!, position: position, sequence: mapped(sequence)), from: self)
        } else {
            try batcher.exclusive {
                try batcher.alone(tokens.count) { try context.decode(tokens: tokens, at: position, sequence: mapped(sequence)) }
                keep(context.logits())
            }
        }
    }

    public func decode(embedding: UnsafeBufferPointer<Float>, at position: Int, sequence: SequenceID) throws {
        claim()
        hasLogits = false
        try batcher.submit(.init(embedding: embedding, position: position, sequence: mapped(sequence)), from: self)
    }

    public func logits() -> UnsafeBufferPointer<Float> {
        precondition(hasLogits, "logits read before any decode")
        return UnsafeBufferPointer(buffer)
    }

    public func removeCells(sequence: SequenceID, from: Int, to: Int?) throws {
        claim()
        try batcher.exclusive {
            if sequence == .probe, let start = forkStart {
                if from <= start {
                    if from > 0 || to != nil {
                        // a cut into the run's positions: the fork becomes a stream of its own
                        try context.removeCells(sequence: main, from: start, to: nil)
                        forkStart = nil
                        context.copySequence(from: main, to: probe, from: 0, to: nil)
                        try context.removeCells(sequence: probe, from: from, to: to)
                        return
                    }
                    try context.removeCells(sequence: main, from: start, to: nil)
                    forkStart = nil
                    return
                }
                try context.removeCells(sequence: main, from: from, to: to)
                return
            }
            try context.removeCells(sequence: mapped(sequence), from: from, to: to)
        }
    }

    public func shiftCells(sequence: SequenceID, from: Int, to: Int?, delta: Int) throws {
        claim()
        try batcher.exclusive { try context.shiftCells(sequence: mapped(sequence), from: from, to: to, delta: delta) }
    }

    /// A stream's cells copied whole into another stream (the only copy a split cache makes).
    public func copySequence(from source: SequenceID, to destination: SequenceID, from start: Int, to end: Int?) {
        claim()
        precondition(start == 0 && end == nil, "a split cache copies whole sequences")
        batcher.exclusive {
            if source == .main, destination == .probe, forkStart == nil,
               context.positionRange(sequence: probe) == nil {
                forkStart = (context.positionRange(sequence: main)?.upperBound ?? -1) + 1
                return
            }
            context.copySequence(from: mapped(source), to: mapped(destination), from: 0, to: nil)
        }
    }

    public func positionRange(sequence: SequenceID) -> ClosedRange<Int>? {
        claim()
        return batcher.exclusive {
            guard let start = forkStart, let range = context.positionRange(sequence: main) else {
                return context.positionRange(sequence: mapped(sequence))
            }
            // the run's stream holds the run, then the fork's own inputs
            if sequence == .probe { return range }
            return start > range.lowerBound ? range.lowerBound...(start - 1) : nil
        }
    }

    public func placeSharedPrefix(of prompt: [Int32], in sequence: SequenceID) throws -> Int {
        claim()
        return try batcher.exclusive {
            sequence == .main ? try batcher.placePrompt(prompt, in: main, for: self) : try context.placeSharedPrefix(of: prompt, in: mapped(sequence))
        }
    }

    public func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32] {
        try context.model.tokenize(text, addSpecial: addSpecial)
    }

    public func piece(_ token: Int32) -> [UInt8] { context.model.piece(token) }

    public func isEndOfGeneration(_ token: Int32) -> Bool { context.model.isEndOfGeneration(token) }
    public func isControl(_ token: Int32) -> Bool { context.model.isControl(token) }
    public func singleToken(_ text: String) -> Int32? { context.model.singleToken(text) }
    public var vocabularyScans: VocabularyScans { context.model.vocabularyScans }

    // MARK: EmbeddingSource (the scale was calibrated when the batcher was made)

    public func prepareInput() throws {
        guard context.inputScale != nil else {
            throw ThinktopError.embeddingUnavailable("the batched context was made without embedding input")
        }
    }

    public func inputEmbedding(of token: Int32) throws -> [Float] { try context.inputEmbedding(of: token) }

    /// Q8_0 tables are read in place by every lane at once; other types build a dense copy on
    /// first use, so their lanes take turns.
    public func inputMixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) throws -> [Float] {
        if context.embeddings?.isQ8_0 == true { return try context.inputMixture(ids: ids, weights: weights) }
        batcher.mixtureLock.lock()
        defer { batcher.mixtureLock.unlock() }
        return try context.inputMixture(ids: ids, weights: weights)
    }
}

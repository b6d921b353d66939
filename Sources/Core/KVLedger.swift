/// What the KV cache holds, mirrored from every decode, removal, shift and sequence copy,
/// because llama.cpp no longer exposes a per-cell view. Per sequence and KV position: the
/// input evaluated there (a token or a latent embedding), its index in the sequence (the
/// position it was fed at before any shift moved it), and the attention it has received when
/// the attention tap is on. Positions a policy evicted (rather than a rewind) are remembered
/// as evicted, by index.
///
/// Sliding-window layers (Gemma 2/3) keep their own cache. With `swa_full` it holds every
/// position too, but llama.cpp may hand a cell that the window already masks to a new
/// position, so those layers can hold less than the full-attention layers: the ledger states
/// what they can still attend to (the positions within `window` of the next one) and treats
/// llama.cpp's `seq_pos_min`, which reports the sliding-window cache's minimum, as agreeing
/// when it is a held position between the ledger's minimum and the first position the
/// window still sees.
public final class KVLedger {
    public struct Entry: Equatable, Sendable {
        /// the token evaluated at this position; -1 for an embedding (latent) input
        public var token: Int32
        /// the entry's index in its sequence: the position it was fed at (0-based, prompt first)
        public var index: Int
        /// attention received so far, summed over heads, layers and queries (0 without the tap)
        public var score: Float = 0
        /// the phase of the run the input belongs to (prompt, thinking, answer)
        public var phase: Phase = .prompt
        /// which physical cell holds it: a serial given at the decode, kept by sequence copies
        /// (sequences that share a cell hold the same serial)
        public var cell: Int = 0
        public var latent: Bool { token < 0 }
    }

    /// sequence → position → entry
    public private(set) var cells: [SequenceID: [Int: Entry]] = [:]
    /// sequence → indices evicted by a policy
    public private(set) var evicted: [SequenceID: Set<Int>] = [:]
    public let shape: KVShape
    /// bytes one position takes over all layers (0 when unknown)
    public var bytesPerCell: Int { shape.bytesPerCell }
    /// The index the next main-sequence input gets (the session sets it before each decode;
    /// other sequences index their entries by position).
    public var nextIndex: Int?
    /// The phase of the next main-sequence input (the session sets it with `nextIndex`).
    public var nextPhase: Phase?
    /// Attention the main sequence's decodes paid, one vector per decode by index, in the
    /// order they happened: the scores are their running sum, and recomputing that sum in the
    /// same order after a rewind gives the very same floats.
    public private(set) var contributions: [[Float]] = []
    /// Floats the contributions may take (they grow with the square of the run's length);
    /// past it they are dropped and a rewind rebuilds the cache instead, which recomputes the
    /// scores by evaluating the inputs again. Default 16 M floats (64 MB).
    public var contributionLimit = 16 << 20
    private var contributionFloats = 0
    /// whether contributions were dropped since the ledger was last cleared
    public private(set) var contributionsDropped = false
    /// the attention of the last main decode, by index (empty without the tap)
    public var lastContribution: [Float] { contributions.last ?? [] }

    /// the serial the next decoded cell gets
    private var nextCell = 1

    public init(shape: KVShape = .unknown) { self.shape = shape }

    public func decoded(sequence: SequenceID, at position: Int, tokens: ArraySlice<Int32>) {
        let first = sequence == .main ? (nextIndex ?? position) : position
        let phase = sequence == .main ? (nextPhase ?? .prompt) : .thinking
        for (i, t) in tokens.enumerated() {
            cells[sequence, default: [:]][position + i] = Entry(token: t, index: first + i, phase: phase, cell: nextCell)
            nextCell += 1
            evicted[sequence]?.remove(first + i)
        }
        if sequence == .main { nextIndex = nil; nextPhase = nil }
    }

    public func decodedEmbedding(sequence: SequenceID, at position: Int) {
        decoded(sequence: sequence, at: position, tokens: [Int32(-1)][...])
    }

    /// Positions in [from, to) leave `sequence` (every sequence when negative); `eviction`
    /// marks their indices evicted, not rewound. Returns the indices removed (of the lowest
    /// sequence touched), in position order.
    @discardableResult
    public func removed(sequence: SequenceID, from: Int, to: Int?, eviction: Bool = false) -> [Int] {
        var out: [Int] = []
        let seqs = sequence == .all ? cells.keys.sorted() : [sequence]
        for s in seqs {
            guard let held = cells[s] else { continue }
            let gone = held.keys.filter { $0 >= max(0, from) && (to == nil || $0 < to!) }.sorted()
            let indices = gone.map { held[$0]!.index }
            for p in gone { cells[s]![p] = nil }
            if eviction { evicted[s, default: []].formUnion(indices) }
            if out.isEmpty { out = indices }
        }
        return out
    }

    public func shifted(sequence: SequenceID, from: Int, to: Int?, delta: Int) {
        guard let held = cells[sequence] else { return }
        var next: [Int: Entry] = [:]
        for (p, e) in held {
            if p >= from && (to == nil || p < to!) {
                if p + delta >= 0 { next[p + delta] = e }     // llama.cpp frees a cell shifted below 0
            } else {
                next[p] = e
            }
        }
        cells[sequence] = next
    }

    public func copied(from source: SequenceID, to destination: SequenceID, from start: Int, to end: Int?) {
        guard let held = cells[source] else { return }
        for (p, e) in held where p >= max(0, start) && (end == nil || p < end!) {
            cells[destination, default: [:]][p] = e
        }
    }

    /// Forgets the run's sequences (main and probe) and the attention paid; parked branches'
    /// sequences stay (see `DecodingSession`'s branches).
    /// A sequence's cells written back from host memory: the entries they had (new cells,
    /// so new serials).
    public func restored(sequence: SequenceID, cells held: [Int: Entry]) {
        var fresh: [Int: Entry] = [:]
        for (p, e) in held {
            var e = e
            e.cell = nextCell
            nextCell += 1
            fresh[p] = e
        }
        cells[sequence] = fresh
    }

    public func cleared() {
        for s in SequenceID.used { cells[s] = nil; evicted[s] = nil }
        contributions.removeAll()
        contributionFloats = 0
        contributionsDropped = false
        nextIndex = nil
    }

    /// What the ledger knows of the main sequence beyond its cells: the evicted indices and
    /// the attention paid (a parked branch keeps it; its cells are kept by a sequence copy).
    struct MainMemory {
        var evicted: Set<Int>
        var contributions: [[Float]]
        var floats: Int
        var dropped: Bool
    }

    var mainMemory: MainMemory {
        get { MainMemory(evicted: evicted[.main] ?? [], contributions: contributions, floats: contributionFloats,
                         dropped: contributionsDropped) }
        set {
            evicted[.main] = newValue.evicted
            contributions = newValue.contributions
            contributionFloats = newValue.floats
            contributionsDropped = newValue.dropped
        }
    }

    /// whether two sequences share any cell
    func shareCells(_ a: SequenceID, _ b: SequenceID) -> Bool {
        guard let x = cells[a], let y = cells[b] else { return false }
        let mine = Set(x.values.map(\.cell))
        return y.values.contains { mine.contains($0.cell) }
    }

    // MARK: attention

    /// Adds one main decode's attention (by KV position, as the tap reports it) to the
    /// scores of the entries holding those positions, and keeps it by index.
    func attended(_ byPosition: UnsafeBufferPointer<Float>) {
        guard var held = cells[.main] else { return }
        cells[.main] = nil                  // mutated below without a copy, put back at the end
        defer { cells[.main] = held }
        var newest = -1
        for e in held.values where e.index > newest { newest = e.index }
        var byIndex = [Float](repeating: 0, count: newest + 1)
        if contributionFloats + byIndex.count > contributionLimit {
            contributions.removeAll()
            contributionFloats = 0
            contributionsDropped = true
        }
        // one pass: the vector kept for rewinds, and the scores
        for (p, e) in held where p < byPosition.count {
            byIndex[e.index] = byPosition[p]
            held[p]!.score = e.score + byPosition[p]
        }
        contributions.append(byIndex)
        contributionFloats += byIndex.count
    }

    /// Keeps the first `count` contributions and recomputes every main entry's score from them
    /// in their original order (after a rewind).
    func keepContributions(_ count: Int) {
        if contributions.count > count {
            contributionFloats -= contributions[count...].reduce(0) { $0 + $1.count }
            contributions.removeLast(contributions.count - count)
        }
        guard var held = cells[.main] else { return }
        for (p, e) in held {
            var s: Float = 0
            for c in contributions where e.index < c.count { s += c[e.index] }
            held[p]!.score = s
        }
        cells[.main] = held
    }

    /// The main sequence's evicted indices after a rewind (those of the evictions that stand).
    func setEvicted(_ indices: Set<Int>) {
        evicted[.main] = indices
    }

    // MARK: queries

    /// Smallest and largest position held for `sequence`.
    public func range(sequence: SequenceID) -> ClosedRange<Int>? {
        guard let held = cells[sequence], let lo = held.keys.min(), let hi = held.keys.max() else { return nil }
        return lo...hi
    }

    public func count(sequence: SequenceID) -> Int { cells[sequence]?.count ?? 0 }

    /// Cells in use over all sequences (forks and parked branches share their source's
    /// cells), exactly; with `below`, the sum of the sequences' counts (which bounds it) is
    /// returned when it is under `below`, sparing the count when there is room anyway.
    public func cellsInUse(below: Int = 0) -> Int {
        let total = cells.values.reduce(0) { $0 + $1.count }
        if total < below || cells.count <= 1 { return total }
        var distinct = Set<Int>(minimumCapacity: total)
        for held in cells.values { for e in held.values { distinct.insert(e.cell) } }
        return distinct.count
    }
    public var cellsInUse: Int { cellsInUse() }

    /// The main sequence's live entries in position order.
    public func entries(sequence: SequenceID = .main) -> [(position: Int, entry: Entry)] {
        (cells[sequence] ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The position that holds `index` in `sequence`, if it is still held.
    public func position(ofIndex index: Int, sequence: SequenceID = .main) -> Int? {
        cells[sequence]?.first { $0.value.index == index }?.key
    }

    /// Indices the sliding-window layers can still attend to from the next position: those
    /// whose position is within `window` of the newest (nil when the model has no such layers).
    public func slidingWindowIndices(sequence: SequenceID = .main) -> ClosedRange<Int>? {
        guard let w = shape.slidingWindow, let r = range(sequence: sequence) else { return nil }
        // llama.cpp masks p0 for the query at p1 when p1 − p0 ≥ window; the next query is at newest + 1
        let inWindow = (cells[sequence] ?? [:]).filter { $0.key > r.upperBound + 1 - w }.map(\.value.index)
        guard let lo = inWindow.min(), let hi = inWindow.max() else { return nil }
        return lo...hi
    }

    /// Bytes the sequence's live cells take.
    public func bytes(sequence: SequenceID) -> Int { count(sequence: sequence) * bytesPerCell }

    /// A description of the first disagreement with the backend's position ranges, nil when
    /// the ledger and the cache agree for every sequence either knows. On models with
    /// sliding-window layers llama.cpp's minimum may be any position from the ledger's
    /// minimum up to newest − window + 1 (see the type's comment).
    public func disagreement(with backend: ModelBackend, sequences: [SequenceID] = SequenceID.used) -> String? {
        for s in sequences {
            let mine = range(sequence: s)
            let theirs = backend.positionRange(sequence: s)
            if mine == theirs { continue }
            // the sliding-window cache may have handed masked cells to new positions: its
            // minimum is then a held position no later than the first one still in the window
            if let m = mine, let t = theirs, let w = shape.slidingWindow, t.upperBound == m.upperBound,
               t.lowerBound >= m.lowerBound, cells[s]?[t.lowerBound] != nil,
               let firstUnmasked = cells[s]?.keys.filter({ $0 > m.upperBound + 1 - w }).min(),
               t.lowerBound <= firstUnmasked {
                continue
            }
            return "sequence \(s): ledger holds \(mine.map { "\($0)" } ?? "nothing"), the cache \(theirs.map { "\($0)" } ?? "nothing")"
        }
        return nil
    }
}

/// A backend that keeps a `KVLedger` in step with every cache operation passing through it.
/// Everything a session, a probe or a strategy does to the cache goes through here. In debug
/// builds every operation is checked against llama.cpp's position ranges.
public final class LedgerBackend: ModelBackend, EmbeddingSource {
    public let base: ModelBackend
    public let ledger: KVLedger
    /// the base's attention tap, when it has one and it is on
    public let attention: AttentionSource?

    public init(_ base: ModelBackend, shape: KVShape? = nil) {
        self.base = base
        ledger = KVLedger(shape: shape ?? (base as? KVShapeSource)?.kvShape ?? .unknown)
        let tap = base as? AttentionSource
        attention = tap?.capturesAttention == true ? tap : nil
        // whatever the cache held before, the ledger starts from an empty cache
        for s in SequenceID.used { try? base.removeCells(sequence: s, from: 0, to: nil) }
    }

    public var vocabularySize: Int { base.vocabularySize }
    public var embeddingSize: Int { base.embeddingSize }
    public var contextSize: Int { base.contextSize }
    public var batchSize: Int { base.batchSize }
    public var capabilities: Set<Capability> { base.capabilities }
    public var sequenceCount: Int { base.sequenceCount }

    public func sequenceState(_ sequence: SequenceID) -> [UInt8]? { base.sequenceState(sequence) }

    /// Restores cells saved with `sequenceState` and what the ledger knew of them (`cells`).
    public func setSequenceState(_ data: [UInt8], _ sequence: SequenceID) throws {
        try base.setSequenceState(data, sequence)
        ledger.restored(sequence: sequence, cells: [:])
        check()
    }

    /// The same, with the ledger's entries for the cells as they were saved.
    public func setSequenceState(_ data: [UInt8], _ sequence: SequenceID, cells: [Int: KVLedger.Entry]) throws {
        try base.setSequenceState(data, sequence)
        ledger.restored(sequence: sequence, cells: cells)
        check()
    }
    public var backendName: String { base.backendName }
    public var capabilityHints: [Capability: String] { base.capabilityHints }

    public func decode(tokens: ArraySlice<Int32>, at position: Int, sequence: SequenceID) throws {
        try base.decode(tokens: tokens, at: position, sequence: sequence)
        ledger.decoded(sequence: sequence, at: position, tokens: tokens)
        afterDecode(sequence)
    }

    public func decode(embedding: UnsafeBufferPointer<Float>, at position: Int, sequence: SequenceID) throws {
        try base.decode(embedding: embedding, at: position, sequence: sequence)
        ledger.decodedEmbedding(sequence: sequence, at: position)
        afterDecode(sequence)
    }

    private func afterDecode(_ sequence: SequenceID) {
        if sequence == .main, let tap = attention { ledger.attended(tap.lastAttention()) }
        check()
    }

    public func logits() -> UnsafeBufferPointer<Float> { base.logits() }

    public func removeCells(sequence: SequenceID, from: Int, to: Int?) throws {
        try base.removeCells(sequence: sequence, from: from, to: to)
        ledger.removed(sequence: sequence, from: from, to: to)
        check()
    }

    /// A removal by an eviction policy: the indices are remembered as evicted and returned.
    @discardableResult
    public func evictCells(sequence: SequenceID, from: Int, to: Int?) throws -> [Int] {
        try base.removeCells(sequence: sequence, from: from, to: to)
        let gone = ledger.removed(sequence: sequence, from: from, to: to, eviction: true)
        check()
        return gone
    }

    public func shiftCells(sequence: SequenceID, from: Int, to: Int?, delta: Int) throws {
        try base.shiftCells(sequence: sequence, from: from, to: to, delta: delta)
        ledger.shifted(sequence: sequence, from: from, to: to, delta: delta)
        check()
    }

    public func copySequence(from source: SequenceID, to destination: SequenceID, from start: Int, to end: Int?) {
        base.copySequence(from: source, to: destination, from: start, to: end)
        ledger.copied(from: source, to: destination, from: start, to: end)
        check()
    }

    /// Debug builds stop at the first operation after which the ledger and llama.cpp disagree.
    private func check() {
        #if DEBUG
        if let d = ledger.disagreement(with: base) { print("KV ledger out of step: \(d)"); preconditionFailure("KV ledger out of step: \(d)") }
        #endif
    }

    public func positionRange(sequence: SequenceID) -> ClosedRange<Int>? { base.positionRange(sequence: sequence) }
    public func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32] { try base.tokenize(text, addSpecial: addSpecial) }
    public func piece(_ token: Int32) -> [UInt8] { base.piece(token) }
    public func isEndOfGeneration(_ token: Int32) -> Bool { base.isEndOfGeneration(token) }
    public func isControl(_ token: Int32) -> Bool { base.isControl(token) }
    public func singleToken(_ text: String) -> Int32? { base.singleToken(text) }
    public var vocabularyScans: VocabularyScans { base.vocabularyScans }

    /// Which query rows of the next decodes the tap counts (see `AttentionSource`).
    public var attentionQueries: Range<Int>? {
        get { attention?.attentionQueries }
        set { attention?.attentionQueries = newValue }
    }

    public func inputEmbedding(of token: Int32) throws -> [Float] {
        guard let e = base as? EmbeddingSource else { throw ThinktopError.embeddingUnavailable("this backend cannot feed embeddings") }
        return try e.inputEmbedding(of: token)
    }

    public func inputMixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) throws -> [Float] {
        guard let e = base as? EmbeddingSource else { throw ThinktopError.embeddingUnavailable("this backend cannot feed embeddings") }
        return try e.inputMixture(ids: ids, weights: weights)
    }

    public func prepareInput() throws {
        guard let e = base as? EmbeddingSource else { throw ThinktopError.embeddingUnavailable("this backend cannot feed embeddings") }
        try e.prepareInput()
    }
}

/// What Core knows of a model: evaluate an input at a position, read the next-token
/// logits, edit the KV cache, and tokenize. The Engine implements it over llama.cpp;
/// tests implement it with scripted logits.
///
/// Call order per step: `decode(…)` at position p, then `logits()` is the distribution
/// for position p + 1 and stays valid until the next decode or KV edit.
public protocol ModelBackend: AnyObject {
    var vocabularySize: Int { get }
    var embeddingSize: Int { get }
    /// Positions the context holds.
    var contextSize: Int { get }
    /// Largest number of tokens one decode call accepts.
    var batchSize: Int { get }

    /// Evaluates tokens at consecutive positions starting at `position` on `sequence`;
    /// afterwards `logits()` belongs to the last of them.
    func decode(tokens: ArraySlice<Int32>, at position: Int, sequence: Int32) throws
    /// Evaluates one input embedding (already in the model's input scale) at `position`.
    func decode(embedding: UnsafeBufferPointer<Float>, at position: Int, sequence: Int32) throws
    /// Next-token logits after the last decode, `vocabularySize` floats, not copied.
    func logits() -> UnsafeBufferPointer<Float>

    /// Removes the cells of `sequence` with positions in [from, to) (`to` nil: to the end).
    func removeCells(sequence: Int32, from: Int, to: Int?) throws
    /// Adds `delta` to the positions in [from, to) of `sequence`.
    func shiftCells(sequence: Int32, from: Int, to: Int?, delta: Int) throws
    /// Copies the cells of `source` into `destination` (positions [from, to)).
    func copySequence(from source: Int32, to destination: Int32, from start: Int, to end: Int?)
    /// The smallest and largest position held for `sequence`, nil when empty.
    func positionRange(sequence: Int32) -> ClosedRange<Int>?

    func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32]
    /// The bytes a token stands for (special tokens rendered as their text).
    func piece(_ token: Int32) -> [UInt8]
    func isEndOfGeneration(_ token: Int32) -> Bool
    /// The single token that `text` tokenizes to with special tokens parsed, if there is one.
    func singleToken(_ text: String) -> Int32?
}

/// A backend that can report the attention its decodes paid to each cached position (the
/// attention tap: softmax probabilities read out of the model's graph, so flash attention
/// must be off). H2O and SnapKV evict by it; the KV map shades positions by it.
public protocol AttentionSource: AnyObject {
    /// whether attention is captured at all (fixed when the context is made)
    var capturesAttention: Bool { get }
    /// The query rows that count in the next decodes: nil counts only the last input of each
    /// decode (a generated token); a range counts every input whose position lies in it
    /// (SnapKV's observation window, H2O's prompt rows).
    var attentionQueries: Range<Int>? { get set }
    /// After a decode: the attention the counted query rows paid to each position of the
    /// decoded sequence, summed over heads, layers and rows, indexed by KV position (a
    /// position the sequence does not hold reads 0). Valid until the next decode or KV edit.
    func lastAttention() -> UnsafeBufferPointer<Float>
}

/// How the model's KV cache is laid out, for the ledger and the map.
public struct KVShape: Sendable, Equatable {
    /// one group of layers sharing a cache: all layers of a plain model; on models with
    /// sliding-window attention (Gemma 2/3, …) the full-attention and the sliding-window layers
    public struct Band: Sendable, Equatable {
        public var layers: Int
        /// nil: the layers attend to every position; n: only to the last n
        public var window: Int?
        /// bytes one position takes in these layers (K and V)
        public var bytesPerCell: Int
        public init(layers: Int, window: Int?, bytesPerCell: Int) {
            self.layers = layers; self.window = window; self.bytesPerCell = bytesPerCell
        }
    }
    public var bands: [Band]
    /// whether positions can be moved (`llama_memory_can_shift`): StreamingLLM needs it
    public var canShift: Bool
    public init(bands: [Band], canShift: Bool = true) { self.bands = bands; self.canShift = canShift }

    public var bytesPerCell: Int { bands.reduce(0) { $0 + $1.bytesPerCell } }
    /// the sliding window, when some layers have one
    public var slidingWindow: Int? { bands.compactMap(\.window).min() }
    public static let unknown = KVShape(bands: [])
}

/// Backends that know their cache's shape.
public protocol KVShapeSource: AnyObject {
    var kvShape: KVShape { get }
}

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

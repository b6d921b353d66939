import Foundation

/// A sequence of the model's KV cache. Core uses three, by name: the run itself, the fork a
/// probe decodes on, and a scratch sequence for one-off evaluations.
public struct SequenceID: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
                          CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(integerLiteral value: Int32) { rawValue = value }

    /// the run: prompt and generated inputs
    public static let main: SequenceID = 0
    /// a probe's fork of the run (removed after every probe)
    public static let probe: SequenceID = 1
    /// every sequence at once (llama.cpp's −1), for removals
    public static let all: SequenceID = -1
    /// the sequences a session uses
    public static let used: [SequenceID] = [.main, .probe]

    public static func < (a: SequenceID, b: SequenceID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "\(rawValue)" }
}

/// Something a model backend can do for a decoding strategy or a KV policy. A strategy
/// declares what it needs; a backend what it offers; what is missing makes the strategy
/// unavailable, with the reason shown (`Capability.missing`).
public enum Capability: String, Sendable, CaseIterable, Comparable {
    /// every next-token logit (exact entropy, softmax, pᵀE)
    case fullDistribution = "full distribution"
    /// the most likely tokens with their probabilities (what inference servers return);
    /// offered by every backend that offers the full distribution
    case topK = "top-k distribution"
    /// banning tokens (logit −∞) and biasing logits before sampling
    case tokenBans = "token bans"
    /// decoding on a copy of the run's sequence (probes; on a server, extra requests)
    case forks
    /// every token's text, to find the tokens a strategy bans by what they spell
    case vocabulary = "vocabulary listing"
    /// feeding an embedding instead of a token (latent thinking)
    case embeddingInput = "embedding input"
    /// removing and moving cache positions (KV policies)
    case kvEdits = "KV edits"
    /// the attention each cached position receives (H2O, SnapKV)
    case attention

    public static func < (a: Capability, b: Capability) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// What `offered` lacks of `needed` (a full distribution serves top-k needs too).
    public static func missing(_ needed: Set<Capability>, offered: Set<Capability>) -> [Capability] {
        var have = offered
        if have.contains(.fullDistribution) { have.insert(.topK) }
        return needed.subtracting(have).sorted()
    }

    /// "needs embedding input, which this backend does not offer", and what would offer a
    /// missing capability when the backend knows (`hints`)
    public static func reason(_ missing: [Capability], backend: String = "this backend",
                              hints: [Capability: String] = [:]) -> String? {
        guard !missing.isEmpty else { return nil }
        let list = missing.map(\.rawValue)
        let named = list.count == 1 ? list[0] : list.dropLast().joined(separator: ", ") + " and " + list.last!
        let hint = missing.compactMap { hints[$0] }.joined(separator: "; ")
        return "needs \(named), which \(backend) does not offer" + (hint.isEmpty ? "" : " (\(hint))")
    }
}

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
    /// What this backend can do (see `Capability`).
    var capabilities: Set<Capability> { get }
    /// how a refusal names it: "which llama-server does not offer" (default "this backend")
    var backendName: String { get }
    /// what would give a capability this backend lacks, when something would (a refusal says it)
    var capabilityHints: [Capability: String] { get }

    /// Evaluates tokens at consecutive positions starting at `position` on `sequence`;
    /// afterwards `logits()` belongs to the last of them.
    func decode(tokens: ArraySlice<Int32>, at position: Int, sequence: SequenceID) throws
    /// Evaluates one input embedding (already in the model's input scale) at `position`.
    func decode(embedding: UnsafeBufferPointer<Float>, at position: Int, sequence: SequenceID) throws
    /// Next-token logits after the last decode, `vocabularySize` floats, not copied; read-only.
    func logits() -> UnsafeBufferPointer<Float>

    /// Removes the cells of `sequence` with positions in [from, to) (`to` nil: to the end).
    func removeCells(sequence: SequenceID, from: Int, to: Int?) throws
    /// Adds `delta` to the positions in [from, to) of `sequence`.
    func shiftCells(sequence: SequenceID, from: Int, to: Int?, delta: Int) throws
    /// Copies the cells of `source` into `destination` (positions [from, to)).
    func copySequence(from source: SequenceID, to destination: SequenceID, from start: Int, to end: Int?)
    /// how many sequences the cache can hold (ids 0 ..< count): main, probe, then the parked
    /// branches'
    var sequenceCount: Int { get }
    /// A sequence's cells copied out to host memory, nil when the backend cannot
    func sequenceState(_ sequence: SequenceID) -> [UInt8]?
    /// Writes cells copied out by `sequenceState` into an empty sequence
    func setSequenceState(_ data: [UInt8], _ sequence: SequenceID) throws
    /// The smallest and largest position held for `sequence`, nil when empty.
    func positionRange(sequence: SequenceID) -> ClosedRange<Int>?

    func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32]
    /// The bytes a token stands for (special tokens rendered as their text).
    func piece(_ token: Int32) -> [UInt8]
    func isEndOfGeneration(_ token: Int32) -> Bool
    /// Whether a token is a control token (end of turn, chat-template markers): its text is
    /// not part of what the model says, so it never reaches the visible output.
    func isControl(_ token: Int32) -> Bool
    /// The single token that `text` tokenizes to with special tokens parsed, if there is one.
    func singleToken(_ text: String) -> Int32?
    /// Token lists derived from the whole vocabulary, kept for every session on the same model.
    var vocabularyScans: VocabularyScans { get }
}

extension ModelBackend {
    /// Test doubles and backends without a model of their own: nothing kept between calls.
    public var vocabularyScans: VocabularyScans { VocabularyScans() }
    public var sequenceCount: Int { 2 }
    public func sequenceState(_ sequence: SequenceID) -> [UInt8]? { nil }
    public func setSequenceState(_ data: [UInt8], _ sequence: SequenceID) throws {
        throw ThinktopError.kvEditFailed("this backend cannot restore cells from host memory")
    }
    public var backendName: String { "this backend" }
    public var capabilityHints: [Capability: String] { [:] }

    /// Test doubles: end-of-generation tokens are the control tokens.
    public func isControl(_ token: Int32) -> Bool { isEndOfGeneration(token) }
}

/// The tokens strategies pick out of the whole vocabulary by a rule (NoWait's masked words,
/// CGRS's triggers: a pass over every token's bytes, 30–200 ms for Gemma 3's 262,144), done
/// once per model and rule instead of once per run: an evaluation's 64 lanes, every run of a
/// set and the workbench's sessions share them. Thread-safe; a second asker of a rule being
/// scanned waits for that scan.
public final class VocabularyScans: @unchecked Sendable {
    private let lock = NSLock()
    private var done: [String: [Int32]] = [:]

    public init() {}

    /// The tokens `scan` picks; `rule` names everything the scan depends on.
    public func tokens(rule: String, _ scan: () throws -> [Int32]) rethrows -> [Int32] {
        lock.lock()
        defer { lock.unlock() }
        if let tokens = done[rule] { return tokens }
        let tokens = try scan()
        done[rule] = tokens
        return tokens
    }

    /// How many rules have been scanned.
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return done.count
    }
}

/// A backend that holds the evaluation of a prompt prefix many runs share (an evaluation's
/// few-shot examples, the one prompt `compare` runs under every set) and copies it into a
/// run's sequence instead of evaluating it again (`llama_memory_seq_cp`).
public protocol PrefixSharing: AnyObject {
    /// Places the longest prefix of `prompt` it holds at positions 0… of the empty `sequence`:
    /// at most `prompt.count − 1` tokens (the rest evaluated by the caller, for the last
    /// token's logits), or the whole prompt when it holds that prompt's logits too (`logits()`
    /// gives them then). Returns how many tokens it placed (0: none).
    func placeSharedPrefix(of prompt: [Int32], in sequence: SequenceID) throws -> Int
}

extension PrefixSharing {
    /// The length of the common start of two token lists.
    public static func commonLength(_ a: [Int32], _ b: [Int32]) -> Int {
        var n = 0
        while n < a.count, n < b.count, a[n] == b[n] { n += 1 }
        return n
    }
}

/// A backend that can give token embeddings in its input scale (for latent thinking).
public protocol EmbeddingSource: AnyObject {
    /// Gets the embeddings ready (loading the table, calibrating the input scale); may decode
    /// on the context, so the session keeps the main logits aside first. After it, the two
    /// methods below never touch the context.
    func prepareInput() throws
    /// E[token]·scale
    func inputEmbedding(of token: Int32) throws -> [Float]
    /// Σ weights[i]·E[ids[i]]·scale
    func inputMixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) throws -> [Float]
}

extension EmbeddingSource {
    public func prepareInput() throws {}
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

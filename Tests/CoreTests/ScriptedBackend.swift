import Foundation
@testable import Core

/// A model whose next-token logits are a fixed function of what was last decoded, with a
/// tiny vocabulary of known pieces. Cells are kept per sequence, as llama.cpp's memory does:
/// `copySequence` copies, `removeCells` removes only that sequence's cells, and a decode
/// checks that its own sequence holds the history before the position, as llama.cpp requires.
/// Probes (sequence 1, forked from 0) can therefore be scripted separately from the main run.
final class ScriptedBackend: ModelBackend, AttentionSource {
    static let pieces: [String] = ["<eos>", "<think>", "</think>", "\n", "Wait", " ok", "Answer: 9", "\nProblem:", " so", " 9"]
    /// extra pieces of this instance, with ids after the byte tokens (pieces.count + 5 + i)
    let extraPieces: [String]
    var vocabularySize: Int { Self.pieces.count + extraBytes.count + extraPieces.count }
    let embeddingSize = 4
    let contextSize: Int
    let batchSize: Int
    /// what this scripted model offers (everything but embeddings, by default; attention when
    /// an attention rule is set)
    var offered: Set<Capability> = [.fullDistribution, .topK, .tokenBans, .forks, .vocabulary, .kvEdits]
    var capabilities: Set<Capability> { attentionRule == nil ? offered : offered.union([.attention]) }
    /// tokens that stand for single raw bytes (to split multi-byte characters)
    let extraBytes: [UInt8] = [0xC3, 0xA9, 0xE6, 0x9D, 0xB1]

    /// What a decode fed, as the logits rule sees it.
    struct Decoded {
        let sequence: SequenceID
        /// position of the last input of the decode call
        let position: Int
        /// the last token of the decode call (−1 for an embedding)
        let token: Int32
        /// the sequence's inputs at positions 0…position (−1 for embeddings)
        let history: [Int32]
    }

    /// sequence → (position → token held in the "cache"; −1 for an embedding)
    private(set) var sequences: [SequenceID: [Int: Int32]] = [:]
    private(set) var decodeCalls: [(position: Int, count: Int)] = []
    /// every decode call's sequence, in order
    private(set) var decodeSequences: [SequenceID] = []
    private(set) var copyCalls: [(source: SequenceID, destination: SequenceID)] = []
    /// The logits of the last decode, in one buffer that every decode overwrites in place, as
    /// llama.cpp's output buffer is: a pointer kept past the next decode reads the new values,
    /// so a stale read shows in the tests instead of hiding in freed memory.
    private let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 4096)
    private var valid = 0
    private var current: [Float] {
        get { valid == 0 ? [] : Array(buffer.prefix(valid)) }
        set {
            precondition(newValue.count <= buffer.count, "scripted vocabulary too large")
            _ = buffer.initialize(from: newValue)
            valid = newValue.count
        }
    }
    deinit { buffer.deallocate() }
    /// the rule: logits at the next position given what was decoded
    let rule: (Decoded) -> [Float]

    /// A rule that sees only the last token and its position, the same on every sequence.
    convenience init(contextSize: Int = 64, batchSize: Int = 4, extraPieces: [String] = [],
                     rule: @escaping (Int32, Int) -> [Float]) {
        self.init(contextSize: contextSize, batchSize: batchSize, extraPieces: extraPieces,
                  sequenceRule: { rule($0.token, $0.position) })
    }

    /// A rule that sees the sequence, the position, the token and the sequence's history.
    init(contextSize: Int = 64, batchSize: Int = 4, extraPieces: [String] = [],
         sequenceRule: @escaping (Decoded) -> [Float]) {
        self.contextSize = contextSize
        self.batchSize = batchSize
        self.extraPieces = extraPieces
        self.rule = sequenceRule
    }

    /// The cells of one sequence.
    func cells(_ sequence: SequenceID) -> [Int: Int32] { sequences[sequence] ?? [:] }

    /// logits that make `script[step]` the clear favourite at generation step `step`
    static func following(_ script: [Int32], promptLength: Int, vocabulary: Int) -> (Int32, Int) -> [Float] {
        { _, position in
            var l = [Float](repeating: 0, count: vocabulary)
            let step = position + 1 - promptLength
            let t = step >= 0 && step < script.count ? script[step] : 0
            l[Int(t)] = 8
            l[(Int(t) + 1) % vocabulary] = 1   // a runner-up, so the margin is not trivial
            return l
        }
    }

    /// With evictions the history has holes; llama.cpp then only asks that a decode follows
    /// the sequence's newest position.
    var allowsHoles = false

    private func checkHistory(before position: Int, sequence: SequenceID) throws {
        let held = sequences[sequence] ?? [:]
        if allowsHoles {
            if let newest = held.keys.max(), newest != position - 1 { throw ThinktopError.decodeFailed(position: position, code: -98) }
            return
        }
        for p in 0..<position where held[p] == nil { throw ThinktopError.decodeFailed(position: p, code: -99) }
    }

    private func history(through position: Int, sequence: SequenceID) -> [Int32] {
        let held = sequences[sequence] ?? [:]
        return (0...position).map { held[$0] ?? -2 }
    }

    func decode(tokens: ArraySlice<Int32>, at position: Int, sequence: SequenceID) throws {
        precondition(tokens.count <= batchSize)
        try checkHistory(before: position, sequence: sequence)
        for (i, t) in tokens.enumerated() { sequences[sequence, default: [:]][position + i] = t }
        decodeCalls.append((position, tokens.count))
        decodeSequences.append(sequence)
        attend(sequence: sequence, first: position, count: tokens.count)
        let lastPos = position + tokens.count - 1
        current = rule(Decoded(sequence: sequence, position: lastPos, token: tokens.last!,
                               history: history(through: lastPos, sequence: sequence)))
    }

    func decode(embedding: UnsafeBufferPointer<Float>, at position: Int, sequence: SequenceID) throws {
        try checkHistory(before: position, sequence: sequence)
        sequences[sequence, default: [:]][position] = -1
        decodeSequences.append(sequence)
        attend(sequence: sequence, first: position, count: 1)
        current = rule(Decoded(sequence: sequence, position: position, token: -1,
                               history: history(through: position, sequence: sequence)))
    }

    /// Like the engine: reading logits after a KV edit and before the next decode is a bug.
    func logits() -> UnsafeBufferPointer<Float> {
        precondition(valid > 0, "logits read before any decode (or after a KV edit)")
        return UnsafeBufferPointer(start: buffer.baseAddress, count: valid)
    }

    /// A negative sequence means every sequence (as in llama.cpp).
    func removeCells(sequence: SequenceID, from: Int, to: Int?) throws {
        current = []
        for s in sequences.keys where sequence == .all || s == sequence {
            for p in sequences[s]!.keys where p >= from && (to == nil || p < to!) { sequences[s]![p] = nil }
        }
    }

    private(set) var shiftCalls = 0

    func shiftCells(sequence: SequenceID, from: Int, to: Int?, delta: Int) throws {
        current = []
        shiftCalls += 1
        guard let held = sequences[sequence] else { return }
        var next: [Int: Int32] = [:]
        for (p, t) in held {
            if p >= from && (to == nil || p < to!) { if p + delta >= 0 { next[p + delta] = t } } else { next[p] = t }
        }
        sequences[sequence] = next
    }

    func copySequence(from source: SequenceID, to destination: SequenceID, from start: Int, to end: Int?) {
        copyCalls.append((source, destination))
        for (p, t) in sequences[source] ?? [:] where p >= start && (end == nil || p < end!) {
            sequences[destination, default: [:]][p] = t
        }
    }

    /// a prefix decoded on another sequence, which `placeSharedPrefix` copies into a run's
    /// (nil: none, and nothing is placed)
    var heldPrefix: (tokens: [Int32], sequence: SequenceID)?

    func positionRange(sequence: SequenceID) -> ClosedRange<Int>? {
        let held = sequences[sequence] ?? [:]
        guard let lo = held.keys.min(), let hi = held.keys.max() else { return nil }
        return lo...hi
    }

    private var allPieces: [String] { Self.pieces + extraBytes.map { _ in "" } + extraPieces }

    /// A text that is one piece is that token; otherwise the longest known piece is taken at
    /// each point, and a byte no piece starts with becomes " ok" (token 5).
    func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32] {
        guard !text.isEmpty else { return [] }
        let pieces = allPieces
        if let i = pieces.firstIndex(of: text) { return [Int32(i)] }
        let bytes = Array(text.utf8)
        var out: [Int32] = []
        var i = 0
        while i < bytes.count {
            var best = -1, bestLength = 0
            for (id, piece) in pieces.enumerated() where !piece.isEmpty {
                let p = Array(piece.utf8)
                if p.count > bestLength, i + p.count <= bytes.count, Array(bytes[i..<(i + p.count)]) == p {
                    best = id
                    bestLength = p.count
                }
            }
            if best < 0 {
                out.append(5)
                i += 1
            } else {
                out.append(Int32(best))
                i += bestLength
            }
        }
        return out
    }

    /// how many token pieces were asked for (a vocabulary scan asks for every one)
    var piecesRead = 0
    /// scans kept like a model's (nil: none kept, the protocol's default)
    var keptScans: VocabularyScans?
    var vocabularyScans: VocabularyScans { keptScans ?? VocabularyScans() }

    func piece(_ token: Int32) -> [UInt8] {
        piecesRead += 1
        let i = Int(token)
        if i < Self.pieces.count { return Array(Self.pieces[i].utf8) }
        if i < Self.pieces.count + extraBytes.count { return [extraBytes[i - Self.pieces.count]] }
        return Array(extraPieces[i - Self.pieces.count - extraBytes.count].utf8)
    }

    func isEndOfGeneration(_ token: Int32) -> Bool { token == 0 }

    // MARK: scripted attention

    /// The attention a decode's query pays to the cell at a position holding a token; nil: no tap.
    var attentionRule: ((_ position: Int, _ token: Int32) -> Float)?
    var attentionQueries: Range<Int>?
    private var attention: [Float] = []
    var capturesAttention: Bool { attentionRule != nil }
    func lastAttention() -> UnsafeBufferPointer<Float> {
        attention.withUnsafeBufferPointer { UnsafeBufferPointer(start: $0.baseAddress, count: $0.count) }
    }

    /// One query row per decode (the last input), or one per input in `attentionQueries`,
    /// each paying `attentionRule` to every cell it can see.
    private func attend(sequence: SequenceID, first: Int, count: Int) {
        guard let rule = attentionRule else { return }
        let held = sequences[sequence] ?? [:]
        attention = [Float](repeating: 0, count: (held.keys.max() ?? -1) + 1)
        let rows = (first..<(first + count)).filter { attentionQueries?.contains($0) ?? ($0 == first + count - 1) }
        for q in rows { for (p, t) in held where p <= q { attention[p] += rule(p, t) } }
    }

    func singleToken(_ text: String) -> Int32? {
        text.isEmpty ? nil : allPieces.firstIndex(of: text).map { Int32($0) }
    }
}

extension ScriptedBackend: PrefixSharing {
    func placeSharedPrefix(of prompt: [Int32], in sequence: SequenceID) throws -> Int {
        guard let held = heldPrefix else { return 0 }
        let n = min(Self.commonLength(held.tokens, prompt), prompt.count - 1)
        guard n > 0 else { return 0 }
        copySequence(from: held.sequence, to: sequence, from: 0, to: n)
        return n
    }
}

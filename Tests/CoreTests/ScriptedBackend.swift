import Foundation
@testable import Core

/// A model whose next-token logits are a fixed function of the token at the last decoded
/// position and of that position, with a tiny vocabulary of known pieces. It checks that
/// decodes happen at positions it already holds the history of, as llama.cpp requires.
final class ScriptedBackend: ModelBackend {
    static let pieces: [String] = ["<eos>", "<think>", "</think>", "\n", "Wait", " ok", "Answer: 9", "\nProblem:", " so", " 9"]
    var vocabularySize: Int { Self.pieces.count + extraBytes.count }
    let embeddingSize = 4
    let contextSize: Int
    let batchSize: Int
    /// tokens that stand for single raw bytes (to split multi-byte characters)
    let extraBytes: [UInt8] = [0xC3, 0xA9, 0xE6, 0x9D, 0xB1]
    /// position → token held in the "cache"
    private(set) var cells: [Int: Int32] = [:]
    private(set) var decodeCalls: [(position: Int, count: Int)] = []
    private var current: [Float] = []
    /// the rule: logits at the next position given the last token and its position
    var rule: (Int32, Int) -> [Float]

    init(contextSize: Int = 64, batchSize: Int = 4, rule: @escaping (Int32, Int) -> [Float]) {
        self.contextSize = contextSize
        self.batchSize = batchSize
        self.rule = rule
    }

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

    func decode(tokens: ArraySlice<Int32>, at position: Int, sequence: Int32) throws {
        precondition(tokens.count <= batchSize)
        for p in 0..<position where cells[p] == nil { throw ThinktopError.decodeFailed(position: p, code: -99) }
        for (i, t) in tokens.enumerated() { cells[position + i] = t }
        decodeCalls.append((position, tokens.count))
        let lastPos = position + tokens.count - 1
        current = rule(tokens.last!, lastPos)
    }

    func decode(embedding: UnsafeBufferPointer<Float>, at position: Int, sequence: Int32) throws {
        cells[position] = -1
        current = rule(-1, position)
    }

    func logits() -> UnsafeBufferPointer<Float> {
        current.withUnsafeBufferPointer { UnsafeBufferPointer(start: $0.baseAddress, count: $0.count) }
    }

    func removeCells(sequence: Int32, from: Int, to: Int?) throws {
        for p in cells.keys where p >= from && (to == nil || p < to!) { cells[p] = nil }
    }

    func shiftCells(sequence: Int32, from: Int, to: Int?, delta: Int) throws {}
    func copySequence(from source: Int32, to destination: Int32, from start: Int, to end: Int?) {}

    func positionRange(sequence: Int32) -> ClosedRange<Int>? {
        guard let lo = cells.keys.min(), let hi = cells.keys.max() else { return nil }
        return lo...hi
    }

    func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32] {
        if let i = Self.pieces.firstIndex(of: text) { return [Int32(i)] }
        return text.utf8.map { _ in 5 }
    }

    func piece(_ token: Int32) -> [UInt8] {
        let i = Int(token)
        if i < Self.pieces.count { return Array(Self.pieces[i].utf8) }
        return [extraBytes[i - Self.pieces.count]]
    }

    func isEndOfGeneration(_ token: Int32) -> Bool { token == 0 }

    func singleToken(_ text: String) -> Int32? { Self.pieces.firstIndex(of: text).map { Int32($0) } }
}

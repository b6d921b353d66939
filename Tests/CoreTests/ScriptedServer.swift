import Foundation
@testable import Core

/// An inference server over a scripted model, as llama-server behaves: it draws tokens on its
/// side under a request (sampling, bans, biases), reports the raw top k and the drawn token's
/// exact log-probability, and runs one stream at a time that serves a step only while the
/// prefix and the request stay what it was opened with — anything else is a resubmission,
/// whose generator starts again from the seed.
final class ScriptedServer: ModelBackend, ServedBackend {
    let model: ScriptedBackend
    let topCount: Int
    let endpoint = "scripted://server"
    private(set) var statistics = ServedStatistics()
    private var sequences: [SequenceID: [Int32]] = [:]
    private var streamTokens: [Int32]?
    private var streamRequest: ServedRequest?
    private var rng = SeededGenerator(seed: 0)
    /// every stream's prompt length and request, in order
    private(set) var opened: [(prompt: Int, request: ServedRequest)] = []

    init(model: ScriptedBackend, topCount: Int = 3) {
        self.model = model
        self.topCount = topCount
    }

    var vocabularySize: Int { model.vocabularySize }
    var embeddingSize: Int { 0 }
    var contextSize: Int { model.contextSize }
    var batchSize: Int { model.contextSize }
    var capabilities: Set<Capability> { [.topK, .tokenBans, .forks, .vocabulary] }

    func tokens(_ s: SequenceID) -> [Int32] { sequences[s] ?? [] }

    func decode(tokens new: ArraySlice<Int32>, at position: Int, sequence: SequenceID) throws {
        var s = sequences[sequence] ?? []
        guard position == s.count else { throw ThinktopError.kvEditFailed("not at the end") }
        s += new
        sequences[sequence] = s
    }
    func decode(embedding: UnsafeBufferPointer<Float>, at position: Int, sequence: SequenceID) throws {
        throw ThinktopError.embeddingUnavailable("served")
    }
    func logits() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: nil, count: 0) }
    func removeCells(sequence: SequenceID, from: Int, to: Int?) throws {
        for s in Array(sequences.keys) where sequence == .all || s == sequence {
            var t = sequences[s]!
            if from < t.count {
                if let to, to < t.count { throw ThinktopError.kvEditFailed("hole") }
                t.removeSubrange(from...)
            }
            sequences[s] = t
        }
    }
    func shiftCells(sequence: SequenceID, from: Int, to: Int?, delta: Int) throws { throw ThinktopError.kvEditFailed("shift") }
    func copySequence(from source: SequenceID, to destination: SequenceID, from start: Int, to end: Int?) {
        let s = sequences[source] ?? []
        sequences[destination] = Array(s[0..<min(end ?? s.count, s.count)])
    }
    func positionRange(sequence: SequenceID) -> ClosedRange<Int>? {
        let n = sequences[sequence]?.count ?? 0
        return n > 0 ? 0...(n - 1) : nil
    }
    func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32] { try model.tokenize(text, addSpecial: addSpecial) }
    func piece(_ token: Int32) -> [UInt8] { model.piece(token) }
    func isEndOfGeneration(_ token: Int32) -> Bool { model.isEndOfGeneration(token) }
    func singleToken(_ text: String) -> Int32? { model.singleToken(text) }

    /// The model's exact logits after `prefix` (the scripted model evaluates it afresh, on the
    /// sequence it belongs to: a probe's rule can differ from the run's).
    func exactLogits(after prefix: [Int32], sequence: SequenceID = .main) throws -> [Float] {
        try model.removeCells(sequence: .all, from: 0, to: nil)
        var p = 0
        while p < prefix.count {
            let end = min(p + model.batchSize, prefix.count)
            try model.decode(tokens: prefix[p..<end], at: p, sequence: sequence)
            p = end
        }
        return Array(model.logits())
    }

    /// The raw distribution's log-probabilities.
    static func logProbabilities(_ logits: [Float]) -> [Double] {
        let m = Double(logits.max()!)
        let z = logits.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
        return logits.map { Double($0) - m - Foundation.log(z) }
    }

    private func draw(after prefix: [Int32], request: ServedRequest, sequence: SequenceID = .main) throws -> ServedToken {
        let logits = try exactLogits(after: prefix, sequence: sequence)
        let lp = Self.logProbabilities(logits)
        var adjusted = logits
        for t in request.banned { adjusted[Int(t)] = -.infinity }
        for (t, b) in request.bias { adjusted[Int(t)] += b }
        let analyzer = DistributionAnalyzer(topCount: max(1, request.sampling.topK))
        let token = adjusted.withUnsafeBufferPointer { buf -> Int32 in
            var sampler = Sampler(parameters: request.sampling)
            return sampler.sample(summary: analyzer.analyze(buf), logits: buf, rng: &rng)
        }
        let order = lp.indices.sorted { lp[$0] > lp[$1] || (lp[$0] == lp[$1] && $0 < $1) }
        let top = order.prefix(topCount).map { Candidate(id: Int32($0), logit: Float(lp[$0])) }
        statistics.tokensRead += 1
        return ServedToken(token: token, logprob: lp[Int(token)], top: top)
    }

    func next(request: ServedRequest, limit: Int) throws -> ServedToken? {
        let main = tokens(.main)
        if streamTokens != main || streamRequest != request {
            if statistics.streams > 0 { statistics.resubmissions += 1 }
            statistics.streams += 1
            opened.append((main.count, request))
            rng = SeededGenerator(seed: request.sampling.seed)
            streamRequest = request
        }
        let t = try draw(after: main, request: request)
        streamTokens = main + [t.token]
        return t
    }

    func greedy(sequence: SequenceID, maxTokens: Int, stop: [String]) throws -> [ServedToken] {
        closeStream()
        statistics.probeRequests += 1
        var prefix = tokens(sequence)
        var out: [ServedToken] = []
        var text = ""
        while out.count < maxTokens {
            let t = try draw(after: prefix, request: ServedRequest(sampling: .greedy), sequence: sequence)
            out.append(t)
            text += String(decoding: piece(t.token), as: UTF8.self)
            if isEndOfGeneration(t.token) || stop.contains(where: { text.contains($0) }) { break }
            prefix.append(t.token)
        }
        return out
    }

    func logProbability(of token: Int32, after sequence: SequenceID) throws -> Double {
        closeStream()
        statistics.probeRequests += 1
        return Self.logProbabilities(try exactLogits(after: tokens(sequence), sequence: sequence))[Int(token)]
    }

    func closeStream() {
        streamTokens = nil
        streamRequest = nil
    }
}

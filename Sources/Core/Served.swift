import Foundation

// A model behind an inference server: it samples on its side and tells, for every token, the
// most likely tokens of the raw distribution with their log-probabilities (normalised over the
// whole vocabulary, so the missing mass is exact). The session steps it as it steps a local
// model — the strategies see a partial distribution (`PartialDistribution`), bans and biases
// travel as the request's logit bias, forced tokens and rewinds change the prefix — and the
// backend decides when a running stream still serves the step and when to resubmit.

/// What a request asks of the server besides the prefix: how to sample, and the logit edits.
public struct ServedRequest: Equatable, Sendable {
    public var sampling: SamplingParameters
    /// tokens the server must not draw (logit −∞)
    public var banned: Set<Int32>
    /// logit additions
    public var bias: [Int32: Float]

    public init(sampling: SamplingParameters, banned: Set<Int32> = [], bias: [Int32: Float] = [:]) {
        self.sampling = sampling
        self.banned = banned
        self.bias = bias.filter { !banned.contains($0.key) && $0.value != 0 }
    }

    /// Whether a server drawing under `self` draws as under `other`: the same sampling and the
    /// same logit edits (the seed counts: a resubmission starts its generator anew).
    public func draws(as other: ServedRequest) -> Bool { self == other }
}

/// One token as the server gave it.
public struct ServedToken: Sendable, Equatable {
    public var token: Int32
    /// ln p(token) under the raw distribution (exact: the server saw every logit)
    public var logprob: Double
    /// the most likely tokens of the raw distribution, log-probabilities as logits
    public var top: [Candidate]
    /// the server's own end of generation at this token
    public var endsGeneration: Bool
    /// what is not as usual about this token (the record's effects say it)
    public var note: String?

    public init(token: Int32, logprob: Double, top: [Candidate], endsGeneration: Bool = false, note: String? = nil) {
        self.token = token; self.logprob = logprob; self.top = top; self.endsGeneration = endsGeneration
        self.note = note
    }

    /// The partial distribution, with the token itself among the known when it is not in the top.
    public func distribution(vocabularySize: Int) -> PartialDistribution {
        var known = top
        if !known.contains(where: { $0.id == token }), logprob.isFinite {
            known.append(Candidate(id: token, logit: Float(logprob)))
        }
        return PartialDistribution(top: known, vocabularySize: vocabularySize, topCount: top.count)
    }
}

/// What a served run cost, for the summary, `bench` and the notes.
public struct ServedStatistics: Codable, Sendable, Equatable {
    /// streams opened (the first, and every resubmission)
    public var streams = 0
    /// of which resubmissions: the prefix or the request changed under a running stream
    public var resubmissions = 0
    /// extra requests for probes (greedy continuations, scored tokens)
    public var probeRequests = 0
    /// tokens read from streams, also those a resubmission discarded
    public var tokensRead = 0
    /// wall time waiting for the first token of a stream (ms, summed)
    public var firstTokenMs = 0.0
    public init() {}

    enum CodingKeys: String, CodingKey {
        case streams, resubmissions
        case probeRequests = "probe_requests", tokensRead = "tokens_read", firstTokenMs = "first_token_ms"
    }
}

/// A backend that samples on its side (an inference server). It is also a `ModelBackend`
/// whose cache is the token sequence it will send: decoding appends, removing cells cuts,
/// and `logits()` is empty (the session never reads it: it offers no full distribution).
public protocol ServedBackend: AnyObject {
    /// alternatives each token comes with (what was asked of the server, at most its limit)
    var topCount: Int { get }
    /// where the model is served, for the status bar and the trace ("http://127.0.0.1:8080")
    var endpoint: String { get }
    var statistics: ServedStatistics { get }

    /// The token the server draws after the main sequence's tokens under `request`, with the
    /// top of the raw distribution. A running stream serves it when it was opened on a prefix
    /// of the sequence, has produced exactly the rest, and draws under the same request;
    /// otherwise the backend resubmits (the server's prefix cache makes that cheap). `limit`
    /// bounds how many tokens a new stream asks for. nil: the server ended generation after
    /// the sequence's last token (a tokenizer that could not tell it was an end of generation).
    func next(request: ServedRequest, limit: Int) throws -> ServedToken?
    /// Greedy tokens after `sequence`'s tokens (a probe's fork), at most `maxTokens`, stopping
    /// once the text holds one of `stop`.
    func greedy(sequence: SequenceID, maxTokens: Int, stop: [String]) throws -> [ServedToken]
    /// ln p(token) right after `sequence`'s tokens: one request that draws `token` by bias and
    /// reads its raw log-probability.
    func logProbability(of token: Int32, after sequence: SequenceID) throws -> Double
    /// Closes the running stream, if any (pause, the end of the run).
    func closeStream()
}

/// Probes for a served run: extra requests on a copy of the main sequence's tokens, whose
/// prefix the server has cached. The copy goes through the ledger like a local fork.
struct ServedProber: Prober {
    let kv: LedgerBackend
    let served: ServedBackend
    let fedPositions: Int

    var freeCells: Int { kv.contextSize - kv.ledger.cellsInUse }

    func probe(appending text: String, maxTokens: Int, stop: ProbeStop, cutAt: Int?,
               scoring: [Int32]) throws -> ProbeResult {
        let started = DispatchTime.now().uptimeNanoseconds
        let appended = try ProbeRequest.tokens(of: text, cutAt: cutAt, fedPositions: fedPositions, kv: kv)
        guard freeCells > appended.count else { throw ThinktopError.contextFull(kv.contextSize) }
        try kv.removeCells(sequence: .probe, from: 0, to: nil)
        kv.copySequence(from: .main, to: .probe, from: 0, to: nil)
        defer { try? kv.removeCells(sequence: .probe, from: 0, to: nil) }
        let cut = cutAt ?? fedPositions
        if cut < fedPositions { try kv.removeCells(sequence: .probe, from: cut, to: nil) }
        try kv.decode(tokens: appended[...], at: cut, sequence: .probe)
        var result = ProbeResult()
        let stops: [String]
        if case .anyOf(let s) = stop { stops = s } else { stops = [] }
        let room = min(maxTokens, freeCells - 1)
        let tokens = room > 0 ? try served.greedy(sequence: .probe, maxTokens: room, stop: stops) : []
        var bytes = UTF8Stream()
        for (i, t) in tokens.enumerated() {
            let summary = t.distribution(vocabularySize: kv.vocabularySize).summary
            result.tokens.append(t.token)
            result.entropies.append(summary.entropy)
            if let b = summary.entropyBracket { result.entropyUpper.append(b.upperBound) }
            result.probabilities.append(Foundation.exp(t.logprob))
            result.text += bytes.append(kv.piece(t.token))
            if i == 0 {
                result.scores = scoring.map { id in t.top.first { $0.id == id }.map { Double($0.logit) } ?? .nan }
            }
        }
        result.text += bytes.flush()
        if result.scores.count != scoring.count { result.scores = scoring.map { _ in .nan } }
        for (i, id) in scoring.enumerated() where result.scores[i].isNaN {
            result.scores[i] = try served.logProbability(of: id, after: .probe)
        }
        result.ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        return result
    }
}

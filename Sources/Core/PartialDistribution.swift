import Foundation

/// A next-token distribution known only by its most likely tokens, as inference servers and
/// their saved responses give it: the top k log-probabilities, normalised over the whole
/// vocabulary, so the mass left out, m = 1 − Σ pᵢ, is exact. The entropy is then known to lie
/// in a bracket (with H_k = −Σ pᵢ ln pᵢ over the k, p_k the smallest of them, V the vocabulary):
///
///     H_k + m·ln(1 / min(p_k, m))  ≤  H  ≤  H_k + m·ln((V − k) / m)
///
/// The lower bound is the tail lumped into tokens as likely as allowed (no unseen token is more
/// likely than p_k, nor than m); the upper spreads it evenly over the V − k unseen tokens. A
/// vocabulary larger than the real one keeps the upper bound valid (only looser).
public struct PartialDistribution: Sendable, Equatable {
    /// the known tokens by descending log-probability
    public var top: [Candidate]
    public var vocabularySize: Int
    /// the largest log-probability an unseen token can have: the smallest of the server's top
    /// k. A token known beyond the top k (the drawn one) does not lower it.
    public var unseenAtMost: Float

    /// `topCount`: how many of `top` are the server's top k (the rest are tokens known besides,
    /// such as the one drawn); nil: all of them.
    public init(top: [Candidate], vocabularySize: Int, topCount: Int? = nil) {
        let k = min(topCount ?? top.count, top.count)
        unseenAtMost = top.prefix(k).map(\.logit).min() ?? 0
        self.top = top.sorted { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        self.vocabularySize = vocabularySize
    }

    /// 1 − Σ pᵢ, at least 0 (rounding in the server's numbers can push the sum past 1)
    public var missingMass: Double {
        max(0, 1 - top.reduce(0) { $0 + Foundation.exp(Double($1.logit)) })
    }

    /// −Σ pᵢ ln pᵢ over the known tokens
    public var knownEntropy: Double {
        top.reduce(0) { h, c in
            let lp = Double(c.logit)
            return lp.isFinite ? h - Foundation.exp(lp) * lp : h
        }
    }

    /// The bracket the entropy lies in (nats).
    public var entropyBracket: ClosedRange<Double> {
        let hk = knownEntropy, m = missingMass
        guard m > 1e-12, !top.isEmpty else { return hk...hk }
        let pk = Foundation.exp(Double(unseenAtMost))
        let lower = hk + m * Foundation.log(1 / min(pk, m))
        let unseen = max(1, vocabularySize - top.count)
        let upper = hk + m * Foundation.log(Double(unseen) / m)
        return lower...max(lower, upper)
    }

    /// The signals as the session's records hold them: the entropy is the bracket's lower
    /// end (the tail lumped), the bracket and the missing mass beside it; the varentropy is of
    /// that lumped distribution (approximate: no useful bound exists). Logits are the
    /// log-probabilities, so log p(token) = logit − 0.
    public var summary: DistributionSummary {
        let bracket = entropyBracket
        let m = missingMass
        // varentropy of the known tokens plus the tail lumped at min(p_k, m)
        var mean = 0.0, square = 0.0
        for c in top {
            let lp = Double(c.logit)
            guard lp.isFinite else { continue }
            let p = Foundation.exp(lp)
            mean -= p * lp
            square += p * lp * lp
        }
        if m > 1e-12, !top.isEmpty {
            let q = min(Foundation.exp(Double(unseenAtMost)), m), lq = Foundation.log(q)
            mean -= m * lq
            square += m * lq * lq
        }
        var s = DistributionSummary(entropy: bracket.lowerBound, varentropy: max(0, square - mean * mean),
                                    logSumExp: 0, maxLogit: top.first?.logit ?? 0, top: top)
        s.entropyBracket = bracket
        s.missingMass = m
        return s
    }
}

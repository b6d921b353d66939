import Foundation
import Kernels

// Per-token signals over the full next-token distribution.
//
// Everything here runs once per generated token over the whole vocabulary (262,144 logits
// for Gemma 3), so the analyzer is written as two vectorised passes over the raw logits
// with no allocation per element:
//   pass 1: maximum logit and the top-K candidates (a chunk is scanned element by element
//           only when its maximum beats the current K-th best, which is rare after warm-up);
//   pass 2: with d = logit − max, Z = Σ e^d, S1 = Σ e^d·d, S2 = Σ e^d·d².
// Then, with natural logs:
//   log p_i = d_i − ln Z,  H = ln Z − S1/Z,  varentropy = Var_p[d] = S2/Z − (S1/Z)².

/// One candidate of the next-token distribution.
public struct Candidate: Sendable, Equatable {
    public var id: Int32
    public var logit: Float
    public init(id: Int32, logit: Float) {
        self.id = id
        self.logit = logit
    }
}

/// The signals of one next-token distribution, computed before any strategy changes it.
public struct DistributionSummary: Sendable, Equatable {
    /// Shannon entropy in nats.
    public var entropy: Double
    /// Variance of the surprisal −ln p under p, in nats².
    public var varentropy: Double
    /// ln Σ exp(logit): log p(token) = logit(token) − logSumExp.
    public var logSumExp: Double
    /// The largest logit.
    public var maxLogit: Float
    /// Candidates by descending logit; equal logits keep the smaller token id first.
    public var top: [Candidate]
    /// For a partial distribution (top-k only, `PartialDistribution`): the bracket the entropy
    /// lies in (`entropy` is its lower end) and the probability mass no known token holds.
    /// nil for an exact distribution.
    public var entropyBracket: ClosedRange<Double>?
    public var missingMass: Double?
    /// whether the signals are exact (the whole vocabulary was seen)
    public var isExact: Bool { entropyBracket == nil }

    public init(entropy: Double, varentropy: Double, logSumExp: Double, maxLogit: Float, top: [Candidate]) {
        self.entropy = entropy
        self.varentropy = varentropy
        self.logSumExp = logSumExp
        self.maxLogit = maxLogit
        self.top = top
    }

    public func logProbability(ofLogit logit: Float) -> Double { Double(logit) - logSumExp }
    public func probability(ofLogit logit: Float) -> Double { exp(Double(logit) - logSumExp) }

    /// Probability of the most likely token ("confidence").
    public var top1: Double { top.isEmpty ? 0 : probability(ofLogit: top[0].logit) }
    /// p(top-1) − p(top-2).
    public var margin: Double {
        guard top.count >= 2 else { return top1 }
        return top1 - probability(ofLogit: top[1].logit)
    }
}

/// Computes `DistributionSummary` over a logits vector. Holds its scratch space, so one
/// analyzer serves every step of a session without allocating per element.
public final class DistributionAnalyzer {
    public private(set) var topCount: Int
    private var topIds: [Int32]
    private var topLogits: [Float]
    private var filled = 0

    /// - Parameter topCount: how many best candidates to keep (k ≥ 1).
    public init(topCount: Int) {
        precondition(topCount >= 1, "topCount must be at least 1")
        self.topCount = topCount
        topIds = [Int32](repeating: 0, count: topCount)
        topLogits = [Float](repeating: 0, count: topCount)
    }

    public func setTopCount(_ k: Int) {
        precondition(k >= 1)
        topCount = k
        topIds = [Int32](repeating: 0, count: k)
        topLogits = [Float](repeating: 0, count: k)
    }

    public func analyze(_ logits: UnsafeBufferPointer<Float>) -> DistributionSummary {
        precondition(!logits.isEmpty, "empty distribution")
        selectTop(logits)
        let m = topLogits[0]
        let (z, s1, s2) = Self.moments(logits, max: m)
        let mean = s1 / z
        let entropy = log(z) - mean
        let varentropy = max(0, s2 / z - mean * mean)
        var top: [Candidate] = []
        top.reserveCapacity(filled)
        for i in 0..<filled { top.append(Candidate(id: topIds[i], logit: topLogits[i])) }
        return DistributionSummary(entropy: entropy, varentropy: varentropy,
                                   logSumExp: Double(m) + log(z), maxLogit: m, top: top)
    }

    // MARK: pass 1 — maximum and top-K

    private func selectTop(_ logits: UnsafeBufferPointer<Float>) {
        filled = 0
        let k = topCount
        let n = logits.count
        let base = logits.baseAddress!
        var threshold = -Float.infinity   // K-th best logit once the list is full
        var i = 0
        let lanes = 16
        topIds.withUnsafeMutableBufferPointer { ids in
            topLogits.withUnsafeMutableBufferPointer { vals in
                @inline(__always) func offer(_ id: Int, _ v: Float) {
                    if filled == k {
                        guard v > threshold else { return }
                    } else if v.isNaN {
                        return
                    }
                    // binary search for the first slot whose value is < v (stable for ties)
                    var lo = 0, hi = filled
                    while lo < hi {
                        let mid = (lo + hi) >> 1
                        if vals[mid] >= v { lo = mid + 1 } else { hi = mid }
                    }
                    let last = min(filled, k - 1)
                    var j = last
                    while j > lo {
                        vals[j] = vals[j - 1]
                        ids[j] = ids[j - 1]
                        j -= 1
                    }
                    vals[lo] = v
                    ids[lo] = Int32(id)
                    if filled < k { filled += 1 }
                    if filled == k { threshold = vals[k - 1] }
                }
                // warm-up: fill the list element by element
                while i < n && filled < k {
                    offer(i, base[i])
                    i += 1
                }
                // align to a chunk boundary element by element
                while i < n && i % lanes != 0 {
                    offer(i, base[i])
                    i += 1
                }
                let raw = UnsafeRawPointer(base)
                while i + lanes <= n {
                    let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
                    if any(v .> SIMD16<Float>(repeating: threshold)) {
                        for l in 0..<lanes { offer(i + l, v[l]) }
                    }
                    i += lanes
                }
                while i < n {
                    offer(i, base[i])
                    i += 1
                }
            }
        }
        precondition(filled > 0, "distribution has no finite logit")
    }

    // MARK: pass 2 — moments of exp(logit − max)

    /// Returns (Z, S1, S2) with d = logit − max: Z = Σ e^d, S1 = Σ e^d·d, S2 = Σ e^d·d².
    static func moments(_ logits: UnsafeBufferPointer<Float>, max m: Float) -> (Double, Double, Double) {
        let n = logits.count
        let raw = UnsafeRawPointer(logits.baseAddress!)
        let mv = SIMD16<Float>(repeating: m)
        let floor = SIMD16<Float>(repeating: -104)
        var z = 0.0, s1 = 0.0, s2 = 0.0
        var i = 0
        // Float lanes are flushed into Double every block to keep the sums accurate.
        let block = 1024
        while i + 16 <= n {
            var az = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>()
            let end = Swift.min(n - 15, i + block)
            while i < end {
                // clamping keeps −∞ logits (banned tokens) at e = 0 and e·d = 0 instead of NaN
                let d = pointwiseMax(raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self) - mv, floor)
                let e = FastMath.exp(d)
                let ed = e * d
                az += e
                a1 += ed
                a2 = a2.addingProduct(ed, d)
                i += 16
            }
            z += Double(az.sum())
            s1 += Double(a1.sum())
            s2 += Double(a2.sum())
        }
        while i < n {
            let d = Double(logits[i] - m)
            if d.isFinite {
                let e = Foundation.exp(d)
                z += e
                s1 += e * d
                s2 += e * d * d
            }
            i += 1
        }
        return (z, s1, s2)
    }
}

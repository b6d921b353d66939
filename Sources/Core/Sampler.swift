import Foundation
import Kernels

/// How the next token is drawn from the (possibly strategy-adjusted) distribution.
/// Order, as in llama.cpp's default chain: top-k → top-p → min-p → temperature → draw.
/// Top-p and min-p read the untempered softmax of the surviving candidates.
public struct SamplingParameters: Sendable, Codable, Equatable {
    /// 0 means greedy: always the most likely token (ties: the smaller token id).
    public var temperature: Double
    /// Keep the k most likely tokens; 0 keeps the whole vocabulary.
    public var topK: Int
    /// Keep the smallest prefix whose probability reaches p; 1 turns it off.
    public var topP: Double
    /// Drop tokens whose probability is below minP × p(top-1); 0 turns it off.
    public var minP: Double
    public var seed: UInt64

    public static let greedy = try! SamplingParameters(temperature: 0, topK: 1, topP: 1, minP: 0, seed: 0)

    public init(temperature: Double, topK: Int, topP: Double, minP: Double, seed: UInt64) throws {
        guard temperature.isFinite, temperature >= 0 else {
            throw ThinktopError.invalidArgument("--temp must be a number ≥ 0 (0 means greedy), got \(temperature)")
        }
        guard topK >= 0 else { throw ThinktopError.invalidArgument("--top-k must be ≥ 0 (0 means the whole vocabulary), got \(topK)") }
        guard topP > 0, topP <= 1 else { throw ThinktopError.invalidArgument("--top-p must be in (0, 1], got \(topP)") }
        guard minP >= 0, minP < 1 else { throw ThinktopError.invalidArgument("--min-p must be in [0, 1), got \(minP)") }
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.seed = seed
    }

    public var isGreedy: Bool { temperature == 0 || topK == 1 }
}

/// Draws tokens. Greedy picks the arg-max from the summary; otherwise the candidates come
/// from the summary's top list (which the session sizes to at least top-k), or from the
/// whole vocabulary when top-k is 0.
public struct Sampler {
    public var parameters: SamplingParameters
    private var weights: [Double] = []

    public init(parameters: SamplingParameters) { self.parameters = parameters }

    /// How many candidates the analyzer must keep for this sampler (0: the whole vocabulary).
    public var candidatesNeeded: Int { parameters.isGreedy ? 1 : parameters.topK }

    public mutating func sample(summary: DistributionSummary, logits: UnsafeBufferPointer<Float>,
                                rng: inout SeededGenerator) -> Int32 {
        let p = parameters
        if p.isGreedy { return summary.top[0].id }
        if p.topK == 0 {
            if p.topP >= 1 {
                return Self.sampleWholeVocabulary(logits: logits, max: summary.maxLogit,
                                                  temperature: p.temperature, minP: p.minP, rng: &rng)
            }
            // top-p over the whole vocabulary needs a full sort: correct, and slow (~tens of ms)
            var all = (0..<logits.count).map { Candidate(id: Int32($0), logit: logits[$0]) }
            all.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
            return sample(candidates: all[...], rng: &rng)
        }
        precondition(summary.top.count >= min(p.topK, logits.count), "analyzer kept fewer candidates than top-k")
        return sample(candidates: summary.top.prefix(p.topK), rng: &rng)
    }

    /// Sampling over a list sorted by descending logit.
    public mutating func sample(candidates: ArraySlice<Candidate>, rng: inout SeededGenerator) -> Int32 {
        let keep = Self.keptWeights(candidates, parameters, into: &weights)
        let sum = weights.prefix(keep).reduce(0, +)
        var r = rng.nextUnit() * sum
        let first = candidates.startIndex
        for i in 0..<keep {
            r -= weights[i]
            if r < 0 { return candidates[first + i].id }
        }
        return candidates[first + keep - 1].id
    }

    /// The filters in order — top-p, then min-p, both on the untempered softmax of the
    /// candidates (sorted by descending logit) — then temperature. Leaves the tempered,
    /// unnormalised weights of the kept candidates in `w[0..<keep]` and returns `keep`.
    public static func keptWeights(_ candidates: ArraySlice<Candidate>, _ p: SamplingParameters,
                                   into w: inout [Double]) -> Int {
        let first = candidates.startIndex
        let x0 = Double(candidates[first].logit)
        w.removeAll(keepingCapacity: true)
        var total = 0.0
        for c in candidates {
            let x = Foundation.exp(Double(c.logit) - x0)
            w.append(x)
            total += x
        }
        var keep = w.count
        if p.topP < 1 {
            var cum = 0.0
            for (i, x) in w.enumerated() {
                cum += x / total
                if cum >= p.topP { keep = i + 1; break }
            }
        }
        if p.minP > 0 {
            // p_i / p_0 = w_i since w_0 = 1
            var k = 1
            while k < keep && w[k] >= p.minP { k += 1 }
            keep = k
        }
        for i in 0..<keep {
            w[i] = Foundation.exp((Double(candidates[first + i].logit) - x0) / p.temperature)
        }
        return keep
    }

    /// Temperature sampling over every token, vectorised: one pass for the total weight,
    /// then the winning 16-token chunk is found by chunk sums and resolved inside it.
    static func sampleWholeVocabulary(logits: UnsafeBufferPointer<Float>, max m: Float, temperature: Double,
                                      minP: Double, rng: inout SeededGenerator) -> Int32 {
        let n = logits.count
        let invT = Float(1 / temperature)
        // min-p: p_i ≥ minP·p_max ⇔ logit_i ≥ max + ln(minP)
        let cut: Float = minP > 0 ? m + Float(Foundation.log(minP)) : -.infinity
        let raw = UnsafeRawPointer(logits.baseAddress!)
        @inline(__always) func chunkWeights(_ i: Int) -> SIMD16<Float> {
            let x = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
            let w = FastMath.exp(pointwiseMax((x - SIMD16(repeating: m)) * SIMD16(repeating: invT), SIMD16(repeating: -104)))
            return w.replacing(with: 0, where: x .< SIMD16(repeating: cut))
        }
        @inline(__always) func scalarWeight(_ i: Int) -> Double {
            let x = logits[i]
            return x < cut ? 0 : Foundation.exp(Double(x - m) * Double(invT))
        }
        let full = n / 16 * 16
        var total = 0.0
        var i = 0
        while i < full { total += Double(chunkWeights(i).sum()); i += 16 }
        for j in full..<n { total += scalarWeight(j) }
        var r = rng.nextUnit() * total
        i = 0
        while i < full {
            let w = chunkWeights(i)
            let s = Double(w.sum())
            if r < s {
                for l in 0..<16 { r -= Double(w[l]); if r < 0 { return Int32(i + l) } }
                return Int32(i + 15)
            }
            r -= s
            i += 16
        }
        for j in full..<n { r -= scalarWeight(j); if r < 0 { return Int32(j) } }
        return Int32(n - 1)
    }
}

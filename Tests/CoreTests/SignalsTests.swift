import Foundation
import Testing
@testable import Core

@Suite("Signals over a distribution")
struct SignalsTests {
    func summary(_ logits: [Float], k: Int = 10) -> DistributionSummary {
        logits.withUnsafeBufferPointer { DistributionAnalyzer(topCount: k).analyze($0) }
    }

    @Test("p = (0.1, 0.2, 0.3, 0.4): entropy, varentropy, confidence, margin")
    func knownDistribution() {
        let s = summary([0.1, 0.2, 0.3, 0.4].map { Float(log($0)) })
        #expect(abs(s.entropy - 1.2798542258336676) < 1e-6)
        #expect(abs(s.varentropy - 0.1809216866539176) < 1e-6)
        #expect(abs(s.top1 - 0.4) < 1e-6)
        #expect(abs(s.margin - 0.1) < 1e-6)
        #expect(s.top.map(\.id) == [3, 2, 1, 0])
    }

    @Test("softmax of logits (0, 1, 2)")
    func softmaxOfIntegers() {
        let s = summary([0, 1, 2])
        #expect(abs(s.entropy - 0.8323955818399389) < 1e-6)
        #expect(abs(s.varentropy - 0.42440454468925437) < 1e-6)
        #expect(abs(s.logSumExp - 2.40760596444438) < 1e-6)
        #expect(abs(s.top1 - 0.6652409557748219) < 1e-6)
        #expect(abs(s.margin - 0.4205124847200242) < 1e-6)
        #expect(abs(s.logProbability(ofLogit: 0) - log(0.09003057317038046)) < 1e-6)
    }

    @Test("uniform distribution: entropy ln n, varentropy 0, margin 0")
    func uniform() {
        let n = 1000
        let s = summary([Float](repeating: 3.5, count: n))
        #expect(abs(s.entropy - log(Double(n))) < 1e-5)
        #expect(abs(s.varentropy) < 1e-6)
        #expect(abs(s.top1 - 1.0 / Double(n)) < 1e-9)
        #expect(s.margin == 0)
        // ties keep the smaller token id first
        #expect(s.top.map(\.id) == Array(0..<10))
    }

    @Test("top-k order with ties, found anywhere in a long vector")
    func topKTies() {
        var logits = [Float](repeating: -5, count: 4099)  // not a multiple of the SIMD width
        logits[4098] = 7     // last, in the scalar tail
        logits[17] = 7
        logits[2000] = 9
        logits[3] = 6
        logits[4000] = 6
        let s = summary(logits, k: 5)
        #expect(s.top.map(\.id) == [2000, 17, 4098, 3, 4000])
        #expect(s.top.map(\.logit) == [9, 7, 7, 6, 6])
        #expect(s.maxLogit == 9)
    }

    @Test("a large vocabulary agrees with a direct double-precision computation")
    func agreesWithReference() {
        var rng = SeededGenerator(seed: 11)
        let n = 262_147
        let logits = (0..<n).map { _ in Float(rng.nextUnit() * 30 - 20) }
        let s = summary(logits, k: 12)
        let m = Double(logits.max()!)
        let z = logits.reduce(0.0) { $0 + exp(Double($1) - m) }
        var h = 0.0, h2 = 0.0
        for l in logits {
            let p = exp(Double(l) - m) / z
            let lp = log(p)
            h -= p * lp
            h2 += p * lp * lp
        }
        #expect(abs(s.entropy - h) < 1e-5 * h)
        #expect(abs(s.varentropy - (h2 - h * h)) < 1e-4 * (h2 - h * h))
        #expect(abs(s.logSumExp - (m + log(z))) < 1e-5)
        let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        #expect(s.top.map { Int($0.id) } == Array(order.prefix(12)))
    }

    @Test("tokens masked to −∞ count as probability 0")
    func maskedTokens() {
        var logits = [Float](repeating: 0, count: 64)
        for i in 2..<64 { logits[i] = -.infinity }
        let s = summary(logits)
        #expect(abs(s.entropy - log(2.0)) < 1e-6)
        #expect(abs(s.varentropy) < 1e-6)
        #expect(s.top.count == 10)
        #expect(s.top.prefix(2).map(\.id) == [0, 1])
    }
}

@Suite("Block statistics")
struct BlockStatisticsTests {
    @Test("window mean and least-squares trend")
    func windowMeanAndTrend() {
        var b = BlockStatistics(window: 4)
        for (i, h) in [1.0, 2, 3, 4, 5, 6].enumerated() { b.add(entropy: h, text: "t\(i)") }
        // window holds 3, 4, 5, 6
        #expect(b.windowMean == 4.5)
        #expect(abs(b.trend - 1.0) < 1e-12)
    }

    @Test("a blank line, even split over tokens, ends a reasoning step")
    func reasoningSteps() {
        var b = BlockStatistics(window: 8)
        b.add(entropy: 1, text: "a")
        b.add(entropy: 3, text: "b")
        #expect(b.reasoningStep == 0)
        #expect(b.stepMean == 2)
        b.add(entropy: 5, text: ".\n")
        b.add(entropy: 1, text: "\nNext")
        #expect(b.reasoningStep == 1)
        #expect(b.stepMean == 0)
        b.add(entropy: 4, text: " x")
        #expect(b.stepMean == 4)
    }
}

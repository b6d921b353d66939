import Foundation
import Testing
@testable import Core

@Suite("Sampling")
struct SamplerTests {
    func draw(_ logits: [Float], _ params: SamplingParameters, rng: inout SeededGenerator, k: Int = 10) -> Int32 {
        logits.withUnsafeBufferPointer { buf in
            let s = DistributionAnalyzer(topCount: max(k, params.topK)).analyze(buf)
            var sampler = Sampler(parameters: params)
            return sampler.sample(summary: s, logits: buf, rng: &rng)
        }
    }

    @Test("greedy picks the arg-max, and the smaller id on ties")
    func greedy() throws {
        var rng = SeededGenerator(seed: 1)
        #expect(draw([0.1, 2, -1, 1.9], .greedy, rng: &rng) == 1)
        #expect(draw([0, 5, 1, 5], .greedy, rng: &rng) == 1)
        let t0 = try SamplingParameters(temperature: 0, topK: 40, topP: 0.9, minP: 0, seed: 3)
        #expect(draw([3, 1, 4, 1, 5, 9, 2, 6], t0, rng: &rng) == 5)
    }

    @Test("the same seed gives the same tokens; another seed does not")
    func deterministicPerSeed() throws {
        let logits: [Float] = (0..<300).map { Float(sin(Double($0)) * 3) }
        let params = try SamplingParameters(temperature: 1, topK: 40, topP: 0.95, minP: 0, seed: 5)
        func run(_ seed: UInt64) -> [Int32] {
            var rng = SeededGenerator(seed: seed)
            return (0..<200).map { _ in draw(logits, params, rng: &rng) }
        }
        #expect(run(5) == run(5))
        #expect(run(5) != run(6))
        // whole-vocabulary sampling too
        let full = try SamplingParameters(temperature: 0.8, topK: 0, topP: 1, minP: 0, seed: 5)
        var a = SeededGenerator(seed: 9), b = SeededGenerator(seed: 9)
        let ra = (0..<100).map { _ in draw(logits, full, rng: &a) }
        let rb = (0..<100).map { _ in draw(logits, full, rng: &b) }
        #expect(ra == rb)
    }

    @Test("the generator's sequence is fixed (xoshiro256** from SplitMix64)")
    func generatorSequence() {
        var g = SeededGenerator(seed: 0)
        let first = (0..<3).map { _ in g.next() }
        var h = SeededGenerator(seed: 0)
        #expect((0..<3).map { _ in h.next() } == first)
        #expect(Set(first).count == 3)
    }

    @Test("temperature 1 draws tokens at their probabilities")
    func frequencies() throws {
        let probs = [0.5, 0.3, 0.2]
        let logits = probs.map { Float(log($0)) }
        let params = try SamplingParameters(temperature: 1, topK: 3, topP: 1, minP: 0, seed: 1)
        var rng = SeededGenerator(seed: 1)
        var counts = [0, 0, 0]
        let n = 20000
        for _ in 0..<n { counts[Int(draw(logits, params, rng: &rng))] += 1 }
        for i in 0..<3 { #expect(abs(Double(counts[i]) / Double(n) - probs[i]) < 0.015) }
        // the whole-vocabulary path agrees
        let full = try SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1)
        counts = [0, 0, 0]
        for _ in 0..<n { counts[Int(draw(logits, full, rng: &rng))] += 1 }
        for i in 0..<3 { #expect(abs(Double(counts[i]) / Double(n) - probs[i]) < 0.015) }
    }

    @Test("top-p keeps the smallest prefix reaching p; min-p drops tokens below minP·p1")
    func topPAndMinP() throws {
        let logits = [0.5, 0.3, 0.2].map { Float(log($0)) }
        var rng = SeededGenerator(seed: 2)
        let p5 = try SamplingParameters(temperature: 1, topK: 3, topP: 0.5, minP: 0, seed: 0)
        #expect((0..<500).allSatisfy { _ in draw(logits, p5, rng: &rng) == 0 })
        let p8 = try SamplingParameters(temperature: 1, topK: 3, topP: 0.8, minP: 0, seed: 0)
        let seen8 = Set((0..<2000).map { _ in draw(logits, p8, rng: &rng) })
        #expect(seen8 == [0, 1])
        let m = try SamplingParameters(temperature: 1, topK: 3, topP: 1, minP: 0.5, seed: 0)
        let seenM = Set((0..<2000).map { _ in draw(logits, m, rng: &rng) })
        #expect(seenM == [0, 1])   // 0.2 < 0.5 × 0.5
        let k1 = try SamplingParameters(temperature: 5, topK: 1, topP: 1, minP: 0, seed: 0)
        #expect((0..<200).allSatisfy { _ in draw(logits, k1, rng: &rng) == 0 })
    }

    @Test("bad sampling settings are refused with the option's name")
    func validation() {
        #expect(throws: ThinktopError.self) { try SamplingParameters(temperature: -1, topK: 0, topP: 1, minP: 0, seed: 0) }
        #expect(throws: ThinktopError.self) { try SamplingParameters(temperature: 1, topK: -2, topP: 1, minP: 0, seed: 0) }
        #expect(throws: ThinktopError.self) { try SamplingParameters(temperature: 1, topK: 0, topP: 0, minP: 0, seed: 0) }
        do {
            _ = try SamplingParameters(temperature: 1, topK: 0, topP: 1.5, minP: 0, seed: 0)
        } catch {
            #expect("\(error)".hasPrefix("--top-p"))
        }
    }
}

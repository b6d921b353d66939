import Foundation
import Testing
import Kernels

@Suite("Vectorised kernels")
struct KernelsTests {
    @Test("vectorised exp: relative error below 1e-6 over [−87, 0], 0 below the float range")
    func fastExp() {
        var worst = 0.0
        var x: Float = -87
        while x <= 0 {
            let v = SIMD16<Float>((0..<16).map { x + Float($0) * 0.0003 })
            let e = FastMath.exp(v)
            for i in 0..<16 {
                let ref = exp(Double(v[i]))
                worst = max(worst, abs(Double(e[i]) - ref) / ref)
            }
            x += 0.0173
        }
        #expect(worst < 1e-6)
        let low = FastMath.exp(SIMD16<Float>(repeating: -200))
        #expect(low == SIMD16<Float>(repeating: 0))
        #expect(FastMath.exp(SIMD16<Float>(repeating: -.infinity)) == SIMD16<Float>(repeating: 0))
        #expect(FastMath.exp(SIMD16<Float>(repeating: 0)) == SIMD16<Float>(repeating: 1))
    }

    @Test("the mixture kernel equals the plain sum, zero weights skipped")
    func kernel() {
        let d = 37, rows = 50
        let table = (0..<(d * rows)).map { Float(sin(Double($0) * 0.37)) }
        let ids: [Int32] = [3, 7, 7, 49, 0, 12, 5, 8, 9, 1, 2]
        let w: [Float] = [0.1, 0.2, 0, 0.05, 0.3, 0.01, 0.02, 0.03, 0.04, 0.15, 0.1]
        var want = [Double](repeating: 0, count: d)
        for (i, t) in ids.enumerated() { for j in 0..<d { want[j] += Double(w[i]) * Double(table[Int(t) * d + j]) } }
        for threads in [1, 2] {
            let got = table.withUnsafeBufferPointer { tb in ids.withUnsafeBufferPointer { ib in w.withUnsafeBufferPointer { wb in
                MixtureKernel.mixture(table: tb.baseAddress!, rowLength: d, ids: ib, weights: wb, threads: threads)
            } } }
            for j in 0..<d { #expect(abs(Double(got[j]) - want[j]) < 1e-5) }
        }
        // Q8_0 rows (f16 scale + 32 int8 per block), dequantised on the fly
        let dq = 64, nq = 6, rowBytes = 2 * MixtureKernel.q8_0BlockBytes
        var raw = [UInt8](repeating: 0, count: nq * rowBytes)
        var dequant = [Float](repeating: 0, count: nq * dq)
        for r in 0..<nq {
            for b in 0..<2 {
                let scale = Float16(Float(r + 1) * 0.01 + Float(b) * 0.003)
                let o = r * rowBytes + b * MixtureKernel.q8_0BlockBytes
                raw[o] = UInt8(scale.bitPattern & 0xFF)
                raw[o + 1] = UInt8(scale.bitPattern >> 8)
                for k in 0..<32 {
                    let q = Int8(truncatingIfNeeded: (r * 37 + b * 11 + k * 13) % 255 - 127)
                    raw[o + 2 + k] = UInt8(bitPattern: q)
                    dequant[r * dq + b * 32 + k] = Float(scale) * Float(q)
                }
            }
        }
        let qids: [Int32] = [5, 0, 3, 3, 1]
        let qw: [Float] = [0.5, 0.25, 0, 0.125, 0.125]
        var qwant = [Double](repeating: 0, count: dq)
        for (i, t) in qids.enumerated() { for j in 0..<dq { qwant[j] += Double(qw[i]) * Double(dequant[Int(t) * dq + j]) } }
        let qgot = raw.withUnsafeBytes { rb in qids.withUnsafeBufferPointer { ib in qw.withUnsafeBufferPointer { wb in
            MixtureKernel.mixtureQ8_0(rows: rb.baseAddress!, rowBytes: rowBytes, rowLength: dq, ids: ib, weights: wb, threads: 2)
        } } }
        for j in 0..<dq { #expect(abs(Double(qgot[j]) - qwant[j]) < 1e-4 * max(1, abs(qwant[j]))) }

        // the vectorised softmax
        let logits: [Float] = (0..<100).map { Float($0 % 13) * 0.7 - 3 } + [-.infinity]
        var p = [Float](repeating: 0, count: logits.count)
        logits.withUnsafeBufferPointer { l in p.withUnsafeMutableBufferPointer { Softmax.compute(l, max: logits.max()!, into: $0) } }
        let m = Double(logits.max()!)
        let e = logits.map { $0.isFinite ? exp(Double($0) - m) : 0 }
        let ref = e.map { $0 / e.reduce(0, +) }
        for i in 0..<logits.count { #expect(abs(Double(p[i]) - ref[i]) < 1e-6) }
    }
}

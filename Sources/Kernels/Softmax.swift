import Foundation

/// The probabilities of a whole next-token distribution, for rules that need every p_i
/// (SwiReasoning's pᵀE).
public enum Softmax {
    /// softmax of raw logits into `out`, vectorised (e^(l − max), then normalised).
    public static func compute(_ logits: UnsafeBufferPointer<Float>, max m: Float, into out: UnsafeMutableBufferPointer<Float>) {
        let n = logits.count
        precondition(out.count >= n)
        let src = UnsafeRawPointer(logits.baseAddress!)
        let dst = UnsafeMutableRawPointer(out.baseAddress!)
        let mv = SIMD16<Float>(repeating: m)
        var total = 0.0
        var i = 0
        while i + 16 <= n {
            let e = FastMath.exp(src.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self) - mv)
            dst.storeBytes(of: e, toByteOffset: i &* 4, as: SIMD16<Float>.self)
            total += Double(e.sum())
            i += 16
        }
        while i < n {
            let d = logits[i] - m
            let e = d.isFinite ? Float(Foundation.exp(Double(d))) : 0
            out[i] = e
            total += Double(e)
            i += 1
        }
        let inv = Float(1 / total)
        let iv = SIMD16<Float>(repeating: inv)
        i = 0
        while i + 16 <= n {
            let v = dst.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self) * iv
            dst.storeBytes(of: v, toByteOffset: i &* 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < n { out[i] *= inv; i += 1 }
    }
}

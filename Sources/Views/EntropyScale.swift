/// The one place entropy (nats) becomes a colour bucket, `Role.entropy(bucket)`, and the
/// scale the entropy sparkline is drawn against.
///
/// Buckets are 0.5 nat wide and the last is open: bucket 0 is H < 0.5 (nearly certain),
/// bucket 1 is 0.5 ≤ H < 1.0, …, bucket 7 is H ≥ 3.5. A flat choice between e^3.5 ≈ 33
/// tokens already reaches the top bucket, which is where reasoning models' "forks" sit.
/// Negative or non-finite entropy falls in bucket 0.
public enum EntropyScale {
    /// width of one bucket, nats
    public static let step = 0.5

    /// the entropy drawn as a full sparkline column: the start of the top bucket plus one step
    public static var fullScale: Double { step * Double(Role.entropyBuckets) }

    public static func bucket(_ nats: Double) -> Int {
        guard nats.isFinite, nats > 0 else { return 0 }
        return min(Role.entropyBuckets - 1, Int(nats / step))
    }

    /// The role a token with this entropy is drawn with.
    public static func role(_ nats: Double) -> String { Role.entropy(bucket(nats)) }
}

/// How the enabled strategies' decisions combine at a step, in composition order. Pure: it
/// sees decisions, not the model, so its rules are tested on their own.
///
/// - bans add up (a token any strategy bans is banned);
/// - biases add (two strategies pushing one token push it by the sum), except on a banned token;
/// - the first strategy that forces tokens wins; a later one's forcing is recorded as overridden;
/// - the first sampling override wins, likewise;
/// - every effect carries the strategy it came from.
public enum StrategyPipeline {
    /// The decisions of one step, merged.
    public struct Merged: Equatable {
        public var banned: Set<Int32> = []
        public var bias: [Int32: Float] = [:]
        public var force: [Int32] = []
        public var forceBy: String?
        public var sampling: SamplingParameters?
        public var samplingBy: String?
        public var effects: [Effect] = []

        /// whether the logits must be edited before sampling
        public var editsLogits: Bool { !banned.isEmpty || bias.contains { !banned.contains($0.key) && $0.value != 0 } }
    }

    /// Merges the strategies' decisions, given in composition order.
    public static func merge(_ decisions: [(strategy: String, decision: StepDecision)]) -> Merged {
        var m = Merged()
        for (id, d) in decisions {
            m.banned.formUnion(d.banned)
            for (t, b) in d.bias { m.bias[t, default: 0] += b }
            if !d.force.isEmpty {
                if let winner = m.forceBy {
                    m.effects.append(Effect(id, .overridden, "forcing overridden by \(winner)"))
                } else {
                    m.force = d.force
                    m.forceBy = id
                }
            }
            if let sp = d.sampling {
                if let winner = m.samplingBy {
                    m.effects.append(Effect(id, .overridden, "sampling overridden by \(winner)"))
                } else {
                    m.sampling = sp
                    m.samplingBy = id
                }
            }
            m.effects += d.effects.map { Effect($0.strategy ?? id, $0.kind, $0.text) }
        }
        for t in m.banned { m.bias[t] = nil }
        return m
    }

    /// Applies the bans and biases to `logits` (a copy the session owns).
    public static func apply(_ m: Merged, to logits: UnsafeMutableBufferPointer<Float>) {
        for t in m.banned where Int(t) < logits.count && t >= 0 { logits[Int(t)] = -.infinity }
        for (t, b) in m.bias where Int(t) < logits.count && t >= 0 { logits[Int(t)] += b }
    }

    /// The first proposal in composition order, asking no strategy after it (a proposal can
    /// change its proposer's state: budget forcing counts its extensions). Used for `review`
    /// (a replacement of the sampled token) and `input` (an embedding instead of the token).
    public static func first<S, T>(_ strategies: [S], _ propose: (S) throws -> T?) rethrows -> (by: S, value: T)? {
        for s in strategies { if let v = try propose(s) { return (s, v) } }
        return nil
    }
}

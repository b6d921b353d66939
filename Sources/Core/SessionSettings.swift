import Foundation

// Settings a person changes mid-run (the workbench's command line): sampling, the token
// limit, and carrying every setting over to a session on another problem.
extension DecodingSession {
    /// Samples with `p` from the next step on; a `settings` event records old → new. A new
    /// seed restarts both generators (the sampler's and the strategies') here. The settings
    /// stay through rewinds and branches: they are the person's, not the run's.
    public func setSampling(_ p: SamplingParameters) throws {
        let old = config.sampling
        guard p != old else { return }
        config.sampling = p
        sampler = Sampler(parameters: p)
        let wanted = Self.candidatesKept(config, vocabularySize: backend.vocabularySize)
        if analyzer.topCount < wanted { analyzer = DistributionAnalyzer(topCount: wanted) }
        if p.seed != old.seed { state.reseed(p.seed) }
        emit(TraceEvent(step: records.count, kind: .settings, detail: Self.difference(old, p)))
    }

    /// "temperature 0.6 → 1.2, seed 7 → 8": what changed, in the options' names.
    static func difference(_ a: SamplingParameters, _ b: SamplingParameters) -> String {
        var parts: [String] = []
        func number(_ x: Double) -> String { ParameterFormat.number(x) }
        if a.temperature != b.temperature { parts.append("temp \(number(a.temperature)) → \(number(b.temperature))") }
        if a.topK != b.topK { parts.append("top-k \(a.topK) → \(b.topK)") }
        if a.topP != b.topP { parts.append("top-p \(number(a.topP)) → \(number(b.topP))") }
        if a.minP != b.minP { parts.append("min-p \(number(a.minP)) → \(number(b.minP))") }
        if a.seed != b.seed { parts.append("seed \(a.seed) → \(b.seed)") }
        return parts.joined(separator: ", ")
    }

    /// Stops after `n` generated tokens. A run past the new limit ends now; a run that ended at
    /// the old limit goes on: its last step is taken again (a `rewind` of one token, drawing
    /// the same token) and the next follow.
    public func setMaxTokens(_ n: Int) throws {
        guard n >= 1 else { throw ThinktopError.invalidArgument("max-tokens must be at least 1, got \(n)") }
        let old = config.maxTokens
        guard n != old else { return }
        config.maxTokens = n
        emit(TraceEvent(step: records.count, kind: .settings, detail: "max-tokens \(old) → \(n)"))
        if !isDone, records.count >= n {
            finish(.maxTokens)
        } else if stopReason == .maxTokens, records.count < n {
            // the last token was sampled but never fed: it is drawn again, the same way (its
            // step restored), and the run goes on — as after a full context
            try rewind(toPosition: promptTokens.count + records.count - 1)
        }
    }

    /// Takes `other`'s settings for a run on another problem: every strategy's parameters and
    /// which are on, the KV policy, sampling and the token limit. Call before the prefill.
    public func adoptSettings(of other: DecodingSession) throws {
        for s in other.roster.all {
            for p in s.parameterValues { try roster.set(s.id, p.name, p.value, prepare: prepare) }
        }
        for id in other.roster.enabled where roster.strategy(id) != nil { try roster.enable(id, true, prepare: prepare) }
        try setKVPolicy(KVPolicyRegistry.parse(other.kvPolicy.spec))
        config.sampling = other.config.sampling
        config.maxTokens = other.config.maxTokens
        sampler = Sampler(parameters: config.sampling)
        analyzer = DistributionAnalyzer(topCount: Self.candidatesKept(config, vocabularySize: backend.vocabularySize))
        state = SessionState(config: config, initialPhase: state.tracker.phase)
    }
}

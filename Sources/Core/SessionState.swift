/// Everything a step changes besides the records, the texts and the cache, as one value: a
/// checkpoint is a copy, a rewind an assignment. The texts themselves live in the session
/// (appended to every step, so copying them per checkpoint would cost the square of the run);
/// the state keeps their lengths and a rewind cuts them back.
struct SessionState {
    /// the sampler's generator
    var rng: SeededGenerator
    /// the strategies' own generator (CGRS's draws)
    var strategyRNG: SeededGenerator
    var tracker: PhaseTracker
    /// bytes of a character split over tokens, not yet shown
    var utf8 = UTF8Stream()
    var stopMatcher: StopMatcher
    var blocks: BlockStatistics
    /// thinking tokens generated so far
    var thinkingTokens = 0
    /// tokens to feed instead of sampled ones, in order
    var forced: [Int32] = []
    /// UTF-8 length of the visible output (stop strings and control tokens left out)
    var outputBytes = 0
    /// UTF-8 length of the full generated text (what strategies read)
    var fullTextBytes = 0

    /// The sampler's generator and the strategies' own, both from `seed`.
    static func generators(seed: UInt64) -> (SeededGenerator, SeededGenerator) {
        (SeededGenerator(seed: seed), SeededGenerator(seed: seed ^ 0x5354_5241_5445_4759))
    }

    /// Both generators start again from `seed` (a fork with a seed, a new seed mid-run).
    mutating func reseed(_ seed: UInt64) { (rng, strategyRNG) = Self.generators(seed: seed) }

    init(config: SessionConfig, initialPhase: Phase) {
        (rng, strategyRNG) = Self.generators(seed: config.sampling.seed)
        tracker = PhaseTracker(markers: config.markers, initial: initialPhase)
        stopMatcher = StopMatcher(stops: config.stops)
        blocks = BlockStatistics(window: config.blockWindow)
    }
}

/// The state before a step, for an exact rewind to it: the session's, and every prepared
/// strategy's.
struct Checkpoint {
    var state: SessionState
    var strategies: [StrategyMemento]
}

extension String {
    /// Cuts the string back to its first `bytes` UTF-8 bytes (a length it had before).
    mutating func truncate(toUTF8 bytes: Int) {
        guard utf8.count > bytes else { return }
        self = String(decoding: utf8.prefix(bytes), as: UTF8.self)
    }
}

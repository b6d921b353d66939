import Foundation
import Testing
@testable import Core

/// Settings changed mid-run (the workbench's command line): sampling, the token limit, a new
/// problem taking the old run's settings, and the steps of the strategy pane's `+`/`-`.
@Suite("Settings changed between steps")
struct SettingsTests {
    let prompt: [Int32] = [5, 5, 5, 5, 5, 1, 3]
    let V = ScriptedBackend.pieces.count + 5

    /// next token from the last one only, spread enough that temperature 1 wanders
    func backend() -> ScriptedBackend {
        let V = self.V
        let b = ScriptedBackend(contextSize: 256) { token, _ in
            var l = [Float](repeating: 0, count: V)
            let t = Int(max(token, 0))
            l[(t * 3 + 1) % V] = 2.0
            l[(t + 2) % V] = 1.6
            l[(t + 5) % V] = 1.2
            l[0] = -4
            return l
        }
        b.allowsHoles = true
        return b
    }

    func session(temperature: Double = 1, seed: UInt64 = 11, maxTokens: Int = 40, specs: [String] = []) throws -> DecodingSession {
        let b = backend()
        let sampling = try SamplingParameters(temperature: temperature, topK: 0, topP: 1, minP: 0, seed: seed)
        var config = try SessionConfig(sampling: sampling, maxTokens: maxTokens, markers: ThinkMarkers.resolve(backend: b))
        config.ignoreEndOfGeneration = true
        let s = try DecodingSession(backend: b, config: config, promptTokens: prompt, initialPhase: .thinking)
        try s.install(specs: specs)
        return s
    }

    func steps(_ s: DecodingSession, _ n: Int) throws {
        for _ in 0..<n { _ = try s.step() }
    }

    @Test("temperature lowered to 0 mid-run: the steps before are the warm run's, every step after is the arg-max, and an event says it")
    func temperatureMidRun() throws {
        let warm = try session()
        try steps(warm, 12)
        let s = try session()
        try steps(s, 5)
        var greedy = s.config.sampling
        greedy.temperature = 0
        s.send(.setSampling(greedy))
        s.applyCommands()
        try steps(s, 7)
        #expect(s.records.prefix(5).map(\.token) == warm.records.prefix(5).map(\.token))
        #expect(s.records.dropFirst(5).allSatisfy { $0.token == $0.top[0].id })
        // the warm run does not take the arg-max every time after step 5 (else the test shows nothing)
        #expect(!warm.records.dropFirst(5).allSatisfy { $0.token == $0.top[0].id })
        let e = try #require(s.events.last { $0.kind == .settings })
        #expect(e.step == 5)
        #expect(e.detail == "temp 1.0 → 0.0")
        #expect(EventKind.settings.isCommand)
    }

    @Test("a new seed restarts the generators where it is set: the same tokens as a fork with that seed there")
    func seedMidRun() throws {
        let s = try session()
        try steps(s, 4)
        var p = s.config.sampling
        p.seed = 99
        try s.setSampling(p)
        try steps(s, 8)
        let fork = try session()
        try steps(fork, 4)
        try fork.fork(atStep: 4, seed: 99)
        try steps(fork, 8)
        #expect(s.records.map(\.token) == fork.records.map(\.token))
        let same = try session()
        try steps(same, 12)
        #expect(s.records.map(\.token) != same.records.map(\.token))
        #expect(s.events.last?.detail == "seed 11 → 99")
    }

    @Test("top-k raised past the kept alternatives: the analyzer keeps enough, so sampling draws from all k")
    func topKRaised() throws {
        let s = try session()
        try steps(s, 2)
        var p = s.config.sampling
        p.topK = 14
        try s.setSampling(p)
        #expect(s.analyzer.topCount == 14)
        try steps(s, 3)
        #expect(s.records.count == 5)
        #expect(s.events.last?.detail == "top-k 0 → 14")
    }

    @Test("max-tokens raised after the run stopped at the old limit: it goes on, token for token as a run with the new limit")
    func maxTokensRaised() throws {
        let straight = try session(maxTokens: 9)
        while try straight.step() != nil {}
        let s = try session(maxTokens: 4)
        while try s.step() != nil {}
        #expect(s.stopReason == .maxTokens)
        #expect(s.records.count == 4)
        try s.setMaxTokens(9)
        #expect(s.stopReason == nil)
        while try s.step() != nil {}
        #expect(s.stopReason == .maxTokens)
        #expect(s.records.map(\.token) == straight.records.map(\.token))
        #expect(s.events.contains { $0.kind == .settings && $0.detail == "max-tokens 4 → 9" && $0.step == 4 })
    }

    @Test("max-tokens lowered under the steps taken: the run ends there")
    func maxTokensLowered() throws {
        let s = try session(maxTokens: 40)
        try steps(s, 6)
        try s.setMaxTokens(3)
        #expect(s.stopReason == .maxTokens)
        #expect(s.records.count == 6)
        #expect(throws: ThinktopError.self) { try s.setMaxTokens(0) }
    }

    @Test("a new problem's session takes every setting: strategies on and their parameters, those of strategies off, the KV policy, sampling, the limit")
    func adoptSettings() throws {
        let old = try session(temperature: 0.7, seed: 5, maxTokens: 33, specs: ["deer:threshold=0.5", "nowait"])
        try old.setKVPolicy(KVPolicyRegistry.parse("streaming:sinks=2:recent=64"))
        try old.prefill()
        old.send(.setParameter("cgrs", "delta", "0.7"))
        old.applyCommands()
        let new = try session()
        try new.install(specs: [])
        try new.adoptSettings(of: old)
        #expect(new.enabledSpecs == old.enabledSpecs)
        #expect(new.enabledSpecs == ["deer:threshold=0.5", "nowait"])
        let cgrs = try #require(new.strategyStatus().first { $0.id == "cgrs" })
        #expect(!cgrs.enabled && cgrs.value("delta") == "0.7")
        #expect(new.kvPolicy.spec == "streaming:sinks=2:recent=64")
        #expect(new.config.sampling == old.config.sampling)
        #expect(new.config.maxTokens == 33)
    }

    @Test("+ and - step a parameter by a round amount onto its multiples, within its range; choices go round, flags flip, texts have no steps")
    func parameterSteps() {
        let budget = ParameterKind.integer(16...1_000_000, off: false)
        #expect(budget.step("512", up: true) == "550")
        #expect(budget.step("512", up: false) == "500")
        #expect(budget.step("500", up: false) == "450")
        #expect(budget.step("16", up: false) == nil)          // at its lowest
        #expect(ParameterKind.integer(1...10, off: false).step("3", up: true) == "4")
        #expect(ParameterKind.integer(1...1_048_576, off: false).step("64", up: true) == "70")
        #expect(ParameterKind.integer(1...1_048_576, off: false).step("64", up: false) == "60")
        let limit = ParameterKind.integer(1...100, off: true)
        #expect(limit.step("1", up: false) == "off")
        #expect(limit.step("off", up: true) == "1")
        let threshold = ParameterKind.number(0...1, lowerOpen: false)
        #expect(threshold.step("0.95", up: false) == "0.9")
        #expect(threshold.step("0.9", up: false) == "0.85")
        #expect(threshold.step("0.95", up: true) == "1.0")
        #expect(threshold.step("1.0", up: true) == nil)
        #expect(threshold.step("0.93", up: false) == "0.9")
        #expect(threshold.step("0.05", up: false) == "0.04")
        let open = ParameterKind.number(0...1, lowerOpen: true)
        #expect(open.step("0.01", up: false) == "0.008")
        let wide = ParameterKind.number(0...100, lowerOpen: false)
        #expect(wide.step("3.0", up: true) == "3.2")
        #expect(wide.step("20.0", up: false) == "18.0")
        let choice = ParameterKind.choice(["exact", "top", "mid"])
        #expect(choice.step("mid", up: true) == "exact")
        #expect(choice.step("exact", up: false) == "mid")
        #expect(ParameterKind.flag.step("on", up: true) == "off")
        #expect(ParameterKind.text(nonEmpty: true).step("x", up: true) == nil)
    }

    @Test("the catalog lists every strategy and KV policy with its declared parameters; a value is checked with the others as they are")
    func catalogAndCheck() throws {
        #expect(ParameterCatalog.strategies.map(\.id) == StrategyRegistry.ids)
        let deer = try #require(ParameterCatalog.strategies.first { $0.id == "deer" })
        #expect(deer.parameter("threshold")?.kind == .number(0...1, lowerOpen: false))
        #expect(ParameterCatalog.kvPolicies.map(\.id) == ["none", "streaming", "h2o", "snapkv"])
        try ParameterCatalog.check(owner: "deer", kv: false, current: [], name: "threshold", value: "0.8")
        #expect(throws: ThinktopError.self) {
            try ParameterCatalog.check(owner: "deer", kv: false, current: [], name: "threshold", value: "1.5")
        }
        try ParameterCatalog.check(owner: "streaming", kv: true, current: [], name: "recent", value: "256")
    }
}

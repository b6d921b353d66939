import Foundation
import Testing
@testable import Core

@Suite("Strategy pipeline: how decisions compose; capabilities")
struct PipelineTests {
    func decision(ban: [Int32] = [], bias: [Int32: Float] = [:], force: [Int32] = [], sampling: SamplingParameters? = nil,
                  effect: String? = nil) -> StepDecision {
        var d = StepDecision()
        d.banned = Set(ban)
        d.bias = bias
        d.force = force
        d.sampling = sampling
        if let effect { d.effect(.note, effect) }
        return d
    }

    @Test("bans add up, biases add (not on a banned token), the first forcer and the first sampler win")
    func merge() throws {
        let hot = try SamplingParameters(temperature: 2, topK: 5, topP: 1, minP: 0, seed: 1)
        let cold = try SamplingParameters(temperature: 0.1, topK: 5, topP: 1, minP: 0, seed: 1)
        let m = StrategyPipeline.merge([
            ("a", decision(ban: [1, 2], bias: [5: 1.5, 2: 4], effect: "a did")),
            ("b", decision(ban: [3], bias: [5: -0.5, 6: 2], force: [7, 8], sampling: hot)),
            ("c", decision(ban: [2], force: [9], sampling: cold, effect: "c did")),
        ])
        #expect(m.banned == [1, 2, 3])
        #expect(m.bias == [5: 1.0, 6: 2])                 // 2's bias dropped: it is banned
        #expect(m.force == [7, 8] && m.forceBy == "b")
        #expect(m.sampling == hot && m.samplingBy == "b")
        #expect(m.effects == [Effect("a", .note, "a did"),
                              Effect("c", .overridden, "forcing overridden by b"),
                              Effect("c", .overridden, "sampling overridden by b"),
                              Effect("c", .note, "c did")])
        #expect(m.editsLogits)
        var logits: [Float] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        logits.withUnsafeMutableBufferPointer { StrategyPipeline.apply(m, to: $0) }
        #expect(logits == [0, -.infinity, -.infinity, -.infinity, 4, 6, 8, 7, 8, 9])
        #expect(!StrategyPipeline.merge([("a", decision(bias: [4: 0]))]).editsLogits)
    }

    @Test("the first proposal wins and later strategies are not asked")
    func firstProposal() throws {
        var asked: [String] = []
        let won = StrategyPipeline.first(["a", "b", "c"]) { id -> [Int32]? in
            asked.append(id)
            return id == "b" ? [4] : nil
        }
        #expect(won?.by == "b" && won?.value == [4])
        #expect(asked == ["a", "b"])
    }

    let prompt: [Int32] = [5, 5, 5, 5, 5, 1, 3]   // " ok" ×5, "<think>", "\n"
    let V = ScriptedBackend.pieces.count + 5

    func session(_ backend: ScriptedBackend, specs: [String], maxTokens: Int = 30) throws -> DecodingSession {
        let config = try SessionConfig(sampling: .greedy, maxTokens: maxTokens, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
        try s.install(specs: specs)
        return s
    }

    @Test("two strategies forcing at one step: the earlier in composition order wins, the other is recorded")
    func twoForcers() throws {
        // " = 9\n" ends a line with a candidate answer, and the budget of 3 thinking tokens is
        // reached at the same step: budget forcing (first in order) forces, answer stop is overridden
        let equals: Int32 = 15
        let backend = ScriptedBackend(extraPieces: [" ="], rule: ScriptedBackend.following([equals, 9, 3, 8, 8, 6, 0], promptLength: prompt.count, vocabulary: V + 1))
        let s = try session(backend, specs: ["answerstop", "budget=3"])
        try s.step(); try s.step(); try s.step()
        let r = try #require(try s.step())
        #expect(r.input == .forced)
        #expect(r.effects.contains(Effect("budget", .force, "budget of 3 reached: ending thinking")))
        #expect(r.effects.contains(Effect("answerstop", .overridden, "forcing overridden by budget")))
        #expect(s.events.filter { $0.kind == .force }.map(\.strategy) == ["budget"])
        #expect(s.events.contains { $0.kind == .budgetEnd && $0.strategy == "budget" })
    }

    @Test("bans from one strategy and a bias from another act on the same step")
    func banAndBias() throws {
        // favourite "Wait" (banned by NoWait); stop pressure τ = 1000 pulls the close to the top
        let backend = ScriptedBackend(rule: { _, _ in
            var l = [Float](repeating: 0, count: 15)
            l[4] = 8; l[8] = 5; l[2] = 1
            return l
        })
        let s = try session(backend, specs: ["nowait", "stoppressure=1000"])
        let r = try #require(try s.step())
        #expect(r.token == 2)   // not "Wait" (banned), not " so": the close, pushed to the top
        #expect(r.effects.map(\.strategy).contains("nowait") && r.effects.map(\.strategy).contains("stoppressure"))
        #expect(r.effects.contains { $0.kind == .suppress && $0.strategy == "nowait" })
        #expect(r.effects.contains { $0.kind == .bias && $0.strategy == "stoppressure" })
        #expect(r.effects.contains { $0.kind == .adjusted && $0.strategy == nil })
        #expect(s.events.contains { $0.kind == .suppress && $0.strategy == "nowait" && $0.position == prompt.count })
        // the raw signals stay those of the untouched distribution
        #expect(r.top.first?.id == 4)
    }

    @Test("a strategy the backend cannot serve is unavailable with the reason, and refused in one line")
    func capabilities() throws {
        #expect(Capability.missing([.topK], offered: [.fullDistribution]).isEmpty)
        #expect(Capability.missing([.fullDistribution, .forks], offered: [.topK]) == [.fullDistribution, .forks])
        #expect(Capability.reason([.forks]) == "needs forks, which this backend does not offer")
        #expect(Capability.reason([.fullDistribution, .forks, .embeddingInput])
                == "needs full distribution, forks and embedding input, which this backend does not offer")

        let backend = ScriptedBackend(rule: ScriptedBackend.following([8, 8, 0], promptLength: prompt.count, vocabulary: V))
        backend.offered = [.topK, .tokenBans, .forks, .vocabulary]   // what an inference server offers
        #expect(throws: ThinktopError.invalidArgument("strategy stoppressure cannot run here: it needs full distribution, which this backend does not offer")) {
            try session(backend, specs: ["stoppressure"])
        }
        let s = try session(backend, specs: ["nowait", "budget=8"])
        let status = s.strategyStatus()
        #expect(status.first { $0.id == "nowait" }?.unavailable == nil)
        #expect(status.first { $0.id == "budget" }?.enabled == true)
        #expect(status.first { $0.id == "swir" }?.unavailable == "needs full distribution and embedding input, which this backend does not offer")
        #expect(status.filter { $0.unavailable != nil }.map(\.id) == ["stoppressure", "swir"])
        // switching one on mid-run is refused as an error event; the run goes on
        s.send(.enableStrategy("swir", true))
        s.applyCommands()
        #expect(s.events.last?.kind == .error)
        #expect(s.events.last?.detail == "strategy swir cannot run here: it needs full distribution and embedding input, which this backend does not offer")
        #expect(!s.enabled.contains("swir"))
        while try s.step() != nil {}
        #expect(s.stopReason == .endOfGeneration)
    }

    @Test("strategy state is a typed value: a memento puts it back exactly")
    func mementos() throws {
        let b = BudgetForcing()
        b.state.extensionsUsed = 2
        let m = b.memento()
        b.state.extensionsUsed = 5
        m.restore()
        #expect(b.extensionsUsed == 2)
        b.resetState()
        #expect(b.extensionsUsed == 0)
    }

    @Test("parameters are declared once: spec, help and errors come from the declaration")
    func declarations() throws {
        let d = DEER()
        try d.set("stops", "}\\n,}.")
        #expect(d.stops == ["}\n", "}."])
        #expect(d.spec == "deer:threshold=0.95:stops=}\\n,}.")
        #expect(throws: ThinktopError.invalidArgument("strategy deer: probe must be a whole number in 2…256, got \"1\"")) {
            try d.set("probe", "1")
        }
        #expect(throws: ThinktopError.invalidArgument("strategy deer has no parameter \"stop\" (it has: threshold, trigger, triggers, cue, probe, stops, mean, ratio, limit, maxProbes, context)")) {
            try d.set("stop", "}")
        }
        #expect(throws: ThinktopError.invalidArgument("strategy stoppressure: tau must be a number above 0.0 up to 1000.0, got \"0\"")) {
            try StopPressure().set("tau", "0")
        }
        #expect(throws: ThinktopError.invalidArgument("KV policy snapkv: window (64) must be below capacity (32)")) {
            try KVPolicyRegistry.parse("snapkv:window=64:capacity=32")
        }
        // every declared parameter's help names what it takes and its default
        for t in StrategyRegistry.types {
            for p in t.parameterHelp { #expect(!p.help.isEmpty && !p.kind.isEmpty, "\(t.info.id).\(p.name)") }
        }
        #expect(SwiReasoning.parameterHelp.first { $0.name == "cap" }?.defaultValue == "off")
        #expect(SnapKV.parameterHelp.map { "\($0.name)=\($0.defaultValue)" } == ["window=32", "kernel=5", "pool=avg", "capacity=2048"])
    }
}

import Foundation
import Testing
@testable import Core

/// Strategies on the scripted model (ScriptedBackend's vocabulary: 0 <eos>, 1 <think>,
/// 2 </think>, 3 \n, 4 Wait, 5 " ok", 6 "Answer: 9", 7 "\nProblem:", 8 " so", 9 " 9", 10… bytes).
@Suite("Strategies: NoWait, budget forcing, specs")
struct StrategyTests {
    let prompt: [Int32] = [5, 5, 1, 3]
    let V = ScriptedBackend.pieces.count + 5

    func session(script: [Int32], specs: [String], maxTokens: Int = 40) throws -> DecodingSession {
        let backend = ScriptedBackend(contextSize: 128, rule: ScriptedBackend.following(script, promptLength: prompt.count, vocabulary: V))
        let config = try SessionConfig(sampling: .greedy, maxTokens: maxTokens, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
        try s.install(specs: specs)
        return s
    }

    @Test("NoWait masks exactly the keyword tokens, false friends excluded")
    func noWaitMask() throws {
        let n = NoWait()
        for t in ["Wait", " wait", "WAIT", " Hmm", "But", " however", "Alternatively", " double-check", " maybe", " Oh", " now", "any"] {
            #expect(n.masks(t), "\(t) should be masked")
        }
        for t in [" know", " button", " Ohio", " butter", " snow", " company", " many", " mother", " John", " yeah", " so", " 9", "Answer"] {
            #expect(!n.masks(t), "\(t) should not be masked")
        }
        let s = try session(script: [4, 8, 9, 2, 6, 0], specs: ["nowait"])
        let st = try #require(s.strategy("nowait") as? NoWait)
        #expect(st.masked == [4])   // "Wait" is the only keyword token of the scripted vocabulary
    }

    @Test("NoWait's and CGRS's vocabulary scans are done once per model and word list, every later session reuses them")
    func scansShared() throws {
        let backend = ScriptedBackend(contextSize: 128, rule: ScriptedBackend.following([4, 8, 9, 2, 6, 0], promptLength: prompt.count, vocabulary: V))
        backend.keptScans = VocabularyScans()
        func installed(_ specs: [String]) throws -> DecodingSession {
            let config = try SessionConfig(sampling: .greedy, maxTokens: 10, markers: ThinkMarkers.resolve(backend: backend))
            let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
            try s.install(specs: specs)
            return s
        }
        let first = try installed(["nowait", "cgrs"])
        #expect(backend.keptScans?.count == 2)
        let read = backend.piecesRead
        #expect(read >= 2 * V)
        let second = try installed(["nowait", "cgrs"])
        #expect(backend.piecesRead == read, "the second session scanned the vocabulary again")
        #expect((second.strategy("nowait") as? NoWait)?.masked == [4])
        #expect((second.strategy("cgrs") as? CGRS)?.triggerIds == (first.strategy("cgrs") as? CGRS)?.triggerIds)
        // another word list is another rule: scanned, and its own answer
        let other = try installed(["nowait:keywords=so"])
        #expect(backend.keptScans?.count == 3 && backend.piecesRead >= read + V)
        #expect((other.strategy("nowait") as? NoWait)?.masked == [8])
    }

    @Test("NoWait: the favourite 'Wait' is never chosen while thinking, and it says so")
    func noWaitSteps() throws {
        let s = try session(script: [4, 8, 9, 2, 4, 0], specs: ["nowait"])
        while try s.step() != nil {}
        #expect(s.records[0].token == 5)   // runner-up " ok" instead of Wait
        #expect(s.records[0].effects.contains { $0.line.contains("nowait: suppressed \"Wait\"") })
        #expect(s.records[0].effects.contains { $0.kind == .adjusted && $0.text.hasPrefix("H ") })
        // the raw signals are those of the unmasked distribution
        #expect(s.records[0].top[0].id == 4)
        #expect(!s.records.filter { $0.phase == .thinking }.contains { $0.token == 4 })
    }

    @Test("budget forcing: think-close exactly when thinking reaches the budget")
    func budgetForcesEnd() throws {
        let s = try session(script: Array(repeating: 8, count: 30) + [0], specs: ["budget=5"])
        while try s.step() != nil {}
        // 5 thinking tokens sampled, then "\n" and "</think>" forced, then the answer
        #expect(s.records.prefix(5).allSatisfy { $0.input == .explicit && $0.phase == .thinking })
        #expect(s.records[5].input == .forced && s.records[5].token == 3)
        #expect(s.records[6].input == .forced && s.records[6].token == 2)
        #expect(s.records[6].phase == .thinking && s.records[7].phase == .answer)
        #expect(s.events.map(\.kind.rawValue).contains("budget-end"))
        #expect(s.events.first { $0.kind == .budgetEnd }?.step == 5)
        // the panel's count is the gauge's: every thinking token generated so far
        let thinking = s.records.filter { $0.phase == .thinking }.count
        #expect(s.strategy("budget")?.liveState.hasPrefix("think \(thinking)/5") == true)
    }

    @Test("budget forcing extends exactly N times: think-close becomes Wait")
    func budgetExtends() throws {
        // the model tries to close thinking three times
        let script: [Int32] = [8, 2, 8, 2, 8, 2, 6, 0]
        let s = try session(script: script, specs: ["budget=100:extend=2"])
        while try s.step() != nil {}
        let replaced = s.records.filter { $0.effects.contains { $0 == Effect("budget", .replace, "replaced sampled 2") } }
        #expect(replaced.count == 2)
        #expect(s.events.filter { $0.kind == .budgetExtend }.count == 2)
        // the third close goes through
        #expect(s.records.contains { $0.token == 2 && $0.input == .explicit })
    }

    @Test("specs: main value, parameters, errors naming the problem")
    func specs() throws {
        let (list, on) = try StrategyRegistry.configure(["budget=256:extend=2", "nowait"])
        #expect(on == ["budget", "nowait"])
        let b = try #require(list.first { $0.id == "budget" } as? BudgetForcing)
        #expect(b.budget == 256 && b.extend == 2)
        #expect(b.spec == "budget:budget=256:extend=2")
        #expect(throws: ThinktopError.self) { try StrategyRegistry.configure(["nosuch"]) }
        #expect(throws: ThinktopError.self) { try StrategyRegistry.configure(["budget=-1"]) }
        #expect(throws: ThinktopError.self) { try StrategyRegistry.configure(["budget:extend"]) }
    }

    @Test("toggling a strategy between steps is a trace event and takes effect from the next step")
    func toggleMidRun() throws {
        let s = try session(script: [4, 4, 4, 4, 4, 4, 0], specs: [])
        try s.step()
        try s.step()
        s.send(.enableStrategy("nowait", true))
        s.applyCommands()
        while try s.step() != nil {}
        #expect(s.records.prefix(2).allSatisfy { $0.token == 4 })
        #expect(s.records.dropFirst(2).allSatisfy { $0.token != 4 })
        // the toggle, then one event per suppression, each at its step
        #expect(s.events.map(\.kind.rawValue) == ["enable", "suppress", "suppress", "suppress", "suppress"])
        #expect(s.events[0].step == 2 && s.events[0].detail == "nowait")
        #expect(s.events.dropFirst().map(\.step) == [2, 3, 4, 5])
        s.send(.setParameter("budget", "budget", "9"))
        s.send(.setParameter("budget", "budget", "zero"))
        s.applyCommands()
        #expect(s.events.map(\.kind.rawValue).suffix(2) == ["parameter", "error"])
        #expect((s.strategy("budget") as? BudgetForcing)?.budget == 9)
    }
}

import Core
import Engine
import Foundation
import Testing

/// Branches on the default model: a token picked at a fork, a rewind that keeps the old
/// continuation, switching away and back, the cache shared or rebuilt.
@Suite("Branches on the default model", .serialized)
struct BranchTests {
    let sampled = try! SamplingParameters(temperature: 0.6, topK: 20, topP: 0.95, minP: 0, seed: 7)

    func context(ctx: Int = 1024, sequences: Int = 10, threads: Int = 2) throws -> LlamaContext {
        try LlamaContext(model: DefaultModel.model, options: try ContextOptions(contextSize: ctx, threads: threads, sequences: sequences))
    }

    func session(_ context: LlamaContext, sampling: SamplingParameters, maxTokens: Int = 40) throws -> DecodingSession {
        let tokens = try context.model.tokenize(DemoProblem.prompt, addSpecial: true)
        var config = try SessionConfig(sampling: sampling, maxTokens: maxTokens, markers: ThinkMarkers.resolve(backend: context))
        config.ignoreEndOfGeneration = true
        let s = try DecodingSession(backend: context, config: config, promptTokens: tokens, initialPhase: .thinking)
        try s.install(specs: [])
        return s
    }

    /// The tokens of a run from scratch, with `forced` taken at its steps.
    func straight(_ sampling: SamplingParameters, forced: [Int: Int32] = [:], maxTokens: Int = 40, threads: Int = 2) throws -> [Int32] {
        let s = try session(try context(threads: threads), sampling: sampling, maxTokens: maxTokens)
        s.forcedAt = forced
        while try s.step() != nil {}
        return s.records.map(\.token)
    }

    @Test("a token picked at a fork is taken there, and the branch goes on as a run with that token forced at that step", arguments: [false, true])
    func pickedTokenMatchesForcedRun(sampling isSampled: Bool) throws {
        let sampling = isSampled ? sampled : .greedy
        let s = try session(try context(), sampling: sampling)
        for _ in 0..<25 { try s.step() }
        let parent = s.records.map(\.token)
        let alternative = s.records[10].top[1].id
        let id = try #require(try s.fork(atStep: 10, token: alternative))
        #expect(id == 1 && s.currentBranch == 1 && s.records.count == 10)
        #expect(s.branches[1].cause.kind == .token && s.branches[1].cause.rank == 2 && s.branches[1].forkStep == 10)
        while try s.step() != nil {}
        #expect(s.records[10].token == alternative && s.records[10].input == .forced)
        #expect(Array(s.records.prefix(10).map(\.token)) == Array(parent.prefix(10)))
        let reference = try straight(sampling, forced: [10: alternative])
        let firstDifference = zip(s.records.map(\.token), reference).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(s.records.map(\.token) == reference, "first difference at step \(firstDifference ?? -1)")
        #expect(s.cacheState(of: 0) == .host)
    }

    /// How a test keeps parked branches: in host memory, shared in the cache (exact with one
    /// thread), or not at all (rebuilt on demand).
    enum Keeping: String, CaseIterable { case host, shared, rebuild }

    @Test("switching away and back continues exactly, the cache kept on host, shared or rebuilt", arguments: Keeping.allCases)
    func switchingBackContinuesExactly(keeping: Keeping) throws {
        let threads = keeping == .shared ? 1 : 2
        let expected = try straight(sampled, threads: threads)
        let s = try session(try context(threads: threads), sampling: sampled)
        s.branchCache = keeping == .shared ? .shared : .exact
        if keeping == .rebuild { s.hostLimit = 0 }
        for _ in 0..<20 { try s.step() }
        let alternative = s.records[8].top[1].id
        try s.fork(atStep: 8, token: alternative)
        for _ in 0..<10 { try s.step() }
        try s.switchBranch(to: 0)
        #expect(s.currentBranch == 0 && s.records.count == 20)
        #expect(s.cacheState(of: 1) == [.host: .host, .shared: .shared, .rebuild: .rebuild][keeping])
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == expected)
        try s.switchBranch(to: 1)
        #expect(s.records.count == 18)
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == (try straight(sampled, forced: [8: alternative], threads: threads)))
        #expect(s.ledger.disagreement(with: s.backend) == nil)
    }

    @Test("a rewind keeps the old continuation as a branch; the same settings give it again")
    func rewindKeepsTheOldBranch() throws {
        let s = try session(try context(), sampling: sampled)
        for _ in 0..<30 { try s.step() }
        let old = s.records.map(\.token)
        let id = try #require(try s.fork(atStep: 12))
        #expect(s.branches[id].cause.kind == .rewind && s.records.count == 12)
        while s.records.count < 30 { try s.step() }
        #expect(s.records.map(\.token) == old)
        // with NoWait on from the fork, the cause says what changed
        try s.install(specs: ["nowait"])
        let other = try #require(try s.fork(atStep: 5))
        #expect(s.branches[other].cause.kind == .strategies)
        #expect(s.branches[other].cause.strategies == ["nowait"] && s.branches[other].cause.parentStrategies == [])
        try s.switchBranch(to: 0)
        #expect(s.records.map(\.token) == old && s.enabled.isEmpty)
        try s.switchBranch(to: other)
        #expect(s.enabled == ["nowait"])
    }

    @Test("shared: when the cache needs the room, the oldest parked copy is dropped and that branch is rebuilt on demand")
    func parkedCopiesGiveWay() throws {
        let s = try session(try context(ctx: 768, threads: 1), sampling: sampled, maxTokens: 300)
        s.branchCache = .shared
        for _ in 0..<60 { try s.step() }
        let old = s.records.map(\.token)
        try s.fork(atStep: 2, token: s.records[2].top[1].id)
        #expect(s.cacheState(of: 0) == .shared)
        // 497 prompt + 58 cells the old branch holds alone + the new branch's: past 768 − 64 it gives way
        #expect(s.backend.contextSize == 768)
        while s.cacheState(of: 0) == .shared, s.records.count < 200 { try s.step() }
        #expect(s.records.count == 768 - 64 - 1 - 497 - 58 + 1)
        try s.switchBranch(to: 0)
        #expect(s.records.map(\.token) == old)
        for _ in 0..<10 { try s.step() }
        #expect(s.records.map(\.token) == (try straight(sampled, maxTokens: 70, threads: 1)))
        #expect(s.ledger.disagreement(with: s.backend) == nil)
    }

    @Test("the trace's lines rebuild every branch: records, fork and cause")
    func traceRebuildsBranches() throws {
        let s = try session(try context(), sampling: sampled)
        var lines: [TraceLine] = []
        s.onStep = { lines.append(.token($0)) }
        s.onEvent = { lines.append(.event($0)) }
        for _ in 0..<20 { try s.step() }
        try s.fork(atStep: 6, token: s.records[6].top[2].id)
        for _ in 0..<8 { try s.step() }
        try s.switchBranch(to: 0)
        try s.fork(atStep: 15)
        for _ in 0..<3 { try s.step() }
        let log = BranchLog(lines: lines)
        #expect(log.branches.map(\.id) == [0, 1, 2])
        #expect(log.currentRun.id == 2 && log.currentRun.records == s.records)
        #expect(log.branch(1)?.info == s.branches[1] && log.branch(2)?.info.parent == 0)
        #expect(log.branch(1)?.records.count == 14 && log.branch(0)?.records.count == 20)
        #expect(log.divergence(1, 0) == 6 && log.divergence(2, 0) == 15 && log.divergence(1, 2) == 6)
        #expect(log.forkSteps(on: 0) == [6: [1], 15: [2]])
    }
}

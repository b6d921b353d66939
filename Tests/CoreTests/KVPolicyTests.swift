import Foundation
import Testing
@testable import Core

@Suite("KV-cache policies and the ledger on a scripted model")
struct KVPolicyTests {
    let prompt: [Int32] = [5, 5, 5, 5, 5, 1, 3]   // " ok" ×5, "<think>", "\n"
    let V = ScriptedBackend.pieces.count + 5

    /// A model whose next token depends on the last one only, spread enough that sampling at
    /// temperature 1 takes different paths with different seeds.
    func backend(context: Int, attention: ((Int, Int32) -> Float)? = nil) -> ScriptedBackend {
        let V = self.V
        let b = ScriptedBackend(contextSize: context) { token, _ in
            var l = [Float](repeating: 0, count: V)
            let t = Int(max(token, 0))
            l[(t * 3 + 1) % V] = 2.0
            l[(t + 2) % V] = 1.6
            l[(t + 5) % V] = 1.2
            l[0] = -4          // end of generation is rare
            return l
        }
        b.allowsHoles = true
        b.attentionRule = attention
        return b
    }

    func session(_ b: ScriptedBackend, maxTokens: Int, seed: UInt64 = 11, kv: String = "none") throws -> DecodingSession {
        let sampling = try SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0, seed: seed)
        var config = try SessionConfig(sampling: sampling, maxTokens: maxTokens, markers: ThinkMarkers.resolve(backend: b))
        config.ignoreEndOfGeneration = true
        let s = try DecodingSession(backend: b, config: config, promptTokens: prompt, initialPhase: .thinking)
        try s.setKVPolicy(KVPolicyRegistry.parse(kv))
        return s
    }

    func entries(_ scores: [Float]) -> [(position: Int, entry: KVLedger.Entry)] {
        scores.enumerated().map { ($0.offset, KVLedger.Entry(token: 5, index: $0.offset, score: $0.element)) }
    }

    // MARK: the rules

    @Test("StreamingLLM: over budget, the oldest positions after the sinks go and the rest move down")
    func streamingPlan() throws {
        let p = try KVPolicyRegistry.parse("streaming:sinks=4:recent=8")
        #expect(p.spec == "streaming:sinks=4:recent=8")
        #expect(p.plan(entries(Array(repeating: 0, count: 11)), moment: .generation(incoming: 1), capacity: 100, promptTokens: 7) == nil)
        let plan = try #require(p.plan(entries(Array(repeating: 0, count: 20)), moment: .generation(incoming: 1), capacity: 100, promptTokens: 7))
        #expect(plan.positions == Array(4...12))           // 20 + 1 − 12 = 9 go
        #expect(plan.compactFrom == 4)
        // the context caps the window
        let capped = try #require(p.plan(entries(Array(repeating: 0, count: 10)), moment: .generation(incoming: 1), capacity: 8, promptTokens: 7))
        #expect(capped.positions == [4, 5, 6])
        // batch=4: three more go at once, so the next three steps need no shift
        let batched = try KVPolicyRegistry.parse("streaming:sinks=4:recent=8:batch=4")
        #expect(batched.spec == "streaming:sinks=4:recent=8:batch=4")
        #expect(batched.plan(entries(Array(repeating: 0, count: 12)), moment: .generation(incoming: 1), capacity: 100, promptTokens: 7)?.positions == [4, 5, 6, 7])
        #expect(batched.plan(entries(Array(repeating: 0, count: 9)), moment: .generation(incoming: 1), capacity: 100, promptTokens: 7) == nil)
    }

    @Test("H2O: the lowest accumulated scores outside the recent window go; budgets are fractions of the prompt")
    func h2oPlan() throws {
        let p = try KVPolicyRegistry.parse("h2o:heavy=3:recent=2")
        //                  0    1    2    3    4    5    6    7   (6, 7 recent)
        let scores: [Float] = [9, 0.5, 4, 0.1, 7, 0.2, 0, 0]
        let plan = try #require(p.plan(entries(scores), moment: .generation(incoming: 1), capacity: 100, promptTokens: 7))
        // 8 + 1 − 5 = 4 go. The recent window of 2 holds the incoming token and position 7
        // (the reference evicts after appending: keep the last recent_size, the new one
        // included), so the four lowest of positions 0…6 go, and the three heavy hitters
        // 0, 2, 4 stay: heavy + recent exactly
        #expect(plan.positions == [1, 3, 5, 6])
        #expect(plan.compactFrom == nil)
        let ratio = H2O()
        #expect(ratio.budget(promptTokens: 300) == 60)     // 10 % heavy + 10 % recent
        #expect(ratio.prefillQueries(promptTokens: 300) == 0..<300)
    }

    @Test("SnapKV: average pool with zero padding, then the best pooled scores plus the window")
    func snapKVPlan() throws {
        #expect(SnapKV.pool([1, 2, 3, 4, 5], kernel: 5).map { ($0 * 1000).rounded() / 1000 } == [1.2, 2, 3, 2.8, 2.4])
        let p = try KVPolicyRegistry.parse("snapkv:window=2:kernel=1:capacity=5")
        #expect(p.prefillQueries(promptTokens: 10) == 8..<10)
        let scores: [Float] = [5, 1, 0, 9, 2, 3, 0, 8, 0, 0]
        // positions 0…7 are scored (8, 9 are the window): keep the best 3 → 3, 7, 0
        let plan = try #require(p.plan(entries(scores), moment: .prefill, capacity: 100, promptTokens: 10))
        #expect(plan.positions == [1, 2, 4, 5, 6])
        #expect(p.plan(entries(scores), moment: .generation(incoming: 1), capacity: 100, promptTokens: 10) == nil)
        #expect(throws: ThinktopError.self) { try KVPolicyRegistry.parse("snapkv:window=64:capacity=32") }
    }

    @Test("SnapKV: the authors' defaults (capacity 2048, avg pool, kernel 5); pool=max as in their LongBench ablations")
    func snapKVDefaults() throws {
        let d = SnapKV()
        #expect(d.spec == "snapkv:window=32:kernel=5:capacity=2048")
        #expect(d.plan(entries(Array(repeating: 1, count: 2000)), moment: .prefill, capacity: 4096, promptTokens: 2000) == nil)
        // max_pool1d: the largest score within kernel / 2 on each side (−∞ padding)
        #expect(SnapKV.pool([1, 5, 2, 0, 0, 3, 0], kernel: 3, .max) == [5, 5, 5, 2, 3, 3, 3])
        #expect(SnapKV.pool([1, 5, 2, 0, 0, 3, 0], kernel: 7, .max) == [5, 5, 5, 5, 5, 3, 3])
        let p = try KVPolicyRegistry.parse("snapkv:window=2:kernel=3:pool=max:capacity=5")
        #expect(p.spec == "snapkv:window=2:kernel=3:pool=max:capacity=5")
        let scores: [Float] = [0, 0, 9, 0, 0, 0, 0, 0, 4, 0, 0, 0]
        // positions 0…9 are scored (10, 11 are the window); max-pooled: 0 9 9 9 0 0 0 4 4 4 → keep 3
        // of the best pooled (ties: the earlier position): 1, 2, 3
        let plan = try #require(p.plan(entries(scores), moment: .prefill, capacity: 100, promptTokens: 12))
        #expect(plan.positions == [0, 4, 5, 6, 7, 8, 9])
    }

    @Test("policy specs: one-line errors for unknown names and parameters")
    func specErrors() {
        #expect(throws: ThinktopError.self) { try KVPolicyRegistry.parse("lru") }
        #expect(throws: ThinktopError.self) { try KVPolicyRegistry.parse("streaming:window=4") }
        #expect(throws: ThinktopError.self) { try KVPolicyRegistry.parse("streaming:sinks") }
        do { _ = try KVPolicyRegistry.parse("lru") } catch { #expect("\(error)".contains("none, streaming, h2o, snapkv")) }
    }

    // MARK: in a session

    @Test("no eviction: at a full context the run stops and says why")
    func contextFull() throws {
        let b = backend(context: 16)
        let s = try session(b, maxTokens: 100)
        while try s.step() != nil {}
        #expect(s.stopReason == .contextFull)
        #expect(s.records.count == 16 - prompt.count)
        let e = try #require(s.events.first { $0.kind == .contextFull })
        #expect(e.detail!.contains("--kv streaming"))
    }

    @Test("StreamingLLM: 5 × the context, the sinks stay, positions stay contiguous, every eviction an event")
    func streamingSession() throws {
        let b = backend(context: 16)
        let s = try session(b, maxTokens: 80, kv: "streaming:sinks=4:recent=8")
        while try s.step() != nil {}
        #expect(s.stopReason == .maxTokens)
        #expect(s.records.count == 80)
        let held = s.ledger.entries()
        #expect(held.map(\.position) == Array(0..<held.count))              // contiguous after shifts
        #expect(held.prefix(4).map(\.entry.index) == [0, 1, 2, 3])            // the sinks
        #expect(held.prefix(4).allSatisfy { $0.entry.phase == .prompt })
        #expect(held.suffix(8).allSatisfy { $0.entry.phase == .thinking })
        #expect(held.count == 12)
        // the newest are the last inputs fed (the final token is not fed)
        let lastFed = prompt.count + 80 - 2
        #expect(held.suffix(8).map(\.entry.index) == Array((lastFed - 7)...lastFed))
        #expect(b.positionRange(sequence: 0) == 0...11)
        let evictions = s.events.filter { $0.kind == .evict }
        let removed = evictions.flatMap { $0.removed ?? [] }
        #expect(Set(removed) == Set(4..<(lastFed - 7)))
        #expect(removed.count == Set(removed).count)
        #expect(s.ledger.evicted[0] == Set(removed))
        #expect(evictions.first!.detail!.contains("moved down"))
        // each record knows where it sat in the cache
        #expect(s.records.last!.kvPosition == 12)   // the last token is not fed; it would sit at 12
    }

    @Test("a rewind before an eviction rebuilds the cache; going on gives the very same tokens")
    func rewindAcrossEvictions() throws {
        let b1 = backend(context: 16)
        let full = try session(b1, maxTokens: 40, kv: "streaming:sinks=2:recent=6")
        while try full.step() != nil {}
        let b2 = backend(context: 16)
        let s = try session(b2, maxTokens: 40, kv: "streaming:sinks=2:recent=6")
        for _ in 0..<30 { try s.step() }
        try s.rewind(toPosition: prompt.count + 12)
        #expect(s.events.contains { $0.kind == .rebuild })
        #expect(s.ledger.disagreement(with: b2) == nil)
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == full.records.map(\.token))
        #expect(s.records.map(\.kvPosition) == full.records.map(\.kvPosition))
        #expect(s.ledger.evicted[0] == full.ledger.evicted[0])
        #expect(b2.cells(0) == b1.cells(0))
    }

    @Test("H2O keeps the positions that drew the most attention")
    func h2oSession() throws {
        // every 7th position (3, 10, 17, …) draws a hundred times the attention of the others
        let b = backend(context: 64) { position, _ in position % 7 == 3 ? 1 : 0.01 }
        let s = try session(b, maxTokens: 30, kv: "h2o:heavy=6:recent=3")
        while try s.step() != nil {}
        let held = s.ledger.entries()
        let lastFed = prompt.count + 30 - 2
        #expect(held.count == 9)
        // the recent window, and among the heavy hitters every favoured position before it
        #expect(held.suffix(3).map(\.entry.index) == Array((lastFed - 2)...lastFed))
        #expect(Set([3, 10, 17, 24, 31]).isSubset(of: held.prefix(6).map(\.entry.index)))
        #expect(s.ledger.evicted[0]!.allSatisfy { $0 % 7 != 3 })
        #expect(s.events.contains { $0.kind == .evict })
        // no shifts: every token sat at its own position
        #expect(s.records.allSatisfy { $0.kvPosition == nil })
        #expect(s.ledger.disagreement(with: b) == nil)
    }

    @Test("H2O and SnapKV refuse to start without the attention tap; StreamingLLM without a cache that can shift")
    func needsTap() throws {
        let b = backend(context: 64)
        #expect(throws: ThinktopError.self) { _ = try session(b, maxTokens: 5, kv: "h2o") }
        let fixed = LedgerBackend(backend(context: 64), shape: KVShape(bands: [], canShift: false))
        let config = try SessionConfig(sampling: .greedy, maxTokens: 5, markers: ThinkMarkers.resolve(backend: fixed))
        let s = try DecodingSession(backend: fixed, config: config, promptTokens: prompt, initialPhase: .thinking)
        do {
            try s.setKVPolicy(StreamingLLM())
            Issue.record("StreamingLLM accepted on a cache that cannot shift")
        } catch {
            #expect("\(error)".contains("cannot shift"))
        }
        try s.setKVPolicy(NoEviction())
    }

    @Test("switching policy mid-run is an event and evicts down to the new budget at the next step")
    func switchMidRun() throws {
        let b = backend(context: 64)
        let s = try session(b, maxTokens: 30)
        for _ in 0..<20 { try s.step() }
        #expect(s.ledger.count(sequence: 0) == prompt.count + 20)
        s.send(.setKVPolicy("streaming:sinks=2:recent=8"))
        s.applyCommands()
        try s.step()
        #expect(s.events.contains { $0.kind == .kvPolicy && $0.detail == "streaming:sinks=2:recent=8" })
        #expect(s.ledger.count(sequence: 0) == 10)
        s.send(.setKVPolicy("h2o"))
        s.applyCommands()
        #expect(s.events.last?.kind == .error)
        #expect(s.kvPolicy.id == "streaming")
    }

    @Test("with no eviction the tokens are those of a session without the ledger's policies")
    func noEvictionUnchanged() throws {
        let b1 = backend(context: 64)
        let a = try session(b1, maxTokens: 40)
        while try a.step() != nil {}
        let b2 = backend(context: 64)
        let c = try session(b2, maxTokens: 40, kv: "streaming:sinks=4:recent=100")
        while try c.step() != nil {}
        #expect(a.records.map(\.token) == c.records.map(\.token))
        #expect(!c.events.contains { $0.kind == .evict })
    }

    @Test("with the tap, a rewind restores the attention scores exactly, from kept contributions or by a rebuild")
    func rewindRestoresScores() throws {
        func run(limit: Int?, rewindAt: Int?) throws -> DecodingSession {
            let b = backend(context: 64) { position, token in Float(position % 5) * 0.1 + Float(token) * 0.01 }
            let s = try session(b, maxTokens: 30, kv: "h2o:heavy=8:recent=4")
            if let limit { s.ledger.contributionLimit = limit }
            for _ in 0..<25 { try s.step() }
            if let r = rewindAt { try s.rewind(toPosition: r) }
            while try s.step() != nil {}
            return s
        }
        let straight = try run(limit: nil, rewindAt: nil)
        let scores = straight.ledger.entries().map(\.entry.score)
        // a rewind after the last eviction-free stretch would not need a rebuild, but H2O evicts
        // every step here: both paths must give the same tokens and the same floats
        for limit in [nil, 50] {
            let s = try run(limit: limit, rewindAt: prompt.count + 20)
            #expect(s.records.map(\.token) == straight.records.map(\.token), "limit \(String(describing: limit))")
            #expect(s.ledger.entries().map(\.entry.score) == scores, "limit \(String(describing: limit))")
        }
        // no evictions yet and the contributions kept: the rewind needs no rebuild
        let early = backend(context: 64) { position, _ in Float(position % 3) }
        let e = try session(early, maxTokens: 10, kv: "h2o:heavy=100:recent=100")
        for _ in 0..<8 { try e.step() }
        let before = e.ledger.entries().prefix(prompt.count + 3).map(\.entry.score)
        try e.rewind(toPosition: prompt.count + 4)
        #expect(!e.events.contains { $0.kind == .rebuild })
        for _ in 0..<4 { try e.step() }
        let a = backend(context: 64) { position, _ in Float(position % 3) }
        let f = try session(a, maxTokens: 10, kv: "h2o:heavy=100:recent=100")
        for _ in 0..<8 { try f.step() }
        #expect(e.ledger.entries().map(\.entry.score) == f.ledger.entries().map(\.entry.score))
        #expect(before.count == prompt.count + 3)
        e.ledger.contributionLimit = 10
        try e.step()
        #expect(e.ledger.contributionsDropped)
        try e.rewind(toPosition: prompt.count + 2)
        #expect(e.events.contains { $0.kind == .rebuild })
    }
}

import Core
import Engine
import Foundation
import Testing

@Suite("KV ledger and policies against llama.cpp", .serialized)
struct LedgerTests {
    static let shortPrompt = "Problem: Count the sheep. There are 12 sheep and 5 run away, then 3 come back.\nThinking:"

    func session(_ backend: ModelBackend, prompt: String, maxTokens: Int, sampling: SamplingParameters = .greedy,
                 kv: String = "none") throws -> DecodingSession {
        let tokens = try DefaultModel.model.tokenize(prompt, addSpecial: true)
        var config = try SessionConfig(sampling: sampling, maxTokens: maxTokens, stops: ["NEVER-SEEN"],
                                       markers: ThinkMarkers.resolve(backend: backend))
        config.ignoreEndOfGeneration = true
        let s = try DecodingSession(backend: backend, config: config, promptTokens: tokens, initialPhase: .thinking)
        try s.setKVPolicy(KVPolicyRegistry.parse(kv))
        return s
    }

    @Test("the ledger agrees with llama.cpp's position ranges through decodes, rewinds, probe forks, eviction and shifts")
    func ledgerFollowsTheCache() throws {
        let ctx = try DefaultModel.context()
        let backend = LedgerBackend(ctx)
        let ledger = backend.ledger
        let sampling = try SamplingParameters(temperature: 0.6, topK: 20, topP: 0.95, minP: 0, seed: 7)
        let s = try session(backend, prompt: DemoProblem.prompt, maxTokens: 120, sampling: sampling)
        let tokens = s.promptTokens
        // CGRS at δ = 1 probes on a fork at every blank line and never suppresses
        try s.install(specs: ["cgrs=1.0"])
        try s.prefill()
        #expect(ledger.disagreement(with: ctx) == nil)
        var steps = 0
        while let r = try s.step() {
            steps += 1
            #expect(ledger.disagreement(with: ctx) == nil, "after step \(r.index)")
            if steps == 60 {
                try s.rewind(toPosition: tokens.count + 30)
                #expect(ledger.disagreement(with: ctx) == nil, "after the rewind")
            }
        }
        #expect(s.events.contains { $0.kind == .probe })
        // the ledger's tokens are the prompt and the generated tokens, position by position
        let held = ledger.cells[0]!
        for (i, t) in tokens.enumerated() { #expect(held[i]?.token == t) }
        for r in s.records.dropLast() { #expect(held[r.position]?.token == r.token) }
        // Gemma 3 270M: 18 layers × 1 KV head × (256 + 256) × 2 bytes, in two bands
        #expect(ledger.shape.bands == [KVShape.Band(layers: 3, window: nil, bytesPerCell: 3072),
                                       KVShape.Band(layers: 15, window: 512, bytesPerCell: 15360)])
        #expect(ledger.bytes(sequence: 0) == held.count * 18432)

        // an eviction of 8 positions after the 4 first, the later ones shifted down, and
        // decoding on: on Gemma 3 llama.cpp may then reuse the sliding-window cell of
        // position 0, which the ledger allows for (its pos_min is the SWA cache's)
        let last = ledger.range(sequence: 0)!.upperBound
        try backend.evictCells(sequence: 0, from: 4, to: 12)
        #expect(ledger.evicted[0] == Set(4..<12))
        try backend.shiftCells(sequence: 0, from: 12, to: nil, delta: -8)
        #expect(ledger.disagreement(with: ctx) == nil)
        #expect(ledger.range(sequence: 0) == 0...(last - 8))
        for i in 0..<4 {
            try backend.decode(tokens: [tokens[5]][...], at: last - 7 + i, sequence: 0)
            #expect(ledger.disagreement(with: ctx) == nil, "decode \(i) after the shift")
        }
        #expect(ledger.range(sequence: 0)?.upperBound == last - 4)
    }

    @Test("StreamingLLM runs 3 × n_ctx tokens in a 256-token context, keeps the sinks, stays in step with llama.cpp")
    func streamingThreeContexts() throws {
        let ctx = try DefaultModel.context(ctx: 256)
        let sampling = try SamplingParameters(temperature: 0.8, topK: 40, topP: 0.95, minP: 0, seed: 3)
        let s = try session(ctx, prompt: Self.shortPrompt, maxTokens: 3 * 256, sampling: sampling, kv: "streaming")
        let prompt = s.promptTokens
        while try s.step() != nil {}
        #expect(s.stopReason == .maxTokens)
        #expect(s.records.count == 768)
        let held = s.ledger.entries()
        // 4 sinks + as many recent positions as the context allows (255 cells for the main sequence)
        #expect(held.count == 255)
        #expect(held.prefix(4).map(\.entry.index) == [0, 1, 2, 3])
        #expect(held.prefix(4).map(\.entry.token) == Array(prompt.prefix(4)))
        #expect(held.map(\.position) == Array(0..<255))
        #expect(ctx.positionRange(sequence: 0)?.upperBound == 254)
        #expect(s.ledger.disagreement(with: ctx) == nil)
        let lastFed = prompt.count + 768 - 2
        #expect(held.last!.entry.index == lastFed)
        #expect(s.events.filter { $0.kind == .evict }.count > 500)
    }

    @Test("with no eviction (and with the policy machinery idle) the tokens are exactly those of a plain llama.cpp loop")
    func noEvictionIsPlain() throws {
        let n = 64
        // the plain loop: decode, take the argmax, feed it
        let plain = try DefaultModel.context(ctx: 1024)
        let prompt = try DefaultModel.model.tokenize(DemoProblem.prompt, addSpecial: true)
        var start = 0
        while start < prompt.count {
            let end = min(start + plain.batchSize, prompt.count)
            try plain.decode(tokens: prompt[start..<end], at: start, sequence: 0)
            start = end
        }
        var expected: [Int32] = []
        for i in 0..<n {
            let l = plain.logits()
            var best = 0
            for j in 1..<l.count where l[j] > l[best] { best = j }
            expected.append(Int32(best))
            try plain.decode(tokens: [Int32(best)][...], at: prompt.count + i, sequence: 0)
        }
        for kv in ["none", "streaming:sinks=4:recent=2000"] {
            let s = try session(try DefaultModel.context(ctx: 1024), prompt: DemoProblem.prompt, maxTokens: n, kv: kv)
            while try s.step() != nil {}
            #expect(s.records.map(\.token) == expected, "kv \(kv)")
            #expect(!s.events.contains { $0.kind == .evict })
        }
    }

    @Test("no eviction at a full context: the run stops with a message naming the way on")
    func contextFullStops() throws {
        // llama.cpp rounds the context up to a multiple of 256
        let ctx = try DefaultModel.context(ctx: 256)
        let s = try session(ctx, prompt: Self.shortPrompt, maxTokens: 400)
        while try s.step() != nil {}
        #expect(s.stopReason == .contextFull)
        #expect(s.records.count == 256 - s.promptTokens.count)
        #expect(s.events.contains { $0.kind == .contextFull && $0.detail!.contains("--kv streaming") })
        // switching to StreamingLLM goes on from where it stopped
        s.send(.setKVPolicy("streaming:sinks=4:recent=32"))
        s.applyCommands()
        #expect(!s.isDone)
        for _ in 0..<40 { try s.step() }
        #expect(s.ledger.count(sequence: 0) == 36)
        #expect(s.ledger.disagreement(with: ctx) == nil)
    }

    @Test("bytes per cell agree with the size llama.cpp reports for a sequence's state")
    func bytesPerCell() throws {
        for type in [KVCacheType.f16, .q8_0] {
            let ctx = try LlamaContext(model: DefaultModel.model, options: try ContextOptions(contextSize: 512, threads: 2, cacheType: type))
            let backend = LedgerBackend(ctx)
            let tokens = try DefaultModel.model.tokenize(DemoProblem.prompt, addSpecial: true)
            try backend.decode(tokens: tokens[0..<100], at: 0, sequence: 0)
            let small = try ctx.saveState(sequence: 0).count
            try backend.decode(tokens: tokens[100..<300], at: 100, sequence: 0)
            let large = try ctx.saveState(sequence: 0).count
            let measured = Double(large - small) / 200
            let ledger = Double(backend.ledger.bytesPerCell)
            // the state also stores each cell's position and sequence count (8 bytes) once per
            // band; the documented tolerance is 1 %
            #expect(abs(measured - ledger) / ledger < 0.01, "\(type): llama.cpp \(measured) bytes a cell, ledger \(ledger)")
            #expect(backend.ledger.bytesPerCell == (type == .f16 ? 18432 : 9792))
        }
    }

    @Test("a rewind across StreamingLLM's evictions rebuilds the cache; going on gives the very same tokens")
    func rewindAcrossEvictions() throws {
        let sampling = try SamplingParameters(temperature: 0.8, topK: 40, topP: 0.95, minP: 0, seed: 5)
        let full = try session(try DefaultModel.context(ctx: 256), prompt: Self.shortPrompt, maxTokens: 160,
                               sampling: sampling, kv: "streaming:sinks=4:recent=60")
        while try full.step() != nil {}
        let ctx = try DefaultModel.context(ctx: 256)
        let s = try session(ctx, prompt: Self.shortPrompt, maxTokens: 160, sampling: sampling, kv: "streaming:sinks=4:recent=60")
        for _ in 0..<120 { try s.step() }
        try s.rewind(toPosition: s.promptTokens.count + 50)
        #expect(s.events.contains { $0.kind == .rebuild })
        #expect(s.ledger.disagreement(with: ctx) == nil)
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == full.records.map(\.token))
        #expect(s.ledger.evicted[0] == full.ledger.evicted[0])
    }

    @Test("H2O on the real model: the cache stays at its budget, in step with llama.cpp, without shifts")
    func h2oOnTheModel() throws {
        let ctx = try LlamaContext(model: DefaultModel.model,
                                   options: try ContextOptions(contextSize: 512, threads: 2, attentionTap: true))
        let s = try session(ctx, prompt: DemoProblem.prompt, maxTokens: 80, kv: "h2o")
        let budget = try #require(s.kvPolicy.budget(promptTokens: s.promptTokens.count))
        #expect(budget == 2 * (s.promptTokens.count / 10))
        try s.prefill()
        #expect(s.ledger.count(sequence: 0) == budget)       // the prompt itself is compressed
        while try s.step() != nil {}
        #expect(s.ledger.count(sequence: 0) == budget)
        #expect(s.ledger.disagreement(with: ctx) == nil)
        #expect(s.records.allSatisfy { $0.kvPosition == nil })
        // what stays outside the recent window scored at least as high as anything evicted at the end
        let held = s.ledger.entries()
        #expect(held.allSatisfy { $0.entry.score > 0 })
        #expect(s.events.filter { $0.kind == .evict }.count == 79 + 1)   // the prefill's and one per fed token
    }

    @Test("SnapKV keeps the capacity's best prompt positions plus the observation window, once")
    func snapKVOnTheModel() throws {
        let ctx = try LlamaContext(model: DefaultModel.model,
                                   options: try ContextOptions(contextSize: 1024, threads: 2, attentionTap: true))
        let s = try session(ctx, prompt: DemoProblem.prompt, maxTokens: 20, kv: "snapkv:capacity=256")
        let n = s.promptTokens.count
        try s.prefill()
        let held = s.ledger.entries()
        #expect(held.count == 256)
        #expect(held.suffix(32).map(\.entry.index) == Array((n - 32)..<n))
        #expect(held.map(\.position) == held.map(\.entry.index))      // no shifts
        #expect(s.ledger.disagreement(with: ctx) == nil)
        while try s.step() != nil {}
        #expect(s.ledger.count(sequence: 0) == 256 + 19)                  // nothing evicted after the prompt
        #expect(s.events.filter { $0.kind == .evict }.count == 1)
    }

    @Test("past the sliding window (512 on Gemma 3) the ledger stays in step under StreamingLLM and H2O")
    func pastTheSlidingWindow() throws {
        // every cache operation is checked against llama.cpp in debug builds; here also at each step
        let sampling = try SamplingParameters(temperature: 0.7, topK: 40, topP: 0.95, minP: 0, seed: 9)
        let streamingContext = try DefaultModel.context(ctx: 1024)
        let streaming = try session(streamingContext, prompt: DemoProblem.prompt, maxTokens: 400, sampling: sampling,
                                    kv: "streaming:sinks=4:recent=600")
        while try streaming.step() != nil {
            #expect(streaming.ledger.disagreement(with: streamingContext) == nil)
        }
        #expect(streaming.ledger.count(sequence: 0) == 604)
        #expect(streaming.ledger.slidingWindowIndices()?.upperBound == streaming.promptTokens.count + 398)
        let h2oContext = try LlamaContext(model: DefaultModel.model,
                                          options: try ContextOptions(contextSize: 2048, threads: 2, attentionTap: true))
        let h2o = try session(h2oContext, prompt: DemoProblem.prompt, maxTokens: 400, sampling: sampling,
                              kv: "h2o:heavy=300:recent=300")
        while try h2o.step() != nil {
            #expect(h2o.ledger.disagreement(with: h2oContext) == nil)
        }
        #expect(h2o.ledger.count(sequence: 0) == 600)
        #expect(h2o.ledger.range(sequence: 0)?.upperBound == h2o.promptTokens.count + 398)
    }
}

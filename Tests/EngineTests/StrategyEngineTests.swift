import Core
import Engine
import Foundation
import Testing

@Suite("Strategies on the default model", .serialized)
struct StrategyEngineTests {
    func demoSession(_ ctx: LlamaContext, specs: [String], maxTokens: Int = 300, stops: [String] = []) throws -> DecodingSession {
        let tokens = try ctx.model.tokenize(DemoProblem.prompt, addSpecial: true)
        let sampling = try SamplingParameters(temperature: 0.6, topK: 20, topP: 0.95, minP: 0, seed: 7)
        let config = try SessionConfig(sampling: sampling, maxTokens: maxTokens, stops: stops, markers: ThinkMarkers.resolve(backend: ctx))
        let s = try DecodingSession(backend: ctx, config: config, promptTokens: tokens, initialPhase: .thinking)
        try s.install(specs: specs)
        return s
    }

    @Test("budget forcing ends thinking at the budget")
    func budgetEndsThinking() throws {
        let ctx = try DefaultModel.context()
        let s = try demoSession(ctx, specs: ["budget=24"], maxTokens: 80)
        while try s.step() != nil {}
        let thinking = s.records.filter { $0.phase == .thinking }
        // 24 sampled thinking tokens, then the forced end: newline (if needed) and </think>
        #expect(thinking.prefix(24).allSatisfy { $0.input == .explicit })
        #expect(thinking.dropFirst(24).allSatisfy { $0.input == .forced })
        #expect(thinking.count >= 25 && thinking.count <= 24 + 6)
        #expect(s.records.contains { $0.phase == .answer })
        #expect(s.fullText.contains("</think>"))
        #expect(s.events.first { $0.kind == .budgetEnd }?.step == 24)
    }

    @Test("NoWait switched on mid-run: reflection words before, none after")
    func noWaitToggle() throws {
        let ctx = try DefaultModel.context()
        let s = try demoSession(ctx, specs: [], maxTokens: 600, stops: ["NEVER-SEEN"])
        let probe = NoWait()
        var before = 0
        while let r = try s.step(), s.records.count < 400 {
            if r.phase == .thinking && probe.masks(r.text) { before += 1 }
            if before >= 2 { break }
        }
        #expect(before >= 2, "the demo run shows no reflection words to suppress")
        let toggledAt = s.records.count
        s.send(.enableStrategy("nowait", true))
        s.applyCommands()
        let masked = Set((s.strategy("nowait") as! NoWait).masked)
        #expect(!masked.isEmpty)
        for _ in 0..<200 { if try s.step() == nil { break } }
        let after = s.records.dropFirst(toggledAt).filter { $0.phase == .thinking }
        #expect(!after.isEmpty)
        #expect(!after.contains { masked.contains($0.token) }, "a masked token appeared after the toggle")
        #expect(s.events.contains { $0.kind == .enable && $0.step == toggledAt })
    }

    @Test("SwiReasoning feeds latent steps as embedding mixtures, marked latent in the trace")
    func swirLatent() throws {
        let ctx = try DefaultModel.context()
        let s = try demoSession(ctx, specs: ["swir:window=4"], maxTokens: 60, stops: ["NEVER-SEEN"])
        while try s.step() != nil {}
        let latent = s.records.filter { $0.input == .latent }
        #expect(!latent.isEmpty, "no latent step in 60 tokens with window 4")
        #expect(latent.allSatisfy { $0.phase == .thinking })
        // each latent step is also an event line at its step
        #expect(s.events.filter { $0.kind == .latent }.map(\.step) == latent.map(\.index))
        // the KV cache holds every fed position, latent ones included
        #expect(ctx.positionRange(sequence: 0) == 0...(s.promptTokens.count + s.records.count - 2))
        // a rewind over latent steps re-feeds their embeddings and reproduces the run
        let expected = s.records.map(\.token)
        let keep = max(1, (latent.first?.index ?? 1) - 1)
        try s.rewind(toPosition: s.promptTokens.count + keep)
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == expected)
    }

    @Test("a probe leaves the main sequence's KV and output untouched")
    func probeIsInvisible() throws {
        let ctx = try DefaultModel.context()
        let plain = try demoSession(ctx, specs: [], maxTokens: 120, stops: ["NEVER-SEEN"])
        while try plain.step() != nil {}
        ctx.clearMemory()
        // δ = 1: CGRS probes at every blank line but never suppresses
        let probed = try demoSession(ctx, specs: ["cgrs=1.0"], maxTokens: 120, stops: ["NEVER-SEEN"])
        while try probed.step() != nil {}
        #expect(probed.events.contains { $0.kind == .probe }, "no probe ran")
        #expect(probed.records.map(\.token) == plain.records.map(\.token))
        #expect(probed.records.map(\.entropy) == plain.records.map(\.entropy))
        #expect(probed.output == plain.output)
        #expect(ctx.positionRange(sequence: 0) == 0...(probed.promptTokens.count + probed.records.count - 2))
        #expect(ctx.positionRange(sequence: 1) == nil)
    }
}

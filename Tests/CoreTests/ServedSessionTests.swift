import Foundation
import Testing
@testable import Core

/// A session stepping a model behind an inference server (`ServedBackend`), against the same
/// scripted model run locally.
@Suite("Served runs: the server draws, the session steers")
struct ServedSessionTests {
    typealias P = ProbeStrategyTests
    let prompt: [Int32] = [5, 5, 1, 3]
    var V: Int { P.V }

    func model(_ script: [Int32], probe: ((ScriptedBackend.Decoded) -> [Float])? = nil) -> ScriptedBackend {
        let main = ScriptedBackend.following(script, promptLength: prompt.count, vocabulary: V)
        return ScriptedBackend(contextSize: 96, extraPieces: P.extra, sequenceRule: { d in
            d.sequence == .main || probe == nil ? main(d.token, d.position) : probe!(d)
        })
    }

    func session(_ backend: ModelBackend, specs: [String] = [], sampling: SamplingParameters = .greedy,
                 maxTokens: Int = 40) throws -> DecodingSession {
        let config = try SessionConfig(sampling: sampling, maxTokens: maxTokens, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
        try s.install(specs: specs)
        return s
    }

    /// The exact entropy of a distribution given by logits.
    func entropy(_ logits: [Float]) -> Double {
        let lp = ScriptedServer.logProbabilities(logits)
        return -lp.reduce(0) { $0 + Foundation.exp($1) * $1 }
    }

    @Test("greedy through the server is the local run: the tokens, their exact log-probabilities, brackets that hold the exact entropy, one stream")
    func sameRun() throws {
        let script: [Int32] = [8, 9, 4, 8, 2, 9, 0]
        let local = try session(model(script))
        while try local.step() != nil {}
        let server = ScriptedServer(model: model(script), topCount: 3)
        let served = try session(server)
        while try served.step() != nil {}
        #expect(served.records.map(\.token) == local.records.map(\.token))
        #expect(served.output == local.output)
        for (s, l) in zip(served.records, local.records) {
            #expect(abs(s.logprob - l.logprob) < 1e-6)
            let b = s.entropyBounds
            // (the server's log-probabilities are Floats: a few 1e-8 of rounding)
            #expect(b.lowerBound <= l.entropy + 1e-6 && l.entropy <= b.upperBound + 1e-6, "step \(s.index): \(l.entropy) ∉ \(b)")
            // the missing mass is exactly what the top three leave
            let known = l.top.prefix(3).reduce(0) { $0 + $1.p }
            #expect(abs((s.missingMass ?? -1) - (1 - known)) < 1e-6)
            #expect(s.top.count <= 4 && !s.isExact)
        }
        #expect(served.summary().served == server.statistics)
        #expect(server.statistics.streams == 1 && server.statistics.resubmissions == 0)
        #expect(server.opened.map(\.prompt) == [prompt.count])
    }

    @Test("a greedy ban is decided from the known top: the token is the local one, and the stream is asked again only where it diverged")
    func greedyBans() throws {
        // thinking: " so" "Wait" " so" "</think>" " 9" <eos>; NoWait bans "Wait" (and " wait")
        let script: [Int32] = [8, 4, 8, 2, 9, 0]
        let local = try session(model(script), specs: ["nowait"])
        while try local.step() != nil {}
        let server = ScriptedServer(model: model(script))
        let served = try session(server, specs: ["nowait"])
        while try served.step() != nil {}
        #expect(served.records.map(\.token) == local.records.map(\.token))
        #expect(served.records[1].token == 5)   // " ok", the runner-up
        #expect(served.records[1].effects.contains { $0.kind == .adjusted && $0.text.hasPrefix("greedy under the bans") })
        // the server drew "Wait" under its first request (no bans); the session fed " ok":
        // the next step resubmits that prefix, and the rest streams on
        #expect(server.statistics.resubmissions == 1)
        #expect(server.opened.map(\.prompt) == [prompt.count, prompt.count + 2])
    }

    @Test("a sampled ban is drawn again by the server under the strategies' request, which then stands while it holds")
    func sampledBans() throws {
        let script: [Int32] = [8, 4, 8, 4, 8, 2, 9, 0]
        let hot = try SamplingParameters(temperature: 0.5, topK: 0, topP: 1, minP: 0, seed: 3)
        let server = ScriptedServer(model: model(script))
        let served = try session(server, specs: ["nowait"], sampling: hot)
        while try served.step() != nil {}
        let thinking = served.records.filter { $0.phase == .thinking }
        let nowait = try #require(served.strategy("nowait") as? NoWait)
        #expect(!thinking.contains { nowait.masked.contains($0.token) })
        #expect(served.records[0].effects.contains { $0.kind == .adjusted && $0.text.hasPrefix("drawn again by the server") })
        // the first stream had no bans; the one asked at step 0 carries NoWait's, and stands
        try #require(server.opened.count >= 2)
        #expect(server.opened[0].request.banned.isEmpty)
        #expect(server.opened[1].request.banned == Set(nowait.masked))
        #expect(server.opened[1].request.sampling == hot)
    }

    @Test("forced text and a rewind change the prefix: the server is asked again, and a greedy rerun is the same run")
    func forcedAndRewind() throws {
        let script: [Int32] = [8, 8, 8, 8, 8, 8, 9, 0] + Array(repeating: 8, count: 20)
        let server = ScriptedServer(model: model(script))
        let s = try session(server, specs: ["budget=3"])
        while try s.step() != nil {}
        let first = s.records.map(\.token)
        #expect(s.records[3].input == .forced)
        let forcedCount = s.records.prefix { $0.input != .forced }.count
        // the stream is asked again after the forced tokens (the prefix is no longer its own)
        #expect(server.opened.contains { $0.prompt > prompt.count + forcedCount })
        try s.rewind(toPosition: prompt.count + 2)
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == first)
        #expect(server.opened.contains { $0.prompt == prompt.count + 2 })
    }

    @Test("probes are extra requests on the prefix: ThinkBrake's margin is the local one, read with the close's exact log-probability")
    func probesAsRequests() throws {
        // after the boundary the close is third: " 9", " so", then "</think>"
        var boundary = P.peaked(P.nine, 5)
        boundary[Int(P.so)] = 4
        boundary[Int(P.close)] = 3
        let probe: (ScriptedBackend.Decoded) -> [Float] = { d in
            d.token == P.dotNewline ? boundary : P.peaked(P.nine, 1)
        }
        let script: [Int32] = [8, P.stop, 8, 8, 8, 8, 6, 0]
        let local = try session(model(script, probe: probe), specs: ["thinkbrake"])
        while try local.step() != nil {}
        let server = ScriptedServer(model: model(script, probe: probe), topCount: 2)
        let served = try session(server, specs: ["thinkbrake"])
        while try served.step() != nil {}
        let l = try #require((local.strategy("thinkbrake") as? ThinkBrake)?.lastMargin)
        let m = try #require((served.strategy("thinkbrake") as? ThinkBrake)?.lastMargin)
        #expect(abs(l - m) < 1e-6)
        #expect(served.records.map(\.token) == local.records.map(\.token))
        // the close is not among the probe's top two: one greedy request, one scoring request
        #expect(server.statistics.probeRequests == 2)
        #expect(server.positionRange(sequence: .probe) == nil)
    }

    @Test("what a server cannot do is refused with the reason: latent steps, KV policies")
    func refusals() throws {
        let server = ScriptedServer(model: model([8, 0]))
        #expect(throws: ThinktopError.invalidArgument("strategy swir cannot run here: it needs full distribution and embedding input, which this backend does not offer")) {
            try session(server, specs: ["swir"])
        }
        let s = try session(server)
        #expect(throws: ThinktopError.self) { try s.setKVPolicy(try KVPolicyRegistry.parse("streaming")) }
        #expect(s.strategyStatus().first { $0.id == "deer" }?.unavailable == nil)
        #expect(s.strategyStatus().first { $0.id == "stoppressure" }?.unavailable == "needs full distribution, which this backend does not offer")
    }
}

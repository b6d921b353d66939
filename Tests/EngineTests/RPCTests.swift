import Core
@testable import Engine
import Foundation
import Testing
import TestSupport

@Suite("The model over llama.cpp RPC (two ggml-rpc-server processes)", .serialized)
struct RPCTests {
    /// One scripted session: greedy decoding on the demo problem with the attention tap, a
    /// StreamingLLM window that shifts positions, SwiReasoning (its first thinking step is
    /// latent), a forced "Wait" that makes DEER probe, and a rewind. Returns the records that
    /// stand at the end, every record ever published, and the events.
    func scripted(_ context: LlamaContext) throws -> (final: [StepRecord], all: [StepRecord], events: [TraceEvent]) {
        let tokens = try context.model.tokenize(DemoProblem.prompt, addSpecial: true)
        var config = try SessionConfig(sampling: .greedy, maxTokens: 60, stops: ["NEVER-SEEN"],
                                       markers: ThinkMarkers.resolve(backend: context))
        config.ignoreEndOfGeneration = true
        config.recordAttention = true
        let s = try DecodingSession(backend: context, config: config, promptTokens: tokens, initialPhase: .thinking)
        try s.setKVPolicy(KVPolicyRegistry.parse("streaming:sinks=4:recent=400"))
        try s.install(specs: ["swir", "deer:threshold=1:ratio=0"])   // probes that never exit, no thinking limit
        var all: [StepRecord] = []
        s.onStep = { all.append($0) }
        for _ in 0..<12 { try s.step() }
        try s.force(text: " Wait", reason: "test")
        for _ in 0..<12 { try s.step() }
        try s.rewind(toPosition: tokens.count + 20)
        while try s.step() != nil {}
        return (s.records, all, s.events)
    }

    @Test("split over two servers, the session is the local one: tokens, entropies, attention rows, probes, evictions")
    func equivalence() throws {
        let a = try TestServer.rpc(), b = try TestServer.rpc()
        defer { a.kill(); b.kill() }
        // the local reference without the CPU's repacked weights: the servers hold them unrepacked
        let localModel = try LlamaModel(path: DefaultModel.path, placement: ModelPlacement(repack: false))
        let remoteModel = try LlamaModel(path: DefaultModel.path, placement: ModelPlacement(rpc: [a.endpoint, b.endpoint]))
        let placed = remoteModel.placementFacts
        #expect(placed.devices.map(\.kind) == ["rpc", "rpc"])
        #expect(placed.devices.map(\.description) == [a.endpoint, b.endpoint])
        #expect(placed.offloadedLayers == 19 && placed.offloadableLayers == 19)
        #expect(placed.buffersMiB.keys.filter { $0.hasPrefix("RPC") }.count == 2, "\(placed.buffersMiB)")
        #expect(localModel.placementFacts.devices.isEmpty)

        let options = try ContextOptions(contextSize: 1024, threads: 2, attentionTap: true)
        let local = try scripted(LlamaContext(model: localModel, options: options))
        let remote = try scripted(LlamaContext(model: remoteModel, options: options))
        // the script did what it is for, on both
        #expect(local.all.contains { $0.input == .latent }, "no latent step")
        #expect(local.events.contains { $0.kind == .probe && $0.strategy == "deer" }, "no DEER probe")
        #expect(local.events.contains { $0.kind == .evict } && local.all.contains { $0.kvPosition != nil }, "no shift")
        #expect(local.events.contains { $0.kind == .rewind })
        #expect(local.all.allSatisfy { !($0.attention ?? []).isEmpty || $0 == local.all.last })
        // and the same numbers, bit for bit
        #expect(remote.all.map(\.token) == local.all.map(\.token))
        #expect(remote.all.map(\.entropy) == local.all.map(\.entropy))
        #expect(remote.all.map(\.varentropy) == local.all.map(\.varentropy))
        #expect(remote.all.map(\.attention) == local.all.map(\.attention))
        #expect(remote.final.map(\.token) == local.final.map(\.token))
        #expect(remote.events.filter { $0.kind == .probe }.map(\.detail) == local.events.filter { $0.kind == .probe }.map(\.detail))
        #expect(remote.events.filter { $0.kind == .evict }.map(\.removed) == local.events.filter { $0.kind == .evict }.map(\.removed))
    }

    @Test("a sequence's state saved and restored over RPC continues exactly")
    func stateOverRPC() throws {
        let a = try TestServer.rpc()
        defer { a.kill() }
        let model = try LlamaModel(path: DefaultModel.path, placement: ModelPlacement(rpc: [a.endpoint]))
        let ctx = try LlamaContext(model: model, options: try ContextOptions(contextSize: 512, threads: 2))
        let tokens = try model.tokenize("Count: one, two, three,", addSpecial: true)
        try ctx.decode(tokens: tokens[...], at: 0, sequence: .main)
        let before = Array(ctx.logits())
        let saved = try ctx.saveState(sequence: .main)
        try ctx.removeCells(sequence: .main, from: 0, to: nil)
        try ctx.restoreState(saved, sequence: .main)
        try ctx.decode(tokens: [tokens.last!][...], at: tokens.count - 1, sequence: .probe)   // a fork's decode in between
        try ctx.removeCells(sequence: .probe, from: 0, to: nil)
        try ctx.removeCells(sequence: .main, from: tokens.count - 1, to: nil)
        try ctx.decode(tokens: [tokens.last!][...], at: tokens.count - 1, sequence: .main)
        #expect(Array(ctx.logits()) == before)
    }

    @Test("an unreachable server and a server of another protocol are refused in one line, before ggml sees them")
    func refusals() throws {
        let port = try TestServer.freePort()
        #expect(throws: ThinktopError.rpcFailed(endpoint: "127.0.0.1:\(port)",
                                                reason: "connection refused: start ggml-rpc-server there (`make rpc-server` builds it) or correct --rpc")) {
            try Devices.addRPCServers(["127.0.0.1:\(port)"])
        }
        let other = try FakeRPCServer(major: 6)
        defer { other.stop() }
        #expect(throws: ThinktopError.rpcFailed(endpoint: other.endpoint, reason: "it speaks RPC protocol 6.0.0 and this thinktop's llama.cpp \(Devices.rpcProtocol): run a ggml-rpc-server built from the same llama.cpp (`make rpc-server`)")) {
            try Devices.addRPCServers([other.endpoint])
        }
    }
}

/// A listener that answers ggml's RPC handshake with another protocol version, once.
final class FakeRPCServer: @unchecked Sendable {
    let endpoint: String
    private let fd: Int32
    private let thread: Thread

    init(major: UInt8) throws {
        let port = try TestServer.freePort()
        endpoint = "127.0.0.1:\(port)"
        let s = try TestServer.listen(port: port)
        fd = s
        thread = Thread {
            let c = accept(s, nil, nil)
            guard c >= 0 else { return }
            var request = [UInt8](repeating: 0, count: 33)
            _ = recv(c, &request, 33, Int32(MSG_WAITALL))
            var reply = [UInt8](repeating: 0, count: 36)
            reply[0] = 28
            reply[8] = major
            _ = send(c, reply, reply.count, Int32(MSG_NOSIGNAL))
            close(c)
        }
        thread.start()
    }

    func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}

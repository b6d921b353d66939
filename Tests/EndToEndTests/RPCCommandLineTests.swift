import Core
import Foundation
import Testing
import TestSupport

@Suite("thinktop over llama.cpp RPC on the command line", .serialized)
struct RPCCommandLineTests {
    @Test("--rpc over two servers prints the same text as the local run; the trace header says where the weights sit")
    func sameText() throws {
        let a = try TestServer.rpc(), b = try TestServer.rpc()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.jsonl").path
        // the attention tap turns flash attention off on both sides, so the float sums are the same
        let common = ["run", "--temp", "0", "--max-tokens", "24", "--attention"]
        let remote = try Binary.run(common + ["--rpc", "\(a.endpoint),\(b.endpoint)", "--trace", trace])
        let local = try Binary.run(common + ["--no-repack"])
        #expect(remote.status == 0 && local.status == 0, "\(remote.stderr)")
        #expect(remote.stdout == local.stdout)
        let header = try #require(try TraceReader(path: trace).header)
        let placed = try #require(header.model.placement)
        #expect(placed.devices.map(\.description) == [a.endpoint, b.endpoint])
        #expect(placed.offloadedLayers == 19)
    }

    @Test("a server killed mid-run: one line naming it, exit 1, a whole trace that replays")
    func serverDies() throws {
        let a = try TestServer.rpc(), b = try TestServer.rpc()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.jsonl").path
        let p = try Binary.start(["run", "--rpc", "\(a.endpoint),\(b.endpoint)", "--max-tokens", "3000", "--stop", "NEVER-SEEN",
                                  "--trace", trace])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let s = try? String(contentsOfFile: trace, encoding: .utf8), s.components(separatedBy: "\"type\":\"token\"").count > 10 { break }
            usleep(50_000)
        }
        b.kill()
        _ = p.out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: p.err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.process.waitUntilExit()
        #expect(p.process.terminationStatus == 1)
        let lines = stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(stderr)")
        #expect(stderr.hasPrefix("thinktop: RPC server \(b.endpoint) stopped answering"), "\(stderr)")
        #expect(stderr.contains("restart ggml-rpc-server there") && !stderr.contains("ggml-rpc.cpp"), "\(stderr)")
        let read = try TraceReader(path: trace)
        #expect(!read.truncated)
        let summary = try #require(read.summary)
        #expect(summary.stopReason == "error")
        #expect(summary.tokens == read.finalTokens.count && summary.tokens >= 10)
        #expect(stderr.contains("after \(summary.tokens) tokens"))
        a.kill()
    }

    @Test("an unreachable server is named in one line before anything is loaded")
    func unreachable() throws {
        let port = try TestServer.freePort()
        let r = try Binary.run(["run", "--rpc", "127.0.0.1:\(port)", "--max-tokens", "4"])
        #expect(r.status == 1)
        #expect(r.stderr == "thinktop: RPC server 127.0.0.1:\(port): connection refused: start ggml-rpc-server there (`make rpc-server` builds it) or correct --rpc\n")
        #expect(r.stdout.isEmpty)
    }
}

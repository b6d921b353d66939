import Core
import Foundation
import Testing

/// A ggml-rpc-server started by the test on 127.0.0.1 and a free port, stopped by process id.
final class ServerProcess {
    static let path: String = {
        if let p = ProcessInfo.processInfo.environment["THINKTOP_RPC_SERVER"], !p.isEmpty { return p }
        return NSHomeDirectory() + "/.cache/thinktop/llama.cpp-0c1e570/bin/ggml-rpc-server"
    }()
    let process = Process()
    let port: UInt16
    var endpoint: String { "127.0.0.1:\(port)" }

    init() throws {
        port = try Self.freePort()
        process.executableURL = URL(fileURLWithPath: Self.path)
        process.arguments = ["-H", "127.0.0.1", "-p", "\(port)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while !Self.listening(port) {
            guard Date() < deadline, process.isRunning else { throw ThinktopError.io("ggml-rpc-server did not start") }
            usleep(20_000)
        }
    }

    deinit { kill() }

    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw ThinktopError.io("cannot find a free port") }
        return UInt16(bigEndian: addr.sin_port)
    }

    static func listening(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

@Suite("thinktop over llama.cpp RPC on the command line", .serialized)
struct RPCCommandLineTests {
    @Test("--rpc over two servers prints the same text as the local run; the trace header says where the weights sit")
    func sameText() throws {
        let a = try ServerProcess(), b = try ServerProcess()
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
        let a = try ServerProcess(), b = try ServerProcess()
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
        let port = try ServerProcess.freePort()
        let r = try Binary.run(["run", "--rpc", "127.0.0.1:\(port)", "--max-tokens", "4"])
        #expect(r.status == 1)
        #expect(r.stderr == "thinktop: RPC server 127.0.0.1:\(port): connection refused: start ggml-rpc-server there (`make rpc-server` builds it) or correct --rpc\n")
        #expect(r.stdout.isEmpty)
    }
}

import Foundation

/// A server process a test starts itself — ggml-rpc-server, llama-server — on 127.0.0.1 and a
/// free port, stopped by process id (SIGKILL: a crash mid-run is what some tests want).
/// `make test` builds the servers from the pinned llama.cpp and passes their paths in the
/// environment.
public final class TestServer {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let process = Process()
    public let port: UInt16
    public var endpoint: String { "127.0.0.1:\(port)" }
    public var url: String { "http://127.0.0.1:\(port)" }
    private let log: URL?

    /// The path in `variable`, else the cache's pinned build of `name`.
    public static func binary(_ variable: String, _ name: String) -> String {
        if let p = ProcessInfo.processInfo.environment[variable], !p.isEmpty { return p }
        return NSHomeDirectory() + "/.cache/thinktop/llama.cpp-0c1e570/bin/" + name
    }

    /// Starts `path` with `arguments(port)` and waits until the port accepts connections
    /// (and `ready` says so, when given).
    public init(path: String, arguments: (UInt16) -> [String], startup: Double = 10,
                ready: ((UInt16) -> Bool)? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Failure(description: "\(path) is not built: run the tests with `make test`")
        }
        port = try Self.freePort()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments(port)
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("thinktop-server-\(port).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        self.log = log
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(startup)
        while !(Self.listening(port) && (ready?(port) ?? true)) {
            guard Date() < deadline, process.isRunning else {
                let tail = (try? String(contentsOf: log, encoding: .utf8)).map { String($0.suffix(600)) } ?? ""
                kill()
                throw Failure(description: "\((path as NSString).lastPathComponent) did not start on \(endpoint): \(tail)")
            }
            usleep(50_000)
        }
    }

    deinit {
        kill()
        if let log { try? FileManager.default.removeItem(at: log) }
    }

    public func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// A port nothing listens on now: bound to 127.0.0.1:0, read back, released.
    public static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "no socket") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw Failure(description: "cannot find a free port") }
        return UInt16(bigEndian: addr.sin_port)
    }

    public static func listening(_ port: UInt16) -> Bool {
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

    // MARK: the servers

    /// ggml-rpc-server, from THINKTOP_RPC_SERVER.
    public static func rpc(threads: Int = 1) throws -> TestServer {
        try TestServer(path: binary("THINKTOP_RPC_SERVER", "ggml-rpc-server")) {
            ["-H", "127.0.0.1", "-p", "\($0)", "-t", "\(threads)"]
        }
    }

    /// llama-server from THINKTOP_LLAMA_SERVER with `model`, one slot, its cache laid out as a
    /// thinktop context lays out its own (all positions of the sliding-window layers kept, one
    /// unified cache), so that its float sums are a local run's. Ready once /health says ok.
    public static func llama(model: String, context: Int = 4096, threads: Int = 2, extra: [String] = []) throws -> TestServer {
        try TestServer(path: binary("THINKTOP_LLAMA_SERVER", "llama-server"), arguments: {
            ["-m", model, "--host", "127.0.0.1", "--port", "\($0)", "-c", "\(context)", "-np", "1", "-t", "\(threads)",
             "--swa-full", "--kv-unified", "--no-webui"] + extra
        }, startup: 60, ready: { port in
            guard let url = URL(string: "http://127.0.0.1:\(port)/health") else { return false }
            return (try? String(contentsOf: url, encoding: .utf8))?.contains("\"ok\"") == true
        })
    }
}

/// A JSON request to a test's server over HTTP/1.0 on a plain socket (the answer is read to
/// the end of the connection, never chunked): what the server answered, as it sent it.
public func postJSON(port: UInt16, path: String, _ body: [String: Any]) throws -> Data {
    let payload = try JSONSerialization.data(withJSONObject: body)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestServer.Failure(description: "no socket") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = port.bigEndian
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else { throw TestServer.Failure(description: "cannot connect to 127.0.0.1:\(port)") }
    var request = Data("POST \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(payload.count)\r\n\r\n".utf8)
    request.append(payload)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var answer = Data()
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        answer.append(contentsOf: chunk[0..<n])
    }
    guard let split = answer.range(of: Data("\r\n\r\n".utf8)) else { throw TestServer.Failure(description: "no HTTP answer") }
    let head = String(decoding: answer[..<split.lowerBound], as: UTF8.self).lowercased()
    let body = Data(answer[split.upperBound...])
    guard head.contains("transfer-encoding: chunked") else { return body }
    // the body as curl would save it: the chunks' data joined
    var out = Data(), i = body.startIndex
    while let eol = body[i...].range(of: Data("\r\n".utf8)) {
        let size = Int(String(decoding: body[i..<eol.lowerBound], as: UTF8.self).split(separator: ";")[0], radix: 16) ?? 0
        if size == 0 { break }
        out.append(body[eol.upperBound..<(eol.upperBound + size)])
        i = eol.upperBound + size + 2
    }
    return out
}

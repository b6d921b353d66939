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
        return loopback(port) { connect(fd, $0, $1) } == 0
    }

    /// `call` with the address 127.0.0.1:`port`.
    public static func loopback(_ port: UInt16, _ call: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// A socket listening on 127.0.0.1:`port` (for test servers written in the test).
    public static func listen(port: UInt16) throws -> Int32 {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard loopback(port, { bind(s, $0, $1) }) == 0, Foundation.listen(s, 8) == 0 else {
            close(s)
            throw Failure(description: "cannot listen on 127.0.0.1:\(port)")
        }
        return s
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
    guard TestServer.loopback(port, { connect(fd, $0, $1) }) == 0 else { throw TestServer.Failure(description: "cannot connect to 127.0.0.1:\(port)") }
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

/// An HTTP server made of a handler, on 127.0.0.1 and a free port, for what a real inference
/// server never does: malformed streams, cut connections, error documents. Each connection
/// gets the handler's bytes for its request (path and JSON body), sent as they are, and is
/// closed.
public final class ScriptedHTTPServer: @unchecked Sendable {
    public let port: UInt16
    public var url: String { "http://127.0.0.1:\(port)" }
    private let fd: Int32
    private let thread: Thread

    /// `handler(path, body)`: the whole answer, status line and headers included.
    public init(_ handler: @escaping @Sendable (String, [String: Any]) -> [UInt8]) throws {
        port = try TestServer.freePort()
        let s = try TestServer.listen(port: port)
        fd = s
        thread = Thread {
            while true {
                let c = accept(s, nil, nil)
                guard c >= 0 else { return }
                var request: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                // the head, then as many body bytes as Content-Length says
                while true {
                    let n = recv(c, &chunk, chunk.count, 0)
                    if n <= 0 { break }
                    request += chunk[0..<n]
                    let text = String(decoding: request, as: UTF8.self)
                    guard let end = text.range(of: "\r\n\r\n") else { continue }
                    let head = text[..<end.lowerBound].lowercased()
                    let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                        .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
                    if request.count - text[..<end.upperBound].utf8.count >= length { break }
                }
                let text = String(decoding: request, as: UTF8.self)
                let path = text.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
                let bodyText = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
                let body = (try? JSONSerialization.jsonObject(with: Data(bodyText.utf8))) as? [String: Any] ?? [:]
                let answer = handler(path, body)
                _ = answer.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(c)
            }
        }
        thread.start()
    }

    deinit { stop() }

    public func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }

    /// "HTTP/1.1 200 OK" with a JSON body.
    public static func json(_ object: Any, status: String = "200 OK") -> [UInt8] {
        let body = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Array("HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
    }

    /// A stream of server-sent events, close-delimited (no length): `lines` as they are.
    public static func events(_ lines: [String]) -> [UInt8] {
        Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n".utf8) + Array(lines.joined().utf8)
    }
}

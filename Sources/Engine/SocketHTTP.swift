import Core
import Foundation

/// A plain-HTTP/1.1 exchange on a socket the calling thread reads itself: no helper threads,
/// no timers, so a stream of one small event per token costs one `read` per event. (The
/// URLSession of swift-corelibs-foundation wakes its threads thousands of times per second
/// while a transfer runs, which on a small machine takes CPU from the server beside it.)
/// Used for `http://`; `https://` goes through URLSession.
final class SocketExchange: HTTPBody {
    private(set) var status = 0
    private let fd: Int32
    private let idleTimeout: Double
    private var buffer: [UInt8] = []
    private var start = 0
    private var closed = false
    // body framing
    private var chunked = false
    private var remaining: Int?       // Content-Length left, or bytes left in the current chunk
    private var ended = false

    /// Connects, sends the request, and reads the status line and headers.
    init(url: URL, method: String, headers: [String: String], body: Data?, connectTimeout: Double,
         idleTimeout: Double) throws {
        self.idleTimeout = idleTimeout
        guard let host = url.host else { throw URLError(.badURL) }
        let port = url.port ?? 80
        fd = try Self.connect(host: host, port: port, timeout: connectTimeout)
        var path = url.path.isEmpty ? "/" : url.path
        if let q = url.query { path += "?" + q }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\nAccept: */*\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        var request = Data(head.utf8)
        if let body { request.append(body) }
        do {
            try request.withUnsafeBytes { raw in
                var off = 0
                while off < raw.count {
                    let n = Foundation.send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                    if n < 0 { if errno == EINTR { continue }; throw Self.posixError("send") }
                    off += n
                }
            }
            try readHead()
        } catch {
            Foundation.close(fd)
            closed = true
            throw error
        }
    }

    deinit { close() }

    func close() {
        guard !closed else { return }
        closed = true
        Foundation.close(fd)
    }

    private static func posixError(_ what: String) -> URLError {
        let code = errno
        switch code {
        case ECONNREFUSED: return URLError(.cannotConnectToHost)
        case ECONNRESET, EPIPE: return URLError(.networkConnectionLost)
        case ETIMEDOUT: return URLError(.timedOut)
        default: return URLError(.unknown, userInfo: [NSLocalizedDescriptionKey: "\(what): \(String(cString: strerror(code)))"])
        }
    }

    private static func connect(host: String, port: Int, timeout: Double) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw URLError(.cannotFindHost)
        }
        defer { freeaddrinfo(list) }
        var lastError = URLError(.cannotConnectToHost)
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            defer { ai = a.pointee.ai_next }
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var r = Foundation.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen)
            if r < 0 && errno == EINPROGRESS {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&p, 1, Int32(timeout * 1000))
                if ready == 1 {
                    var err: Int32 = 0
                    var len = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
                    r = err == 0 ? 0 : -1
                    errno = err
                } else {
                    r = -1
                    errno = ETIMEDOUT
                }
            }
            if r == 0 {
                _ = fcntl(fd, F_SETFL, flags)
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                return fd
            }
            lastError = posixError("connect")
            Foundation.close(fd)
        }
        throw lastError
    }

    /// Reads more bytes into the buffer; false at the end of the connection.
    private func fill() throws -> Bool {
        if start > 65536 { buffer.removeFirst(start); start = 0 }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&p, 1, Int32(idleTimeout * 1000))
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 { throw URLError(.timedOut) }
            break
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw Self.posixError("recv") }
            if n == 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
    }

    /// One CRLF-terminated line of the head or of the chunk framing.
    private func line() throws -> String {
        while true {
            if let i = buffer[start...].firstIndex(of: 0x0A) {
                var end = i
                if end > start, buffer[end - 1] == 0x0D { end -= 1 }
                let s = String(decoding: buffer[start..<end], as: UTF8.self)
                start = i + 1
                return s
            }
            guard try fill() else { throw URLError(.networkConnectionLost) }
        }
    }

    private(set) var headers: [String: String] = [:]

    private func readHead() throws {
        let statusLine = try line()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let code = Int(parts[1]) else {
            throw URLError(.badServerResponse)
        }
        status = code
        while true {
            let l = try line()
            if l.isEmpty { break }
            if let colon = l.firstIndex(of: ":") {
                headers[l[..<colon].lowercased()] = l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        chunked = headers["transfer-encoding"]?.lowercased().contains("chunked") == true
        if !chunked, let n = headers["content-length"].flatMap({ Int($0) }) { remaining = n }
    }

    /// The next bytes of the body (de-chunked); nil at its end.
    func nextBytes() throws -> [UInt8]? {
        guard !ended, !closed else { return nil }
        if chunked {
            if remaining == nil || remaining == 0 {
                if remaining == 0 { _ = try line() }   // the CRLF after a chunk's data
                let size = try line().split(separator: ";").first.flatMap { Int($0.trimmingCharacters(in: .whitespaces), radix: 16) }
                guard let size else { throw URLError(.badServerResponse) }
                if size == 0 { ended = true; return nil }
                remaining = size
            }
        } else if remaining == 0 {
            ended = true
            return nil
        }
        if start >= buffer.count {
            guard try fill() else {
                if chunked || remaining != nil { throw URLError(.networkConnectionLost) }
                ended = true
                return nil
            }
        }
        var take = buffer.count - start
        if let r = remaining { take = min(take, r) }
        let out = Array(buffer[start..<(start + take)])
        start += take
        if let r = remaining { remaining = r - take }
        return out
    }
}

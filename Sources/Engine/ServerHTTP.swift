import Core
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// An answer's body as it arrives.
protocol HTTPBody: AnyObject {
    /// the HTTP status (known once the head was read)
    var status: Int { get }
    /// the next bytes of the body; nil at its end
    func nextBytes() throws -> [UInt8]?
    /// stops the exchange (the server sees the connection close and stops generating)
    func close()
}

/// JSON over HTTP to an inference server, and its server-sent event streams. Blocking calls
/// for the session's thread; every failure is a `ThinktopError.serverFailed` naming the URL
/// and what to do. `http://` runs on a socket the calling thread reads (`SocketExchange`),
/// `https://` through URLSession.
final class ServerHTTP: Sendable {
    let base: URL
    let apiKey: String?
    /// a stream may sit this long without a byte before it counts as dead (a large model's
    /// first token after a long prompt can take minutes)
    let idleTimeout: Double
    private let secure: URLSession?

    init(base: URL, apiKey: String?, idleTimeout: Double = 600) {
        self.base = base
        self.apiKey = apiKey
        self.idleTimeout = idleTimeout
        if base.scheme?.lowercased() == "https" {
            let config = URLSessionConfiguration.ephemeral
            config.timeoutIntervalForRequest = idleTimeout
            config.requestCachePolicy = .reloadIgnoringLocalCacheData
            secure = URLSession(configuration: config, delegate: SessionRouter.shared, delegateQueue: nil)
        } else {
            secure = nil
        }
    }

    deinit { secure?.invalidateAndCancel() }

    var display: String { base.absoluteString.hasSuffix("/") ? String(base.absoluteString.dropLast()) : base.absoluteString }

    func failure(_ path: String, _ why: String) -> ThinktopError {
        .serverFailed(url: display + path, reason: why)
    }

    private func url(_ path: String) -> URL { base.appendingPathComponent(String(path.drop { $0 == "/" })) }

    /// Sends a request (POST when there is a body) and returns its answer as it arrives.
    private func exchange(_ path: String, body: Any?, idle: Double) throws -> HTTPBody {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        var headers: [String: String] = [:]
        if data != nil { headers["Content-Type"] = "application/json" }
        if let apiKey, !apiKey.isEmpty { headers["Authorization"] = "Bearer \(apiKey)" }
        do {
            if let secure {
                var r = URLRequest(url: url(path))
                r.httpMethod = data == nil ? "GET" : "POST"
                r.httpBody = data
                for (k, v) in headers { r.setValue(v, forHTTPHeaderField: k) }
                return try SessionExchange(session: secure, request: r)
            }
            return try SocketExchange(url: url(path), method: data == nil ? "GET" : "POST", headers: headers, body: data,
                                      connectTimeout: 10, idleTimeout: idle)
        } catch {
            throw failure(path, Self.describe(error))
        }
    }

    /// One request and its JSON answer.
    func call(_ path: String, body: Any? = nil, timeout: Double = 60) throws -> [String: Any] {
        let answer = try exchange(path, body: body, idle: timeout)
        defer { answer.close() }
        var bytes: [UInt8] = []
        do {
            while let b = try answer.nextBytes() { bytes += b }
        } catch {
            throw failure(path, Self.describe(error))
        }
        let data = Data(bytes)
        guard (200..<300).contains(answer.status) else { throw failure(path, Self.describe(status: answer.status, body: data)) }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw failure(path, "the answer is not a JSON object (\(Self.excerpt(data))): is this an inference server?")
        }
        return object
    }

    /// Opens a stream of server-sent events (POST with `body`). An HTTP error fails here,
    /// with the server's message.
    func stream(_ path: String, body: Any) throws -> EventStream {
        let answer = try exchange(path, body: body, idle: idleTimeout)
        let s = EventStream(answer, url: display + path)
        guard (200..<300).contains(answer.status) else {
            var bytes: [UInt8] = []
            while let b = try? answer.nextBytes() { bytes += b }
            answer.close()
            throw failure(path, Self.describe(status: answer.status, body: Data(bytes)))
        }
        return s
    }

    static func describe(_ error: Error) -> String {
        if let e = error as? URLError {
            switch e.code {
            case .cannotConnectToHost, .cannotFindHost:
                return "cannot connect (nothing listens there): start the server or check --server"
            case .timedOut:
                return "no answer in time: the server is stuck or overloaded"
            case .networkConnectionLost:
                return "the connection was lost mid-answer: the server went away"
            case .badServerResponse:
                return "the answer is not HTTP: is this an inference server?"
            default:
                break
            }
        }
        return (error as NSError).localizedDescription
    }

    /// "answered 404 Not Found: File Not Found" with the server's own message when it gave one.
    static func describe(status: Int, body: Data) -> String {
        var message = excerpt(body)
        if let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any] {
            if let e = o["error"] as? [String: Any], let m = e["message"] as? String { message = m }
            else if let m = o["error"] as? String { message = m }
            else if let m = o["message"] as? String { message = m }
        }
        let reason = HTTPURLResponse.localizedString(forStatusCode: status)
        let hint = status == 401 || status == 403 ? " (check --api-key or THINKTOP_API_KEY)"
            : status == 404 ? " (is this llama-server?)" : ""
        return "answered \(status) \(reason)\(message.isEmpty ? "" : ": " + message)\(hint)"
    }

    static func excerpt(_ data: Data) -> String {
        let text = String(decoding: data.prefix(160), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
        return data.count > 160 ? text + "…" : text
    }
}

/// The events of one streamed answer: server-sent `data:` lines (or one JSON object per
/// line), each a JSON object.
final class EventStream {
    private let body: HTTPBody
    let url: String
    private var pending: [UInt8] = []
    private var ended = false

    init(_ body: HTTPBody, url: String) {
        self.body = body
        self.url = url
    }

    deinit { body.close() }

    /// The next event's JSON object; nil when the stream ended normally.
    func next() throws -> [String: Any]? {
        while true {
            guard let line = try nextLine() else { return nil }
            var text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty || text.hasPrefix(":") || text.hasPrefix("event:") || text.hasPrefix("id:") { continue }
            if text.hasPrefix("data:") { text = String(text.dropFirst(5)).trimmingCharacters(in: .whitespaces) }
            if text == "[DONE]" { return nil }
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw ThinktopError.serverFailed(url: url, reason: "the stream sent a line that is not a JSON event (\(ServerHTTP.excerpt(Data(text.utf8)))): a proxy in between, or not an inference server")
            }
            if let e = object["error"] {
                let m = (e as? [String: Any])?["message"] as? String ?? "\(e)"
                throw ThinktopError.serverFailed(url: url, reason: "the server reported an error mid-stream: \(m)")
            }
            return object
        }
    }

    private func nextLine() throws -> [UInt8]? {
        while true {
            if let nl = pending.firstIndex(of: 0x0A) {
                let line = Array(pending[..<nl])
                pending.removeSubrange(...nl)
                return line
            }
            if ended {
                guard !pending.isEmpty else { return nil }
                defer { pending.removeAll() }
                return pending
            }
            do {
                if let b = try body.nextBytes() { pending += b } else { ended = true }
            } catch {
                throw ThinktopError.serverFailed(url: url, reason: ServerHTTP.describe(error))
            }
        }
    }

    func close() { body.close() }
}

/// An exchange through URLSession (https): the delegate queue appends the bytes, the
/// session's thread takes them.
final class SessionExchange: HTTPBody, @unchecked Sendable {
    private let condition = NSCondition()
    // guarded by `condition`
    private var buffer: [UInt8] = []
    private var finished = false
    private var failure: Error?
    private var statusCode: Int?
    private let task: URLSessionDataTask

    init(session: URLSession, request: URLRequest) throws {
        task = session.dataTask(with: request)
        SessionRouter.shared.register(self, for: task.taskIdentifier)
        task.resume()
        condition.withLock {
            while statusCode == nil && !finished { condition.wait() }
        }
        if statusCode == nil, let failure = condition.withLock({ self.failure }) { throw failure }
    }

    var status: Int { condition.withLock { statusCode ?? 0 } }

    fileprivate func received(status: Int) { condition.withLock { statusCode = status; condition.broadcast() } }
    fileprivate func received(_ data: Data) { condition.withLock { buffer.append(contentsOf: data); condition.broadcast() } }
    fileprivate func completed(_ error: Error?) {
        condition.withLock { finished = true; failure = error; condition.broadcast() }
    }

    func nextBytes() throws -> [UInt8]? {
        try condition.withLock {
            while buffer.isEmpty && !finished { condition.wait() }
            if !buffer.isEmpty { defer { buffer.removeAll() }; return buffer }
            if let failure, (failure as? URLError)?.code != .cancelled { throw failure }
            return nil
        }
    }

    func close() {
        task.cancel()
        SessionRouter.shared.unregister(task.taskIdentifier)
    }
}

/// Routes URLSession's delegate calls to the exchange each task belongs to.
private final class SessionRouter: NSObject, URLSessionDataDelegate, Sendable {
    static let shared = SessionRouter()
    private let exchanges = Mutex<[Int: SessionExchange]>([:])

    func register(_ s: SessionExchange, for id: Int) { exchanges.withLock { $0[id] = s } }
    func unregister(_ id: Int) { _ = exchanges.withLock { $0.removeValue(forKey: id) } }
    private func exchange(_ task: URLSessionTask) -> SessionExchange? { exchanges.withLock { $0[task.taskIdentifier] } }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        exchange(dataTask)?.received(status: (response as? HTTPURLResponse)?.statusCode ?? 0)
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        exchange(dataTask)?.received(data)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        exchange(task)?.completed(error)
        unregister(task.taskIdentifier)
    }
}

import Core
@testable import Engine
import Foundation
import Testing
import TestSupport

/// What a real llama-server never does, from a scripted one: a malformed stream, a cut
/// connection, an error document, events without log-probabilities. Each is one line naming
/// the URL.
@Suite("Server failures: one line each", .serialized)
struct ServerFailureTests {
    static var vocabulary: LlamaModel { ServerTests.vocabulary }

    /// A server that introduces itself as llama-server with the default model's vocabulary and
    /// answers /completion with `completion`.
    func server(_ completion: @escaping @Sendable ([String: Any]) -> [UInt8]) throws -> ScriptedHTTPServer {
        let vocabulary = Self.vocabulary
        let size = vocabulary.vocabularySize
        let ids: @Sendable (String) -> [Int] = { text in ((try? vocabulary.tokenize(text, addSpecial: false)) ?? []).map(Int.init) }
        return try ScriptedHTTPServer { path, body in
            switch path {
            case "/props": return ScriptedHTTPServer.json(["default_generation_settings": ["n_ctx": 4096], "model_path": "m.gguf", "total_slots": 1])
            case "/v1/models": return ScriptedHTTPServer.json(["data": [["id": "m", "meta": ["n_vocab": size]]]])
            case "/tokenize": return ScriptedHTTPServer.json(["tokens": ids(body["content"] as? String ?? "")])
            case "/completion": return completion(body)
            default: return ScriptedHTTPServer.json(["error": ["message": "File Not Found"]], status: "404 Not Found")
            }
        }
    }

    /// One streamed token event as llama-server writes it.
    static func event(_ id: Int, _ n: Int) -> String {
        let p: [String: Any] = ["id": id, "token": "x", "bytes": [120], "logprob": -0.5,
                                "top_logprobs": [["id": id, "token": "x", "bytes": [120], "logprob": -0.5]]]
        let e: [String: Any] = ["content": "x", "tokens": [id], "stop": false, "tokens_predicted": n,
                                "completion_probabilities": [p]]
        return "data: " + String(decoding: try! JSONSerialization.data(withJSONObject: e), as: UTF8.self) + "\n\n"
    }

    func firstError(_ s: ScriptedHTTPServer, steps: Int = 4) throws -> String {
        let backend = try ServerBackend(url: s.url, apiKey: nil, vocabulary: Self.vocabulary, topCount: 5)
        let tokens = try Self.vocabulary.tokenize("Hello", addSpecial: true)
        let config = try SessionConfig(sampling: .greedy, maxTokens: 16)
        let session = try DecodingSession(backend: backend, config: config, promptTokens: tokens, initialPhase: .answer)
        do {
            for _ in 0..<steps { try session.step() }
        } catch {
            return "\(error)"
        }
        return "no error"
    }

    @Test("a stream with a line that is not JSON")
    func malformed() throws {
        let s = try server { _ in ScriptedHTTPServer.events([Self.event(1000, 1), "data: {\"content\": \"x\", \n\n"]) }
        let e = try firstError(s)
        #expect(e == "inference server \(s.url)/completion: the stream sent a line that is not a JSON event ({\"content\": \"x\",): a proxy in between, or not an inference server")
    }

    @Test("a connection cut mid-answer")
    func cut() throws {
        // chunked, and the connection closes before the last chunk
        let s = try server { _ in
            let e = Self.event(1000, 1)
            return Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
                + Array(String(e.utf8.count, radix: 16).utf8) + [13, 10] + Array(e.utf8) + [13, 10]
        }
        let e = try firstError(s)
        #expect(e == "inference server \(s.url)/completion: the connection was lost mid-answer: the server went away")
    }

    @Test("an error document instead of a stream")
    func errorDocument() throws {
        let s = try server { _ in ScriptedHTTPServer.json(["error": ["code": 500, "message": "boom"]], status: "500 Internal Server Error") }
        #expect(try firstError(s) == "inference server \(s.url)/completion: answered 500 Internal Server Error: boom")
        let full = try server { _ in ScriptedHTTPServer.json(["error": ["message": "the request exceeds the available context size"]], status: "400 Bad Request") }
        #expect(try firstError(full) == "inference server \(full.url)/completion: answered 400 Bad Request: the request exceeds the available context size")
        let locked = try server { _ in ScriptedHTTPServer.json(["error": ["message": "Invalid API Key"]], status: "401 Unauthorized") }
        #expect(try firstError(locked) == "inference server \(locked.url)/completion: answered 401 Unauthorized: Invalid API Key (check --api-key or THINKTOP_API_KEY)")
    }

    @Test("events without log-probabilities, and an error reported mid-stream")
    func noLogprobs() throws {
        let s = try server { _ in ScriptedHTTPServer.events(["data: {\"content\": \"x\", \"tokens\": [5], \"stop\": false}\n\n"]) }
        #expect(try firstError(s) == "inference server \(s.url)/completion: an event without log-probabilities: the server ignores n_probs (is it llama-server?)")
        let mid = try server { _ in
            ScriptedHTTPServer.events([Self.event(1000, 1), "data: {\"error\": {\"message\": \"slot unavailable\"}}\n\n"])
        }
        #expect(try firstError(mid) == "inference server \(mid.url)/completion: the server reported an error mid-stream: slot unavailable")
    }

    @Test("a token the stream skipped (text ending inside a character) is read back from the text, its distribution unknown")
    func skipped() throws {
        // "é" as two byte tokens: the stream reports only the second, with the whole text
        let v = Self.vocabulary
        let byteToken = { (b: UInt8) in (0..<Int32(v.vocabularySize)).first { v.piece($0) == [b] } }
        let first = try #require(byteToken(0xC3))
        let second = try #require(byteToken(0xA9))
        let s = try server { _ in
            let p: [String: Any] = ["id": Int(second), "token": "", "bytes": [0xA9], "logprob": -0.2,
                                    "top_logprobs": [["id": Int(second), "logprob": -0.2]]]
            let e: [String: Any] = ["content": "é", "tokens": [Int(second)], "stop": false, "tokens_predicted": 2,
                                    "completion_probabilities": [p]]
            return ScriptedHTTPServer.events(["data: " + String(decoding: try! JSONSerialization.data(withJSONObject: e), as: UTF8.self) + "\n\n"])
        }
        let backend = try ServerBackend(url: s.url, apiKey: nil, vocabulary: Self.vocabulary, topCount: 5)
        let config = try SessionConfig(sampling: .greedy, maxTokens: 2)
        let session = try DecodingSession(backend: backend, config: config, promptTokens: [2], initialPhase: .answer)
        while try session.step() != nil {}
        #expect(session.records.map(\.token) == [first, second])
        #expect(session.records[0].logprob.isNaN && session.records[0].missingMass == 1)
        #expect(session.records[0].effects.contains { $0.kind == .note && $0.text.hasPrefix("llama-server does not report a token that ends inside a character") })
        #expect(session.records.map(\.text) == ["", "é"])
        #expect(abs(session.records[1].logprob - -0.2) < 1e-9)
    }
}

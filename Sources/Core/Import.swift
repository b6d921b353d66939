import Foundation

/// Turns what inference servers answer — with per-token log-probabilities — into thinktop
/// traces that replay, compare and export like any other. Shapes read:
/// - OpenAI chat completions: `choices[].logprobs.content[]` (`token`, `logprob`, `bytes`,
///   `top_logprobs`), `message.reasoning_content` as thinking and `content` as the answer;
/// - streamed chat chunks: server-sent `data:` lines, or one chunk per line;
/// - legacy completions: `choices[].logprobs` with `tokens`, `token_logprobs`, `top_logprobs`;
/// - llama-server's `/completion`: `completion_probabilities[]` (`id`, `token`, `bytes`,
///   `logprob`, `top_logprobs`; with `post_sampling_probs`, `prob` and `top_probs`);
/// - a JSON-lines file of such responses: one run each.
/// Every distribution is partial (top k + the missing mass), so the entropy is a bracket.
/// Token bytes are used where given, so characters split over tokens come out whole.
public enum TraceImport {
    public struct Options: Sendable {
        /// the vocabulary size for the entropy's upper bound; a value above the model's keeps
        /// the bound valid (default: 262,144, the largest of the common reasoning models')
        public var vocabularySize: Int
        public var markers: ThinkMarkers
        public init(vocabularySize: Int = 262_144, markers: ThinkMarkers = ThinkMarkers()) {
            self.vocabularySize = vocabularySize
            self.markers = markers
        }
    }

    /// One response turned into trace lines.
    public struct Run: Sendable {
        public var name: String
        public var lines: [TraceLine]
        /// what could not be read (a truncated stream, …): the lines hold what was decoded
        public var problem: String?
    }

    /// A step as a response gives it, before it becomes a record.
    struct Token {
        var id: Int32?
        var text: String
        var bytes: [UInt8]?
        var logprob: Double
        var top: [(id: Int32?, text: String, bytes: [UInt8]?, logprob: Double)]
        /// the phase the response's own structure says (reasoning vs content), when it does
        var phase: Phase?
    }

    struct Response {
        var name: String
        var format: String
        var model: String?
        var tokens: [Token]
        var reasoning: String?
        var finish: String?
        var promptTokens: Int?
        var seconds: Double?
        var problem: String?
    }

    static func failure(_ file: String, _ line: Int?, _ why: String) -> ThinktopError {
        .importFailed(file: file, line: line, reason: why)
    }

    // MARK: reading files

    /// Every run in a file.
    public static func runs(from data: Data, file: String, options: Options = Options()) throws -> [Run] {
        try responses(from: data, file: file).map { trace($0, file: file, options: options) }
    }

    static func responses(from data: Data, file: String) throws -> [Response] {
        let name = (file as NSString).lastPathComponent
        if let whole = try? JSONSerialization.jsonObject(with: data), let object = whole as? [String: Any] {
            return [try response(object, name: name, file: file, line: nil)]
        }
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        var chunks: [(Int, [String: Any])] = []
        var responses: [Response] = []
        var sawDone = false, streamed = false
        for (n, raw) in lines.enumerated() {
            var text = raw.trimmingCharacters(in: .whitespaces)
            if text.isEmpty || text.hasPrefix(":") || text.hasPrefix("event:") { continue }
            if text.hasPrefix("data:") {
                streamed = true
                text = String(text.dropFirst(5)).trimmingCharacters(in: .whitespaces)
                if text == "[DONE]" { sawDone = true; continue }
            }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
                let last = lines[(n + 1)...].allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty }
                if last && (!chunks.isEmpty || !responses.isEmpty) {
                    // a stream or a file cut off mid-line: keep what was read
                    if !chunks.isEmpty {
                        var r = try stream(chunks, name: name, file: file)
                        r.problem = "line \(n + 1) is cut off: the stream ended early (the trace keeps the \(r.tokens.count) tokens before it)"
                        return responses + [r]
                    }
                    responses[responses.count - 1].problem = "line \(n + 1) is cut off"
                    return responses
                }
                throw failure(file, n + 1, "not JSON" + (n == 0 ? ": thinktop imports server responses with log-probabilities (see `thinktop import --help`)" : ""))
            }
            if isChunk(object) {
                chunks.append((n + 1, object))
            } else {
                responses.append(try response(object, name: "\(name)#\(responses.count + 1)", file: file, line: n + 1))
            }
        }
        if !chunks.isEmpty {
            var r = try stream(chunks, name: name, file: file)
            if streamed && !sawDone && r.finish == nil {
                r.problem = "the stream has no [DONE] and no finish reason: it was cut short (the trace keeps the \(r.tokens.count) tokens it has)"
            }
            responses.append(r)
        }
        guard !responses.isEmpty else { throw failure(file, nil, "the file holds no response") }
        return responses
    }

    static func isChunk(_ o: [String: Any]) -> Bool {
        if (o["object"] as? String)?.hasSuffix("chunk") == true { return true }
        return ((o["choices"] as? [[String: Any]])?.first?["delta"]) != nil
    }

    // MARK: the shapes

    static func response(_ o: [String: Any], name: String, file: String, line: Int?) throws -> Response {
        var r = Response(name: (o["id"] as? String) ?? name, format: "", model: o["model"] as? String, tokens: [])
        if let usage = o["usage"] as? [String: Any] { r.promptTokens = usage["prompt_tokens"] as? Int }
        if let timings = o["timings"] as? [String: Any], let ms = timings["predicted_ms"] as? Double { r.seconds = ms / 1000 }
        if let probs = o["completion_probabilities"] as? [[String: Any]] {
            r.format = "llama-server /completion"
            r.tokens = try probs.map { try llamaServerToken($0, file: file, line: line) }
            r.promptTokens = r.promptTokens ?? (o["tokens_evaluated"] as? Int)
            if (o["stop_type"] as? String) == "limit" || (o["truncated"] as? Bool) == true { r.finish = "length" }
            else if o["stop"] as? Bool == true || o["stop_type"] != nil { r.finish = "stop" }
            return r
        }
        guard let choice = (o["choices"] as? [[String: Any]])?.first else {
            if o["error"] != nil {
                throw failure(file, line, "it is an error response, not a completion: \(describe(o["error"]))")
            }
            throw failure(file, line, "unknown shape: neither choices[] (OpenAI) nor completion_probabilities (llama-server)")
        }
        r.finish = choice["finish_reason"] as? String
        guard let logprobs = choice["logprobs"] as? [String: Any] else {
            throw failure(file, line, "the response has no log-probabilities: ask the server for them (OpenAI: logprobs=true, top_logprobs=20; llama-server /completion: n_probs)")
        }
        if let content = logprobs["content"] as? [[String: Any]] {
            r.format = "OpenAI chat completion"
            let message = choice["message"] as? [String: Any]
            r.reasoning = message?["reasoning_content"] as? String
            let reasoningTokens = (logprobs["reasoning_content"] as? [[String: Any]]) ?? []
            r.tokens = try reasoningTokens.map { var t = try openAIToken($0, file: file, line: line); t.phase = .thinking; return t }
                + content.map { var t = try openAIToken($0, file: file, line: line); if !reasoningTokens.isEmpty { t.phase = .answer }; return t }
            return r
        }
        if let tokens = logprobs["tokens"] as? [String], let lps = logprobs["token_logprobs"] as? [Any] {
            r.format = "OpenAI completion (legacy)"
            let tops = logprobs["top_logprobs"] as? [Any] ?? []
            for (i, text) in tokens.enumerated() {
                let lp = (i < lps.count ? number(lps[i]) : nil) ?? .nan
                var top: [(Int32?, String, [UInt8]?, Double)] = []
                if i < tops.count, let d = tops[i] as? [String: Any] {
                    top = d.compactMap { k, v in number(v).map { (nil, k, nil, $0) } }
                }
                r.tokens.append(Token(id: nil, text: text, bytes: nil, logprob: lp, top: top.map { ($0.0, $0.1, $0.2, $0.3) }))
            }
            return r
        }
        throw failure(file, line, "the log-probabilities are in an unknown shape (expected content[] or tokens/token_logprobs)")
    }

    /// Streamed chat chunks: each carries a delta (reasoning or content) and its tokens.
    static func stream(_ chunks: [(Int, [String: Any])], name: String, file: String) throws -> Response {
        var r = Response(name: name, format: "OpenAI chat completion stream", model: nil, tokens: [])
        var sawLogprobs = false
        for (line, o) in chunks {
            r.model = r.model ?? (o["model"] as? String)
            guard let choice = (o["choices"] as? [[String: Any]])?.first else { continue }
            if let f = choice["finish_reason"] as? String { r.finish = f }
            let delta = choice["delta"] as? [String: Any] ?? [:]
            let reasoning = (delta["reasoning_content"] as? String).map { !$0.isEmpty } ?? false
            guard let content = (choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]] else { continue }
            sawLogprobs = true
            for t in content {
                var token = try openAIToken(t, file: file, line: line)
                token.phase = reasoning ? .thinking : ((delta["content"] as? String).map { !$0.isEmpty } == true ? .answer : nil)
                r.tokens.append(token)
            }
        }
        guard sawLogprobs else {
            throw failure(file, chunks.first?.0, "the stream has no log-probabilities: ask the server for them (logprobs=true, top_logprobs=20)")
        }
        return r
    }

    static func openAIToken(_ t: [String: Any], file: String, line: Int?) throws -> Token {
        guard let text = t["token"] as? String, let lp = number(t["logprob"]) else {
            throw failure(file, line, "a logprobs entry without token and logprob")
        }
        let top = (t["top_logprobs"] as? [[String: Any]] ?? []).compactMap { a -> (Int32?, String, [UInt8]?, Double)? in
            guard let s = a["token"] as? String, let v = number(a["logprob"]) else { return nil }
            return (nil, s, bytes(a["bytes"]), v)
        }
        return Token(id: nil, text: text, bytes: bytes(t["bytes"]), logprob: lp, top: top.map { ($0.0, $0.1, $0.2, $0.3) })
    }

    static func llamaServerToken(_ t: [String: Any], file: String, line: Int?) throws -> Token {
        let text = t["token"] as? String ?? ""
        let id = (t["id"] as? Int).map { Int32($0) }
        let lp: Double
        if let v = number(t["logprob"]) { lp = v } else if let p = number(t["prob"]) { lp = Foundation.log(p) } else {
            throw failure(file, line, "a completion_probabilities entry without logprob or prob")
        }
        let alternatives = (t["top_logprobs"] as? [[String: Any]]) ?? (t["top_probs"] as? [[String: Any]]) ?? []
        let top = alternatives.compactMap { a -> (Int32?, String, [UInt8]?, Double)? in
            let v = number(a["logprob"]) ?? number(a["prob"]).map { Foundation.log($0) }
            guard let v else { return nil }
            return ((a["id"] as? Int).map { Int32($0) }, a["token"] as? String ?? "", bytes(a["bytes"]), v)
        }
        return Token(id: id, text: text, bytes: bytes(t["bytes"]), logprob: lp, top: top.map { ($0.0, $0.1, $0.2, $0.3) })
    }

    static func number(_ v: Any?) -> Double? {
        if let d = v as? Double { return d }
        if let n = v as? NSNumber { return n.doubleValue }
        return nil
    }

    static func bytes(_ v: Any?) -> [UInt8]? {
        guard let list = v as? [Any] else { return nil }
        let b = list.compactMap { ($0 as? Int).map { UInt8(clamping: $0) } }
        return b.count == list.count ? b : nil
    }

    static func describe(_ v: Any?) -> String {
        if let d = v as? [String: Any], let m = d["message"] as? String { return m }
        return v.map { "\($0)" } ?? "?"
    }
}

import Core
import Foundation

/// What the tokens are: a local GGUF read vocabulary-only (`LlamaModel(vocabularyOnly:)`),
/// exact; or the server's own tokenizer (`ServerVocabulary`), which learns as it goes.
public protocol TokenVocabulary: AnyObject {
    var vocabularySize: Int { get }
    /// whether every token's text is at hand (strategies that scan the vocabulary need it)
    var listsVocabulary: Bool { get }
    func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32]
    func piece(_ token: Int32) -> [UInt8]
    func isEndOfGeneration(_ token: Int32) -> Bool
    func isControl(_ token: Int32) -> Bool
    func singleToken(_ text: String) -> Int32?
    /// a token's bytes, as the server reported them
    func learn(_ token: Int32, bytes: [UInt8])
    /// a token after which the server ended generation
    func learnEndOfGeneration(_ token: Int32)
}

extension TokenVocabulary {
    public var listsVocabulary: Bool { true }
    public func learn(_ token: Int32, bytes: [UInt8]) {}
    public func learnEndOfGeneration(_ token: Int32) {}
}

extension LlamaModel: TokenVocabulary {}

extension ServerVocabulary {
    var listsVocabulary: Bool { false }
}

/// What a llama-server says of itself.
public struct ServerFacts: Sendable, Equatable {
    /// the model file the server loaded (its path on the server's machine)
    public var model: String
    /// positions a slot holds
    public var contextSize: Int
    public var vocabularySize: Int
    public var slots: Int
    public var build: String
    /// what `/v1/models` tells of the model (0 when it does not)
    public var trainedContext = 0
    public var embeddingSize = 0
    public var parameters: UInt64 = 0
    public var sizeBytes: UInt64 = 0
    /// e.g. "Q4_K - Medium"
    public var fileType = ""
    /// the chat template the server applies (`/props`), nil when it has none
    public var chatTemplate: String?
}

/// A model behind llama-server (`/completion`: token-id prompts, `n_probs` raw top
/// log-probabilities, `cache_prompt`, `logit_bias`), stepped by a `DecodingSession` as a
/// `ServedBackend`. Its "cache" is the token sequence of each session sequence, sent as the
/// prompt; the server's prefix cache makes a resubmission cost only the tokens past what it
/// already holds. One stream runs at a time: a probe closes it first, so it runs on the slot
/// that holds the prefix.
///
/// llama-server does not stream a token whose text ends inside a UTF-8 character (it waits
/// for the character to complete and reports only the completing token): such tokens are
/// seen as a jump in `tokens_predicted`; their ids are read back from the text with the
/// vocabulary and their distributions are unknown (the record says so).
public final class ServerBackend: ModelBackend, ServedBackend {
    public let facts: ServerFacts
    public let topCount: Int
    /// keep drawing through end-of-generation tokens (benchmarks)
    public var ignoreEndOfGeneration = false
    public private(set) var statistics = ServedStatistics()
    let http: ServerHTTP
    let vocabulary: TokenVocabulary

    private var sequences: [SequenceID: [Int32]] = [:]
    // the stream in flight: what it was asked, and the tokens it stands on (its prompt and
    // what it has given since)
    private var stream: EventStream?
    private var streamRequest: ServedRequest?
    private var streamTokens: [Int32] = []
    private var streamPredicted = 0
    /// how the stream in flight ended, once it did (`stop_type`: eos, limit, word)
    private var streamStop: String?
    private var queued: [ServedToken] = []
    /// vocabulary pieces by their bytes, to read back tokens the stream skipped (built once)
    private lazy var pieceIndex: [[UInt8]: Int32] = {
        var index: [[UInt8]: Int32] = [:]
        for t in 0..<Int32(vocabulary.vocabularySize) {
            let p = vocabulary.piece(t)
            if !p.isEmpty, p.count <= 32, index[p] == nil, !vocabulary.isControl(t) { index[p] = t }
        }
        return index
    }()

    /// Connects and checks that the server serves the vocabulary's model: the same number of
    /// tokens, the same tokenization of a sample with the think markers. Without a vocabulary,
    /// the server's own tokenizer is used (`ServerVocabulary`).
    public init(url: String, apiKey: String?, vocabulary given: TokenVocabulary?, topCount: Int = 20) throws {
        guard let base = URL(string: url), let scheme = base.scheme?.lowercased(), ["http", "https"].contains(scheme),
              base.host != nil else {
            throw ThinktopError.invalidArgument("--server takes an http:// or https:// URL, got \(String(reflecting: url))")
        }
        guard (1...100).contains(topCount) else {
            throw ThinktopError.invalidArgument("--top-logprobs must be in 1…100, got \(topCount)")
        }
        http = ServerHTTP(base: base, apiKey: apiKey)
        self.topCount = topCount
        let props = try http.call("/props")
        let settings = props["default_generation_settings"] as? [String: Any] ?? [:]
        guard let nCtx = (settings["n_ctx"] as? NSNumber)?.intValue else {
            throw http.failure("/props", "no n_ctx in its properties: thinktop steps llama-server (vLLM and SGLang answers are read with `thinktop import`)")
        }
        let models = try http.call("/v1/models")
        let meta = ((models["data"] as? [[String: Any]])?.first?["meta"] as? [String: Any]) ?? [:]
        guard let nVocab = (meta["n_vocab"] as? NSNumber)?.intValue ?? given?.vocabularySize else {
            throw http.failure("/v1/models", "no vocabulary size (meta.n_vocab) in its models: thinktop steps llama-server")
        }
        var facts = ServerFacts(model: props["model_path"] as? String ?? "unknown", contextSize: nCtx, vocabularySize: nVocab,
                                slots: (props["total_slots"] as? NSNumber)?.intValue ?? 1,
                                build: props["build_info"] as? String ?? "")
        facts.trainedContext = (meta["n_ctx_train"] as? NSNumber)?.intValue ?? 0
        facts.embeddingSize = (meta["n_embd"] as? NSNumber)?.intValue ?? 0
        facts.parameters = (meta["n_params"] as? NSNumber)?.uint64Value ?? 0
        facts.sizeBytes = (meta["size"] as? NSNumber)?.uint64Value ?? 0
        facts.fileType = meta["ftype"] as? String ?? ""
        facts.chatTemplate = (props["chat_template"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        self.facts = facts
        guard let given else {
            vocabulary = try ServerVocabulary(http: http, vocabularySize: nVocab, eos: props["eos_token"] as? String)
            return
        }
        vocabulary = given
        guard nVocab == vocabulary.vocabularySize else {
            throw http.failure("", "it serves another model (\((facts.model as NSString).lastPathComponent), \(nVocab) tokens) than the vocabulary's (\(vocabulary.vocabularySize) tokens): pass --model with the GGUF the server runs")
        }
        let sample = "Problem: 12 × 7 = ? <think>Wait, é 東 ok</think>\n\nAnswer: 84"
        let theirs = try http.call("/tokenize", body: ["content": sample, "add_special": false, "parse_special": true])
        let ids = (theirs["tokens"] as? [Any])?.compactMap { ($0 as? NSNumber)?.int32Value } ?? []
        guard ids == (try vocabulary.tokenize(sample, addSpecial: false)) else {
            throw http.failure("/tokenize", "it tokenizes differently from the vocabulary's model: pass --model with the GGUF the server runs")
        }
    }

    deinit { stream?.close() }

    /// The user's text in the server's chat template (`/apply-template`).
    public func applyChatTemplate(user: String) throws -> String {
        let answer = try http.call("/apply-template", body: ["messages": [["role": "user", "content": user]]])
        guard let prompt = answer["prompt"] as? String else {
            throw http.failure("/apply-template", "no prompt in the answer")
        }
        return prompt
    }

    /// The model's facts as the server tells them, for a trace header without the GGUF at hand.
    public func modelFacts() -> ModelFacts {
        ModelFacts(file: (facts.model as NSString).lastPathComponent, sha256: nil, architecture: "unknown (served)",
                   description: facts.fileType, layers: 0, embeddingSize: facts.embeddingSize, heads: 0, kvHeads: 0,
                   slidingWindow: 0, vocabularySize: facts.vocabularySize, trainedContext: facts.trainedContext,
                   parameters: facts.parameters, sizeBytes: facts.sizeBytes, thinkOpenToken: singleToken("<think>"),
                   thinkCloseToken: singleToken("</think>"), hasChatTemplate: facts.chatTemplate != nil)
    }

    public var endpoint: String { http.display }

    // MARK: ModelBackend: the sequences are token lists

    public var vocabularySize: Int { vocabulary.vocabularySize }
    public var embeddingSize: Int { 0 }
    public var contextSize: Int { facts.contextSize }
    /// token lists kept here (the server's slot caches the prefix): as many as branches want
    public var sequenceCount: Int { 64 }
    public var batchSize: Int { facts.contextSize }
    /// The top of each distribution, bans and biases (`logit_bias`), probes (extra requests),
    /// and the vocabulary's listing when the tokenizer is the local GGUF's.
    public var capabilities: Set<Capability> {
        vocabulary.listsVocabulary ? [.topK, .tokenBans, .forks, .vocabulary] : [.topK, .tokenBans, .forks]
    }
    /// whether the tokenizer is the server's (no GGUF at hand)
    public var tokenizerIsServers: Bool { !vocabulary.listsVocabulary }
    public var backendName: String { "llama-server" }
    /// The vocabulary's listing comes with the model's GGUF.
    public var capabilityHints: [Capability: String] {
        vocabulary.listsVocabulary ? [:] : [.vocabulary: "pass --model with the served GGUF"]
    }

    func tokens(_ s: SequenceID) -> [Int32] { sequences[s] ?? [] }

    public func decode(tokens new: ArraySlice<Int32>, at position: Int, sequence: SequenceID) throws {
        var s = sequences[sequence] ?? []
        guard position == s.count else {
            throw ThinktopError.kvEditFailed("a served sequence grows at its end (\(s.count)), not at \(position)")
        }
        s += new
        sequences[sequence] = s
    }

    public func decode(embedding: UnsafeBufferPointer<Float>, at position: Int, sequence: SequenceID) throws {
        throw ThinktopError.embeddingUnavailable("an inference server takes tokens, not embeddings")
    }

    public func logits() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: nil, count: 0) }

    public func removeCells(sequence: SequenceID, from: Int, to: Int?) throws {
        if sequence == .all {
            for s in Array(sequences.keys) { try removeCells(sequence: s, from: from, to: to) }
            return
        }
        var s = sequences[sequence] ?? []
        guard from < s.count else { return }
        if let to, to < s.count {
            throw ThinktopError.kvEditFailed("a server's cache cannot drop positions \(from)..<\(to) and keep later ones")
        }
        s.removeSubrange(max(0, from)...)
        sequences[sequence] = s
    }

    public func shiftCells(sequence: SequenceID, from: Int, to: Int?, delta: Int) throws {
        throw ThinktopError.kvEditFailed("a server's cache positions cannot be moved")
    }

    public func copySequence(from source: SequenceID, to destination: SequenceID, from start: Int, to end: Int?) {
        let s = sequences[source] ?? []
        let upper = min(end ?? s.count, s.count)
        sequences[destination] = start == 0 && upper > 0 ? Array(s[0..<upper]) : []
    }

    public func positionRange(sequence: SequenceID) -> ClosedRange<Int>? {
        let n = sequences[sequence]?.count ?? 0
        return n > 0 ? 0...(n - 1) : nil
    }

    public func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32] { try vocabulary.tokenize(text, addSpecial: addSpecial) }
    public func piece(_ token: Int32) -> [UInt8] { vocabulary.piece(token) }
    public func isEndOfGeneration(_ token: Int32) -> Bool { vocabulary.isEndOfGeneration(token) }
    public func isControl(_ token: Int32) -> Bool { vocabulary.isControl(token) }
    public func singleToken(_ text: String) -> Int32? { vocabulary.singleToken(text) }
    /// kept with a GGUF's vocabulary; the server's own tokenizer learns as it goes, so a scan
    /// of it is never kept
    public var vocabularyScans: VocabularyScans { (vocabulary as? LlamaModel)?.vocabularyScans ?? VocabularyScans() }

    // MARK: ServedBackend

    public func next(request: ServedRequest, limit: Int) throws -> ServedToken? {
        let main = tokens(.main)
        if streamRequest == request, streamTokens == main {
            if let t = try read() {
                streamTokens.append(t.token)
                return t
            }
            // the stream ended after the last token it gave: at the server's end of generation,
            // that token ended the run (a tokenizer that did not know it learns it)
            if streamStop == "eos", let last = main.last {
                vocabulary.learnEndOfGeneration(last)
                return nil
            }
        }
        let started = DispatchTime.now().uptimeNanoseconds
        try open(prompt: main, request: request, limit: limit)
        guard let t = try read() else {
            if streamStop == "eos", let last = main.last {
                vocabulary.learnEndOfGeneration(last)
                return nil
            }
            throw http.failure("/completion", "the server ended the answer without a token (\(main.count) tokens of context, \(contextSize) per slot)")
        }
        statistics.firstTokenMs += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        streamTokens.append(t.token)
        return t
    }

    public func closeStream() {
        stream?.close()
        stream = nil
        streamRequest = nil
        streamStop = nil
        queued.removeAll()
    }

    public func greedy(sequence: SequenceID, maxTokens: Int, stop: [String]) throws -> [ServedToken] {
        closeStream()
        statistics.probeRequests += 1
        let prompt = tokens(sequence)
        let s = try http.stream("/completion", body: body(prompt: prompt, request: ServedRequest(sampling: .greedy), limit: maxTokens))
        defer { s.close() }
        var out: [ServedToken] = []
        var predicted = 0
        var text = UTF8Stream(), seen = ""
        while out.count < maxTokens, let event = try s.next() {
            for t in try tokens(in: event, predicted: &predicted, url: "/completion") {
                out.append(t)
                seen += text.append(piece(t.token))
                if t.endsGeneration || vocabulary.isEndOfGeneration(t.token) || out.count >= maxTokens { return out }
                if stop.contains(where: { seen.contains($0) }) { return out }
            }
        }
        return out
    }

    public func logProbability(of token: Int32, after sequence: SequenceID) throws -> Double {
        closeStream()
        statistics.probeRequests += 1
        var b = body(prompt: tokens(sequence), request: ServedRequest(sampling: .greedy), limit: 1)
        b["stream"] = false
        b["n_probs"] = 1
        b["logit_bias"] = [[Int(token), 1000.0]]
        let answer = try http.call("/completion", body: b, timeout: http.idleTimeout)
        guard let first = (answer["completion_probabilities"] as? [[String: Any]])?.first,
              (first["id"] as? NSNumber)?.int32Value == token, let lp = (first["logprob"] as? NSNumber)?.doubleValue else {
            return .nan   // a token that ends inside a character: the server reports nothing for it
        }
        return lp
    }

    // MARK: the stream

    private func open(prompt: [Int32], request: ServedRequest, limit: Int) throws {
        if statistics.streams > 0 { statistics.resubmissions += 1 }
        closeStream()
        statistics.streams += 1
        stream = try http.stream("/completion", body: body(prompt: prompt, request: request, limit: limit))
        streamRequest = request
        streamTokens = prompt
        streamPredicted = 0
    }

    /// The request body: the prompt as token ids, the sampling as the session's sampler does
    /// it (top-k → top-p → min-p → temperature, nothing else), raw top log-probabilities.
    func body(prompt: [Int32], request: ServedRequest, limit: Int) -> [String: Any] {
        let p = request.sampling
        var bias: [[Any]] = request.banned.sorted().map { [Int($0), false] }
        bias += request.bias.sorted { $0.key < $1.key }.map { [Int($0.key), Double($0.value)] }
        // llama.cpp's seeds are 32-bit and 0xFFFFFFFF asks for a random one
        var seed = UInt32(truncatingIfNeeded: p.seed ^ (p.seed >> 32))
        if seed == .max { seed -= 1 }
        return [
            "prompt": prompt.map(Int.init), "n_predict": max(1, limit), "stream": true, "cache_prompt": true,
            "n_probs": topCount, "post_sampling_probs": false, "return_tokens": true,
            "temperature": p.isGreedy ? 0.0 : p.temperature, "top_k": p.isGreedy ? 1 : p.topK, "top_p": p.topP,
            "min_p": p.minP, "seed": Int(seed), "samplers": ["top_k", "top_p", "min_p", "temperature"],
            "logit_bias": bias, "repeat_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
            "dry_multiplier": 0.0, "typical_p": 1.0, "xtc_probability": 0.0, "top_n_sigma": -1.0, "mirostat": 0,
            "ignore_eos": ignoreEndOfGeneration,
        ]
    }

    /// The next token of the stream in flight (nil when it ended).
    private func read() throws -> ServedToken? {
        if !queued.isEmpty { statistics.tokensRead += 1; return queued.removeFirst() }
        guard let s = stream else { return nil }
        while let event = try s.next() {
            if event["stop"] as? Bool == true { streamStop = event["stop_type"] as? String }
            let got = try tokens(in: event, predicted: &streamPredicted, url: "/completion")
            guard !got.isEmpty else { continue }
            queued = Array(got.dropFirst())
            statistics.tokensRead += 1
            return got[0]
        }
        stream = nil
        return nil
    }

    /// The tokens one event of `/completion` reports: its token with the raw top, preceded by
    /// the tokens the server did not stream (text ending inside a character), read back from
    /// the text.
    private func tokens(in event: [String: Any], predicted: inout Int, url: String) throws -> [ServedToken] {
        guard let probs = event["completion_probabilities"] as? [[String: Any]], let p = probs.first else {
            if event["stop"] as? Bool == true || event["content"] as? String == "" { return [] }
            throw http.failure(url, "an event without log-probabilities: the server ignores n_probs (is it llama-server?)")
        }
        guard let id = (p["id"] as? NSNumber)?.int32Value, let lp = (p["logprob"] as? NSNumber)?.doubleValue else {
            throw http.failure(url, "an event whose token has no id or log-probability")
        }
        let top = (p["top_logprobs"] as? [[String: Any]] ?? []).compactMap { a -> Candidate? in
            guard let i = (a["id"] as? NSNumber)?.int32Value, let l = (a["logprob"] as? NSNumber)?.doubleValue else { return nil }
            if let b = a["bytes"] as? [Any] { vocabulary.learn(i, bytes: b.compactMap { ($0 as? NSNumber)?.uint8Value }) }
            return Candidate(id: i, logit: Float(l))
        }
        if let b = p["bytes"] as? [Any] { vocabulary.learn(id, bytes: b.compactMap { ($0 as? NSNumber)?.uint8Value }) }
        let ends = event["stop"] as? Bool == true && event["stop_type"] as? String == "eos"
        let token = ServedToken(token: id, logprob: lp, top: top, endsGeneration: ends)
        let reported = (event["tokens_predicted"] as? NSNumber)?.intValue ?? predicted + 1
        let skipped = reported - predicted - 1
        predicted = reported
        guard skipped > 0 else { return [token] }
        // the text of the skipped tokens is the event's content before this token's piece
        let content = Array((event["content"] as? String ?? "").utf8)
        let own = piece(id)
        guard content.count >= own.count, Array(content.suffix(own.count)) == own,
              let ids = try readBack(content, own: id, ownBytes: own.count, skipped: skipped) else {
            throw http.failure("/completion", "the stream skipped \(skipped) tokens whose ids cannot be read back from its text")
        }
        let note = "llama-server does not report a token that ends inside a character: id read back from the text, distribution unknown"
        return ids.map { ServedToken(token: $0, logprob: .nan, top: [], note: note) } + [token]
    }

    /// The ids of the tokens before `own` that spell `content` (minus `own`'s bytes): split
    /// with the vocabulary's pieces when it lists them; else as the server tokenizes the
    /// whole text, when that ends with `own` (the count may then differ from the model's).
    private func readBack(_ content: [UInt8], own: Int32, ownBytes: Int, skipped: Int) throws -> [Int32]? {
        if vocabulary.listsVocabulary { return segment(Array(content.dropLast(ownBytes)), into: skipped) }
        guard let text = String(validating: content, as: UTF8.self) else { return nil }
        let ids = try vocabulary.tokenize(text, addSpecial: false)
        guard ids.last == own, ids.count >= 2 else { return nil }
        return Array(ids.dropLast())
    }

    /// `bytes` as exactly `count` vocabulary pieces (the first such split), nil if none.
    func segment(_ bytes: [UInt8], into count: Int) -> [Int32]? {
        let n = bytes.count
        guard count > 0, n >= count else { return nil }
        // reach[i][c]: the piece ending at i of a split of bytes[..<i] into c pieces
        var reach = [[Int32?]](repeating: [Int32?](repeating: nil, count: count + 1), count: n + 1)
        var from = [[Int]](repeating: [Int](repeating: -1, count: count + 1), count: n + 1)
        var ok = [[Bool]](repeating: [Bool](repeating: false, count: count + 1), count: n + 1)
        ok[0][0] = true
        for i in 0..<n {
            for c in 0..<count where ok[i][c] {
                for j in (i + 1)...min(n, i + 32) {
                    guard !ok[j][c + 1], let id = pieceIndex[Array(bytes[i..<j])] else { continue }
                    ok[j][c + 1] = true
                    reach[j][c + 1] = id
                    from[j][c + 1] = i
                }
            }
        }
        guard ok[n][count] else { return nil }
        var ids: [Int32] = []
        var i = n, c = count
        while c > 0 {
            ids.append(reach[i][c]!)
            i = from[i][c]
            c -= 1
        }
        return ids.reversed()
    }
}

import Foundation
import Testing
@testable import Core

@Suite("Partial distributions and importing server responses")
struct ImportTests {
    func lp(_ p: Double) -> Float { Float(log(p)) }

    @Test("the entropy bracket: both ends are attained by tails that exist, and every tail lies between")
    func bracket() throws {
        let known: [Double] = [0.5, 0.2, 0.1]
        let d = PartialDistribution(top: known.enumerated().map { Candidate(id: Int32($0.offset), logit: lp($0.element)) },
                                    vocabularySize: 10)
        let hk = -known.reduce(0) { $0 + $1 * log($1) }
        #expect(abs(d.missingMass - 0.2) < 1e-7)
        #expect(abs(d.knownEntropy - hk) < 1e-7)
        let b = d.entropyBracket
        #expect(abs(b.lowerBound - (hk + 0.2 * log(10))) < 1e-6)
        #expect(abs(b.upperBound - (hk + 0.2 * log(35))) < 1e-6)
        func entropy(_ tail: [Double]) -> Double { -(known + tail).filter { $0 > 0 }.reduce(0) { $0 + $1 * log($1) } }
        // the tail lumped as two tokens of 0.1 (as likely as the k-th): the lower end
        #expect(abs(entropy([0.1, 0.1]) - b.lowerBound) < 1e-6)
        // spread evenly over the 7 unseen tokens: the upper end
        #expect(abs(entropy(Array(repeating: 0.2 / 7, count: 7)) - b.upperBound) < 1e-6)
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<200 {
            var w = (0..<7).map { _ in rng.nextUnit() * (rng.nextUnit() < 0.5 ? 0 : 1) }
            if w.reduce(0, +) == 0 { w[0] = 1 }
            let total = w.reduce(0, +)
            var tail = w.map { 0.2 * $0 / total }
            // no unseen token may be more likely than the k-th seen one
            guard tail.allSatisfy({ $0 <= 0.1 + 1e-12 }) else { continue }
            tail = tail.map { min($0, 0.1) }
            let h = entropy(tail)
            #expect(h >= b.lowerBound - 1e-6 && h <= b.upperBound + 1e-6)
        }
        // the session's signals for it: entropy the lower end, the bracket beside it
        let s = d.summary
        #expect(s.entropy == b.lowerBound && s.entropyBracket == b && !s.isExact)
        #expect(abs(s.top1 - 0.5) < 1e-6 && abs(s.margin - 0.3) < 1e-6)
        // a distribution with nothing missing is exact
        let whole = PartialDistribution(top: [Candidate(id: 0, logit: lp(0.75)), Candidate(id: 1, logit: lp(0.25))], vocabularySize: 2)
        #expect(whole.entropyBracket.lowerBound == whole.entropyBracket.upperBound)
    }

    @Test("a token known beyond the top k (the one drawn) does not lower the cap on the unseen ones")
    func knownBeyondTheTop() throws {
        // the server's top two, 0.5 and 0.3, and the drawn token 0.01 outside them: 0.19 unseen
        let top = [Candidate(id: 0, logit: lp(0.5)), Candidate(id: 1, logit: lp(0.3))]
        let d = ServedToken(token: 7, logprob: log(0.01), top: top).distribution(vocabularySize: 10)
        #expect(d.top.map(\.id) == [0, 1, 7] && abs(d.missingMass - 0.19) < 1e-7)
        let hk = -[0.5, 0.3, 0.01].reduce(0) { $0 + $1 * log($1) }
        let b = d.entropyBracket
        // an unseen token can be as likely as 0.19 (below the server's smallest, 0.3): one such
        // token is the lower end; seven unseen tokens share it evenly at the upper end
        #expect(abs(b.lowerBound - (hk + 0.19 * log(1 / 0.19))) < 1e-6)
        #expect(abs(b.upperBound - (hk + 0.19 * log(7 / 0.19))) < 1e-6)
    }

    func runs(_ text: String, _ options: TraceImport.Options = .init(vocabularySize: 1000)) throws -> [TraceImport.Run] {
        try TraceImport.runs(from: Data(text.utf8), file: "resp.json", options: options)
    }

    func tokens(_ run: TraceImport.Run) -> [StepRecord] {
        run.lines.compactMap { if case .token(let t) = $0 { return t } else { return nil } }
    }

    static let chat = """
    {"id":"chatcmpl-1","model":"qwq-32b","object":"chat.completion","usage":{"prompt_tokens":12},
     "choices":[{"index":0,"finish_reason":"stop",
       "message":{"role":"assistant","reasoning_content":"So 9.","content":"Answer: 9 é"},
       "logprobs":{"content":[
         {"token":"So","logprob":-0.1,"bytes":[83,111],"top_logprobs":[{"token":"So","logprob":-0.1,"bytes":[83,111]},{"token":"Wait","logprob":-2.5,"bytes":[87,97,105,116]}]},
         {"token":" 9.","logprob":-0.2,"bytes":[32,57,46],"top_logprobs":[{"token":" 9.","logprob":-0.2,"bytes":[32,57,46]}]},
         {"token":"Answer","logprob":-0.05,"bytes":[65,110,115,119,101,114],"top_logprobs":[{"token":"Answer","logprob":-0.05}]},
         {"token":": 9 ","logprob":-0.3,"bytes":[58,32,57,32],"top_logprobs":[{"token":": 9 ","logprob":-0.3}]},
         {"token":"\\\\xc3","logprob":-0.4,"bytes":[195],"top_logprobs":[{"token":"\\\\xc3","logprob":-0.4,"bytes":[195]}]},
         {"token":"\\\\xa9","logprob":-0.01,"bytes":[169],"top_logprobs":[{"token":"\\\\xa9","logprob":-0.01,"bytes":[169]}]}
       ]}}]}
    """

    @Test("an OpenAI chat completion: reasoning as thinking, content as the answer, split characters whole")
    func chatCompletion() throws {
        let r = try #require(try runs(Self.chat).first)
        let t = tokens(r)
        #expect(t.map(\.text) == ["So", " 9.", "Answer", ": 9 ", "", "é"])
        #expect(t.map(\.phase) == [.thinking, .thinking, .answer, .answer, .answer, .answer])
        #expect(t.map(\.position) == Array(12..<18))
        #expect(abs(t[0].logprob - -0.1) < 1e-12 && t[0].top.map(\.text) == ["So", "Wait"])
        #expect(t[0].top[0].id == t[0].token && t[0].top[1].id != t[0].token)
        // a top entry without bytes is the same token as its chosen twin with them
        #expect(t[2].top.count == 1 && t[2].top[0].id == t[2].token && t[2].top[0].text == "Answer")
        let range = try #require(t[0].entropyRange)
        #expect(range[0] <= range[1] && t[0].entropy == range[0] && !t[0].isExact)
        #expect(abs((t[0].missingMass ?? 0) - (1 - exp(-0.1) - exp(-2.5))) < 1e-6)
        guard case .header(let h) = r.lines.first, case .summary(let s) = r.lines.last else { Issue.record("no header or summary"); return }
        #expect(h.source == ImportSource(file: "resp.json", format: "OpenAI chat completion", run: "chatcmpl-1"))
        #expect(h.model.file == "qwq-32b" && h.settings.sampling == nil && h.promptTokens == 12)
        #expect(s.tokens == 6 && s.thinkingTokens == 2 && s.answerTokens == 4 && s.stopReason == "end of generation")
        #expect(s.output == "So 9.Answer: 9 é")
        #expect(r.problem == nil)
        // it reads back as a trace
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("import-\(UUID()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let w = try TraceWriter(path: file)
        for line in r.lines { try w.write(line) }
        let read = try TraceReader(path: file)
        #expect(read.tokens == t && read.header?.source?.format == "OpenAI chat completion")
    }

    @Test("think markers in the tokens decide the phases when there is no reasoning field")
    func markers() throws {
        let text = """
        {"choices":[{"finish_reason":"length","message":{"content":"<think>a</think>b"},"logprobs":{"content":[
          {"token":"<think>","logprob":0,"top_logprobs":[]},{"token":"a","logprob":-1,"top_logprobs":[]},
          {"token":"</think>","logprob":-0.5,"top_logprobs":[]},{"token":"b","logprob":-0.2,"top_logprobs":[]}]}}]}
        """
        let t = tokens(try #require(try runs(text).first))
        #expect(t.map(\.phase) == [.thinking, .thinking, .thinking, .answer])
        guard case .summary(let s) = try runs(text)[0].lines.last else { return }
        #expect(s.stopReason == "max tokens")
    }

    static let stream = """
    data: {"object":"chat.completion.chunk","model":"r1","choices":[{"delta":{"reasoning_content":"Hm"},"logprobs":{"content":[{"token":"Hm","logprob":-0.3,"top_logprobs":[{"token":"Hm","logprob":-0.3},{"token":"So","logprob":-1.5}]}]}}]}

    data: {"object":"chat.completion.chunk","choices":[{"delta":{"reasoning_content":" ok"},"logprobs":{"content":[{"token":" ok","logprob":-0.1,"top_logprobs":[]}]}}]}

    data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":"42"},"logprobs":{"content":[{"token":"42","logprob":-0.01,"top_logprobs":[]}]},"finish_reason":"stop"}]}

    data: [DONE]

    """

    @Test("a streamed chat completion: chunks in order, reasoning deltas as thinking")
    func streamed() throws {
        let r = try #require(try runs(Self.stream).first)
        let t = tokens(r)
        #expect(t.map(\.text) == ["Hm", " ok", "42"])
        #expect(t.map(\.phase) == [.thinking, .thinking, .answer])
        #expect(r.problem == nil)
        // one chunk per line, without "data:", reads the same
        let plain = Self.stream.split(separator: "\n").filter { $0.hasPrefix("data: {") }.map { $0.dropFirst(6) }.joined(separator: "\n")
        #expect(tokens(try #require(try runs(plain).first)).map(\.text) == ["Hm", " ok", "42"])
        // cut short: the tokens read are kept, the problem said
        let cut = Self.stream.components(separatedBy: "data: [DONE]")[0]
        let c = try #require(try runs(String(cut.dropLast(90))).first)
        #expect(tokens(c).map(\.text) == ["Hm", " ok"])
        #expect(c.problem?.contains("cut off") == true || c.problem?.contains("cut short") == true)
        guard case .summary(let s) = c.lines.last else { Issue.record("no summary"); return }
        #expect(s.tokens == 2 && s.stopReason == "error")
    }

    @Test("a legacy completion: tokens, token_logprobs, top_logprobs")
    func legacy() throws {
        let text = """
        {"choices":[{"text":" 9 sheep","finish_reason":"stop","logprobs":{"tokens":[" 9"," sheep"],"token_logprobs":[-0.2,-0.7],
          "top_logprobs":[{" 9":-0.2," 8":-1.9},{" sheep":-0.7," left":-1.1}]}}]}
        """
        let t = tokens(try #require(try runs(text).first))
        #expect(t.map(\.text) == [" 9", " sheep"])
        #expect(t[1].top.map(\.text) == [" sheep", " left"])
        #expect(abs(t[1].prob - exp(-0.7)) < 1e-12)
    }

    @Test("llama-server /completion, with log-probabilities and with post-sampling probabilities")
    func llamaServer() throws {
        let text = """
        {"content":" 9","model":"gemma.gguf","tokens_evaluated":5,"stop":true,"stop_type":"eos","timings":{"predicted_ms":20},
         "completion_probabilities":[
          {"id":1234,"token":" 9","bytes":[32,57],"logprob":-0.25,"top_logprobs":[{"id":1234,"token":" 9","bytes":[32,57],"logprob":-0.25},{"id":77,"token":" 8","bytes":[32,56],"logprob":-1.75}]},
          {"id":1,"token":"<eos>","bytes":[],"logprob":-0.01,"top_logprobs":[{"id":1,"token":"<eos>","logprob":-0.01}]}]}
        """
        let r = try #require(try runs(text).first)
        let t = tokens(r)
        #expect(t.map(\.token) == [1234, 1] && t[0].top.map(\.id) == [1234, 77])
        #expect(t.map(\.position) == [5, 6] && t[0].ms == 10)
        let post = """
        {"content":"x","completion_probabilities":[{"id":5,"token":"x","prob":0.5,"top_probs":[{"id":5,"token":"x","prob":0.5},{"id":6,"token":"y","prob":0.25}]}]}
        """
        let p = tokens(try #require(try runs(post).first))
        #expect(abs(p[0].logprob - log(0.5)) < 1e-12 && abs((p[0].missingMass ?? 0) - 0.25) < 1e-6)
    }

    @Test("a JSON-lines file of responses: one run each")
    func manyResponses() throws {
        let one = Self.chat.replacingOccurrences(of: "\n", with: "")
        let two = one.replacingOccurrences(of: "chatcmpl-1", with: "chatcmpl-2")
        let r = try runs(one + "\n" + two + "\n")
        #expect(r.map(\.name) == ["chatcmpl-1", "chatcmpl-2"])
        #expect(r.allSatisfy { tokens($0).count == 6 })
    }

    @Test("bad input: one line naming the file and line and what to do")
    func badInput() {
        #expect(throws: ThinktopError.importFailed(file: "resp.json", line: 1, reason: "not JSON: thinktop imports server responses with log-probabilities (see `thinktop import --help`)")) {
            try runs("hello there\nmore")
        }
        #expect(throws: ThinktopError.importFailed(file: "resp.json", line: nil, reason: "the response has no log-probabilities: ask the server for them (OpenAI: logprobs=true, top_logprobs=20; llama-server /completion: n_probs)")) {
            try runs(#"{"choices":[{"message":{"content":"hi"}}]}"#)
        }
        #expect(throws: ThinktopError.importFailed(file: "resp.json", line: nil, reason: "unknown shape: neither choices[] (OpenAI) nor completion_probabilities (llama-server)")) {
            try runs(#"{"hello":1}"#)
        }
        #expect(throws: ThinktopError.importFailed(file: "resp.json", line: nil, reason: "it is an error response, not a completion: model not found")) {
            try runs(#"{"error":{"message":"model not found"}}"#)
        }
    }
}

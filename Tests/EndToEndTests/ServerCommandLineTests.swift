import Core
import Foundation
import Testing
import TestSupport

@Suite("thinktop with --server on the command line, and import of what llama-server answers", .serialized)
struct ServerCommandLineTests {
    @Test("--server prints the local run's text, with the server's tokenizer and with the GGUF's; the trace names the server, holds brackets, and counts the requests")
    func sameText() throws {
        let server = try TestServer.llama(model: Binary.model)
        defer { server.kill() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.jsonl").path
        let common = ["run", "--temp", "0", "--max-tokens", "32"]
        let remote = try Binary.run(common + ["--server", server.url, "--trace", trace])
        let local = try Binary.run(common)
        let withGGUF = try Binary.run(common + ["--server", server.url, "--model", Binary.model])
        #expect(remote.status == 0 && withGGUF.status == 0, "\(remote.stderr)\(withGGUF.stderr)")
        #expect(remote.stdout == local.stdout && withGGUF.stdout == local.stdout)
        let read = try TraceReader(path: trace)
        let header = try #require(read.header)
        #expect(header.server?.url == server.url && header.server?.model == "gemma-3-270m-q4_k_m.gguf")
        #expect(header.server?.topLogprobs == 20 && header.server?.contextSize == 4096)
        #expect(read.tokens.count == 32 && read.tokens.allSatisfy { !$0.isExact && ($0.missingMass ?? -1) >= 0 })
        #expect(read.summary?.served?.streams == 1)
    }

    @Test("eval on a server: the table of each strategy set, its runs made on the server")
    func eval() throws {
        let server = try TestServer.llama(model: Binary.model)
        defer { server.kill() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let problems = dir.appendingPathComponent("p.jsonl").path
        try "{\"id\": \"a\", \"question\": \"What is 2 + 3?\", \"answer\": \"5\"}\n{\"id\": \"b\", \"question\": \"What is 4 × 2?\", \"answer\": \"8\"}\n"
            .write(toFile: problems, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("res").path
        let r = try Binary.run(["eval", "--problems", problems, "--strategies", "none;budget=8", "--max-tokens", "40", "--temp", "0",
                                "--out", out, "--server", server.url])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("gemma-3-270m-q4_k_m.gguf on \(server.url)"), "\(r.stdout)")
        #expect(r.stdout.contains("| none | 2 |") && r.stdout.contains("| budget=8 | 2 |"), "\(r.stdout)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + ".json"))) as? [String: Any])
        let runs = try #require(json["runs"] as? [[String: Any]])
        let thinking = { (set: String) in runs.filter { $0["set"] as? String == set }.compactMap { $0["thinking_tokens"] as? Int ?? $0["thinkingTokens"] as? Int } }
        #expect(thinking("budget=8").allSatisfy { $0 <= 8 + 4 } && thinking("budget=8").count == 2, "\(runs)")   // the budget and the forced close
        #expect(thinking("none") == [40, 40], "\(runs)")
    }

    @Test("a server killed mid-run: one line naming it, exit 1, a whole trace ending with its summary")
    func serverDies() throws {
        let server = try TestServer.llama(model: Binary.model)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.jsonl").path
        let p = try Binary.start(["run", "--server", server.url, "--max-tokens", "3000", "--stop", "NEVER-SEEN", "--trace", trace])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let s = try? String(contentsOfFile: trace, encoding: .utf8), s.components(separatedBy: "\"type\":\"token\"").count > 10 { break }
            usleep(50_000)
        }
        server.kill()
        _ = p.out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: p.err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.process.waitUntilExit()
        #expect(p.process.terminationStatus == 1)
        #expect(stderr.split(separator: "\n").count == 1, "\(stderr)")
        #expect(stderr.hasPrefix("thinktop: inference server \(server.url)/completion: "), "\(stderr)")
        let read = try TraceReader(path: trace)
        #expect(!read.truncated)
        let summary = try #require(read.summary)
        #expect(summary.stopReason == "error")
        #expect(summary.tokens == read.finalTokens.count && summary.tokens >= 10)
        #expect(stderr.contains("(after \(summary.tokens) tokens, which the trace keeps)"), "\(stderr)")
    }

    @Test("nothing listening, a path that is not llama-server, a strategy a server cannot serve: one line each, exit 1, before any generation")
    func refusals() throws {
        let port = try TestServer.freePort()
        let down = try Binary.run(["run", "--server", "http://127.0.0.1:\(port)", "--max-tokens", "4"])
        #expect(down.status == 1)
        #expect(down.stderr == "thinktop: inference server http://127.0.0.1:\(port)/props: cannot connect (nothing listens there): start the server or check --server\n")
        let server = try TestServer.llama(model: Binary.model)
        defer { server.kill() }
        let wrong = try Binary.run(["run", "--server", server.url + "/v2", "--max-tokens", "4"])
        #expect(wrong.stderr == "thinktop: inference server \(server.url)/v2/props: answered 404 Not Found: File Not Found (is this llama-server?)\n")
        let latent = try Binary.run(["run", "--server", server.url, "--strategy", "swir", "--max-tokens", "4"])
        #expect(latent.status == 1)
        #expect(latent.stderr == "thinktop: strategy swir cannot run here: it needs full distribution and embedding input, which llama-server does not offer\n")
        let nowait = try Binary.run(["run", "--server", server.url, "--strategy", "nowait", "--max-tokens", "4"])
        #expect(nowait.stderr == "thinktop: strategy nowait cannot run here: it needs vocabulary listing, which llama-server does not offer (pass --model with the served GGUF)\n")
        let withGGUF = try Binary.run(["run", "--server", server.url, "--model", Binary.model, "--strategy", "nowait", "--max-tokens", "4"])
        #expect(withGGUF.status == 0, "\(withGGUF.stderr)")
        let kv = try Binary.run(["run", "--server", server.url, "--kv", "streaming", "--max-tokens", "4"])
        #expect(kv.status == 1 && kv.stderr == "thinktop: the KV policy StreamingLLM cannot run here: it needs KV edits, which llama-server does not offer\n", "\(kv.stderr)")
        let bad = try Binary.run(["run", "--server", "ftp://x", "--max-tokens", "4"])
        #expect(bad.status != 0 && bad.stderr.contains("--server takes an http:// or https:// URL"), "\(bad.stderr)")
    }

    @Test("what llama-server answers imports: /completion with and without post-sampling probabilities, chat completions and their stream, legacy completions")
    func importSaved() throws {
        let server = try TestServer.llama(model: Binary.model)
        defer { server.kill() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func save(_ name: String, _ data: Data) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try data.write(to: URL(fileURLWithPath: path))
            return path
        }
        let question = "What is 12 times 7? Answer briefly."
        let native = try postJSON(port: server.port, path: "/completion", ["prompt": question, "n_predict": 16, "n_probs": 5, "temperature": 0,
                                                          "return_tokens": true])
        let nativeObject = try #require(try JSONSerialization.jsonObject(with: native) as? [String: Any])
        let post1 = try postJSON(port: server.port, path: "/completion", ["prompt": question, "n_predict": 16, "n_probs": 5, "temperature": 0,
                                                         "post_sampling_probs": true])
        let chatBody: [String: Any] = ["messages": [["role": "user", "content": question]], "max_tokens": 16, "temperature": 0,
                                       "logprobs": true, "top_logprobs": 5]
        let chat = try postJSON(port: server.port, path: "/v1/chat/completions", chatBody)
        var streamed = chatBody
        streamed["stream"] = true
        let chatStream = try postJSON(port: server.port, path: "/v1/chat/completions", streamed)
        let legacy = try postJSON(port: server.port, path: "/v1/completions", ["prompt": question, "max_tokens": 16, "temperature": 0, "logprobs": 5])
        let files = [try save("native.json", native), try save("post.json", post1), try save("chat.json", chat),
                     try save("chat-stream.txt", chatStream), try save("legacy.json", legacy)]
        let r = try Binary.run(["import"] + files + ["--vocabulary", "262144"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.split(separator: "\n").count == 5, "\(r.stdout)")
        let content = nativeObject["content"] as? String ?? ""
        let ids = (nativeObject["tokens"] as? [Int])?.map(Int32.init) ?? []
        for name in ["native", "post", "chat", "chat-stream", "legacy"] {
            let read = try TraceReader(path: dir.appendingPathComponent("\(name).trace.jsonl").path)
            let tokens = read.tokens
            #expect(tokens.count == 16, "\(name): \(tokens.count) tokens")
            #expect(tokens.allSatisfy { $0.top.count >= 1 && $0.logprob <= 0 && ($0.missingMass ?? -1) >= 0 }, "\(name)")
            #expect(read.summary?.output.isEmpty == false)
            if name == "native" || name == "post" {
                // llama-server's own answer: its text, and its token ids
                #expect(tokens.map(\.text).joined() == content, "\(name)")
                #expect(tokens.map(\.token) == ids, "\(name)")
            }
            if name == "post" {
                // post-sampling probabilities of a greedy draw: the drawn token holds all the mass
                #expect(tokens.allSatisfy { abs($0.prob - 1) < 1e-6 }, "\(name)")
            } else {
                #expect(tokens.contains { $0.prob < 0.999 }, "\(name)")
            }
        }
        let chatTokens = try TraceReader(path: dir.appendingPathComponent("chat.trace.jsonl").path).tokens
        let streamTokens = try TraceReader(path: dir.appendingPathComponent("chat-stream.trace.jsonl").path).tokens
        #expect(chatTokens.map(\.text) == streamTokens.map(\.text))
        let chatObject = try #require(try JSONSerialization.jsonObject(with: chat) as? [String: Any])
        let message = ((chatObject["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        #expect(chatTokens.map(\.text).joined() == message)
    }
}

import Core
import Foundation
import Testing
import TestSupport

@Suite("The workbench on a llama-server, and over imported answers, through tmux", .serialized)
struct ServerWorkbenchTests {
    @Test("on a server: entropy bands and [lo, hi], the strategies a server cannot run marked with the reason, pause and step")
    func live() throws {
        let server = try TestServer.llama(model: Binary.model)
        defer { server.kill() }
        let t = try TmuxSession([Binary.path, "tui", "--server", server.url, "--max-tokens", "3000", "--stop", "NEVER-SEEN-STOP"],
                                width: 130, height: 40)
        let screen = t.wait { (contextUsed($0) ?? 0) > 560 }
        #expect(screen.contains("server 127.0.0.1:\(server.port)"), "\(screen)")
        #expect(screen.range(of: #"H \[\d\.\d\d,\d\.\d\d\]"#, options: .regularExpression) != nil, "no bracket in the signals:\n\(screen)")
        #expect(screen.range(of: #"#\d+  H \[\d\.\d\d, \d\.\d\d\]"#, options: .regularExpression) != nil, "no bracket in the top-k:\n\(screen)")
        #expect(screen.contains("outside the top 20: "))
        #expect(screen.contains("Stop pressure n/a needs full"), "\(screen)")
        // the server's tokenizer lists no vocabulary: NoWait says what would give it
        #expect(screen.contains("NoWait        n/a needs vocabulary"), "\(screen)")
        #expect(screen.replacingOccurrences(of: "│", with: "").replacingOccurrences(of: " ", with: "").contains("--modelwiththe"), "\(screen)")
        #expect(screen.contains("the server's slot holds it"))
        // the band above the solid sparkline is drawn in the band's colour (dark theme: 95)
        let signals = t.styledScreen.split(separator: "\n").filter { $0.contains("Entropy") || $0.contains("│  ") }
        #expect(t.styledScreen.contains("38;5;95"), "no band drawn:\n\(signals.joined(separator: "\n"))")
        t.send("Space")
        let paused = t.wait { $0.contains("paused") }
        let before = contextUsed(paused) ?? 0
        t.send(".")
        let stepped = t.wait { (contextUsed($0) ?? 0) == before + 1 }
        #expect(contextUsed(stepped) == before + 1, "\(stepped)")
        t.send("q")
        #expect(t.wait { $0.contains("EXITED") }.contains("EXITED 0"))
    }

    @Test("a llama-server killed under the workbench: the error shows, and on quitting one line, exit 1, the trace whole")
    func serverDies() throws {
        let server = try TestServer.llama(model: Binary.model)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.jsonl").path
        let t = try TmuxSession([Binary.path, "tui", "--server", server.url, "--max-tokens", "3000", "--stop", "NEVER-SEEN-STOP",
                                 "--trace", trace], width: 130, height: 40)
        t.wait { (contextUsed($0) ?? 0) > 520 }
        server.kill()
        let shown = t.wait { $0.contains("done: error") }
        #expect(shown.contains("inference server \(server.url)/completion"), "\(shown)")
        t.send("q")
        let end = t.wait { $0.contains("EXITED") }
        #expect(end.contains("EXITED 1"), "\(end)")
        let unwrapped = end.replacingOccurrences(of: "\n", with: "")
        #expect(unwrapped.contains("thinktop: inference server \(server.url)/completion: "), "\(end)")
        #expect(unwrapped.contains("which the trace keeps)"), "\(end)")
        #expect(try TraceReader(path: trace).summary?.stopReason == "error")
    }

    static let chat = """
    {"id":"chatcmpl-7","model":"qwq-32b","object":"chat.completion","usage":{"prompt_tokens":12},
     "choices":[{"index":0,"finish_reason":"stop",
       "message":{"role":"assistant","reasoning_content":"Half of 18 is 9.","content":"Answer: 9"},
       "logprobs":{"content":[
         {"token":"Half","logprob":-0.4,"bytes":[72,97,108,102],"top_logprobs":[{"token":"Half","logprob":-0.4},{"token":"So","logprob":-1.5}]},
         {"token":" of","logprob":-0.1,"bytes":[32,111,102],"top_logprobs":[{"token":" of","logprob":-0.1}]},
         {"token":" 18","logprob":-0.2,"bytes":[32,49,56],"top_logprobs":[{"token":" 18","logprob":-0.2},{"token":" 16","logprob":-2.0}]},
         {"token":" is","logprob":-0.05,"bytes":[32,105,115],"top_logprobs":[{"token":" is","logprob":-0.05}]},
         {"token":" 9.","logprob":-0.3,"bytes":[32,57,46],"top_logprobs":[{"token":" 9.","logprob":-0.3}]},
         {"token":"Answer","logprob":-0.02,"bytes":[65,110,115,119,101,114],"top_logprobs":[{"token":"Answer","logprob":-0.02}]},
         {"token":": 9","logprob":-0.01,"bytes":[58,32,57],"top_logprobs":[{"token":": 9","logprob":-0.01}]}
       ]}}]}
    """

    @Test("an imported chat completion replays with its thinking and its answer, and says where it came from")
    func importedReplay() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("chat.json").path
        try Self.chat.write(toFile: file, atomically: true, encoding: .utf8)
        let t = try TmuxSession([Binary.path, "replay", file], width: 120, height: 36)
        let screen = t.wait { $0.contains("Answer: 9") }
        #expect(screen.contains("imported chat.json (OpenAI chat completion)"), "\(screen)")
        let lines = screen.split(separator: "\n")
        let thinking = try #require(lines.firstIndex { $0.contains("Half of 18 is 9.") })
        let separator = try #require(lines.firstIndex { $0.contains("answer ─") })
        let answer = try #require(lines.firstIndex { $0.contains("Answer: 9") })
        #expect(thinking < separator && separator < answer, "\(screen)")
        #expect(screen.contains("think 5") && screen.contains("answer 2"), "\(screen)")
        #expect(screen.contains("no KV cache: imported from a server's answer"))
        #expect(screen.contains("+- speed") && !screen.contains("r rewind"))
        // the cursor on " 18": its alternatives and its bracket
        t.send("Left", "Left", "Left", "Left")
        let focused = t.wait { $0.contains("chose \" 18\"") }
        #expect(focused.contains("\" 16\""), "\(focused)")
        #expect(focused.range(of: #"#2  H \[\d\.\d\d, \d\.\d\d\]"#, options: .regularExpression) != nil, "\(focused)")
        t.send("q")
        #expect(t.wait { $0.contains("EXITED") }.contains("EXITED 0"))
    }
}

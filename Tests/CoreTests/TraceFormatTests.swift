import Foundation
import Testing
@testable import Core

@Suite("Trace format: typed events and effects, format 1 still read, the stop-string event")
struct TraceFormatTests {
    /// A format-1 trace as thinktop 0.1 wrote it: effects as lines of text, a `suppress` event
    /// naming the suppressions, a probe's time inside its detail.
    static let formatOne = """
    {"created":"2026-11-20T10:00:00Z","format":1,"model":{"architecture":"gemma3","chat_template":false,"description":"d","file":"m.gguf","layers":18,"n_ctx_train":32768,"n_embd":640,"n_head":4,"n_head_kv":1,"n_params":1,"n_swa":512,"n_vocab":262144,"size_bytes":2},"prompt":"P","prompt_tokens":3,"seed":7,"settings":{"chat":false,"max_tokens":8,"n_ctx":4096,"sampling":{"minP":0,"seed":7,"temperature":0.6,"topK":20,"topP":0.95},"stops":[],"strategies":["nowait","cgrs:delta=0.9"],"think_close":"</think>","think_open":"<think>","threads":2,"top_k_shown":10},"tool":"thinktop 0.1.0","type":"header"}
    {"H":0.5,"H_rstep":0.5,"H_trend":0,"H_win":0.5,"effects":["nowait: suppressed \\" Wait\\" (p 0.61)","adjusted: H 0.400 p1 0.800"],"i":0,"id":9,"input":"explicit","logprob":-0.1,"margin":0.5,"ms":10,"p":0.9,"phase":"thinking","pos":3,"rstep":0,"text":" so","top1":0.9,"topk":[],"type":"token","varH":0.1}
    {"detail":"nowait: suppressed \\" Wait\\" (p 0.61)","kind":"suppress","position":3,"step":0,"type":"event"}
    {"H":0.5,"H_rstep":0.5,"H_trend":0,"H_win":0.5,"effects":["cgrs: checkpoint C 0.850 p 0.000"],"i":1,"id":3,"input":"explicit","logprob":-0.1,"margin":0.5,"ms":10,"p":0.9,"phase":"thinking","pos":4,"rstep":1,"text":"\\n\\n","top1":0.9,"topk":[],"type":"token","varH":0.1}
    {"detail":"cgrs: C 0.8500 p 0.0000 from 2 tokens \\" 9}\\" 54.7 ms","kind":"probe","step":2,"type":"event"}
    {"events":2,"output":" so\\n\\n","seconds":0.02,"stop_reason":"max tokens","thinking_tokens":2,"answer_tokens":0,"tokens":2,"tokens_per_second":100,"type":"summary"}

    """

    @Test("a format-1 trace reads into typed events and effects; its suppressions stay marked")
    func readsFormatOne() throws {
        let t = try TraceReader(data: Data(Self.formatOne.utf8))
        #expect(t.header?.format == 1 && t.header?.problem == nil)
        #expect(t.events.map(\.kind) == [.suppress, .probe])
        let first = try #require(t.tokens.first)
        #expect(first.effects == [Effect("nowait", .suppress, "suppressed \" Wait\" (p 0.61)"),
                                  Effect(nil, .note, "adjusted: H 0.400 p1 0.800")])
        #expect(t.tokens[1].effects == [Effect("cgrs", .note, "checkpoint C 0.850 p 0.000")])
        #expect(t.events[1].ms == nil)   // format 1 kept it in the text
    }

    @Test("format 2 writes effects and events as typed objects and reads them back")
    func writesFormatTwo() throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let e = Effect("cgrs", .suppress, "suppressed 24 trigger tokens (p 0.30)")
        #expect(String(decoding: try enc.encode(e), as: UTF8.self)
                == #"{"kind":"suppress","strategy":"cgrs","text":"suppressed 24 trigger tokens (p 0.30)"}"#)
        #expect(String(decoding: try enc.encode(Effect(nil, .adjusted, "H 1")), as: UTF8.self) == #"{"kind":"adjusted","text":"H 1"}"#)
        let ev = TraceEvent(step: 3, kind: .probeError, strategy: "deer", detail: "x", ms: 1.5)
        let json = String(decoding: try enc.encode(ev), as: UTF8.self)
        #expect(json == #"{"detail":"x","kind":"probe-error","ms":1.5,"step":3,"strategy":"deer","type":"event"}"#)
        #expect(try JSONDecoder().decode(TraceEvent.self, from: Data(json.utf8)) == ev)
    }

    @Test("the event kinds are exactly the ones docs/TRACE.md documents")
    func kindsDocumented() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/TRACE.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        let row = try #require(text.split(separator: "\n").first { $0.hasPrefix("| `kind` |") })
        let parts = row.split(separator: "`", omittingEmptySubsequences: false).map(String.init)
        let documented = parts.indices.filter { $0 % 2 == 1 }.map { parts[$0] }.filter { $0 != "kind" }
        #expect(Set(documented) == Set(EventKind.allCases.map(\.rawValue)))
        #expect(documented.count == EventKind.allCases.count)
    }

    let prompt: [Int32] = [5, 5, 5, 5, 5, 1, 3]
    let V = ScriptedBackend.pieces.count + 5

    func run(_ script: [Int32], stops: [String]) throws -> DecodingSession {
        let backend = ScriptedBackend(rule: ScriptedBackend.following(script, promptLength: prompt.count, vocabulary: V))
        let config = try SessionConfig(sampling: .greedy, maxTokens: 50, stops: stops, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
        while try s.step() != nil {}
        return s
    }

    @Test("a stop string is hidden from the token where it begins, inside a token too")
    func stopStringEvent() throws {
        // "Wait" "</think>" "Answer: 9" "\nProblem:": the stop is the whole last token
        let a = try run([4, 2, 6, 7, 5, 5], stops: ["\nProblem:"])
        let ea = try #require(a.events.last)
        #expect(ea.kind == .stopString && ea.position == prompt.count + 3 && ea.visibleBytes == 0 && ea.step == 4)
        #expect(ea.detail == "\"\\nProblem:\"")
        // "9\nProb" begins inside "Answer: 9": its first 8 bytes stay visible
        let b = try run([4, 2, 6, 7, 5, 5], stops: ["9\nProb"])
        let eb = try #require(b.events.last)
        #expect(eb.kind == .stopString && eb.position == prompt.count + 2 && eb.visibleBytes == 8)
        #expect(b.output == "Wait</think>Answer: ")
        // held back over three tokens: " so", " so", " 9" against " so so 9!"
        let c = try run([8, 8, 9, 4, 0], stops: [" so 9", "never"])
        let ec = try #require(c.events.last)
        #expect(ec.kind == .stopString && ec.position == prompt.count + 1 && ec.visibleBytes == 0)
        #expect(c.output == " so")
    }

    @Test("control tokens (end of turn) never reach the output; their text stays in the record")
    func controlTokens() throws {
        let s = try run([8, 2, 6, 0], stops: [])
        #expect(s.output == " so</think>Answer: 9")
        #expect(s.records.last?.text == "<eos>")
        #expect(s.fullText.hasSuffix("<eos>"))
    }
}

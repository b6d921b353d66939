import Foundation
import Testing
@testable import Core

/// The fast line reader against JSONDecoder: the same value for every line, or a refusal.
@Suite("Trace lines read fast, exactly as JSONDecoder reads them")
struct TraceLineParserTests {
    /// The writer's encoding (TraceWriter's settings).
    func encode(_ line: TraceLine) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        switch line {
        case .token(let t): return try encoder.encode(t)
        case .event(let e): return try encoder.encode(e)
        case .header(let h): return try encoder.encode(h)
        case .summary(let s): return try encoder.encode(s)
        }
    }

    func decoded(_ data: Data) throws -> TraceLine {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        if String(decoding: data, as: UTF8.self).contains("\"type\":\"token\"") { return .token(try decoder.decode(StepRecord.self, from: data)) }
        return .event(try decoder.decode(TraceEvent.self, from: data))
    }

    /// NaN is not equal to itself: compare lines by their encoding instead when one holds it.
    func same(_ a: TraceLine, _ b: TraceLine) throws -> Bool {
        if a == b { return true }
        return try encode(a) == encode(b)
    }

    static let texts = ["", " the", "\n\n", "tab\there", "quote \" and \\ backslash", "slash / kept", "\u{0}\u{1}\u{1F}",
                        "é", "日本語", "🦀 crab", "\u{FFFD}", "</think>", "a\u{2028}b"]

    func record(_ i: Int, _ text: String) -> StepRecord {
        var g = SeededGenerator(seed: UInt64(i + 1))
        func d() -> Double { Double.random(in: -1e3...1e3, using: &g) * pow(10, Double(Int.random(in: -30...3, using: &g))) }
        var r = StepRecord(index: i, position: 500 + i, token: Int32(i * 977 % 262_144), text: text, phase: i % 3 == 0 ? .answer : .thinking,
                           input: [.explicit, .latent, .forced][i % 3], logprob: i % 5 == 0 ? -.infinity : d(), prob: abs(d()),
                           entropy: d(), varentropy: d(), top1: Double.random(in: 0...1, using: &g), margin: d(),
                           top: (0..<(i % 12)).map { Alternative(id: Int32($0 * 31), p: abs(d()), text: Self.texts[($0 + i) % Self.texts.count]) },
                           windowMean: d(), trend: d(), reasoningStep: i / 7, stepMean: i % 7 == 0 ? .nan : d(),
                           effects: i % 4 == 0 ? [Effect("nowait", .suppress, "banned \"Wait\""), Effect(nil, .note, text)] : [], ms: d())
        if i % 6 == 0 { r.kvPosition = i; r.entropyRange = [0.5, .infinity]; r.missingMass = 0.25 }
        if i % 9 == 0 { r.attention = (0..<5).map { Float($0) * 0.1 + Float(i) * 1e-7 } }
        return r
    }

    @Test("tokens with every field, odd texts, infinities and NaN: the same StepRecord as JSONDecoder's")
    func tokens() throws {
        for i in 0..<400 {
            let line = TraceLine.token(record(i, Self.texts[i % Self.texts.count]))
            let data = try encode(line)
            let fast = try #require(TraceLineParser.parse(data), "refused: \(String(decoding: data, as: UTF8.self))")
            #expect(try same(fast, try decoded(data)), "\(String(decoding: data, as: UTF8.self))")
            #expect(try same(fast, line))
        }
    }

    @Test("events of every field; a branch cause, a format-1 effect or an unknown key are left to JSONDecoder")
    func events() throws {
        let events = [TraceEvent(step: 3, kind: .evict, strategy: "streaming", position: 900, detail: "removed 1 positions 4",
                                 removed: [4, 5, 6], ms: 0.78),
                      TraceEvent(step: 0, kind: .stopString, position: 12, visibleBytes: 3),
                      TraceEvent(step: 9, kind: .switchBranch, branch: 2),
                      TraceEvent(step: 9, kind: .pause)]
        for e in events {
            let data = try encode(.event(e))
            #expect(TraceLineParser.parse(data) == .event(e), "\(String(decoding: data, as: UTF8.self))")
        }
        let branch = TraceEvent(step: 4, kind: .branch, branch: 1, parent: 0, cause: BranchCause(kind: .token, token: 7, text: " or", rank: 2))
        #expect(TraceLineParser.parse(try encode(.event(branch))) == nil)
        let formatOne = #"{"H":0.5,"H_rstep":0,"H_trend":0,"H_win":0,"effects":["nowait: banned"],"i":0,"id":1,"input":"explicit","logprob":0,"margin":0,"ms":1,"p":1,"phase":"thinking","pos":3,"rstep":0,"text":"a","top1":1,"topk":[],"type":"token","varH":0}"#
        #expect(TraceLineParser.parse(Data(formatOne.utf8)) == nil)
        let unknown = #"{"kind":"pause","step":1,"type":"event","zzz":1}"#
        #expect(TraceLineParser.parse(Data(unknown.utf8)) == nil)
        #expect(TraceLineParser.parse(Data(#"{"kind":"pause","step":1,"type":"event"} x"#.utf8)) == nil)
        #expect(TraceLineParser.parse(Data(#"{"kind":"pause","step":1.5,"type":"event"}"#.utf8)) == nil)
    }

    @Test("a trace read through the fast path equals the one JSONDecoder reads, a cut last line included")
    func wholeTrace() throws {
        var text = ""
        for i in 0..<50 { text += String(decoding: try encode(.token(record(i, Self.texts[i % Self.texts.count]))), as: UTF8.self) + "\n" }
        let header = #"{"created":"2026-12-01T00:00:00Z","format":2,"model":{"architecture":"a","chat_template":false,"description":"d","file":"m.gguf","layers":1,"n_ctx_train":8,"n_embd":8,"n_head":1,"n_head_kv":1,"n_params":1,"n_swa":0,"n_vocab":300000,"size_bytes":1},"prompt":"p","prompt_tokens":500,"settings":{"chat":false,"max_tokens":50,"n_ctx":4096,"stops":[],"strategies":[],"think_close":"</think>","think_open":"<think>","threads":2,"top_k_shown":10},"tool":"thinktop test","type":"header"}"#
        let full = header + "\n" + text
        let reader = try TraceReader(data: Data(full.utf8))
        #expect(reader.tokens.count == 50 && !reader.truncated)
        for (i, t) in reader.tokens.enumerated() { #expect(try same(.token(t), .token(record(i, Self.texts[i % Self.texts.count])))) }
        let cut = try TraceReader(data: Data(full.utf8).dropLast(30))
        #expect(cut.truncated && cut.tokens.count == 49)
    }

    @Test("token lines written by hand are JSONEncoder's bytes: every field, odd texts, extreme and non-finite numbers")
    func encodedTokens() throws {
        var encoder = TokenLineEncoder()
        let extremes: [Double] = [0, -0.0, 1, 100, 1e15, 1e16, 1.2345e16, 1e21, 1e-4, 1e-5, 1.5e-7, 5e-324,
                                  .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 13.143754000000001, .nan, .infinity, -.infinity]
        var records = (0..<400).map { record($0, Self.texts[$0 % Self.texts.count]) }
        for (i, x) in extremes.enumerated() {
            var r = record(1000 + i, "\u{7F}\u{8}\u{C}\r")
            r.entropy = x; r.ms = x; r.prob = x; r.index = -i; r.token = i % 2 == 0 ? .max : .min
            r.top = [Alternative(id: 0, p: x, text: "/")]
            r.attention = [Float(x), .leastNonzeroMagnitude, 16_777_216, 3.4028235e38, 0.1]
            records.append(r)
        }
        for r in records {
            encoder.encode(r)
            let expected = try encode(.token(r))
            #expect(Data(encoder.bytes) == expected, "\(String(decoding: encoder.bytes, as: UTF8.self))\n\(String(decoding: expected, as: UTF8.self))")
        }
        encoder.encode(records[7], newline: true)
        #expect(Data(encoder.bytes) == (try encode(.token(records[7]))) + [0x0A])
    }
}

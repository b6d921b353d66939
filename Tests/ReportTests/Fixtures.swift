import Core
import Foundation
@testable import Report
import Testing
import Views

/// The shipped themes, from the source tree.
let themes = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Themes").path
let palette = try! ReportPalette.load(directories: [themes])

let promptTokens = 20

func header(strategies: [String] = [], contextSize: Int = 256, source: ImportSource? = nil) -> TraceHeader {
    let model = ModelFacts(file: "tiny.gguf", sha256: nil, architecture: "gemma3", description: "tiny Q4_K", layers: 2,
                           embeddingSize: 8, heads: 2, kvHeads: 1, slidingWindow: 0, vocabularySize: 1000,
                           trainedContext: 1024, parameters: 1000, sizeBytes: 1000, thinkOpenToken: nil,
                           thinkCloseToken: nil, hasChatTemplate: true)
    let settings = RunSettings(sampling: try! SamplingParameters(temperature: 0.6, topK: 20, topP: 0.95, minP: 0, seed: 7),
                               maxTokens: 100, contextSize: contextSize, threads: 2, stops: [], chatTemplate: true,
                               topAlternatives: 10, thinkOpen: "<think>", thinkClose: "</think>", strategies: strategies)
    var h = TraceHeader(tool: "thinktop 0.3", created: "2026-12-01T10:00:00Z", model: model, prompt: "What is 2+2?",
                        promptTokens: promptTokens, settings: settings)
    h.problem = "What is 2+2?"
    h.source = source
    return h
}

/// A generated token at step `i` with entropy `H` and two alternatives (the chosen one first).
func step(_ i: Int, _ text: String, H: Double, phase: Phase = .thinking, input: InputKind = .explicit,
          p: Double = 0.6, effects: [Effect] = [], range: [Double]? = nil) -> StepRecord {
    var r = StepRecord(index: i, position: promptTokens + i, token: Int32(100 + i), text: text, phase: phase, input: input,
                       logprob: log(p), prob: p, entropy: H, varentropy: 0.25 + Double(i) / 100, top1: p, margin: p - 0.3,
                       top: [Alternative(id: Int32(100 + i), p: p, text: text), Alternative(id: 7, p: 0.3, text: " or")],
                       windowMean: H / 2, trend: 0, reasoningStep: 0, stepMean: H, effects: effects, ms: 12.5)
    if let range { r.entropyRange = range; r.missingMass = 0.1 }
    return r
}

func lines(_ h: TraceHeader, _ body: [TraceLine], summary: Bool = true) -> [TraceLine] {
    var out: [TraceLine] = [.header(h)] + body
    if summary {
        let tokens = body.compactMap { if case .token(let t) = $0 { return t } else { return nil } }
        let thinking = tokens.filter { $0.phase == .thinking }.count
        out.append(.summary(TraceSummary(tokens: tokens.count, thinkingTokens: thinking, answerTokens: tokens.count - thinking,
                                         stopReason: "max tokens", seconds: 1, tokensPerSecond: Double(tokens.count), events: 0,
                                         output: tokens.map(\.text).joined())))
    }
    return out
}

/// A trace's text through `TraceWriter`'s own encoding, read back as a reader.
func reader(_ l: [TraceLine], cutLastLine: Bool = false) throws -> TraceReader {
    let encoder = JSONEncoder()
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    var data = Data()
    for line in l {
        switch line {
        case .header(let h): data.append(try encoder.encode(h))
        case .token(let t): data.append(try encoder.encode(t))
        case .event(let e): data.append(try encoder.encode(e))
        case .summary(let s): data.append(try encoder.encode(s))
        }
        data.append(0x0A)
    }
    if cutLastLine { data = data.dropLast(20) }
    return try TraceReader(data: data, path: "t.jsonl")
}

/// How many times `needle` occurs in `haystack`.
func count(_ needle: String, in haystack: String) -> Int {
    haystack.components(separatedBy: needle).count - 1
}

/// The points of the polyline whose `data-series` is `series`.
func points(_ svg: String, series: String) -> [(Double, Double)]? {
    guard let start = svg.range(of: "data-series=\"\(series)\" points=\"") else { return nil }
    let rest = svg[start.upperBound...]
    guard let end = rest.firstIndex(of: "\"") else { return nil }
    return rest[..<end].split(separator: " ").map { pair in
        let xy = pair.split(separator: ",")
        return (Double(xy[0])!, Double(xy[1])!)
    }
}

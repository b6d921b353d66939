import Foundation
import Testing
import Core
@testable import Views

/// Renders are compared as text against a surface pre-filled with "x", so untouched cells
/// show; a failure prints the rendered surface.
func expectLines(_ s: Surface, _ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(s.lines == expected, Comment(rawValue: "rendered:\n" + s.lines.joined(separator: "\n")),
            sourceLocation: sourceLocation)
}

/// A pane rendered into `area` of a `width` × `height` surface filled with "x".
func render(_ pane: some Pane, _ snapshot: WorkbenchSnapshot, width: Int, height: Int, area: Rect? = nil,
            glyphs: Glyphs = .unicode) -> Surface {
    var s = Surface(width: width, height: height, fill: "x")
    pane.render(snapshot, into: &s, area: area ?? Rect(x: 1, y: 1, width: width - 2, height: height - 2), glyphs: glyphs)
    return s
}

let promptTokens = 10

/// A generated token at step `i` (KV position `promptTokens + i` unless given).
func step(_ i: Int, _ text: String, H: Double = 0.2, phase: Phase = .thinking, input: InputKind = .explicit,
          p: Double = 0.9, top1: Double = 0.9, margin: Double = 0.8, windowMean: Double = 0.5, trend: Double = 0,
          top: [Alternative] = [], effects: [Effect] = [], position: Int? = nil, token: Int32? = nil) -> StepRecord {
    StepRecord(index: i, position: position ?? promptTokens + i, token: token ?? Int32(100 + i), text: text,
               phase: phase, input: input, logprob: p > 0 ? log(p) : -.infinity, prob: p, entropy: H,
               varentropy: 0.1, top1: top1, margin: margin, top: top, windowMean: windowMean, trend: trend,
               reasoningStep: 0, stepMean: H, effects: effects, ms: 10)
}

/// Records whose texts are `texts`, all thinking, entropy 0.2.
func steps(_ texts: [String], phase: Phase = .thinking) -> [StepRecord] {
    texts.enumerated().map { step($0.offset, $0.element, phase: phase) }
}

func snapshot(_ records: [StepRecord] = [], cursor: Int? = nil, status: WorkbenchSnapshot.Status = .running,
              contextSize: Int = 64, strategies: [WorkbenchSnapshot.StrategyRow] = []) -> WorkbenchSnapshot {
    WorkbenchSnapshot(modelName: "gemma-3-270m", modelDetail: "Q4_K_M", status: status, records: records,
                      promptTokens: promptTokens, contextSize: contextSize, tokensPerSecond: 71.4, cursor: cursor,
                      strategies: strategies)
}

/// The styles of row `y` from `x` for `count` cells.
func cellStyles(_ s: Surface, y: Int, x: Int, count: Int) -> [Style] {
    (x..<(x + count)).map { s[$0, y].style }
}

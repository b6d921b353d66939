import Testing
import Core
@testable import Views

/// Entropies 0.5 … 4 and confidences to match, the newest last.
let signalRecords: [StepRecord] = zip([0.25, 1, 2, 4, 3, 0.2, 0.6], [0.95, 0.7, 0.5, 0.2, 0.3, 0.97, 0.8]).enumerated().map {
    step($0.offset, "t", H: $0.element.0, top1: $0.element.1, windowMean: 0.61 + Double($0.offset) * 0.1,
         trend: [0.0, 0.2, 0.2, 0.3, -0.2, -0.5, -0.02][$0.offset])
}

@Suite("Signals pane")
struct SignalsPaneTests {
    @Test("one row each: label, sparkline ending at the newest token, values and trend")
    func oneRowEach() {
        let s = render(SignalsPane(), snapshot(signalRecords), width: 46, height: 4)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "xEntropy          ▁▂▄█▆▁▁ H 0.60  mean 1.21 ↓x",
                        "xConfidence                   █▆▄▂▂█▆ p1 0.80x",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(s[19, 1].style.role == Role.sparkEntropy)
        #expect(s[31, 2].style.role == Role.sparkConfidence)
        #expect(s[1, 1].style.role == Role.title)
    }

    @Test("the window ends at the cursor; ASCII glyphs")
    func cursorASCII() {
        let s = render(SignalsPane(), snapshot(signalRecords, cursor: 3), width: 46, height: 4, glyphs: .ascii)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "xEntropy             ..-# H 4.00  mean 0.91 ^x",
                        "xConfidence                      #=-. p1 0.20x",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
    }

    @Test("taller areas give each sparkline more rows; narrow ones drop the label, then the values")
    func tallAndNarrow() {
        let tall = render(SignalsPane(), snapshot(signalRecords), width: 46, height: 6)
        expectLines(tall, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                           "x                    █▄                      x",
                           "xEntropy          ▁▄███▁▂ H 0.60  mean 1.21 ↓x",
                           "x                             ▇▃   █▅        x",
                           "xConfidence                   ███▃▅██ p1 0.80x",
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        let narrow = render(SignalsPane(), snapshot(signalRecords), width: 30, height: 4)
        expectLines(narrow, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                             "x ▁▂▄█▆▁▁ H 0.60  mean 1.21 ↓x",
                             "x             █▆▄▂▂█▆ p1 0.80x",
                             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        let tiny = render(SignalsPane(), snapshot(signalRecords), width: 12, height: 3)
        expectLines(tiny, ["xxxxxxxxxxxx",
                           "x   ▁▂▄█▆▁▁x",
                           "xxxxxxxxxxxx"])
        let empty = render(SignalsPane(), snapshot(), width: 46, height: 4)
        expectLines(empty, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                            "xEntropy                  H -     mean -    →x",
                            "xConfidence                           p1 -   x",
                            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
    }
}

@Suite("Budget pane")
struct BudgetPaneTests {
    var records: [StepRecord] {
        steps(Array(repeating: "t", count: 6)) + [step(6, "a", phase: .answer), step(7, "b", phase: .answer)]
    }

    @Test("a gauge in eighths of thinking used against the budget, answer count, strategy details")
    func gauge() {
        var snap = snapshot(records, strategies: [
            .init(key: "b", name: "Budget", enabled: true, available: true, detail: "16 tokens"),
            .init(key: "c", name: "CGRS", enabled: false, available: true, detail: "idle"),
            .init(key: "s", name: "SwiReasoning", enabled: true, available: true, detail: "sw 1/2"),
            .init(key: "e", name: "DEER", enabled: true, available: true, detail: "last conf 0.53 · probes 1/10"),
        ])
        snap.thinkingBudget = 16
        let s = render(BudgetPane(), snap, width: 24, height: 7)
        // a live state too long for its row ends at a word, with an ellipsis
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxx",
                        "xthink ████▏░░░░░░ 6/16x",
                        "xanswer 2              x",
                        "xBudget 16 tokens      x",
                        "xSwiReasoning sw 1/2   x",
                        "xDEER last conf 0.53 … x",
                        "xxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(s[1, 1].style.role == Role.phaseThinking && s[1, 2].style.role == Role.phaseAnswer)
        #expect(s[7, 1].style.role == Role.gaugeUsed)
        #expect(s[16, 1].style.role == Role.gaugeFree)
    }

    @Test("the forced end of thinking is marked on the gauge")
    func forced() {
        var snap = snapshot(records)
        snap.thinkingBudget = 8
        snap.forcedEndAt = 4
        let s = render(BudgetPane(), snap, width: 24, height: 4, glyphs: .ascii)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxx",
                        "xthink ######|##... 6/8x",
                        "xanswer 2  forced at #4x",
                        "xxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(s[13, 1].style == Style(Role.gaugeForced, bold: true))
    }

    @Test("without a budget: the thinking count and 'no budget'; too narrow for a gauge: numbers only")
    func noBudget() {
        let s = render(BudgetPane(), snapshot(records), width: 24, height: 4)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxx",
                        "xthink 6  no budget    x",
                        "xanswer 2              x",
                        "xxxxxxxxxxxxxxxxxxxxxxxx"])
        var snap = snapshot(records)
        snap.thinkingBudget = 512
        let narrow = render(BudgetPane(), snap, width: 14, height: 3)
        expectLines(narrow, ["xxxxxxxxxxxxxx",
                             "xthink 6/512 x",
                             "xxxxxxxxxxxxxx"])
    }
}

@Suite("KV map pane")
struct KVMapPaneTests {
    /// 32 positions: prompt 0..<10 (2 and 3 evicted), thinking 10..<14, latent 14..<16, answer 16..<20
    var snap: WorkbenchSnapshot {
        let records = (0..<10).map { i in
            step(i, "t", phase: i >= 6 ? .answer : .thinking, input: (4..<6).contains(i) ? .latent : .explicit)
        }
        var s = snapshot(records, contextSize: 32)
        s.evicted = [2, 3]
        s.kvBytesPerToken = 2048
        return s
    }

    @Test("one cell per position when the band is as wide as the context; bytes used and capacity")
    func onePerPosition() {
        let s = render(KVMapPane(), snap, width: 57, height: 4)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "xglobal ██··██████▓▓▓▓▒▒░░░░             36.0 / 64.0 KiBx",
                        "xprompt █  think ▓  latent ▒  answer ░  evicted ·       x",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(s[8, 1].style.role == Role.kvPrompt)
        #expect(s[10, 1].style.role == Role.kvEvicted)
        #expect(s[22, 1].style.role == Role.kvLatent)
        #expect(s[27, 1].style.role == Role.kvAnswer)
        #expect(s[28, 1].style.role == Role.kvFree)
    }

    @Test("scaled down: each cell the dominant kind; a sliding-window band; ASCII")
    func scaledWithWindow() {
        var s = snap
        s.slidingWindow = 8
        s.contextSize = 64
        let out = render(KVMapPane(), s, width: 40, height: 5, glyphs: .ascii)
        expectLines(out, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                          "xglobal ##=~-          36.0 / 128.0 KiBx",
                          "xswa8     =~-                          x",
                          "xprompt #  think =  latent ~  answer - x",
                          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        let wide = render(KVMapPane(), s, width: 74, height: 5)
        expectLines(wide, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                           "xglobal ██·█████▓▓▓▒░░░                                  36.0 / 128.0 KiBx",
                           "xswa8            ▓▓▒░░░                                                  x",
                           "xprompt █  think ▓  latent ▒  answer ░  evicted ·                        x",
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(wide[18, 2].style.role == Role.kvSWA && wide[10, 2].style.role == Role.kvFree)
    }

    @Test("a few tokens in a large context still show: free counts only where nothing else is")
    func sparse() {
        var s = snapshot(steps(["a", "b"]), contextSize: 131_072)
        s.kvBytesPerToken = 1 << 20
        let out = render(KVMapPane(), s, width: 40, height: 3)
        expectLines(out, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                          "xglobal █          12.0 MiB / 128.0 GiBx",
                          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
    }

    @Test("narrow areas drop the usage, then the labels; no size per token shows positions")
    func narrow() {
        var s = snap
        s.kvBytesPerToken = 0
        let out = render(KVMapPane(), s, width: 30, height: 4)
        expectLines(out, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                          "xglobal █·███▓▓▒░░      18/32x",
                          "xprompt █  think ▓  latent ▒ x",
                          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        let tiny = render(KVMapPane(), snap, width: 10, height: 3)
        // 4 positions a cell: 2 held and 2 evicted show as held (evicted only where nothing is)
        expectLines(tiny, ["xxxxxxxxxx",
                           "x██▓▒░   x",
                           "xxxxxxxxxx"])
        // no context (an imported answer): no map, the reason when there is one
        var none = snapshot(contextSize: 0)
        expectLines(render(KVMapPane(), none, width: 30, height: 3),
                    ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                     "xno KV cache                 x",
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        none.kvNote = "no KV cache: imported"
        expectLines(render(KVMapPane(), none, width: 30, height: 3),
                    ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                     "xno KV cache: imported       x",
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        // a served run: the map, and the note on the last row
        s.kvNote = "the server's slot"
        expectLines(render(KVMapPane(), s, width: 30, height: 4),
                    ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                     "xglobal █·███▓▓▒░░      18/32x",
                     "xthe server's slot           x",
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
    }
}

extension KVMapPaneTests {
    /// StreamingLLM in a 16-position context: prompt 0..<10, 22 tokens generated, positions
    /// 4…19 evicted, so the cache holds the 4 sinks and the 12 newest (20…31)
    var streaming: WorkbenchSnapshot {
        var s = snapshot(steps(Array(repeating: "t", count: 22)), contextSize: 16)
        s.evicted = Set(4..<20)
        s.kvHeld = 16
        s.kvBytesPerToken = 1024
        s.slidingWindow = 8
        s.slidingFrom = 24
        return s
    }

    @Test("past the context: every position fed is drawn, the sinks and the recent window held, the rest evicted")
    func streamingMap() {
        let out = render(KVMapPane(), streaming, width: 57, height: 5)
        expectLines(out, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                          "xglobal ████················▓▓▓▓▓▓▓▓▓▓▓▓ 16.0 / 16.0 KiBx",
                          "xswa8                           ▓▓▓▓▓▓▓▓                x",
                          "xprompt █  think ▓  latent ▒  answer ░  evicted ·       x",
                          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
    }

    @Test("the attention band: most-attended positions tallest, evicted and free ones empty")
    func attentionBand() {
        var s = streaming
        s.slidingWindow = 0
        s.attention = (0..<32).map { p in p == 0 ? 4 : (s.evicted.contains(p) ? 0 : (p == 31 ? 1 : 0.04)) }
        let out = render(KVMapPane(), s, width: 57, height: 5)
        expectLines(out, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                          "xglobal ████················▓▓▓▓▓▓▓▓▓▓▓▓ 16.0 / 16.0 KiBx",
                          "xattn   █▂▂▂                ▂▂▂▂▂▂▂▂▂▂▂▅                x",
                          "xprompt █  think ▓  latent ▒  answer ░  evicted ·       x",
                          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(out[8, 2].style.role == Role.kvAttention)
        #expect(out[12, 2].style.role == Role.kvFree)
    }
}

@Suite("Strategy pane")
struct StrategyPaneTests {
    let rows: [WorkbenchSnapshot.StrategyRow] = [
        .init(key: "s", name: "SwiReasoning", enabled: true, available: true, detail: "sw 1/2"),
        .init(key: "c", name: "CGRS", enabled: false, available: true, detail: ""),
        .init(key: "k", name: "KV", enabled: true, available: false, detail: "StreamingLLM 4+256"),
    ]

    @Test("key, name, on/off or n/a, detail; the row cut to the width when no detail fits")
    func rowsRendered() {
        let s = render(StrategyPane(), snapshot(strategies: rows), width: 30, height: 6)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "xs SwiReasoning on  sw 1/2   x",
                        "xc CGRS         off          x",
                        "xk KV           n/a Streamin…x",
                        "x                   4+256    x",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(s[17, 1].style == Style(Role.strategyOn, bold: true))
        #expect(s[17, 2].style == Style(Role.strategyOff))
        #expect(s[17, 3].style == Style(Role.strategyUnavailable, dim: true))
        let narrow = render(StrategyPane(), snapshot(strategies: rows), width: 12, height: 5)
        expectLines(narrow, ["xxxxxxxxxxxx",
                             "xs SwiReasox",
                             "xc CGRS    x",
                             "xk KV      x",
                             "xxxxxxxxxxxx"])
    }

    let swi = WorkbenchSnapshot.StrategyRow(key: "s", name: "SwiReasoning", enabled: false, available: true,
                                           detail: "window 512 alpha 1.0 beta 0.7")
    let kv = WorkbenchSnapshot.StrategyRow(key: "k", name: "KV policy", enabled: true, available: true,
                                          detail: "streaming:sinks=4:recent=512  held 260")

    @Test("a detail too long for its row wraps under the detail column at spaces; a long word is shortened")
    func detailWraps() {
        let s = render(StrategyPane(), snapshot(strategies: [swi, kv]), width: 34, height: 7)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "xs SwiReasoning off window 512   x",
                        "x                   alpha 1.0    x",
                        "x                   beta 0.7     x",
                        "xk KV policy    on  streaming:si…x",
                        "x                   held 260     x",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(s[20, 2].style == .plain && s[1, 4].style == Style(Role.keyHint, bold: true))
        let ascii = render(StrategyPane(), snapshot(strategies: [kv]), width: 34, height: 4, glyphs: .ascii)
        expectLines(ascii, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                            "xk KV policy on  streaming:sin...x",
                            "x                held 260        x",
                            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
    }

    @Test("an unavailable strategy is dimmed, with n/a and its reason, wrapped, instead of its detail")
    func unavailableReason() {
        let exit = WorkbenchSnapshot.StrategyRow(key: "e", name: "Early exit", enabled: false, available: false,
                                                 detail: "thr 0.9", reason: "needs embedding input, which this backend does not offer")
        let s = render(StrategyPane(), snapshot(strategies: [swi, exit]), width: 34, height: 11)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "xs SwiReasoning off window 512   x",
                        "x                   alpha 1.0    x",
                        "x                   beta 0.7     x",
                        "xe Early exit   n/a needs        x",
                        "x                   embedding    x",
                        "x                   input, which x",
                        "x                   this backend x",
                        "x                   does not     x",
                        "x                   offer        x",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        let dim = Style(Role.strategyUnavailable, dim: true)
        #expect(cellStyles(s, y: 4, x: 1, count: 24).allSatisfy { $0 == dim })
        #expect(cellStyles(s, y: 9, x: 20, count: 5).allSatisfy { $0 == dim })
        // the memberwise init without a reason still compiles, and falls back to the detail
        let plain = WorkbenchSnapshot.StrategyRow(key: "e", name: "Early exit", enabled: false, available: false, detail: "thr 0.9")
        #expect(plain.reason == nil)
    }

    @Test("lines that do not all fit: the last strategy shown ends in the ellipsis, the rest are counted")
    func cutShort() {
        let cgrs = WorkbenchSnapshot.StrategyRow(key: "c", name: "CGRS", enabled: true, available: true, detail: "")
        let counted = render(StrategyPane(), snapshot(strategies: [swi, cgrs, kv]), width: 34, height: 5)
        expectLines(counted, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                              "xs SwiReasoning off window 512   x",
                              "x                   alpha 1.0 …  x",
                              "x+2 more                         x",
                              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        // every strategy has its first line: no count, the last one cut short
        let all = render(StrategyPane(), snapshot(strategies: [swi, cgrs, kv]), width: 34, height: 7)
        expectLines(all, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                          "xs SwiReasoning off window 512   x",
                          "x                   alpha 1.0    x",
                          "x                   beta 0.7     x",
                          "xc CGRS         on               x",
                          "xk KV policy    on  streaming:si…x",
                          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(StrategyPane.lineCount([swi, cgrs, kv], width: 32, glyphs: .unicode) == 6)
    }

    @Test("words wrap at spaces, keeping runs of spaces inside a line; a cut ends in the ellipsis")
    func wrapText() {
        #expect(Format.wrap("δ 0.90  C 0.93 p 0.30", width: 9, glyphs: .unicode) == ["δ 0.90  C", "0.93 p", "0.30"])
        #expect(Format.wrap("  lead and   trail  ", width: 20, glyphs: .unicode) == ["lead and   trail"])
        #expect(Format.wrap("a supercalifragilistic b", width: 6, glyphs: .unicode) == ["a", "super…", "b"])
        #expect(Format.wrap("one two three four", width: 9, maxLines: 1, glyphs: .unicode) == ["one two …"])
        #expect(Format.wrap("one two three four", width: 9, maxLines: 1, glyphs: .ascii) == ["one ..."])
        #expect(Format.wrap("", width: 9, glyphs: .unicode) == [])
        #expect(Format.wrap("a b", width: 0, glyphs: .unicode) == [])
    }

    @Test("more rows than fit end in a count; none at all says so")
    func overflowAndEmpty() {
        let s = render(StrategyPane(), snapshot(strategies: rows), width: 30, height: 4)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "xs SwiReasoning on  sw 1/2   x",
                        "x+2 more                     x",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        let none = render(StrategyPane(), snapshot(), width: 20, height: 3)
        expectLines(none, ["xxxxxxxxxxxxxxxxxxxx",
                           "xno strategies     x",
                           "xxxxxxxxxxxxxxxxxxxx"])
    }
}

@Suite("Top-k pane")
struct TopKPaneTests {
    var records: [StepRecord] {
        let alternatives = [Alternative(id: 7, p: 0.41, text: " Wait"), Alternative(id: 8, p: 0.22, text: " So"),
                            Alternative(id: 9, p: 0.2, text: "\n"), Alternative(id: 10, p: 0.05, text: "東京")]
        return [step(0, " So", H: 0.5, p: 0.22, margin: 0.19, top: alternatives, token: 8),
                step(1, "\n", H: 1.84, input: .forced, p: 0.2, margin: 0.19, top: alternatives, token: 9)]
    }

    @Test("header, the chosen token and its probability, alternatives with bars, the chosen marked")
    func inspector() {
        let s = render(TopKPane(), snapshot(records, cursor: 0), width: 28, height: 8)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "x#0  H 0.50  margin 0.19   x",
                        "xchose \" So\" 0.22          x",
                        "x1 \" Wait\" 0.41 ████▌      x",
                        "x2▸\" So\"   0.22 ██▍        x",
                        "x3 \"⏎\"     0.20 ██▎        x",
                        "x4 \"東京\"  0.05 ▌          x",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(s[3, 4].style == Style(Role.topkChosen, bold: true))
        #expect(s[17, 3].style.role == Role.topkBar)
        #expect(s[1, 3].style.role == Role.keyHint)
    }

    @Test("the newest token without a cursor; escapes in ASCII; clipped to the height")
    func newestASCII() {
        let s = render(TopKPane(), snapshot(records), width: 28, height: 6, glyphs: .ascii)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "x#1  H 1.84  margin 0.19   x",
                        "xchose \"\\n\" 0.20 forced    x",
                        "x1 \" Wait\" 0.41 ####-      x",
                        "x2 \" So\"   0.22 ##-        x",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        let empty = render(TopKPane(), snapshot(), width: 20, height: 3)
        expectLines(empty, ["xxxxxxxxxxxxxxxxxxxx",
                            "xno token yet      x",
                            "xxxxxxxxxxxxxxxxxxxx"])
    }
    @Test("a partial distribution (a server's top k): the entropy as [lo, hi], and the mass outside the top on the last row")
    func partial() {
        var r = records
        r[0].entropyRange = [0.5, 1.25]
        r[0].missingMass = 0.12
        let s = render(TopKPane(), snapshot(r, cursor: 0), width: 34, height: 6)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "x#0  H [0.50, 1.25]  margin 0.19 x",
                        "xchose \" So\" 0.22                x",
                        "x1 \" Wait\" 0.41 ███████          x",
                        "xoutside the top 4: 0.12         x",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(s[1, 4].style == Style(Role.dim, dim: true))
    }
}

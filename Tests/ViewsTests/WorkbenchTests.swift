import Testing
import Core
@testable import Views

let demoStrategies: [WorkbenchSnapshot.StrategyRow] = [
    .init(key: "s", name: "SwiReasoning", enabled: true, available: true, detail: "sw 1/2"),
    .init(key: "c", name: "CGRS", enabled: true, available: true, detail: ""),
    .init(key: "w", name: "NoWait", enabled: false, available: true, detail: ""),
    .init(key: "b", name: "Budget", enabled: true, available: true, detail: "512"),
    .init(key: "e", name: "Early exit", enabled: false, available: false, detail: ""),
]

/// A short run: thinking, a reflection, the answer.
var demoRecords: [StepRecord] {
    let texts = ["<think>", " 17", " sheep", ",", " all", " but", " 9", " run", " away", ".", "\n", "Wait", ",", " let",
                 " me", " check", ".", "</think>"]
    var records = texts.enumerated().map { i, t in
        step(i, t, H: Double(i % 5) * 0.45, top1: 0.9 - Double(i % 4) * 0.1, windowMean: 0.61, trend: -0.05,
             top: [Alternative(id: Int32(100 + i), p: 0.6, text: t), Alternative(id: 1, p: 0.2, text: " So")])
    }
    records += [step(18, " 9", phase: .answer, top: [Alternative(id: 118, p: 0.95, text: " 9")]),
                step(19, ".", phase: .answer)]
    return records
}

@Suite("Status bar, key bar, help")
struct BarsTests {
    @Test("status: model, context use, rate, run state, notice; narrow rows drop the rate first")
    func status() {
        var snap = snapshot(demoRecords, status: .running, contextSize: 4096)
        let s = render(StatusBar(), snap, width: 80, height: 3, area: Rect(x: 0, y: 1, width: 80, height: 1))
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        " thinktop ─ gemma-3-270m Q4_K_M ─ ctx 30/4096 ─ 71 tok/s ─ ▶ running            ",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(s[59, 1].style == Style(Role.statusRunning, bold: true))
        #expect(s[0, 1].style == Style(Role.statusBar) && s[1, 1].style == Style(Role.statusBar, bold: true))
        snap.status = .done("stop string")
        snap.notice = "rewound to 12"
        let done = render(StatusBar(), snap, width: 80, height: 3, area: Rect(x: 0, y: 1, width: 80, height: 1))
        expectLines(done, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                           " thinktop ─ gemma-3-270m Q4_K_M ─ ■ done: stop string ─ rewound to 12           ",
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        // an alert stays when the row is narrow; the rate and the context use go first
        snap.status = .running
        snap.notice = nil
        snap.alert = "trace stopped"
        let alert = render(StatusBar(), snap, width: 64, height: 1, area: Rect(x: 0, y: 0, width: 64, height: 1))
        expectLines(alert, [" thinktop ─ gemma-3-270m Q4_K_M ─ ▶ running ─ trace stopped     "])
        #expect(alert[48, 0].style == Style(Role.notice, bold: true))
        snap.alert = nil
        snap.status = .paused
        let narrow = render(StatusBar(), snap, width: 40, height: 3, area: Rect(x: 0, y: 1, width: 40, height: 1))
        expectLines(narrow, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                             " thinktop ─ ❚❚ paused                   ",
                             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        snap.status = .replay(playing: true, speed: 2)
        let ascii = render(StatusBar(), snap, width: 60, height: 1, area: Rect(x: 0, y: 0, width: 60, height: 1), glyphs: .ascii)
        expectLines(ascii, [" thinktop - gemma-3-270m Q4_K_M - replay > 2.0x             "])
    }

    @Test("key hints, whole ones only; space says resume while paused")
    func keys() {
        let s = render(KeyBar(), snapshot(), width: 80, height: 1, area: Rect(x: 0, y: 0, width: 80, height: 1))
        expectLines(s, [" space pause  . step  ←→ cursor  : command  r branch  v branches  ? help        "])
        #expect(s[1, 0].style == Style(Role.keyHint, bold: true))
        let narrow = render(KeyBar(), snapshot(status: .paused), width: 40, height: 1,
                            area: Rect(x: 0, y: 0, width: 40, height: 1), glyphs: .ascii)
        expectLines(narrow, [" space resume  . step  <> cursor        "])
    }

    @Test("the help lists every key, strategies included, in a centred box; in two columns when one is too tall")
    func help() {
        let s = render(HelpOverlay(), snapshot(strategies: demoStrategies), width: 50, height: 25, area: Rect(x: 0, y: 0, width: 50, height: 25))
        expectLines(s, ["x┌ Keys ────────────────────────────────────────┐x",
                        "x│ space     pause / resume generation          │x",
                        "x│ .         step one token (while paused)      │x",
                        "x│ ← →       move the cursor over the tokens    │x",
                        "x│ Home End  first token / back to the tail     │x",
                        "x│ r         branch: regenerate from the cursor │x",
                        "x│ t         end thinking now                   │x",
                        "x│ + -       raise / lower the thinking budget  │x",
                        "x│ :         command line (help lists commands) │x",
                        "x│ S         tune strategies' parameters        │x",
                        "x│ s         toggle SwiReasoning                │x",
                        "x│ c         toggle CGRS                        │x",
                        "x│ w         toggle NoWait                      │x",
                        "x│ b         toggle Budget                      │x",
                        "x│ e         toggle Early exit (n/a)            │x",
                        "x│ 1-9 0     take that alternative (a branch)   │x",
                        "x│ Tab       choose in the top-k list           │x",
                        "x│ v         list the branches                  │x",
                        "x│ [ ]       previous / next branch             │x",
                        "x│ C         compare two branches               │x",
                        "x│ E         write the HTML report              │x",
                        "x│ ?         show / hide this help              │x",
                        "x│ q         quit                               │x",
                        "x└──────────────────────────────────────────────┘x",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        // too tall for one column: two, side by side
        let wide = render(HelpOverlay(), snapshot(strategies: demoStrategies), width: 100, height: 14,
                          area: Rect(x: 0, y: 0, width: 100, height: 14))
        expectLines(wide, ["xx┌ Keys ───────────────────────────────────────────────────────────────────────────────────────┐xxx",
                           "xx│ space     pause / resume generation            w         toggle NoWait                      │xxx",
                           "xx│ .         step one token (while paused)        b         toggle Budget                      │xxx",
                           "xx│ ← →       move the cursor over the tokens      e         toggle Early exit (n/a)            │xxx",
                           "xx│ Home End  first token / back to the tail       1-9 0     take that alternative (a branch)   │xxx",
                           "xx│ r         branch: regenerate from the cursor   Tab       choose in the top-k list           │xxx",
                           "xx│ t         end thinking now                     v         list the branches                  │xxx",
                           "xx│ + -       raise / lower the thinking budget    [ ]       previous / next branch             │xxx",
                           "xx│ :         command line (help lists commands)   C         compare two branches               │xxx",
                           "xx│ S         tune strategies' parameters          E         write the HTML report              │xxx",
                           "xx│ s         toggle SwiReasoning                  ?         show / hide this help              │xxx",
                           "xx│ c         toggle CGRS                          q         quit                               │xxx",
                           "xx└─────────────────────────────────────────────────────────────────────────────────────────────┘xxx",
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        // a replay's own keys: nothing that would change the run, the scrubbing keys
        let replay = render(HelpOverlay(), snapshot(status: .replay(playing: false, speed: 1)), width: 50, height: 16,
                            area: Rect(x: 0, y: 0, width: 50, height: 16))
        expectLines(replay, ["x┌ Keys ───────────────────────────────────────┐xx",
                             "x│ space     play / pause                      │xx",
                             "x│ .         step one line                     │xx",
                             "x│ + -       faster / slower                   │xx",
                             "x│ < >       jump a twentieth back / forward   │xx",
                             "x│ :         command line (goto, export, help) │xx",
                             "x│ ← →       move the cursor over the tokens   │xx",
                             "x│ Home End  first token / back to the tail    │xx",
                             "x│ v         list the branches                 │xx",
                             "x│ [ ]       previous / next branch            │xx",
                             "x│ C         compare two branches              │xx",
                             "x│ E         write the HTML report             │xx",
                             "x│ ?         show / hide this help             │xx",
                             "x│ q         quit                              │xx",
                             "x└─────────────────────────────────────────────┘xx",
                             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        let small = render(HelpOverlay(), snapshot(strategies: demoStrategies), width: 30, height: 8,
                           area: Rect(x: 0, y: 0, width: 30, height: 8), glyphs: .ascii)
        expectLines(small, ["+ Keys ----------------------+",
                            "| space     pause / resume g |",
                            "| .         step one token ( |",
                            "| < >       move the cursor  |",
                            "| Home End  first token / ba |",
                            "| r         branch: regenera |",
                            "| ... 17 more: a taller wind |",
                            "+----------------------------+"])
    }
}

@Suite("Workbench")
struct WorkbenchTests {
    @Test("below the minimum: a centred message with the sizes")
    func tooSmall() {
        let s = Workbench.render(snapshot(), width: 40, height: 10, glyphs: .unicode)
        expectLines(s, ["                                        ",
                        "                                        ",
                        "                                        ",
                        "                                        ",
                        "   thinktop needs at least 60×16 (now   ",
                        "                 40×10)                 ",
                        "                                        ",
                        "                                        ",
                        "                                        ",
                        "                                        "])
        let tiny = Workbench.render(snapshot(), width: 12, height: 5, glyphs: .ascii)
        expectLines(tiny, ["  thinktop  ",
                           "  needs at  ",
                           "least 60x16 ",
                           " (now 12x5) ",
                           "            "])
        #expect(Workbench.render(snapshot(), width: 0, height: 0, glyphs: .unicode).lines == [])
    }

    @Test("80×24: every pane in its place")
    func standard() {
        var snap = snapshot(demoRecords, contextSize: 4096, strategies: demoStrategies)
        snap.thinkingBudget = 32
        snap.kvBytesPerToken = 18432
        snap.slidingWindow = 512
        let s = Workbench.render(snap, width: 80, height: 24, glyphs: .unicode)
        expectLines(s, [" thinktop ─ gemma-3-270m Q4_K_M ─ ctx 30/4096 ─ 71 tok/s ─ ▶ running            ",
                        "┌ Decoding ────────────────────────────────────────────┐┌ Strategies ──────────┐",
                        "│<think> 17 sheep, all but 9 run away.                 ││s SwiReasoning on     │",
                        "│Wait, let me check.</think>                           ││  sw 1/2              │",
                        "│── answer ────────────────────────────────────────────││c CGRS         on     │",
                        "│ 9.                                                   ││w NoWait       off    │",
                        "│                                                      ││b Budget       on     │",
                        "│                                                      ││  512                 │",
                        "│                                                      ││e Early exit   n/a    │",
                        "│                                                      │└──────────────────────┘",
                        "│                                                      │┌ Budget ──────────────┐",
                        "│                                                      ││think █████▋░░░░ 18/32│",
                        "│                                                      ││answer 2              │",
                        "└──────────────────────────────────────────────────────┘└──────────────────────┘",
                        "┌ Signals ─────────────────────────────────────────────┐┌ Top-k ───────────────┐",
                        "│Entropy        ▁▂▃▄ ▁▂▃▄ ▁▂▃▄ ▁▂▁▁ H 0.20  mean 0.50 →││#19 H 0.20 m 0.80     │",
                        "│Confidence                ▇▆▆▅▇▆▆▅▇▆▆▅▇▆▆▅▇▆▇▇ p1 0.90││chose \".\" 0.90        │",
                        "└──────────────────────────────────────────────────────┘│                      │",
                        "┌ KV cache ────────────────────────────────────────────┐│                      │",
                        "│global ▓                          540.0 KiB / 72.0 MiB││                      │",
                        "│swa512 ▓                                              ││                      │",
                        "│prompt █  think ▓  latent ▒  answer ░  evicted ·      ││                      │",
                        "└──────────────────────────────────────────────────────┘└──────────────────────┘",
                        " space pause  . step  ←→ cursor  : command  r branch  v branches  ? help        "])
        #expect(s[0, 1].style.role == Role.border && s[2, 1].style.role == Role.title)
        #expect(s[1, 2].style.role == Role.entropy(0) && s[12, 2].style.role == Role.entropy(1))   // "<think>", " sheep"
        #expect(s[2, 5].style == Style(Role.entropy(0), bold: true))                             // the answer's "9"
        #expect(s[8, 19].style.role == Role.kvThinking && s[9, 19].style.role == Role.kvFree)
    }

    @Test("details that wrap ask the layout for a taller strategy panel")
    func tallerStrategies() {
        let strategies = demoStrategies + [
            .init(key: "k", name: "KV policy", enabled: true, available: true, detail: "streaming:sinks=4:recent=512"),
            .init(key: "x", name: "Latent", enabled: false, available: false, detail: "",
                  reason: "needs embedding input, which this backend does not offer"),
        ]
        let s = Workbench.render(snapshot(demoRecords, contextSize: 4096, strategies: strategies), width: 120, height: 40,
                                 glyphs: .unicode)
        let right = s.lines[1...13].map { String($0.dropFirst(84)) }
        #expect(right == ["┌ Strategies ──────────────────────┐",
                          "│s SwiReasoning on  sw 1/2         │",
                          "│c CGRS         on                 │",
                          "│w NoWait       off                │",
                          "│b Budget       on  512            │",
                          "│e Early exit   n/a                │",
                          "│k KV policy    on  streaming:sink…│",
                          "│x Latent       n/a needs embedding│",
                          "│                   input, which   │",
                          "│                   this backend   │",
                          "│                   does not offer │",
                          "└──────────────────────────────────┘",
                          "┌ Budget ──────────────────────────┐"],
                Comment(rawValue: "rendered:\n" + right.joined(separator: "\n")))
    }

    @Test("odd snapshots at many sizes: no crash, every row as wide as the screen")
    func robustness() {
        let texts = ["東京", "\u{301}", "\n\n\n", "\t", "\u{1B}[31m", "", String(repeating: "long", count: 60), "e\u{301}"]
        let records = (0..<200).map { step($0, texts[$0 % texts.count], H: $0 % 7 == 0 ? .nan : Double($0 % 9),
                                           phase: $0 > 150 ? .answer : .thinking,
                                           input: $0 % 13 == 0 ? .latent : ($0 % 17 == 0 ? .forced : .explicit),
                                           p: $0 % 11 == 0 ? .infinity : 0.5, trend: .nan,
                                           top: [Alternative(id: 1, p: -.infinity, text: "\u{0}"), Alternative(id: 2, p: 2, text: "x")]) }
        for cursor in [nil, -5, 0, 57, 199, 10_000] as [Int?] {
            var snap = snapshot(records, cursor: cursor, status: .loading(""), contextSize: 100, strategies: demoStrategies)
            snap.thinkingBudget = 0
            snap.forcedEndAt = 99_999
            snap.evicted = [-3, 5, 1_000_000]
            snap.slidingWindow = 1_000
            snap.kvBytesPerToken = 1 << 20
            snap.notice = String(repeating: "!", count: 300)
            snap.showHelp = cursor == 57
            for (w, h) in [(60, 16), (61, 17), (99, 30), (100, 31), (203, 71), (59, 40), (1, 1), (3, 100)] {
                let s = Workbench.render(snap, width: w, height: h, glyphs: cursor == 0 ? .ascii : .unicode)
                #expect(s.lines.count == h)
                for (y, line) in s.lines.enumerated() {
                    let width = line.reduce(0) { $0 + max(0, DisplayWidth.of($1) ?? 0) }
                    #expect(width == w, "row \(y) at \(w)×\(h) is \(width) wide: \(line)")
                }
            }
        }
    }

    @Test("60×16 in ASCII with a cursor and the help on top")
    func minimumASCII() {
        var snap = snapshot(demoRecords, cursor: 4, contextSize: 4096, strategies: demoStrategies)
        snap.thinkingBudget = 32
        let s = Workbench.render(snap, width: 60, height: 16, glyphs: .ascii)
        expectLines(s, [" thinktop - gemma-3-270m Q4_K_M - ctx 30/4096 - > running   ",
                        "+ Decoding - cursor #4 of 20 ----------++ Strategies ------+",
                        "|<think> 17 sheep, all but 9 run away. ||s SwiReasoning on |",
                        "|Wait, let me check.</think>           ||c CGRS         on |",
                        "|-- answer ----------------------------||+3 more           |",
                        "+--------------------------------------++------------------+",
                        "+ Signals -----------------------------++ Budget ----------+",
                        "|              ..-- H 1.80  mean 0.61 v||think ###-.. 18/32|",
                        "|                         #===# p1 0.90||answer 2          |",
                        "+--------------------------------------++------------------+",
                        "+ KV cache ----------------------------++ Top-k at cursor -+",
                        "|global =                       30/4096||#4 H 1.80 m 0.80  |",
                        "|prompt #  think =  latent ~  answer - ||chose \" all\" 0.90 |",
                        "|                                      ||1>\" all\" 0.60 ##- |",
                        "+--------------------------------------++------------------+",
                        " space pause  . step  <> cursor  : command  r branch        "])
        snap.showHelp = true
        let help = Workbench.render(snap, width: 60, height: 16, glyphs: .ascii)
        expectLines(help, [" think+ Keys ----------------------------------------+ing   ",
                           "+ Deco| space     pause / resume generation          |-----+",
                           "|<thin| .         step one token (while paused)      |g on |",
                           "|Wait,| < >       move the cursor over the tokens    |  on |",
                           "|-- an| Home End  first token / back to the tail     |     |",
                           "+-----| r         branch: regenerate from the cursor |-----+",
                           "+ Sign| t         end thinking now                   |-----+",
                           "|     | + -       raise / lower the thinking budget  |18/32|",
                           "|     | :         command line (help lists commands) |     |",
                           "+-----| S         tune strategies' parameters        |-----+",
                           "+ KV c| s         toggle SwiReasoning                |sor -+",
                           "|globa| c         toggle CGRS                        |.80  |",
                           "|promp| w         toggle NoWait                      |0.90 |",
                           "|     | b         toggle Budget                      | ##- |",
                           "+-----| ... 9 more: a taller window shows every key  |-----+",
                           " space+----------------------------------------------+      "])
    }
}

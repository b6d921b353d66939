import Testing
import Core
@testable import Views

/// The sheep run of the decoding pane's tests; another branch forks off it before " but".
let sheepRecords = steps(["17", " sheep", ",", " all", " but", " 9", " run", " away", ".", " So", " 9", " are", " left", "."])

@Suite("Branches: fork marks, top-k digits, status")
struct BranchMarkTests {
    @Test("a fork mark stands before the token's first character and wraps with its word")
    func forkMark() {
        var snap = snapshot(sheepRecords)
        snap.forkMarks = [4: [2], 9: [3]]
        let s = render(DecodingPane(), snap, width: 14, height: 7)
        expectLines(s, ["xxxxxxxxxxxxxx",
                        "x17 sheep,   x",
                        "xall ⑂but 9  x",
                        "xrun away.   x",
                        "x⑂So 9 are   x",
                        "xleft.       x",
                        "xxxxxxxxxxxxxx"])
        #expect(s[5, 2].style == Style(Role.branchFork, bold: true) && s[1, 4].style == Style(Role.branchFork, bold: true))
        #expect(s[6, 2].style == Style(Role.entropy(0)) && s[4, 2].style == Style(Role.entropy(0)))
        #expect(DisplayWidth.of(Glyphs.unicode.fork) == 1 && DisplayWidth.of(Glyphs.ascii.fork) == 1)
        let ascii = render(DecodingPane(), snap, width: 14, height: 7, glyphs: .ascii)
        expectLines(ascii, ["xxxxxxxxxxxxxx",
                            "x17 sheep,   x",
                            "xall ^but 9  x",
                            "xrun away.   x",
                            "x^So 9 are   x",
                            "xleft.       x",
                            "xxxxxxxxxxxxxx"])
    }

    @Test("a token of white space only has the mark before it; the cursor and other tokens keep their styles")
    func forkMarkOnWhiteSpace() {
        var snap = snapshot(steps(["a", "\n", "b", " c"]), cursor: 3)
        snap.forkMarks = [1: [1], 3: [2, 3]]
        let s = render(DecodingPane(), snap, width: 8, height: 4)
        expectLines(s, ["xxxxxxxx",
                        "xa⑂    x",
                        "xb ⑂c  x",
                        "xxxxxxxx"])
        let mark = Style(Role.branchFork, bold: true)
        #expect(s[2, 1].style == mark && s[3, 2].style == mark)
        #expect(s[2, 2].style == Style(Role.entropy(0), reverse: true) && s[4, 2].style == Style(Role.entropy(0), reverse: true))
    }

    var topRecords: [StepRecord] {
        let alternatives = [Alternative(id: 7, p: 0.41, text: " Wait"), Alternative(id: 8, p: 0.22, text: " So"),
                            Alternative(id: 9, p: 0.2, text: "\n"), Alternative(id: 10, p: 0.05, text: "東京")]
        return [step(0, " So", H: 0.5, p: 0.22, margin: 0.19, top: alternatives, token: 8)]
    }

    @Test("top-k rows are numbered for the digit keys; the selected row is highlighted whole")
    func topKDigits() {
        var snap = snapshot(topRecords)
        snap.topKSelection = 2
        let s = render(TopKPane(), snap, width: 28, height: 8)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "x#0  H 0.50  margin 0.19   x",
                        "xchose \" So\" 0.22          x",
                        "x1 \" Wait\" 0.41 ████▌      x",
                        "x2▸\" So\"   0.22 ██▍        x",
                        "x3 \"⏎\"     0.20 ██▎        x",
                        "x4 \"東京\"  0.05 ▌          x",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(cellStyles(s, y: 5, x: 1, count: 26).allSatisfy { $0 == Style(Role.topkSelected, bold: true) })
        #expect(s[1, 3].style == Style(Role.keyHint) && s[3, 3].style == .plain)
        #expect(s[2, 4].style == Style(Role.topkChosen, bold: true))
        #expect(TopKPane.row(forDigit: "1") == 0 && TopKPane.row(forDigit: "0") == 9 && TopKPane.row(forDigit: "a") == nil)
        #expect(TopKPane.digit(forRow: 9) == "0" && TopKPane.digit(forRow: 10) == nil)
    }

    @Test("a selection below the rows that fit scrolls them; past the tenth row there is no digit")
    func topKScrolls() {
        var records = topRecords
        records[0].top = (0..<12).map { Alternative(id: Int32(20 + $0), p: 0.05, text: "t\($0)") }
        var snap = snapshot(records)
        snap.topKSelection = 9
        let tenth = render(TopKPane(), snap, width: 24, height: 6, glyphs: .ascii)
        expectLines(tenth, ["xxxxxxxxxxxxxxxxxxxxxxxx",
                            "x#0 H 0.50 m 0.19      x",
                            "xchose \" So\" 0.22      x",
                            "x9 \"t8\" 0.05 -         x",
                            "x0 \"t9\" 0.05 -         x",
                            "xxxxxxxxxxxxxxxxxxxxxxxx"])
        #expect(tenth[1, 4].style == Style(Role.topkSelected, bold: true) && tenth[1, 3].style == Style(Role.keyHint))
        snap.topKSelection = 11
        let last = render(TopKPane(), snap, width: 24, height: 6, glyphs: .ascii)
        expectLines(last, ["xxxxxxxxxxxxxxxxxxxxxxxx",
                           "x#0 H 0.50 m 0.19      x",
                           "xchose \" So\" 0.22      x",
                           "x  \"t10\" 0.05 -        x",
                           "x  \"t11\" 0.05 -        x",
                           "xxxxxxxxxxxxxxxxxxxxxxxx"])
    }

    @Test("the status bar names the shown branch of how many, and how the others keep their cache")
    func statusSegment() {
        var snap = snapshot(sheepRecords, contextSize: 4096)
        snap.branches = threeBranches
        snap.currentBranch = 2
        snap.branchCache = "others kept on host"
        // the rate goes first to make room, then the context use and the model
        let s = render(StatusBar(), snap, width: 100, height: 1, area: Rect(x: 0, y: 0, width: 100, height: 1))
        expectLines(s, [" thinktop ─ gemma-3-270m Q4_K_M ─ ctx 24/4096 ─ branch 2/3 · others kept on host ─ ▶ running        "])
        #expect(s[49, 0].style == Style(Role.statusBar))
        let narrow = render(StatusBar(), snap, width: 60, height: 1, area: Rect(x: 0, y: 0, width: 60, height: 1),
                            glyphs: .ascii)
        expectLines(narrow, [" thinktop - branch 2/3 | others kept on host - > running    "])
        snap.branches = Array(threeBranches.prefix(1))
        let one = render(StatusBar(), snap, width: 100, height: 1, area: Rect(x: 0, y: 0, width: 100, height: 1))
        expectLines(one, [" thinktop ─ gemma-3-270m Q4_K_M ─ ctx 24/4096 ─ 71 tok/s ─ ▶ running                                "])
    }
}

/// Branch 0, then branch 1 forked off it at step 5 with other strategies, branch 3 off
/// branch 1 at step 9 with a seed, branch 2 off branch 0 at step 12 with a token: depth
/// first from branch 0, children in id order.
let treeBranches: [BranchRow] = [
    BranchRow(id: 0, parent: nil, forkStep: 0, cause: "start", length: 40, phase: .done, answer: "42", cache: "shared"),
    BranchRow(id: 1, parent: 0, forkStep: 5, cause: "strategies nowait (was none)", length: 18, phase: .answer,
              answer: "41", cache: "kept on host"),
    BranchRow(id: 3, parent: 1, forkStep: 9, cause: "seed 7", length: 12, phase: .thinking, answer: nil, cache: "rebuilt on demand"),
    BranchRow(id: 2, parent: 0, forkStep: 12, cause: "token \" But\" (#2)", length: 31, phase: .thinking, answer: nil,
              cache: "current"),
]
let threeBranches = Array(treeBranches.prefix(3))

@Suite("Branches: the list")
struct BranchOverlayTests {
    @Test("every branch a row: id (the current marked), fork step, cause, length, phase, answer, cache; children indented")
    func rows() {
        var snap = snapshot(sheepRecords)
        snap.branches = treeBranches
        snap.currentBranch = 2
        snap.branchSelection = 1
        snap.showBranches = true
        let s = render(BranchOverlay(), snap, width: 100, height: 12, area: Rect(x: 0, y: 0, width: 100, height: 12))
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "xxxx┌ Branches ────────────────────────────────────────────────────────────────────────────────┐xxxx",
                        "xxxx│ branch   fork  cause                         tokens  phase     answer  cache             │xxxx",
                        "xxxx│   0            start                         40 tok  done      42      shared            │xxxx",
                        "xxxx│     1    @ 5   strategies nowait (was none)  18 tok  answer    41      kept on host      │xxxx",
                        "xxxx│       3  @ 9   seed 7                        12 tok  thinking  —       rebuilt on demand │xxxx",
                        "xxxx│ ●   2    @ 12  token \" But\" (#2)             31 tok  thinking  —       current           │xxxx",
                        "xxxx│ ↑↓ choose · Enter switch · c compare with current · Esc close                            │xxxx",
                        "xxxx└──────────────────────────────────────────────────────────────────────────────────────────┘xxxx",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
        // the selected row (branch 1) whole, the current branch's mark bold
        #expect(cellStyles(s, y: 5, x: 5, count: 90).allSatisfy { $0 == Style(Role.branchSelected) })
        #expect(s[6, 4].style == Style(Role.help) && s[6, 7].style == Style(Role.help, bold: true))
        #expect(s[6, 3].style == Style(Role.help, bold: true) && s[6, 8].style == Style(Role.help, dim: true))
    }
}

extension BranchOverlayTests {
    @Test("a narrow area cuts the causes first; a short one scrolls to the selection; ASCII")
    func narrow() {
        var snap = snapshot(sheepRecords)
        snap.branches = treeBranches
        snap.currentBranch = 0
        snap.branchSelection = 3
        let s = render(BranchOverlay(), snap, width: 70, height: 6, area: Rect(x: 0, y: 0, width: 70, height: 6),
                       glyphs: .ascii)
        expectLines(s, ["+ Branches ----------------------------------------------------------+",
                        "| branch   fork  cause     tokens  phase     answer  cache           |",
                        "|       3  @ 9   seed 7    12 tok  thinking  -       rebuilt on d... |",
                        "|     2    @ 12  token...  31 tok  thinking  -       current         |",
                        "| ^v choose | Enter switch | c compare with current | Esc close      |",
                        "+--------------------------------------------------------------------+"])
        #expect(s[10, 3].style == Style(Role.branchSelected) && s[10, 2].style == Style(Role.help))
    }
}

/// Branch 0 thinks "Sheep left: 9." and answers " Answer: 9"; branch 1 takes " Wait" at
/// step 4 instead of ".", reflects ("Wait, hmm") and is still thinking.
var compareLog: BranchLog {
    var log = BranchLog()
    let shared = ["Sheep", " left", ":", " 9"].enumerated().map { step($0.offset, $0.element, H: 0.2) }
    let left = [step(4, ".", H: 0.3), step(5, "</think>", H: 0.1), step(6, " Answer: 9", H: 0.4, phase: .answer)]
    let right = [step(4, " Wait", H: 2.6), step(5, ",", H: 1.2), step(6, " hmm", H: 1.8), step(7, " 8", H: 3.1),
                 step(8, "?", H: 0.9)]
    for r in shared + left { log.add(.token(r)) }
    log.finished("eos")
    log.add(.event(TraceEvent(step: 4, kind: .branch, branch: 1, parent: 0,
                              cause: BranchCause(kind: .token, token: 300, text: " Wait", rank: 2))))
    for r in right { log.add(.token(r)) }
    return log
}

var compareSnapshot: WorkbenchSnapshot {
    let log = compareLog
    func side(_ id: Int) -> CompareView.Side {
        let run = log.branch(id)!
        return CompareView.Side(title: "branch \(id): \(run.info.cause.description)", records: run.records,
                                stats: BranchStatistics(run))
    }
    var snap = snapshot(log.branch(1)!.records, contextSize: 4096)
    snap.branches = Array(treeBranches.prefix(2))
    snap.currentBranch = 1
    snap.compare = CompareView(left: side(0), right: side(1), forkStep: log.divergence(0, 1))
    return snap
}

@Suite("Branches: the compare view")
struct CompareViewTests {
    @Test("80×24: the shared text once, both texts from the fork, sparklines, the summary with differences marked")
    func standard() {
        let s = Workbench.render(compareSnapshot, width: 80, height: 24, glyphs: .unicode)
        expectLines(s, [" thinktop ─ gemma-3-270m Q4_K_M ─ ctx 19/4096 ─ branch 1/2 ─ ▶ running          ",
                        "Compare from step 4 ─ 4 tokens shared                                           ",
                        "Sheep left: 9                                                                   ",
                        "branch 0: start                        │ branch 1: token \" Wait\" (#2)           ",
                        ".</think>                              │  Wait, hmm 8?                          ",
                        "── answer ──────────────────────────── │                                        ",
                        " Answer: 9                             │                                        ",
                        "                                       │                                        ",
                        "                                       │                                        ",
                        "                                       │                                        ",
                        "                                       │                                        ",
                        "                                       │                                        ",
                        "Entropy    ▁▁▁                         │ ▅▂▄▆▂                                  ",
                        "Confidence ▇▇▇                         │ ▇▇▇▇▇                                  ",
                        "── summary ─────────────────────────────────────────────────────────────────────",
                        "thinking tokens   6                    │ 9                                      ",
                        "answer tokens     1                    │ 0                                      ",
                        "total tokens      7                    │ 9                                      ",
                        "reflection words  0                    │ 2 (Wait 1, Hmm 1)                      ",
                        "mean entropy      0.229                │ 1.156                                  ",
                        "interventions     none                 │ none                                   ",
                        "stop              eos                  │ running                                ",
                        "answer            9                    │ —                                      ",
                        " Esc close · ↑↓ scroll                                                          "])
        #expect(s[0, 2].style == Style(Role.dim, dim: true))                                   // shared text
        #expect(s[0, 3].style == Style(Role.compareLeft, bold: true) && s[41, 3].style == Style(Role.compareRight, bold: true))
        #expect(s[0, 4].style == Style(Role.entropy(0)) && s[42, 4].style == Style(Role.entropy(5)))   // ".", "Wait"
        #expect(s[11, 12].style.role == Role.compareLeft && s[41, 12].style.role == Role.compareRight)
        #expect(s[11, 13].style.role == Role.compareLeft && s[45, 13].style.role == Role.compareRight)
        // the right's cells that differ from the left's are marked; equal ones are not
        let differs = Style(Role.compareDiffers, bold: true)
        for y in [15, 16, 17, 18, 19, 21, 22] { #expect(s[41, y].style == differs, "row \(y)") }
        #expect(s[41, 20].style == .plain && s[18, 15].style == .plain && s[0, 15].style == Style(Role.title))
        #expect(s[1, 23].style == Style(Role.keyHint, bold: true))
    }

    @Test("60×16: the sparklines and the shared text go, the summary stays")
    func small() {
        let s = Workbench.render(compareSnapshot, width: 60, height: 16, glyphs: .ascii)
        expectLines(s, [" thinktop - gemma-3-270m Q4_K_M - branch 1/2 - > running    ",
                        "Compare from step 4 - 4 tokens shared                       ",
                        "branch 0: start              | branch 1: token \" Wait\" (#2) ",
                        ".</think>                    |  Wait, hmm 8?                ",
                        "-- answer ------------------ |                              ",
                        " Answer: 9                   |                              ",
                        "-- summary -------------------------------------------------",
                        "thinking tokens   6          | 9                            ",
                        "answer tokens     1          | 0                            ",
                        "total tokens      7          | 9                            ",
                        "reflection words  0          | 2 (Wait 1, Hmm 1)            ",
                        "mean entropy      0.229      | 1.156                        ",
                        "interventions     none       | none                         ",
                        "stop              eos        | running                      ",
                        "answer            9          | -                            ",
                        " Esc close | ^v scroll                                      "])
    }
}

extension CompareViewTests {
    @Test("scroll moves both texts, each no further than its last line; maxScroll says where the longer one ends")
    func scrolls() {
        var snap = compareSnapshot
        snap.compare!.right.records += (9..<14).map { step($0, "\nline\($0)", H: 0.2) }
        snap.compare!.scroll = 2
        let s = render(ComparePane(), snap, width: 40, height: 12, area: Rect(x: 0, y: 0, width: 40, height: 12))
        expectLines(s, ["Compare from step 4 ─ 4 tokens shared   ",
                        "branch 0: start    │ branch 1: token \" …",
                        ".</think>          │ line10             ",
                        "── answer ──────── │ line11             ",
                        " Answer: 9         │ line12             ",
                        "thinking… 6        │ 9                  ",
                        "answer t… 1        │ 0                  ",
                        "total to… 7        │ 9                  ",
                        "reflecti… 0        │ 2 (Wait 1, Hmm 1)  ",
                        "mean ent… 0.229    │ 1.156              ",
                        "interven… none     │ none               ",
                        " Esc close · ↑↓ scroll                  "])
        #expect(ComparePane.maxScroll(snap, width: 40, height: 13) == 3)
    }

    @Test("odd compare snapshots at many sizes: no crash, every row as wide as the screen")
    func robustness() {
        var snap = compareSnapshot
        snap.showBranches = true
        snap.branches = treeBranches
        snap.branchSelection = 99
        for (fork, scroll) in [(0, 0), (4, -3), (99, 1_000)] {
            snap.compare!.forkStep = fork
            snap.compare!.scroll = scroll
            if fork == 99 { snap.compare!.left.records = [] }
            for (w, h) in [(60, 16), (61, 17), (80, 24), (203, 71), (1, 1), (3, 100)] {
                let s = Workbench.render(snap, width: w, height: h, glyphs: fork == 4 ? .ascii : .unicode)
                #expect(s.lines.count == h)
                for line in s.lines { #expect(DisplayWidth.of(line) == w, "\(w)×\(h): \(line)") }
            }
        }
    }
}

import Testing
import Core
@testable import Views

@Suite("Decoding pane")
struct DecodingPaneTests {
    let sheep = steps(["17", " sheep", ",", " all", " but", " 9", " run", " away", ".", " So", " 9", " are", " left", "."])

    @Test("an empty run says it is waiting")
    func waiting() {
        let s = render(DecodingPane(), snapshot(), width: 14, height: 4)
        expectLines(s, ["xxxxxxxxxxxxxx",
                        "xwaiting for x",
                        "x            x",
                        "xxxxxxxxxxxxxx"])
        #expect(s[1, 1].style == Style(Role.dim, dim: true))
    }

    @Test("tokens flow and wrap at word boundaries; a word longer than the line is broken")
    func wraps() {
        let s = render(DecodingPane(), snapshot(sheep), width: 14, height: 7)
        expectLines(s, ["xxxxxxxxxxxxxx",
                        "x17 sheep,   x",
                        "xall but 9   x",
                        "xrun away. Sox",     // the space before "9" became the line break
                        "x9 are left. x",
                        "x            x",
                        "xxxxxxxxxxxxxx"])
        let long = render(DecodingPane(), snapshot(steps(["a", " supercalifragilistic", " b"])), width: 10, height: 6)
        expectLines(long, ["xxxxxxxxxx",
                           "xa       x",
                           "xsupercalx",
                           "xifragilix",
                           "xstic b  x",
                           "xxxxxxxxxx"])
    }

    @Test("it follows the tail when the text is longer than the pane")
    func followsTail() {
        let s = render(DecodingPane(), snapshot(sheep), width: 14, height: 4)
        expectLines(s, ["xxxxxxxxxxxxxx",
                        "xrun away. Sox",
                        "x9 are left. x",
                        "xxxxxxxxxxxxxx"])
    }

    @Test("with a cursor above the tail it scrolls to centre the cursor's line")
    func cursorScrolls() {
        let many = steps((0..<12).map { "line\($0)\n" })
        let tail = render(DecodingPane(), snapshot(many, cursor: 10), width: 10, height: 5)
        expectLines(tail, ["xxxxxxxxxx",
                           "xline9   x",
                           "xline10  x",
                           "xline11  x",
                           "xxxxxxxxxx"])
        #expect(tail[1, 2].style.reverse && !tail[1, 1].style.reverse)
        let early = render(DecodingPane(), snapshot(many, cursor: 3), width: 10, height: 5)
        expectLines(early, ["xxxxxxxxxx",
                            "xline2   x",
                            "xline3   x",
                            "xline4   x",
                            "xxxxxxxxxx"])
        #expect(early[1, 2].style.reverse)
        let first = render(DecodingPane(), snapshot(many, cursor: 0), width: 10, height: 5)
        expectLines(first, ["xxxxxxxxxx",
                            "xline0   x",
                            "xline1   x",
                            "xline2   x",
                            "xxxxxxxxxx"])
        // out of range: clamped to the last token
        let beyond = render(DecodingPane(), snapshot(many, cursor: 99), width: 10, height: 5)
        expectLines(beyond, tail.lines)
    }

    @Test("newlines break lines, tabs become spaces, control characters show as ·")
    func controls() {
        let s = render(DecodingPane(), snapshot(steps(["a\tb", "\n", "c\u{1}d", "\r\n", "\te"])), width: 10, height: 5)
        expectLines(s, ["xxxxxxxxxx",
                        "xa   b   x",
                        "xc·d     x",
                        "x    e   x",
                        "xxxxxxxxxx"])
    }

    @Test("answer tokens are bold and start below a marker line")
    func answerMarker() {
        var records = steps(["think", " more"])
        records += [step(2, "Nine", phase: .answer), step(3, ".", phase: .answer)]
        let s = render(DecodingPane(), snapshot(records), width: 16, height: 5)
        expectLines(s, ["xxxxxxxxxxxxxxxx",
                        "xthink more    x",
                        "x── answer ────x",
                        "xNine.         x",
                        "xxxxxxxxxxxxxxxx"])
        #expect(s[1, 1].style == Style(Role.entropy(0)))
        #expect(s[1, 3].style == Style(Role.entropy(0), bold: true))
        #expect(s[1, 2].style.role == Role.phaseAnswer)
    }

    @Test("styles: entropy bucket, latent underlined, forced, suppressed, cursor reversed")
    func tokenStyles() {
        let records = [
            step(0, "a", H: 0.2), step(1, "b", H: 1.2), step(2, "c", H: 9),
            step(3, "d", H: 0.7, input: .latent), step(4, "e", input: .forced),
            step(5, "f", effects: [Effect("cgrs", .suppress, "suppressed \"Wait\"")]), step(6, "g", H: 2.6),
        ]
        let s = render(DecodingPane(), snapshot(records, cursor: 6), width: 10, height: 3)
        expectLines(s, ["xxxxxxxxxx",
                        "xabcdefg x",
                        "xxxxxxxxxx"])
        let row = cellStyles(s, y: 1, x: 1, count: 7)
        #expect(row[0] == Style(Role.entropy(0)))
        #expect(row[1] == Style(Role.entropy(2)))
        #expect(row[2] == Style(Role.entropy(7)))
        #expect(row[3] == Style(Role.entropy(1), underline: true))
        #expect(row[4] == Style(Role.tokenForced, bold: true))
        #expect(row[5] == Style(Role.tokenSuppressed))
        #expect(row[6] == Style(Role.entropy(5), reverse: true))
    }

    @Test("wide characters take two columns and wrap whole")
    func wide() {
        let s = render(DecodingPane(), snapshot(steps(["東京", "は", "大きい"])), width: 7, height: 5)
        expectLines(s, ["xxxxxxx",
                        "x東京 x",
                        "xは大 x",
                        "xきい x",
                        "xxxxxxx"])
        #expect(s[2, 1].isContinuation && s[1, 1].symbol == "東" && s[5, 1].symbol == " ")
    }

    @Test("a cursor on an empty or newline token shows a placeholder; ASCII escapes")
    func cursorPlaceholder() {
        let records = steps(["ab", "\n", "cd", "", "ef"])
        let newline = render(DecodingPane(), snapshot(records, cursor: 1), width: 10, height: 4)
        expectLines(newline, ["xxxxxxxxxx",
                              "xab⏎     x",
                              "xcdef    x",
                              "xxxxxxxxxx"])
        #expect(newline[3, 1].style == Style(Role.tokenCursor, reverse: true))
        let ascii = render(DecodingPane(), snapshot(records, cursor: 1), width: 10, height: 4, glyphs: .ascii)
        expectLines(ascii, ["xxxxxxxxxx",
                            "xab\\n    x",
                            "xcdef    x",
                            "xxxxxxxxxx"])
        let empty = render(DecodingPane(), snapshot(records, cursor: 3), width: 10, height: 4)
        expectLines(empty, ["xxxxxxxxxx",
                            "xab      x",
                            "xcd ef   x",
                            "xxxxxxxxxx"])
        #expect(empty[3, 2].style == Style(Role.tokenCursor, reverse: true))
    }

    @Test("zero-size areas draw nothing")
    func zeroSize() {
        let s = render(DecodingPane(), snapshot(sheep, cursor: 2), width: 4, height: 3, area: Rect(x: 1, y: 1, width: 0, height: 1))
        expectLines(s, ["xxxx", "xxxx", "xxxx"])
        let one = render(DecodingPane(), snapshot(steps(["東", "a"])), width: 3, height: 3)
        expectLines(one, ["xxx", "xax", "xxx"])
    }
}

@Suite("Decoding pane: laying out only the visible tail")
struct DecodingTailTests {
    /// The whole text laid out, as the pane did before it laid out only the tail: the problem,
    /// then `visible` (the records shown, worked out by hand), the cursor kept within them.
    func reference(_ s: WorkbenchSnapshot, visible: [StepRecord], width: Int, height: Int) -> Surface {
        var surface = Surface(width: width, height: height, fill: "x")
        let area = Rect(x: 1, y: 1, width: width - 2, height: height - 2)
        surface.fill(area)
        let cursor = s.cursor.map { min(max(0, $0), visible.count - 1) }
        let flow = TokenFlow(records: visible[...], problem: s.problem, cursor: cursor, width: area.width, glyphs: .unicode)
        let top = DecodingPane.firstVisibleLine(lines: flow.lines.count, height: area.height,
                                                cursorLine: cursor.map { flow.line(ofRecord: $0) }, textTop: flow.textTop)
        DecodingPane.draw(flow, from: top, into: &surface, area: area)
        return surface
    }

    @Test("the tail layout draws exactly what the whole layout draws, at every cursor and size")
    func tailEqualsWhole() throws {
        // words, short and long lines, blank lines, a word longer than the pane, the answer
        let pieces = ["Let", " me", " count", ".", "\n", "\n", "One", " two", " three", " four", " five", "\n",
                      "Supercalifragilisticexpialidocious", " word", "\n", "Wait", ",", " again", ".", "\n\n"]
        var texts: [String] = []
        for i in 0..<400 { texts.append(pieces[(i * 7 + i / 3) % pieces.count]) }
        // and one long paragraph, where a layout started mid-line would wrap differently
        let words = [" one", " three", " seventeen", " a", " twenty-two", ","]
        let paragraph = (0..<400).map { words[($0 * 5 + $0 / 4) % words.count] }
        for texts in [texts, paragraph] {
            try sameAsWhole(texts)
        }
        let records = texts.enumerated().map { step($0.offset, $0.element) }
        // it does lay out only a tail
        #expect(DecodingPane.layoutStart(records, anchor: 399, height: 12, width: 50) > 300)
        #expect(DecodingPane.layoutStart(records, anchor: 3, height: 12, width: 50) == 0)
    }

    /// With and without a problem above the text and a hidden tail at its end.
    func sameAsWhole(_ texts: [String]) throws {
        let records = texts.enumerated().map { step($0.offset, $0.element, H: Double($0.offset % 9) * 0.4,
                                                     phase: $0.offset >= 330 ? .answer : .thinking) }
        let problem = "A farmer has 17 sheep and all but 9 run away.\nHow many are left?"
        // (problem, hidden from record, bytes kept of it)
        let cases: [(String, (record: Int, bytes: Int)?)] = [("", nil), (problem, nil), (problem, (395, 2)), ("", (300, 0))]
        for (problem, hidden) in cases {
            var visible = records
            if let hidden {
                visible = Array(records.prefix(hidden.record + 1))
                visible[hidden.record].text = String(visible[hidden.record].text.prefix(hidden.bytes))   // ASCII texts
            }
            for (w, h) in [(30, 8), (52, 14), (13, 5)] {
                for cursor in [nil, 0, 5, 100, 200, 329, 330, 331, 390, 399] as [Int?] {
                    var s = snapshot(records, cursor: cursor)
                    s.problem = problem
                    s.hiddenFrom = hidden.map { .init(position: records[$0.record].position, visibleBytes: $0.bytes) }
                    let got = render(DecodingPane(), s, width: w, height: h)
                    let want = reference(s, visible: visible, width: w, height: h)
                    let label = "width \(w) height \(h) cursor \(String(describing: cursor)) problem \(!problem.isEmpty) "
                        + "hidden \(String(describing: hidden))"
                    #expect(got.lines == want.lines, "\(label)")
                    #expect((0..<h).allSatisfy { y in (0..<w).allSatisfy { got[$0, y] == want[$0, y] } }, "styles, \(label)")
                }
            }
        }
    }
}

@Suite("Decoding pane: the problem above the text")
struct DecodingProblemTests {
    let sheep = steps(["17", " sheep", ",", " all", " but", " 9", " run", " away", ".", " So", " 9", " are", " left", "."])

    func withProblem(_ records: [StepRecord], _ problem: String, cursor: Int? = nil) -> WorkbenchSnapshot {
        var s = snapshot(records, cursor: cursor)
        s.problem = problem
        return s
    }

    @Test("the problem comes first, word-wrapped and dimmed, then a blank line, then the text")
    func problemFirst() {
        let s = render(DecodingPane(), withProblem(steps(["All", " but", " 9", "."]),
                                                   "  A farmer has 17 sheep.\nHow many are left?\n"), width: 16, height: 9)
        expectLines(s, ["xxxxxxxxxxxxxxxx",
                        "xA farmer has  x",
                        "x17 sheep.     x",
                        "xHow many are  x",
                        "xleft?         x",
                        "x              x",
                        "xAll but 9.    x",
                        "x              x",
                        "xxxxxxxxxxxxxxxx"])
        #expect(cellStyles(s, y: 1, x: 1, count: 12).allSatisfy { $0 == Style(Role.dim, dim: true) })
        #expect(s[1, 6].style == Style(Role.entropy(0)))
    }

    @Test("a long text scrolls the problem out at the top; a cursor on the first line shows it again")
    func scrollsAndHome() {
        let problem = "How many sheep are left?"
        let tail = render(DecodingPane(), withProblem(sheep, problem), width: 14, height: 7)
        expectLines(tail, ["xxxxxxxxxxxxxx",
                           "x            x",
                           "x17 sheep,   x",
                           "xall but 9   x",
                           "xrun away. Sox",
                           "x9 are left. x",
                           "xxxxxxxxxxxxxx"])
        // Home: the cursor on the first token, which the tail shows too, brings the problem back
        let home = render(DecodingPane(), withProblem(sheep, problem, cursor: 0), width: 14, height: 7)
        expectLines(home, ["xxxxxxxxxxxxxx",
                           "xHow many    x",
                           "xsheep are   x",
                           "xleft?       x",
                           "x            x",
                           "x17 sheep,   x",
                           "xxxxxxxxxxxxxx"])
        #expect(home[1, 5].style.reverse && home[1, 1].style == Style(Role.dim, dim: true))
        // a later line leaves the view where it was
        let later = render(DecodingPane(), withProblem(sheep, problem, cursor: 4), width: 14, height: 7)
        expectLines(later, tail.lines)
        // a problem taller than the pane gives way to the cursor's line, at the bottom
        let low = render(DecodingPane(), withProblem(sheep, problem, cursor: 1), width: 14, height: 5)
        expectLines(low, ["xxxxxxxxxxxxxx",
                          "xleft?       x",
                          "x            x",
                          "x17 sheep,   x",
                          "xxxxxxxxxxxxxx"])
    }

    @Test("before the first token: the problem, then the waiting line, following the tail")
    func waitingBelowProblem() {
        let s = render(DecodingPane(), withProblem([], "How many sheep are left?"), width: 14, height: 8)
        expectLines(s, ["xxxxxxxxxxxxxx",
                        "xHow many    x",
                        "xsheep are   x",
                        "xleft?       x",
                        "x            x",
                        "xwaiting for x",
                        "x            x",
                        "xxxxxxxxxxxxxx"])
        #expect(s[1, 5].style == Style(Role.dim, dim: true))
        let short = render(DecodingPane(), withProblem([], "How many sheep are left?"), width: 14, height: 5)
        expectLines(short, ["xxxxxxxxxxxxxx",
                            "xleft?       x",
                            "x            x",
                            "xwaiting for x",
                            "xxxxxxxxxxxxxx"])
        // a blank problem draws nothing extra
        let blank = render(DecodingPane(), withProblem(sheep, " \n "), width: 14, height: 7)
        expectLines(blank, render(DecodingPane(), snapshot(sheep), width: 14, height: 7).lines)
    }
}

@Suite("Decoding pane: the hidden stop string")
struct DecodingHiddenTailTests {
    /// "The answer is 9." and then the stop string "\nProblem:" and a token after it.
    let records = steps(["The", " answer", " is", " 9", ".\nProb", "lem", ":", " What"])

    func hiding(from record: Int, keeping bytes: Int, cursor: Int? = nil, _ records: [StepRecord]? = nil) -> WorkbenchSnapshot {
        let records = records ?? self.records
        var s = snapshot(records, cursor: cursor)
        s.hiddenFrom = .init(position: records[record].position, visibleBytes: bytes)
        return s
    }

    @Test("records from the hidden tail on are not drawn, but for its first record's visible bytes")
    func hidesTail() {
        let s = render(DecodingPane(), hiding(from: 4, keeping: 1), width: 20, height: 4)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxx",
                        "xThe answer is 9.  x",
                        "x                  x",
                        "xxxxxxxxxxxxxxxxxxxx"])
        let whole = render(DecodingPane(), hiding(from: 5, keeping: 0), width: 20, height: 4)
        expectLines(whole, ["xxxxxxxxxxxxxxxxxxxx",
                            "xThe answer is 9.  x",
                            "xProb              x",
                            "xxxxxxxxxxxxxxxxxxxx"])
        // a tail past the end hides nothing; one before the first record hides everything
        var beyond = snapshot(records)
        beyond.hiddenFrom = .init(position: 1_000, visibleBytes: 0)
        expectLines(render(DecodingPane(), beyond, width: 20, height: 4),
                    render(DecodingPane(), snapshot(records), width: 20, height: 4).lines)
        var all = snapshot(records)
        all.hiddenFrom = .init(position: 0, visibleBytes: 3)
        expectLines(render(DecodingPane(), all, width: 20, height: 4), ["xxxxxxxxxxxxxxxxxxxx",
                                                                       "x                  x",
                                                                       "x                  x",
                                                                       "xxxxxxxxxxxxxxxxxxxx"])
    }

    @Test("a cursor on a hidden record stands on the last one shown")
    func cursorOnHidden() {
        let s = render(DecodingPane(), hiding(from: 4, keeping: 1, cursor: 6), width: 20, height: 4)
        expectLines(s, ["xxxxxxxxxxxxxxxxxxxx",
                        "xThe answer is 9.  x",
                        "x                  x",
                        "xxxxxxxxxxxxxxxxxxxx"])
        #expect(s[16, 1].style.reverse && !s[15, 1].style.reverse)
        // with nothing of the first hidden record left, its empty placeholder takes the cursor
        let empty = render(DecodingPane(), hiding(from: 4, keeping: 0, cursor: 7), width: 20, height: 4)
        expectLines(empty, ["xxxxxxxxxxxxxxxxxxxx",
                            "xThe answer is 9   x",
                            "x                  x",
                            "xxxxxxxxxxxxxxxxxxxx"])
        #expect(empty[16, 1].style == Style(Role.tokenCursor, reverse: true))
    }

    @Test("the visible bytes are rounded down to a character boundary")
    func characterBoundary() {
        let wide = steps(["東京", "は"])
        for (bytes, shown) in [(0, ""), (2, ""), (3, "東"), (5, "東"), (6, "東京"), (99, "東京")] {
            let s = render(DecodingPane(), hiding(from: 0, keeping: bytes, wide), width: 8, height: 3)
            expectLines(s, ["xxxxxxxx", "x" + shown + String(repeating: " ", count: 6 - 2 * shown.count) + "x", "xxxxxxxx"])
        }
        // a combining accent belongs to the letter before it
        #expect(VisibleRecords.prefix("cafe\u{301}!", utf8Bytes: 4) == "caf")
        #expect(VisibleRecords.prefix("cafe\u{301}!", utf8Bytes: 6) == "cafe\u{301}")
        #expect(VisibleRecords.prefix("ab", utf8Bytes: -1) == "")
    }
}

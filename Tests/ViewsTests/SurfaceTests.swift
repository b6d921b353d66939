import Testing
@testable import Views

@Suite("Surface, sparkline, box")
struct SurfaceTests {
    @Test("text is clipped to its limit and to the surface")
    func putClips() {
        var s = Surface(width: 6, height: 2, fill: "x")
        #expect(s.put("hello world", x: 1, y: 0, limit: 3) == 3)
        s.put("abcdefgh", x: 3, y: 1)
        s.put("zz", x: 0, y: 5)
        expectLines(s, ["xhelxx", "xxxabc"])
    }

    @Test("a wide character takes two columns: the second a continuation cell that lines skip")
    func wideCharacters() {
        var s = Surface(width: 8, height: 2, fill: "x")
        #expect(s.put("東京ab", x: 1, y: 0) == 6)
        expectLines(s, ["x東京abx", "xxxxxxxx"])
        #expect(s[2, 0].isContinuation)
        #expect(s[1, 0].symbol == "東")
        #expect(!s[3, 0].isContinuation && s[4, 0].isContinuation)
        // a wide character that does not fit in the last column is left out
        #expect(s.put("a東", x: 6, y: 1) == 1)
        expectLines(s, ["x東京abx", "xxxxxxax"])
        #expect(DisplayWidth.of("東京") == 4)
    }

    @Test("writing over half of a wide character blanks the other half")
    func overwriteHalf() {
        var s = Surface(width: 6, height: 1, fill: "x")
        s.put("東京", x: 0, y: 0)
        s.put("a", x: 1, y: 0)           // the right half of 東
        expectLines(s, [" a京xx"])
        s.put("b", x: 2, y: 0)           // the left half of 京
        expectLines(s, [" ab xx"])
        #expect(!s[3, 0].isContinuation)
    }

    @Test("control characters never reach the surface; combining marks join their character")
    func controlsAndCombining() {
        var s = Surface(width: 8, height: 1, fill: "x")
        #expect(s.put("a\tb\u{1B}c\u{7F}d", x: 0, y: 0) == 4)
        expectLines(s, ["abcdxxxx"])
        var t = Surface(width: 4, height: 1, fill: "x")
        #expect(t.put("e\u{301}f", x: 0, y: 0) == 2)       // one grapheme: é
        #expect(t.put("\u{301}", x: 2, y: 0) == 0)        // a lone mark with nothing before it in this write: dropped
        #expect(t.lines == ["\u{E9}fxx"])
        #expect(t.put("a\n b", x: 0, y: 0) == 1)          // a newline ends the write
    }

    @Test("odd inputs: zero-size surfaces, reads out of range, negative origins")
    func oddInputs() {
        var empty = Surface(width: 0, height: 0)
        #expect(empty.put("abc", x: 0, y: 0) == 0)
        #expect(empty.lines == [])
        #expect(empty[3, 3] == Cell())
        var s = Surface(width: 4, height: 1, fill: "x")
        s.put("東abc", x: -1, y: 0)                        // the half-visible wide character is skipped
        expectLines(s, ["xabc"])
        s.fill(Rect(x: -2, y: -2, width: 4, height: 10), with: ".")
        expectLines(s, ["..bc"])
    }

    @Test("a one-row sparkline in eighths, newest at the right, scaled to its maximum")
    func sparklineOneRow() {
        var s = Surface(width: 10, height: 1, fill: "x")
        Sparkline(values: [0, 1, 2, 3, 4, 5, 6, 7, 8]).render(into: &s, area: Rect(x: 0, y: 0, width: 10, height: 1))
        expectLines(s, ["x ▁▂▃▄▅▆▇█"])
    }

    @Test("taller sparklines fill from the bottom; a fixed maximum clips; only the newest values fit")
    func sparklineTall() {
        var s = Surface(width: 5, height: 3, fill: "x")
        Sparkline(values: [9, 1, 4, 8, 20], maximum: 8).render(into: &s, area: Rect(x: 1, y: 1, width: 4, height: 2))
        expectLines(s, ["xxxxx",
                        "x  ██",
                        "x▂███"])
        var a = Surface(width: 4, height: 1, fill: "x")
        Sparkline(values: [0, 0.01, 4, 8]).render(into: &a, area: a.area, glyphs: .ascii)
        expectLines(a, [" .-#"])
    }

    @Test("a band: solid up to each value, dimmed in the band's role from there up to its upper end")
    func sparklineBand() {
        var s = Surface(width: 3, height: 2, fill: "x")
        // values 1, 1, 2 of 4 over two rows (16 eighths): 4, 4 and 8 eighths solid; the second
        // column's band reaches 3 (12 eighths), the third's is below its value (no band)
        Sparkline(values: [1, 1, 2], upper: [nil, 3, 1.5], maximum: 4).render(into: &s, area: s.area)
        // row 0 is the top: only the second column has a band cell there
        expectLines(s, [" ▄ ",
                        "▄▄█"])
        #expect(s[1, 0].style == Style(Role.sparkBand, dim: true))
        #expect(s[1, 1].style == Style(Role.sparkEntropy))
        #expect(s[0, 0].style == Style(Role.sparkEntropy) && s[0, 0].symbol == " ")
        #expect(s[2, 0].style == Style(Role.sparkEntropy))
    }

    @Test("a box: border in pane.border, title in the top border in pane.title, inside untouched")
    func box() {
        var s = Surface(width: 16, height: 5, fill: "x")
        let inner = Box(title: "Decoding").render(into: &s, area: Rect(x: 1, y: 0, width: 14, height: 4), glyphs: .unicode)
        #expect(inner == Rect(x: 2, y: 1, width: 12, height: 2))
        expectLines(s, ["x┌ Decoding ──┐x",
                        "x│xxxxxxxxxxxx│x",
                        "x│xxxxxxxxxxxx│x",
                        "x└────────────┘x",
                        "xxxxxxxxxxxxxxxx"])
        #expect(s[1, 0].style.role == Role.border)
        #expect(s[3, 0].style == Style(Role.title, bold: true))
        #expect(s[14, 0].style.role == Role.border)
    }

    @Test("a narrow box cuts its title with an ellipsis; ASCII boxes; boxes too small draw nothing")
    func boxNarrowAndASCII() {
        var s = Surface(width: 10, height: 3, fill: "x")
        Box(title: "Decoding").render(into: &s, area: s.area, glyphs: .ascii)
        expectLines(s, ["+ De... -+",
                        "|xxxxxxxx|",
                        "+--------+"])
        var u = Surface(width: 9, height: 2, fill: "x")
        Box(title: "東京東京").render(into: &u, area: u.area, glyphs: .unicode)
        expectLines(u, ["┌ 東… ──┐", "└───────┘"])
        var t = Surface(width: 3, height: 3, fill: "x")
        #expect(Box(title: "T").render(into: &t, area: Rect(x: 0, y: 0, width: 1, height: 3), glyphs: .unicode).isEmpty)
        expectLines(t, ["xxx", "xxx", "xxx"])
    }
}

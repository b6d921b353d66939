import Testing
import Views

/// Renders are compared as text against a surface pre-filled with "x", so untouched cells show.
func expectLines(_ s: Surface, _ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(s.lines == expected, Comment(rawValue: "\n" + s.lines.joined(separator: "\n")), sourceLocation: sourceLocation)
}

@Suite("Views")
struct ViewsTests {
    @Test("text is clipped to its limit and to the surface")
    func putClips() {
        var s = Surface(width: 6, height: 2, fill: "x")
        #expect(s.put("hello world", x: 1, y: 0, limit: 3) == 3)
        s.put("abcdefgh", x: 3, y: 1)
        s.put("zz", x: 0, y: 5)
        expectLines(s, ["xhelxx", "xxxabc"])
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
}

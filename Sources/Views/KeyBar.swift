/// The bottom row: the main keys, `space pause  . step  ←→ cursor  r branch  v branches
/// t end-think  ? help  q quit`, as many whole hints as fit. While paused, space reads `resume`. A replay
/// cannot change the run: its row is `space pause  . step  ←→ cursor  +- speed  ? help  q quit`.
public struct KeyBar: Pane {
    public init() {}

    static func hints(_ snapshot: WorkbenchSnapshot, glyphs: Glyphs) -> [(key: String, action: String)] {
        if case .replay(let playing, _) = snapshot.status {
            return [("space", playing ? "pause" : "play"), (".", "step"), (glyphs.leftRight, "cursor"), ("+-", "speed"),
                    ("?", "help"), ("q", "quit")]
        }
        return [("space", snapshot.status == .paused ? "resume" : "pause"), (".", "step"), (glyphs.leftRight, "cursor"),
                ("r", "branch"), ("v", "branches"), ("t", "end-think"), ("?", "help"), ("q", "quit")]
    }

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        let style = Style(Role.keyHint)
        surface.fill(area, style: style)
        guard !area.isEmpty else { return }
        var col = 1
        for (key, action) in Self.hints(snapshot, glyphs: glyphs) {
            let gap = col == 1 ? 0 : 2
            let w = DisplayWidth.of(key) + 1 + action.count
            guard col + gap + w <= area.width else { break }
            col += gap
            col += surface.put([Span(key, Style(Role.keyHint, bold: true)), Span(" " + action, style)],
                               x: area.x + col, y: area.y, limit: area.width - col)
        }
    }
}

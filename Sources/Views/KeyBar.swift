/// The bottom row: the main keys, `space pause  . step  ←→ cursor  : command  r branch
/// v branches  ? help  t end-think  S tune  q quit`, as many whole hints as fit. While the strategy
/// pane has the keys, its own: `↑↓ strategy  ←→ parameter  +- adjust  Enter type a value …`. While paused, space reads `resume`. A replay
/// cannot change the run: its row is `space pause  . step  ←→ cursor  +- speed  ? help  q quit`.
public struct KeyBar: Pane {
    public init() {}

    static func hints(_ snapshot: WorkbenchSnapshot, glyphs: Glyphs) -> [(key: String, action: String)] {
        if snapshot.strategyFocus != nil {
            return [(glyphs.upDown, "strategy"), (glyphs.leftRight, "parameter"), ("+-", "adjust"), ("Enter", "type a value"),
                    ("space", "on/off"), ("Esc", "done")]
        }
        if case .replay(let playing, _) = snapshot.status {
            return [("space", playing ? "pause" : "play"), (".", "step"), (glyphs.leftRight, "cursor"), ("+-", "speed"),
                    ("?", "help"), ("q", "quit")]
        }
        return [("space", snapshot.status == .paused ? "resume" : "pause"), (".", "step"), (glyphs.leftRight, "cursor"),
                (":", "command"), ("r", "branch"), ("v", "branches"), ("?", "help"), ("t", "end-think"), ("S", "tune"),
                ("q", "quit")]
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

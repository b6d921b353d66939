/// Every key and what it does, in a box centred on the area, drawn over whatever is there:
/// the fixed keys, then one row per strategy key from the snapshot.
public struct HelpOverlay: Pane {
    public init() {}

    static func entries(_ snapshot: WorkbenchSnapshot, glyphs: Glyphs) -> [(key: String, action: String)] {
        let arrows = glyphs.leftRight.map(String.init).joined(separator: " ")
        var rows: [(key: String, action: String)] = [
            ("space", "pause / resume generation"),
            (".", "step one token (while paused)"),
            (arrows, "move the cursor over the tokens"),
            ("Home End", "first token / back to the tail"),
            ("r", "branch: regenerate from the cursor"),
            ("t", "end thinking now"),
            ("+ -", "raise / lower the thinking budget"),
        ]
        for s in snapshot.strategies {
            let action = s.key == "k" ? "next KV policy (none, StreamingLLM, H2O)" : "toggle " + s.name
            rows.append((String(s.key), action + (s.available ? "" : " (n/a)")))
        }
        rows.append(("?", "show / hide this help"))
        rows.append(("q", "quit"))
        return rows
    }

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        let rows = Self.entries(snapshot, glyphs: glyphs)
        let keyWidth = rows.map { DisplayWidth.of($0.key) }.max() ?? 0
        let textWidth = rows.map { keyWidth + 2 + DisplayWidth.of($0.action) }.max() ?? 0
        let width = min(area.width, textWidth + 4)
        let height = min(area.height, rows.count + 2)
        guard width >= 3, height >= 3 else { return }
        let box = Rect(x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2,
                       width: width, height: height)
        surface.fill(box, style: Style(Role.help))
        let inner = Box(title: "Keys").render(into: &surface, area: box, glyphs: glyphs)
        // one column of padding inside the border when there is room for it
        let text = inner.width > 2 ? Rect(x: inner.x + 1, y: inner.y, width: inner.width - 2, height: inner.height) : inner
        for (i, row) in rows.prefix(text.height).enumerated() {
            surface.put([Span(Format.pad(row.key, to: keyWidth) + "  ", Style(Role.help, bold: true)),
                         Span(row.action, Style(Role.help))],
                        x: text.x, y: text.y + i, limit: text.width)
        }
    }
}

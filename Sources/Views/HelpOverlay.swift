/// Every key and what it does, in a box centred on the area, drawn over whatever is there:
/// the fixed keys, then one row per strategy key from the snapshot; or, after `:help`, every
/// command of the command line with its arguments. When the rows do not fit
/// the area's height they flow into more columns, as many as the width holds; rows that fit
/// nowhere are counted on the last row.
public struct HelpOverlay: Pane {
    public init() {}

    static func entries(_ snapshot: WorkbenchSnapshot, glyphs: Glyphs) -> [(key: String, action: String)] {
        if snapshot.showCommands {
            var replay = false
            if case .replay = snapshot.status { replay = true }
            return CommandTable.entries.filter { !replay || $0.replay }.map { e in
                (e.arguments.isEmpty ? e.name : e.name + " " + e.arguments, e.help)
            }
        }
        let arrows = glyphs.leftRight.map(String.init).joined(separator: " ")
        if case .replay = snapshot.status {
            // a replay plays a recorded run: its own keys, nothing that would change the run
            return [
                ("space", "play / pause"),
                (".", "step one line"),
                ("+ -", "faster / slower"),
                ("< >", "jump a twentieth back / forward"),
                (":", "command line (goto, export, help)"),
                (arrows, "move the cursor over the tokens"),
                ("Home End", "first token / back to the tail"),
                ("v", "list the branches"),
                ("[ ]", "previous / next branch"),
                ("C", "compare two branches"),
                ("E", "write the HTML report"),
                ("?", "show / hide this help"),
                ("q", "quit"),
            ]
        }
        var rows: [(key: String, action: String)] = [
            ("space", "pause / resume generation"),
            (".", "step one token (while paused)"),
            (arrows, "move the cursor over the tokens"),
            ("Home End", "first token / back to the tail"),
            ("r", "branch: regenerate from the cursor"),
            ("t", "end thinking now"),
            ("+ -", "raise / lower the thinking budget"),
            (":", "command line (help lists commands)"),
            ("S", "tune strategies' parameters"),
        ]
        for s in snapshot.strategies {
            let action = s.key == "k" ? "next KV policy (none, StreamingLLM, H2O)" : "toggle " + s.name
            rows.append((String(s.key), action + (s.available ? "" : " (n/a)")))
        }
        rows += [
            ("1-9 0", "take that alternative (a branch)"),
            ("Tab", "choose in the top-k list"),
            ("v", "list the branches"),
            ("[ ]", "previous / next branch"),
            ("C", "compare two branches"),
            ("E", "write the HTML report"),
        ]
        rows.append(("?", "show / hide this help"))
        rows.append(("q", "quit"))
        return rows
    }

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        let rows = Self.entries(snapshot, glyphs: glyphs)
        let keyWidth = rows.map { DisplayWidth.of($0.key) }.max() ?? 0
        let columnWidth = rows.map { keyWidth + 2 + DisplayWidth.of($0.action) }.max() ?? 0
        // columns of `perColumn` rows, 3 cells apart, as many as needed and as the width holds
        let fitting = max(1, area.height - 2)
        let columns = max(1, min((rows.count + fitting - 1) / fitting, (area.width - 4 + 3) / (columnWidth + 3)))
        let perColumn = min((rows.count + columns - 1) / columns, fitting)
        let width = min(area.width, columns * columnWidth + (columns - 1) * 3 + 4)
        let height = min(area.height, perColumn + 2)
        guard width >= 3, height >= 3 else { return }
        let box = Rect(x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2,
                       width: width, height: height)
        surface.fill(box, style: Style(Role.help))
        let inner = Box(title: snapshot.showCommands ? "Commands (type : then one; Tab completes)" : "Keys")
            .render(into: &surface, area: box, glyphs: glyphs)
        // one column of padding inside the border when there is room for it
        let text = inner.width > 2 ? Rect(x: inner.x + 1, y: inner.y, width: inner.width - 2, height: inner.height) : inner
        // rows that fit nowhere: the last place says how many
        let places = columns * min(perColumn, text.height)
        let clipped = rows.count > places
        for (i, row) in rows.prefix(places).enumerated() {
            let column = i / perColumn, line = i % perColumn
            if clipped, i == places - 1 {
                surface.put(glyphs.ellipsis + " \(rows.count - i) more: a taller window shows every key",
                            x: text.x + column * (columnWidth + 3), y: text.y + line,
                            style: Style(Role.help, dim: true), limit: min(columnWidth, text.maxX - text.x - column * (columnWidth + 3)))
                break
            }
            let x = text.x + column * (columnWidth + 3)
            guard x < text.maxX else { break }
            surface.put([Span(Format.pad(row.key, to: keyWidth) + "  ", Style(Role.help, bold: true)),
                         Span(row.action, Style(Role.help))],
                        x: x, y: text.y + line, limit: min(columnWidth, text.maxX - x))
        }
    }
}

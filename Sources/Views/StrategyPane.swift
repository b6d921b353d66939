/// One row per strategy: its key, its name, `on`/`off` (or a dimmed `n/a` when this model
/// or build cannot run it) and its detail, each row cut to the pane's width:
/// `s SwiReasoning  on  sw 1/2`.
public struct StrategyPane: Pane {
    public init() {}

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        surface.fill(area)
        guard !area.isEmpty else { return }
        guard !snapshot.strategies.isEmpty else {
            surface.put("no strategies", x: area.x, y: area.y, style: Style(Role.dim, dim: true), limit: area.width)
            return
        }
        let nameWidth = min(14, snapshot.strategies.map { DisplayWidth.of($0.name) }.max() ?? 0)
        // when the rows do not all fit, the last one says how many are left out
        let overflow = snapshot.strategies.count > area.height
        let shown = overflow ? area.height - 1 : area.height
        for (i, row) in snapshot.strategies.prefix(shown).enumerated() {
            let spans: [Span]
            let name = Format.pad(Format.clip(row.name, to: nameWidth, glyphs: glyphs), to: nameWidth)
            if row.available {
                let state = row.enabled ? Span("on ", Style(Role.strategyOn, bold: true)) : Span("off", Style(Role.strategyOff))
                spans = [Span(String(row.key), Style(Role.keyHint, bold: true)), Span(" " + name + " "), state,
                         Span(row.detail.isEmpty ? "" : " " + row.detail)]
            } else {
                let dim = Style(Role.strategyUnavailable, dim: true)
                spans = [Span(String(row.key) + " " + name + " ", dim), Span("n/a", dim),
                         Span(row.detail.isEmpty ? "" : " " + row.detail, dim)]
            }
            surface.put(spans, x: area.x, y: area.y + i, limit: area.width)
        }
        if overflow {
            surface.put("+\(snapshot.strategies.count - shown) more", x: area.x, y: area.maxY - 1,
                        style: Style(Role.dim, dim: true), limit: area.width)
        }
    }
}

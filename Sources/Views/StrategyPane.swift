/// One row per strategy: its key, its name, `on`/`off` and its detail, or, when this model
/// or build cannot run it, a dimmed `n/a` and the reason (the detail when none is given):
/// `s SwiReasoning  on  sw 1/2`.
///
/// A detail too long for its row goes on below, under the detail column, broken only
/// between words; a word wider than the column is shortened with the ellipsis. In a narrow
/// panel, where the detail column would be too thin to read (under 6 columns), the detail
/// starts on the next line, indented by two, instead — when every strategy still fits; if not,
/// the rows are drawn without details, so that each strategy's state shows. Strategies
/// are drawn in order while lines remain; when some cannot show at all, the last line says
/// how many are left out, and a strategy cut short ends in the ellipsis.
public struct StrategyPane: Pane {
    public init() {}

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        surface.fill(area)
        guard !area.isEmpty else { return }
        let rows = snapshot.strategies
        guard !rows.isEmpty else {
            surface.put("no strategies", x: area.x, y: area.y, style: Style(Role.dim, dim: true), limit: area.width)
            return
        }
        let focus = snapshot.strategyFocus.map { f in
            WorkbenchSnapshot.StrategyFocus(row: min(max(0, f.row), rows.count - 1), parameter: f.parameter)
        }
        let nameWidth = Self.nameWidth(rows)
        var details = true
        if area.width - (nameWidth + 7) < Self.narrowest,
           Self.lineCount(rows, width: area.width, glyphs: glyphs, focus: focus) > area.height {
            details = false
        }
        // each strategy's lines, the selected one's with its parameters below
        func block(_ i: Int, maxLines: Int = .max) -> [[Span]] {
            var lines = Self.lines(rows[i], nameWidth: nameWidth, width: area.width, maxLines: maxLines, details: details,
                                   glyphs: glyphs)
            guard let focus, focus.row == i else { return lines }
            if var head = lines.first {
                head = head.map { Span($0.text, Style(Role.branchSelected, bold: $0.style.bold, reverse: true)) }
                lines[0] = head
            }
            let room = min(maxLines, area.height - (rows.count > 1 ? 1 : 0)) - lines.count
            return Array((lines + Self.parameterLines(rows[i], selected: focus.parameter, width: area.width,
                                                      maxLines: max(1, room), glyphs: glyphs))
                .prefix(maxLines))
        }
        let wanted = rows.indices.map { block($0).count }
        // with the keys, the selected strategy is kept in view: rows above it give way first
        var first = 0
        if let focus {
            while first < focus.row, wanted[first...focus.row].reduce(0, +) > area.height - 1 { first += 1 }
        }
        // how many strategies from `first` have their first line within `height` lines
        func reached(_ height: Int) -> Int {
            var y = 0, n = 0
            for count in wanted[first...] where y < height { n += 1; y += count }
            return n
        }
        let overflow = first + reached(area.height) < rows.count
        let height = overflow ? area.height - 1 : area.height
        var y = 0
        for i in first..<rows.count where y < height {
            for line in block(i, maxLines: height - y) {
                surface.put(line, x: area.x, y: area.y + y, limit: area.width)
                y += 1
            }
        }
        if overflow {
            let left = rows.count - first - reached(height)
            surface.put("+\(left) more" + (first > 0 ? ", \(first) above" : ""), x: area.x, y: area.maxY - 1,
                        style: Style(Role.dim, dim: true), limit: area.width)
        }
    }

    /// The selected strategy's parameters, one a line (`  threshold 0.95`), the selected one
    /// highlighted, then what it takes; or a line saying it has none. In fewer than
    /// `maxLines`, a window of the parameters around the selected one (and one line of help).
    static func parameterLines(_ row: WorkbenchSnapshot.StrategyRow, selected: Int, width: Int, maxLines: Int = .max,
                               glyphs: Glyphs) -> [[Span]] {
        guard !row.parameters.isEmpty else { return [[Span("  no parameters", Style(Role.dim, dim: true))]] }
        let nameWidth = min(16, row.parameters.map { DisplayWidth.of($0.name) }.max() ?? 0)
        let chosen = min(max(0, selected), row.parameters.count - 1)
        let p = row.parameters[chosen]
        var help = Format.wrap(p.kind.summary + " \(glyphs.dot) " + p.help, width: max(1, width - 3), maxLines: 3, glyphs: glyphs)
        var shown = 0..<row.parameters.count
        if row.parameters.count + help.count > maxLines {
            help = Array(help.prefix(maxLines >= 4 ? 1 : 0))
            let slots = max(1, maxLines - help.count)
            let start = max(0, min(chosen - slots / 2, row.parameters.count - slots))
            shown = start..<min(row.parameters.count, start + slots)
        }
        var lines: [[Span]] = []
        for (i, p) in row.parameters.enumerated() where shown.contains(i) {
            let mark = i == chosen ? glyphs.chosen : " "
            let name = Format.pad(Format.clip(p.name, to: nameWidth, glyphs: glyphs), to: nameWidth)
            let value = Format.clip(p.value, to: max(1, width - nameWidth - 5), glyphs: glyphs)
            let style = i == chosen ? Style(Role.topkSelected, bold: true) : Style.plain
            lines.append([Span(" " + mark + " "), Span(name, i == chosen ? style : Style(Role.dim)), Span(" "), Span(value, style)])
        }
        for text in help { lines.append([Span("   "), Span(text, Style(Role.dim, dim: true))]) }
        return lines
    }

    /// The lines all of `rows` take at `width` columns: what the panel would like to have.
    /// With `focus`, the selected strategy's parameter lines count too.
    public static func lineCount(_ rows: [WorkbenchSnapshot.StrategyRow], width: Int, glyphs: Glyphs,
                                 focus: WorkbenchSnapshot.StrategyFocus? = nil) -> Int {
        let nameWidth = nameWidth(rows)
        var n = rows.reduce(0) { $0 + lines($1, nameWidth: nameWidth, width: width, glyphs: glyphs).count }
        if let focus, rows.indices.contains(focus.row) {
            n += parameterLines(rows[focus.row], selected: focus.parameter, width: width, glyphs: glyphs).count
        }
        return n
    }

    /// the thinnest detail column worth drawing beside the row
    static let narrowest = 6

    /// Names are padded to the longest, up to 14 columns.
    static func nameWidth(_ rows: [WorkbenchSnapshot.StrategyRow]) -> Int {
        min(14, rows.map { DisplayWidth.of($0.name) }.max() ?? 0)
    }

    /// A strategy's lines: its row, then the rest of its detail under the detail column; at
    /// most `maxLines`, the last ending in the ellipsis when the detail is cut short there.
    static func lines(_ row: WorkbenchSnapshot.StrategyRow, nameWidth: Int, width: Int, maxLines: Int = .max,
                      details: Bool = true, glyphs: Glyphs) -> [[Span]] {
        let name = Format.pad(Format.clip(row.name, to: nameWidth, glyphs: glyphs), to: nameWidth)
        let head: [Span], detail: String, style: Style
        if row.available {
            let state = row.enabled ? Span("on ", Style(Role.strategyOn, bold: true)) : Span("off", Style(Role.strategyOff))
            head = [Span(String(row.key), Style(Role.keyHint, bold: true)), Span(" " + name + " "), state]
            detail = row.detail
            style = .plain
        } else {
            let dim = Style(Role.strategyUnavailable, dim: true)
            head = [Span(String(row.key) + " " + name + " ", dim), Span("n/a", dim)]
            detail = row.reason ?? row.detail
            style = dim
        }
        let column = head.reduce(0) { $0 + $1.width } + 1
        if width - column < Self.narrowest {
            guard details, maxLines > 1 else { return [head] }
            let below = Format.wrap(detail, width: width - 2, maxLines: maxLines - 1, glyphs: glyphs)
            return [head] + below.map { [Span("  "), Span($0, style)] }
        }
        let wrapped = Format.wrap(detail, width: width - column, maxLines: maxLines, glyphs: glyphs)
        guard let first = wrapped.first else { return [head] }
        let indent = String(repeating: " ", count: column)
        return [head + [Span(" " + first, style)]] + wrapped.dropFirst().map { [Span(indent), Span($0, style)] }
    }
}

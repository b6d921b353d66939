import Core

/// Two branches side by side from the step where they part (`snapshot.compare`), in place
/// of the panes:
///
/// ```
/// Compare from step 12 ─ 12 tokens shared
/// all but 9 run away. So                            (the shared text's end, dimmed)
/// branch 0: start                  │ branch 2: token " But" (#2)
///  9 are left.                     │  But wait, the question asks …
/// Entropy    ▁▂▅█▃▁                │ ▁▂▅█▃▁▂▂▂
/// Confidence ▇▇█▆▃▇                │ ▇▇█▆▆▇▇█▇
/// ── summary ─────────────────────────────────────────────────
/// thinking tokens   31             │ 57
/// …
///  Esc close · ↑↓ scroll
/// ```
///
/// a title; the end of the text the two share (before the fork), dimmed; the sides' titles
/// (each in its side's role) over two columns holding each side's text from the fork on,
/// flowed and coloured as the decoding pane colours it and scrolled down `scroll` lines
/// (each side no further than its last line shows); a row of entropy and one of confidence
/// (top-1) sparklines, each side from the fork step on a common axis (the same steps per
/// column, the fork at the left edge), the left in `Role.compareLeft`, the right in
/// `Role.compareRight`; then `BranchComparison.rows`, the same summary `thinktop compare`
/// prints, a cell where the right differs from the left in `Role.compareDiffers`; the key
/// hints last.
///
/// Short areas keep the texts (at least 3 rows) and the summary, dropping the sparklines
/// first, then the shared text, then the summary's rule; the texts take what is left.
public struct ComparePane: Pane {
    public init() {}

    /// the texts' rows kept before anything else gets a row
    static let minimumTextRows = 3
    /// lines of the shared text shown at most
    static let sharedLines = 2
    /// the sparklines' labels ("Confidence ")
    static let labelWidth = 11

    /// Where each part goes in an area.
    struct Geometry: Equatable {
        var shared = 0
        var text = 0
        var sparklines = false
        var rule = false
        var summary = 0
        /// the two columns' x offsets (from the area's left) and widths; the separator is at
        /// `leftWidth + 1`
        var leftWidth = 0
        var rightX = 0
        var rightWidth = 0

        /// Rows shared out for an area `width` × `height` (title, shared text, column titles,
        /// texts, sparklines, rule, summary, hints, top to bottom).
        init(width: Int, height: Int, sharedAvailable: Int, summaryRows: Int) {
            leftWidth = max(0, (width - 3) / 2)
            rightX = leftWidth + 3
            rightWidth = max(0, width - rightX)
            var left = max(0, height - 3)               // title, column titles, hints
            text = min(ComparePane.minimumTextRows, left); left -= text
            summary = min(summaryRows, left); left -= summary
            rule = summary > 0 && left >= 1; if rule { left -= 1 }
            shared = min(sharedAvailable, ComparePane.sharedLines, left); left -= shared
            sparklines = left >= 2; if sparklines { left -= 2 }
            text += left
        }
    }

    /// The index of a side's first record at or after `step` (its records count from step 0).
    static func forkIndex(_ records: [StepRecord], step: Int) -> Int {
        records.firstIndex { $0.index >= step } ?? records.count
    }

    /// A side's text from the fork on, flowed to `width`.
    static func flow(_ side: CompareView.Side, forkStep: Int, width: Int, glyphs: Glyphs) -> TokenFlow {
        let records = side.records
        let from = forkIndex(records, step: forkStep)
        return TokenFlow(records: records[from...], previousAnswer: from > 0 && records[from - 1].isAnswer,
                         cursor: nil, width: width, glyphs: glyphs)
    }

    /// The last lines of the text before the fork (the left side's), dimmed, flowed to `width`.
    static func sharedFlow(_ compare: CompareView, width: Int, glyphs: Glyphs) -> TokenFlow {
        let records = compare.left.records
        let end = forkIndex(records, step: compare.forkStep)
        guard end > 0 else { return TokenFlow(records: records[0..<0], cursor: nil, width: width, glyphs: glyphs) }
        let start = DecodingPane.layoutStart(records[..<end], anchor: end - 1, height: sharedLines, width: width)
        return TokenFlow(records: records[start..<end], previousAnswer: start > 0 && records[start - 1].isAnswer,
                         cursor: nil, width: width, dimmed: true, glyphs: glyphs)
    }

    /// The summary's rows for the two sides, as `thinktop compare` has them.
    static func summary(_ compare: CompareView) -> [(String, [String])] {
        BranchComparison.rows([BranchComparison.Column(title: compare.left.title, stats: compare.left.stats),
                               BranchComparison.Column(title: compare.right.title, stats: compare.right.stats)])
    }

    /// How far `scroll` can usefully go on a `width` × `height` terminal: until the longer
    /// text's last line is the texts' last row.
    public static func maxScroll(_ snapshot: WorkbenchSnapshot, width: Int, height: Int, glyphs: Glyphs = .unicode) -> Int {
        guard let compare = snapshot.compare else { return 0 }
        let area = Workbench.compareArea(width: width, height: height)
        let g = geometry(compare, area: area, glyphs: glyphs)
        let lines = [(compare.left, g.leftWidth), (compare.right, g.rightWidth)].map {
            flow($0.0, forkStep: compare.forkStep, width: $0.1, glyphs: glyphs).lines.count
        }
        return max(0, (lines.max() ?? 0) - g.text)
    }

    /// The geometry of `compare` drawn in `area`.
    static func geometry(_ compare: CompareView, area: Rect, glyphs: Glyphs) -> Geometry {
        Geometry(width: area.width, height: area.height,
                 sharedAvailable: sharedFlow(compare, width: area.width, glyphs: glyphs).lines.count,
                 summaryRows: summary(compare).count)
    }

    /// `values` averaged over runs of `per` (the last run may be shorter).
    static func downsample(_ values: [Double], per: Int) -> [Double] {
        guard per > 1 else { return values }
        return stride(from: 0, to: values.count, by: per).map { i in
            let run = values[i..<min(values.count, i + per)].filter(\.isFinite)
            return run.isEmpty ? 0 : run.reduce(0, +) / Double(run.count)
        }
    }

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        surface.fill(area)
        guard !area.isEmpty, let compare = snapshot.compare else { return }
        let summary = Self.summary(compare)
        let shared = Self.sharedFlow(compare, width: area.width, glyphs: glyphs)
        let g = Geometry(width: area.width, height: area.height, sharedAvailable: shared.lines.count,
                         summaryRows: summary.count)
        let sharedCount = Self.forkIndex(compare.left.records, step: compare.forkStep)
        let title = "Compare from step \(compare.forkStep)" + glyphs.separator + "\(sharedCount) tokens shared"
        surface.put(title, x: area.x, y: area.y, style: Style(Role.title, bold: true), limit: area.width)
        guard area.height > 1 else { return }
        hints(into: &surface, row: area.row(area.height - 1), glyphs: glyphs)
        guard area.height > 2 else { return }

        var y = area.y + 1
        DecodingPane.draw(shared, from: shared.lines.count - g.shared,
                          into: &surface, area: Rect(x: area.x, y: y, width: area.width, height: g.shared))
        y += g.shared
        let leftX = area.x, rightX = area.x + g.rightX
        let separatorX = area.x + g.leftWidth + 1
        func separator(_ row: Int) { surface[separatorX, row] = Cell(glyphs.vertical, style: Style(Role.border)) }

        // the sides' titles and texts
        let columns = [(compare.left, leftX, g.leftWidth, Role.compareLeft),
                       (compare.right, rightX, g.rightWidth, Role.compareRight)]
        for (side, x, width, role) in columns {
            // the title in its side's colour: the key to the sparklines below
            surface.put(Format.clip(side.title, to: width, glyphs: glyphs), x: x, y: y, style: Style(role, bold: true),
                        limit: width)
            let flow = Self.flow(side, forkStep: compare.forkStep, width: width, glyphs: glyphs)
            let textArea = Rect(x: x, y: y + 1, width: width, height: g.text)
            if flow.lines.isEmpty, g.text > 0 {
                surface.put("nothing after step \(compare.forkStep) yet", x: x, y: y + 1, style: Style(Role.dim, dim: true),
                            limit: width)
            }
            DecodingPane.draw(flow, from: min(max(0, compare.scroll), max(0, flow.lines.count - g.text)),
                              into: &surface, area: textArea)
        }
        for row in y..<(y + 1 + g.text) { separator(row) }
        y += 1 + g.text

        if g.sparklines {
            sparklines(compare, geometry: g, x: area.x, y: y, into: &surface, glyphs: glyphs)
            separator(y); separator(y + 1)
            y += 2
        }
        if g.rule {
            let h = String(glyphs.horizontal)
            let rule = h + h + " summary " + String(repeating: h, count: max(0, area.width - 11))
            surface.put(rule, x: area.x, y: y, style: Style(Role.border), limit: area.width)
            y += 1
        }
        table(summary, geometry: g, x: area.x, y: y, into: &surface, glyphs: glyphs)
        for row in y..<(y + g.summary) { separator(row) }
    }

    /// The entropy row and the confidence row: each side from the fork step, the same steps
    /// per column on both (as many as make the longer side fit the narrower column).
    private func sparklines(_ compare: CompareView, geometry g: Geometry, x: Int, y: Int, into surface: inout Surface,
                            glyphs: Glyphs) {
        let labelWidth = g.leftWidth >= Self.labelWidth + 8 ? Self.labelWidth : 0
        let sides = [compare.left, compare.right].map { side in
            side.records[Self.forkIndex(side.records, step: compare.forkStep)...]
        }
        let columns = min(g.leftWidth - labelWidth, g.rightWidth)
        guard columns > 0 else { return }
        let longest = sides.map(\.count).max() ?? 0
        let per = max(1, (longest + columns - 1) / columns)
        let bands: [(label: String, value: (StepRecord) -> Double, maximum: Double)] = [
            ("Entropy", { $0.entropy }, EntropyScale.fullScale), ("Confidence", { $0.top1 }, 1),
        ]
        for (row, band) in bands.enumerated() {
            if labelWidth > 0 {
                surface.put(band.label, x: x, y: y + row, style: Style(Role.title), limit: labelWidth - 1)
            }
            for (i, records) in sides.enumerated() {
                let values = Self.downsample(records.map(band.value), per: per)
                let left = i == 0 ? x + labelWidth : x + g.rightX
                Sparkline(values: values, maximum: band.maximum, style: Style(i == 0 ? Role.compareLeft : Role.compareRight))
                    .render(into: &surface, area: Rect(x: left, y: y + row, width: values.count, height: 1), glyphs: glyphs)
            }
        }
    }

    /// The summary's rows: the measure and the left side's value in the left column, the
    /// right side's in the right column, marked where it differs.
    private func table(_ rows: [(String, [String])], geometry g: Geometry, x: Int, y: Int, into surface: inout Surface,
                       glyphs: Glyphs) {
        // the measures' names keep their width while the left values keep 8 columns
        let names = min((rows.map { DisplayWidth.of($0.0) }.max() ?? 0) + 2, max(g.leftWidth / 2, g.leftWidth - 8))
        for (i, (name, values)) in rows.prefix(g.summary).enumerated() {
            let shown = values.map { $0 == "—" ? glyphs.none : $0 }      // Core's "no answer"
            surface.put(Format.clip(name, to: names - 1, glyphs: glyphs), x: x, y: y + i, style: Style(Role.title),
                        limit: names)
            if let left = shown.first {
                surface.put(Format.clip(left, to: g.leftWidth - names, glyphs: glyphs), x: x + names, y: y + i,
                            limit: g.leftWidth - names)
            }
            if shown.count > 1 {
                let style = values[1] != values[0] ? Style(Role.compareDiffers, bold: true) : .plain
                surface.put(Format.clip(shown[1], to: g.rightWidth, glyphs: glyphs), x: x + g.rightX, y: y + i,
                            style: style, limit: g.rightWidth)
            }
        }
    }

    /// "Esc close · ↑↓ scroll" on the key-hint row.
    private func hints(into surface: inout Surface, row: Rect, glyphs: Glyphs) {
        surface.fill(row, style: Style(Role.keyHint))
        let key = Style(Role.keyHint, bold: true), text = Style(Role.keyHint)
        surface.put([Span("Esc", key), Span(" close " + glyphs.dot + " ", text), Span(glyphs.upDown, key),
                     Span(" scroll", text)], x: row.x + 1, y: row.y, limit: max(0, row.width - 1))
    }
}

import Core

/// The branch list, in a box centred on the area, drawn over whatever is there:
///
/// ```
/// ┌ Branches ───────────────────────────────────────────────────────────┐
/// │ branch  fork  cause                 tokens  phase     answer  cache  │
/// │ ● 0           start                 40 tok  done      42      current│
/// │     2   @ 12  token " But" (#2)     31 tok  thinking  —       shared │
/// │   1     @ 5   strategies nowait …   18 tok  answer    41      kept o…│
/// │ ↑↓ choose · Enter switch · c compare with current · Esc close        │
/// └──────────────────────────────────────────────────────────────────────┘
/// ```
///
/// one row per branch in the snapshot's order, which the caller keeps depth first from
/// branch 0 (children in id order): a child is indented two columns a level under its
/// parent (the depth comes from the parent links, not the order). The current branch is
/// marked; the row `branchSelection` indexes is drawn in `Role.branchSelected`. When the
/// causes are too long for the area they are cut first; when the rows do not all fit they
/// scroll to keep the selection in view.
public struct BranchOverlay: Pane {
    public init() {}

    /// The column headings, in the order of `cells`.
    static let headings = ["branch", "fork", "cause", "tokens", "phase", "answer", "cache"]
    /// the widest an answer is shown
    static let answerWidth = 16
    /// the narrowest a cause is cut to before the row itself is cut
    static let causeWidth = 8

    /// Each branch's depth in the tree: 0 for a branch without a parent (or whose parent is
    /// not listed), its parent's plus one otherwise (a cycle stops where it closes).
    static func depths(_ rows: [BranchRow]) -> [Int: Int] {
        let parents = Dictionary(rows.map { ($0.id, $0.parent) }, uniquingKeysWith: { first, _ in first })
        var out: [Int: Int] = [:]
        for row in rows {
            var depth = 0, seen: Set<Int> = [row.id], next = row.parent
            while let p = next, parents[p] != nil, seen.insert(p).inserted {
                depth += 1
                next = parents[p] ?? nil
            }
            out[row.id] = depth
        }
        return out
    }

    /// The row's cells, in the order of `headings`: the current mark, the indent and the id;
    /// "@ 12" (nothing for a branch without a parent); the cause; "31 tok"; the phase; the
    /// answer (or the none glyph); the cache state.
    static func cells(_ row: BranchRow, depth: Int, current: Bool, glyphs: Glyphs) -> [String] {
        let mark = current ? glyphs.current : String(repeating: " ", count: DisplayWidth.of(glyphs.current))
        return [mark + " " + String(repeating: " ", count: 2 * depth) + "\(row.id)",
                row.parent == nil ? "" : "@ \(row.forkStep)",
                row.cause,
                "\(row.length) tok",
                row.phase.rawValue,
                Format.clip(row.answer ?? glyphs.none, to: answerWidth, glyphs: glyphs),
                row.cache]
    }

    /// "↑↓ choose · Enter switch · c compare with current · Esc close".
    static func hint(glyphs: Glyphs) -> String {
        ["\(glyphs.upDown) choose", "Enter switch", "c compare with current", "Esc close"]
            .joined(separator: " \(glyphs.dot) ")
    }

    /// The columns' widths for rows `table` (the headings first) in `room` columns: each as
    /// wide as its widest cell, the cause cut (to no less than `causeWidth`) when they do
    /// not fit with two columns between each.
    static func widths(_ table: [[String]], room: Int) -> [Int] {
        var widths = headings.indices.map { c in table.map { DisplayWidth.of($0[c]) }.max() ?? 0 }
        let total = widths.reduce(0, +) + 2 * (widths.count - 1)
        if total > room { widths[2] = max(causeWidth, widths[2] - (total - room)) }
        return widths
    }

    /// One table row as a line: the cells padded (the cause cut) to `widths`, two spaces
    /// apart; the last one is not padded.
    static func line(_ cells: [String], widths: [Int], glyphs: Glyphs) -> String {
        let padded = zip(cells, widths).map { Format.pad(Format.clip($0, to: $1, glyphs: glyphs), to: $1) }
        return (padded.dropLast() + cells.suffix(1)).joined(separator: "  ")
    }

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        let rows = snapshot.branches
        let depth = Self.depths(rows)
        let table = [Self.headings] + rows.map {
            Self.cells($0, depth: depth[$0.id] ?? 0, current: $0.id == snapshot.currentBranch, glyphs: glyphs)
        }
        let hint = Self.hint(glyphs: glyphs)
        // the box: the text, a column of padding and the border either side
        let widths = Self.widths(table, room: area.width - 4)
        let tableWidth = widths.reduce(0, +) + 2 * (widths.count - 1)
        let width = min(area.width, max(tableWidth, DisplayWidth.of(hint)) + 4)
        let height = min(area.height, rows.count + 4)
        guard width >= 3, height >= 3 else { return }
        let box = Rect(x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2,
                       width: width, height: height)
        surface.fill(box, style: Style(Role.help))
        let inner = Box(title: "Branches").render(into: &surface, area: box, glyphs: glyphs)
        let text = inner.width > 2 ? Rect(x: inner.x + 1, y: inner.y, width: inner.width - 2, height: inner.height) : inner

        // the rows come first, then the hint, then the headings, as the height allows
        let hasHint = text.height >= 2, hasHeadings = text.height >= 3
        let room = text.height - (hasHint ? 1 : 0) - (hasHeadings ? 1 : 0)
        var y = text.y
        if hasHeadings {
            surface.put(Format.clip(Self.line(table[0], widths: widths, glyphs: glyphs), to: text.width, glyphs: glyphs),
                        x: text.x, y: y,
                        style: Style(Role.help, bold: true), limit: text.width)
            y += 1
        }
        let selection = rows.isEmpty ? 0 : min(max(0, snapshot.branchSelection), rows.count - 1)
        let first = max(0, min(selection - room + 1, rows.count - room))
        for i in first..<min(rows.count, first + max(0, room)) {
            let selected = i == selection
            let style = Style(selected ? Role.branchSelected : Role.help)
            if selected { surface.fill(Rect(x: inner.x, y: y, width: inner.width, height: 1), style: style) }
            surface.put(Format.clip(Self.line(table[i + 1], widths: widths, glyphs: glyphs), to: text.width, glyphs: glyphs),
                        x: text.x, y: y, style: style, limit: text.width)
            if rows[i].id == snapshot.currentBranch {
                surface.put(glyphs.current, x: text.x, y: y, style: Style(style.role, bold: true), limit: text.width)
            }
            y += 1
        }
        if hasHint {
            surface.put(hint, x: text.x, y: text.maxY - 1, style: Style(Role.help, dim: true), limit: text.width)
        }
    }
}

import Core

/// The thinking budget: `think ██████▍░░░ 356/512` (a gauge in eighths of a cell, with the
/// mark where thinking was force-ended), or `think 356  no budget`; then the answer token
/// count; then one row per enabled strategy with its live state (`detail`, ending at a word
/// with an ellipsis when it does not fit).
public struct BudgetPane: Pane {
    public init() {}

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        surface.fill(area)
        guard !area.isEmpty else { return }
        // counted, not filtered: a frame must not copy every record of a long run
        // (read through a pointer: `records[i].phase` copies the whole record, retains and all)
        var thinking = 0, answer = 0
        snapshot.records.withUnsafeBufferPointer { rs in
            for i in rs.indices {
                let phase = rs.baseAddress!.advanced(by: i).pointee.phase
                if phase == .thinking { thinking += 1 } else if phase == .answer || phase == .done { answer += 1 }
            }
        }
        let label = "think "

        if let budget = snapshot.thinkingBudget {
            let count = " \(thinking)/\(budget)"
            let barWidth = area.width - label.count - count.count
            if barWidth >= 3 {
                surface.put(label, x: area.x, y: area.y, style: Style(Role.phaseThinking), limit: area.width)
                let forcedAt = snapshot.forcedEndAt.map { end in
                    snapshot.records.withUnsafeBufferPointer { rs in
                        rs.indices.reduce(0) { n, i in rs[i].phase == .thinking && rs[i].index < end ? n + 1 : n }
                    }
                }
                gauge(used: thinking, budget: budget, forcedAt: forcedAt,
                      area: Rect(x: area.x + label.count, y: area.y, width: barWidth, height: 1),
                      surface: &surface, glyphs: glyphs)
                surface.put(count, x: area.x + label.count + barWidth, y: area.y, limit: count.count)
            } else {
                surface.put([Span(label, Style(Role.phaseThinking)), Span(String(count.dropFirst()))],
                            x: area.x, y: area.y, limit: area.width)
            }
        } else {
            surface.put([Span(label, Style(Role.phaseThinking)), Span("\(thinking)"),
                         Span("  no budget", Style(Role.dim, dim: true))],
                        x: area.x, y: area.y, limit: area.width)
        }

        var y = area.y + 1
        guard y < area.maxY else { return }
        var answerRow = [Span("answer ", Style(Role.phaseAnswer)), Span("\(answer)")]
        if let end = snapshot.forcedEndAt {
            answerRow.append(Span("  forced at #\(end)", Style(Role.gaugeForced)))
        }
        surface.put(answerRow, x: area.x, y: y, limit: area.width)
        y += 1
        for row in snapshot.strategies where row.enabled && row.available {
            guard y < area.maxY else { break }
            // one line each: a detail that does not fit ends at a word, with an ellipsis
            let room = area.width - DisplayWidth.of(row.name) - 1
            let detail = room > 0 ? Format.wrap(row.detail, width: room, maxLines: 1, glyphs: glyphs).first ?? "" : ""
            surface.put([Span(row.name + " ", Style(Role.strategyOn)), Span(detail)], x: area.x, y: y, limit: area.width)
            y += 1
        }
    }

    /// The bar: used eighths in `gaugeUsed`, the rest `gaugeFree`, and the forced-end mark.
    private func gauge(used: Int, budget: Int, forcedAt: Int?, area: Rect, surface: inout Surface, glyphs: Glyphs) {
        let fraction = budget > 0 ? min(1, Double(used) / Double(budget)) : (used > 0 ? 1 : 0)
        let eighths = Int((fraction * Double(area.width * 8)).rounded())
        for i in 0..<area.width {
            let filled = min(8, max(0, eighths - i * 8))
            let cell = filled == 0 ? Cell(glyphs.gaugeFree, style: Style(Role.gaugeFree))
                                   : Cell(glyphs.hbars[filled], style: Style(Role.gaugeUsed))
            surface[area.x + i, area.y] = cell
        }
        if let at = forcedAt {
            let fractionAt = budget > 0 ? min(1, Double(at) / Double(budget)) : 1
            let column = min(area.width - 1, Int(fractionAt * Double(area.width)))
            surface[area.x + column, area.y] = Cell(glyphs.gaugeForced, style: Style(Role.gaugeForced, bold: true))
        }
    }
}

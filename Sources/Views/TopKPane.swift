import Core

/// The distribution at the focus token (the cursor's, else the newest):
///
/// ```
/// #41  H 0.84  margin 0.19
/// chose " Wait" 0.41
/// ▸" Wait"  0.41 ███▎
///  " So"    0.22 █▊
/// ```
///
/// a header with the step, entropy and margin; the token the model took (quoted, with
/// newlines and control characters made visible) and its probability, marked latent or
/// forced when it was; then the alternatives by probability with a bar of that
/// probability (a full bar is p = 1), the chosen one marked in `Role.topkChosen`.
public struct TopKPane: Pane {
    public init() {}

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        surface.fill(area)
        guard !area.isEmpty else { return }
        guard let r = snapshot.focusRecord else {
            surface.put("no token yet", x: area.x, y: area.y, style: Style(Role.dim, dim: true), limit: area.width)
            return
        }
        let step = "#\(r.index)", m = Format.fixed(r.margin, 2)
        // a partial distribution (a server's top k): the entropy is a bracket
        let b = r.entropyBounds
        let h = r.isExact ? Format.fixed(r.entropy, 2) : "[\(Format.fixed(b.lowerBound, 2)), \(Format.fixed(b.upperBound, 2))]"
        let full = "  H \(h)  margin \(m)"
        let header = step.count + full.count <= area.width ? full : " H \(h.replacingOccurrences(of: ", ", with: ",")) m \(m)"
        surface.put([Span(step, Style(Role.title)), Span(header)], x: area.x, y: area.y, limit: area.width)
        guard area.height > 1 else { return }

        let chosenStyle = Style(Role.topkChosen, bold: true)
        var chose = [Span("chose "), Span(Format.token(r.text, glyphs: glyphs), chosenStyle),
                     Span(" " + Format.fixed(r.prob, 2))]
        if r.input != .explicit { chose.append(Span(" " + r.input.rawValue, Style(Role.dim, dim: true))) }
        surface.put(chose, x: area.x, y: area.y + 1, limit: area.width)

        // the mass no listed token holds, on the last row (a partial distribution's is exact)
        let rest = r.missingMass.map { "outside the top \(r.top.count): \(Format.fixed($0, 2))" }
        let shown = r.top.prefix(area.height - 2 - (rest == nil ? 0 : 1))
        if let rest, area.height > 2 {
            surface.put(rest, x: area.x, y: area.y + 2 + shown.count, style: Style(Role.dim, dim: true), limit: area.width)
        }
        guard !shown.isEmpty else { return }
        let texts = shown.map { Format.token($0.text, glyphs: glyphs) }
        let markWidth = DisplayWidth.of(glyphs.chosen)
        let fixedWidth = markWidth + 1 + 4 + 1          // mark, gap, "0.41", gap
        let textWidth = max(4, min(texts.map { DisplayWidth.of($0) }.max() ?? 0, area.width - fixedWidth - 3))
        let barWidth = area.width - fixedWidth - textWidth
        for (i, alt) in shown.enumerated() {
            let y = area.y + 2 + i
            let isChosen = alt.id == r.token
            let text = Format.pad(Format.clip(texts[i], to: textWidth, glyphs: glyphs), to: textWidth)
            var col = surface.put([Span(isChosen ? glyphs.chosen : String(repeating: " ", count: markWidth), chosenStyle),
                                   Span(text, isChosen ? chosenStyle : .plain),
                                   Span(" " + Format.fixed(alt.p, 2) + " ")],
                                  x: area.x, y: y, limit: area.width)
            guard barWidth > 0 else { continue }
            let p = alt.p.isFinite ? min(1, max(0, alt.p)) : 0
            var eighths = Int((p * Double(barWidth * 8)).rounded())
            while eighths > 0, col < area.width {
                surface[area.x + col, y] = Cell(glyphs.hbars[min(8, eighths)], style: Style(Role.topkBar))
                eighths -= 8
                col += 1
            }
        }
    }
}

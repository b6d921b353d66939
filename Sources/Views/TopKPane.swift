import Core

/// The distribution at the focus token (the cursor's, else the newest):
///
/// ```
/// #41  H 0.84  margin 0.19
/// chose " Wait" 0.41
/// 1▸" Wait"  0.41 ███▎
/// 2 " So"    0.22 █▊
/// ```
///
/// a header with the step, entropy and margin; the token the model took (quoted, with
/// newlines and control characters made visible) and its probability, marked latent or
/// forced when it was; then the alternatives by probability with a bar of that
/// probability (a full bar is p = 1), the chosen one marked in `Role.topkChosen`. The
/// first ten alternatives are numbered 1…9, 0 (the digit that picks them, `row(forDigit:)`);
/// the row `topKSelection` names is drawn whole in `Role.topkSelected`, and the rows
/// scroll to keep it in view when they do not all fit.
public struct TopKPane: Pane {
    public init() {}

    /// The digit that picks alternative `row` (0-based): "1"…"9", then "0" for the tenth;
    /// nil past it.
    public static func digit(forRow row: Int) -> Character? {
        guard (0..<10).contains(row) else { return nil }
        return Character(String((row + 1) % 10))
    }

    /// The alternative (0-based row) a digit key picks: 1…9 the first nine, 0 the tenth.
    public static func row(forDigit digit: Character) -> Int? {
        guard let d = digit.wholeNumberValue, (0...9).contains(d), digit.isASCII else { return nil }
        return d == 0 ? 9 : d - 1
    }

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
        // the rows scroll to keep the selected alternative in view
        let rows = max(0, area.height - 2 - (rest == nil ? 0 : 1))
        let first = max(0, min((snapshot.topKSelection ?? 0) - rows + 1, r.top.count - rows))
        let shown = Array(r.top.dropFirst(first).prefix(rows))
        if let rest, area.height > 2 {
            surface.put(rest, x: area.x, y: area.y + 2 + shown.count, style: Style(Role.dim, dim: true), limit: area.width)
        }
        guard !shown.isEmpty else { return }
        let texts = shown.map { Format.token($0.text, glyphs: glyphs) }
        let markWidth = DisplayWidth.of(glyphs.chosen)
        let fixedWidth = 1 + markWidth + 1 + 4 + 1      // digit, mark, gap, "0.41", gap
        let textWidth = max(4, min(texts.map { DisplayWidth.of($0) }.max() ?? 0, area.width - fixedWidth - 3))
        let barWidth = area.width - fixedWidth - textWidth
        let selectedStyle = Style(Role.topkSelected, bold: true)
        for (k, alt) in shown.enumerated() {
            let y = area.y + 2 + k, i = first + k
            let isChosen = alt.id == r.token
            let selected = i == snapshot.topKSelection
            if selected { surface.fill(Rect(x: area.x, y: y, width: area.width, height: 1), style: selectedStyle) }
            func styled(_ style: Style) -> Style { selected ? selectedStyle : style }
            let text = Format.pad(Format.clip(texts[k], to: textWidth, glyphs: glyphs), to: textWidth)
            var col = surface.put([Span(Self.digit(forRow: i).map(String.init) ?? " ", styled(Style(Role.keyHint))),
                                   Span(isChosen ? glyphs.chosen : String(repeating: " ", count: markWidth),
                                        styled(chosenStyle)),
                                   Span(text, styled(isChosen ? chosenStyle : .plain)),
                                   Span(" " + Format.fixed(alt.p, 2) + " ", styled(.plain))],
                                  x: area.x, y: y, limit: area.width)
            guard barWidth > 0 else { continue }
            let p = alt.p.isFinite ? min(1, max(0, alt.p)) : 0
            var eighths = Int((p * Double(barWidth * 8)).rounded())
            while eighths > 0, col < area.width {
                surface[area.x + col, y] = Cell(glyphs.hbars[min(8, eighths)], style: styled(Style(Role.topkBar)))
                eighths -= 8
                col += 1
            }
        }
    }
}

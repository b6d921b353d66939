import Core

/// The entropy and confidence sparklines of the tokens up to the focus (the cursor's
/// token, else the newest), one band each: the entropy band takes the upper half of the
/// rows (one row when the area has only one), the confidence band the rest.
///
/// Each band's bottom row reads `Entropy    ▁▂▅█▃▁  H 0.84  mean 0.61 ↓` (the current
/// entropy, the sliding-window mean `windowMean` and the window's trend) and
/// `Confidence ▇▇█▆▃▇  p1 0.91`. Entropy is drawn against `EntropyScale.fullScale`,
/// confidence against 1. The label goes first when the area is narrow, then the values.
/// A token whose distribution was partial (a server's top k) has its entropy as a band: solid
/// up to the bracket's lower end, dimmed up to its upper end, and the value reads
/// `H [0.81,1.20]`.
public struct SignalsPane: Pane {
    /// a trend flatter than this (nats per token) draws as flat
    public static let flatTrend = 0.01

    public init() {}

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        surface.fill(area)
        guard !area.isEmpty else { return }
        let entropyRows = area.height == 1 ? 1 : (area.height + 1) / 2
        let focus = snapshot.focusRecordIndex
        // no sparkline shows more values than the area is wide
        let window = focus.map { Array(snapshot.records[max(0, $0 - area.width + 1)...$0]) } ?? []
        let current = window.last

        let entropyValues: String
        if let r = current {
            let b = r.entropyBounds
            let h = r.isExact ? Format.fixed(r.entropy, 2) : "[\(Format.fixed(b.lowerBound, 2)),\(Format.fixed(b.upperBound, 2))]"
            entropyValues = "H \(h)  mean \(Format.fixed(r.windowMean, 2)) \(Self.arrow(r.trend, glyphs))"
        } else {
            entropyValues = "H -     mean -    " + glyphs.trendFlat
        }
        let confidenceValues = "p1 " + (current.map { Format.fixed($0.top1, 2) } ?? "-   ")
        // both bands keep or drop their labels together, so their sparklines line up
        let widest = max(DisplayWidth.of(entropyValues), DisplayWidth.of(confidenceValues))
        let labelWidth = area.width >= Self.labelWidth + Self.minimumSpark + 1 + widest ? Self.labelWidth : 0
        band(label: "Entropy", labelWidth: labelWidth, values: entropyValues, series: window.map(\.entropy),
             upper: window.map { $0.isExact ? nil : $0.entropyBounds.upperBound },
             maximum: EntropyScale.fullScale, role: Role.sparkEntropy,
             area: Rect(x: area.x, y: area.y, width: area.width, height: entropyRows),
             surface: &surface, glyphs: glyphs)
        guard area.height > entropyRows else { return }
        band(label: "Confidence", labelWidth: labelWidth, values: confidenceValues,
             series: window.map(\.top1), maximum: 1, role: Role.sparkConfidence,
             area: Rect(x: area.x, y: area.y + entropyRows, width: area.width, height: area.height - entropyRows),
             surface: &surface, glyphs: glyphs)
    }

    /// The trend arrow: rising, falling, or flat within `flatTrend`.
    static func arrow(_ slope: Double, _ glyphs: Glyphs) -> String {
        guard slope.isFinite, abs(slope) >= flatTrend else { return glyphs.trendFlat }
        return slope > 0 ? glyphs.trendUp : glyphs.trendDown
    }

    private static let labelWidth = 11   // "Confidence "
    private static let minimumSpark = 8

    private func band(label: String, labelWidth: Int, values: String, series: [Double], upper: [Double?] = [],
                      maximum: Double, role: String, area: Rect, surface: inout Surface, glyphs: Glyphs) {
        let valueWidth = DisplayWidth.of(values)
        let valuesShown = area.width >= labelWidth + Self.minimumSpark + 1 + valueWidth
        let sparkWidth = area.width - labelWidth - (valuesShown ? valueWidth + 1 : 0)
        let bottom = area.maxY - 1
        if labelWidth > 0 {
            surface.put(label, x: area.x, y: bottom, style: Style(Role.title), limit: labelWidth - 1)
        }
        if sparkWidth > 0 {
            Sparkline(values: series, upper: upper, maximum: maximum, style: Style(role))
                .render(into: &surface, area: Rect(x: area.x + labelWidth, y: area.y, width: sparkWidth, height: area.height),
                        glyphs: glyphs)
        }
        if valuesShown {
            surface.put(values, x: area.maxX - valueWidth, y: bottom, style: .plain, limit: valueWidth)
        }
    }
}

/// A sparkline: one column per value, the newest at the right, scaled in eighths of a cell
/// over the area's height. Values above `maximum` are drawn full; negative or non-finite
/// values draw empty. With `upper`, each column is a band: solid up to its value, dimmed
/// from there up to its upper value (a quantity known only within bounds, such as the entropy
/// of a server's top-k distribution).
public struct Sparkline: Sendable {
    public var values: [Double]
    /// the upper ends of the bands, one per value (nil, or a value no larger than its own:
    /// a plain column)
    public var upper: [Double?]
    /// the value drawn as a full column (nil: the largest value shown)
    public var maximum: Double?
    public var style: Style
    public var bandStyle: Style

    public init(values: [Double], upper: [Double?] = [], maximum: Double? = nil, style: Style = Style(Role.sparkEntropy),
                bandStyle: Style = Style(Role.sparkBand, dim: true)) {
        self.values = values; self.upper = upper; self.maximum = maximum; self.style = style; self.bandStyle = bandStyle
    }

    /// eighths of `total` a value fills against `top`
    private static func eighths(_ v: Double, top: Double, total: Int) -> Int {
        guard top > 0, v.isFinite, v > 0 else { return 0 }
        return max(1, Int((min(v, top) / top * Double(total)).rounded()))   // a positive value is never invisible
    }

    public func render(into surface: inout Surface, area: Rect, glyphs: Glyphs = .unicode) {
        guard !area.isEmpty else { return }
        let shown = values.suffix(area.width)
        let uppers = shown.indices.map { i -> Double? in
            let j = i - values.startIndex
            return j < upper.count ? upper[j] : nil
        }
        let top = maximum ?? (shown.filter(\.isFinite) + uppers.compactMap { $0 }.filter(\.isFinite)).max() ?? 0
        let eighthsTotal = area.height * 8
        let startX = area.maxX - shown.count
        for (i, v) in shown.enumerated() {
            let solid = Self.eighths(v, top: top, total: eighthsTotal)
            let band = uppers[i].map { Self.eighths($0, top: top, total: eighthsTotal) } ?? 0
            for row in 0..<area.height {
                // rows from the bottom: row 0 is the lowest; a cell the value reaches is solid,
                // a cell only the band reaches is dimmed
                let filled = min(8, max(0, solid - row * 8))
                let banded = min(8, max(0, band - row * 8))
                if filled == 0 && banded > 0 {
                    surface[startX + i, area.maxY - 1 - row] = Cell(glyphs.bars[banded], style: bandStyle)
                } else {
                    surface[startX + i, area.maxY - 1 - row] = Cell(glyphs.bars[filled], style: style)
                }
            }
        }
    }
}

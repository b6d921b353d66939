/// A sparkline: one column per value, the newest at the right, scaled in eighths of a cell
/// over the area's height. Values above `maximum` are drawn full; negative or non-finite
/// values draw empty.
public struct Sparkline: Sendable {
    public var values: [Double]
    /// the value drawn as a full column (nil: the largest value shown)
    public var maximum: Double?
    public var style: Style

    public init(values: [Double], maximum: Double? = nil, style: Style = Style(Role.sparkEntropy)) {
        self.values = values; self.maximum = maximum; self.style = style
    }

    public func render(into surface: inout Surface, area: Rect, glyphs: Glyphs = .unicode) {
        guard !area.isEmpty else { return }
        let shown = values.suffix(area.width)
        let top = maximum ?? shown.filter(\.isFinite).max() ?? 0
        let eighthsTotal = area.height * 8
        let startX = area.maxX - shown.count
        for (i, v) in shown.enumerated() {
            var eighths = 0
            if top > 0, v.isFinite, v > 0 {
                eighths = Int((min(v, top) / top * Double(eighthsTotal)).rounded())
                if eighths == 0 { eighths = 1 }   // a positive value is never invisible
            }
            for row in 0..<area.height {
                // rows from the bottom: row 0 is the lowest
                let filled = min(8, max(0, eighths - row * 8))
                surface[startX + i, area.maxY - 1 - row] = Cell(glyphs.bars[filled], style: style)
            }
        }
    }
}

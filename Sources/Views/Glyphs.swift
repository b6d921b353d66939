/// Every glyph the panes draw with, in one place, with an ASCII set for terminals whose
/// locale is not UTF-8.
public struct Glyphs: Sendable, Equatable {
    /// vertical bars from empty to full in eighths of a cell (index 0…8)
    public let bars: [Character]

    public static let unicode = Glyphs(bars: [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"])
    public static let ascii = Glyphs(bars: [" ", ".", ".", "-", "-", "=", "=", "#", "#"])
}

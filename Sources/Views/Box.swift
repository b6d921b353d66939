/// A bordered box with its title in the top border: `┌ Title ─────┐`. Borders are drawn
/// with `Role.border`, the title with `Role.title`; the inside is left as it is.
public struct Box: Sendable {
    public var title: String

    public init(title: String = "") { self.title = title }

    /// The part of `area` inside the border.
    public static func inner(_ area: Rect) -> Rect { area.inset(by: 1) }

    /// Draws the border and the title (cut to fit) and returns the inner rectangle. A box
    /// less than 2×2 draws nothing.
    @discardableResult
    public func render(into surface: inout Surface, area: Rect, glyphs: Glyphs) -> Rect {
        guard area.width >= 2, area.height >= 2 else { return Rect(x: area.x, y: area.y, width: 0, height: 0) }
        let border = Style(Role.border)
        let top = area.y, bottom = area.maxY - 1, left = area.x, right = area.maxX - 1
        for x in left + 1..<right {
            surface[x, top] = Cell(glyphs.horizontal, style: border)
            surface[x, bottom] = Cell(glyphs.horizontal, style: border)
        }
        for y in top + 1..<bottom {
            surface[left, y] = Cell(glyphs.vertical, style: border)
            surface[right, y] = Cell(glyphs.vertical, style: border)
        }
        surface[left, top] = Cell(glyphs.topLeft, style: border)
        surface[right, top] = Cell(glyphs.topRight, style: border)
        surface[left, bottom] = Cell(glyphs.bottomLeft, style: border)
        surface[right, bottom] = Cell(glyphs.bottomRight, style: border)

        // "┌ Title ─┐": a space either side of the title, at least one line cell after it
        let room = area.width - 5
        if !title.isEmpty, room > 0 {
            let shown = Format.clip(title, to: room, glyphs: glyphs)
            surface[left + 1, top] = Cell(" ", style: border)
            let used = surface.put(shown, x: left + 2, y: top, style: Style(Role.title, bold: true), limit: room)
            surface[left + 2 + used, top] = Cell(" ", style: border)
        }
        return Box.inner(area)
    }
}

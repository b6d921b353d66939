/// A rectangle of cells on a surface.
public struct Rect: Equatable, Sendable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = max(0, width); self.height = max(0, height)
    }
    public var isEmpty: Bool { width == 0 || height == 0 }
    public var maxX: Int { x + width }
    public var maxY: Int { y + height }
}

/// How a cell looks, by meaning rather than by colour: a theme maps `role`
/// (e.g. `sparkline.entropy`, `kv.latent`) to colours when the terminal draws it.
public struct Style: Equatable, Hashable, Sendable {
    public var role: String
    public var bold: Bool
    public var reverse: Bool
    public var underline: Bool
    public var dim: Bool

    public init(_ role: String = Role.text, bold: Bool = false, reverse: Bool = false, underline: Bool = false, dim: Bool = false) {
        self.role = role; self.bold = bold; self.reverse = reverse; self.underline = underline; self.dim = dim
    }

    public static let plain = Style()
}

public struct Cell: Equatable, Sendable {
    public var symbol: Character
    public var style: Style
    public init(_ symbol: Character = " ", style: Style = .plain) {
        self.symbol = symbol; self.style = style
    }
}

/// An in-memory frame: what panes draw into and what the terminal layer diffs and sends.
/// Views never touch the terminal; tests compare a surface's text with expected lines.
public struct Surface: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]

    public init(width: Int, height: Int, fill: Character = " ") {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: Cell(fill), count: self.width * self.height)
    }

    public var area: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            cells[y * width + x] = newValue
        }
    }

    /// Writes `text` from (x, y) without wrapping, clipped to `limit` columns (and the surface).
    /// Returns the number of columns written. One character is one column (wide
    /// characters are the terminal layer's business).
    @discardableResult
    public mutating func put(_ text: String, x: Int, y: Int, style: Style = .plain, limit: Int? = nil) -> Int {
        guard y >= 0, y < height else { return 0 }
        let end = min(width, limit.map { x + $0 } ?? width)
        var col = x
        for ch in text {
            if col >= end { break }
            if ch == "\n" { break }
            if col >= 0 { self[col, y] = Cell(ch, style: style) }
            col += 1
        }
        return max(0, col - x)
    }

    /// The surface as text, one string per row.
    public var lines: [String] {
        (0..<height).map { y in String((0..<width).map { cells[y * width + $0].symbol }) }
    }
}

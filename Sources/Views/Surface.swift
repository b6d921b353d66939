/// A rectangle of cells on a surface.
public struct Rect: Equatable, Sendable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = max(0, width); self.height = max(0, height)
    }
    public var isEmpty: Bool { width == 0 || height == 0 }
    public var maxX: Int { x + width }
    public var maxY: Int { y + height }

    /// The rectangle shrunk by `by` cells on every side (empty when nothing is left).
    public func inset(by n: Int) -> Rect {
        Rect(x: x + n, y: y + n, width: width - 2 * n, height: height - 2 * n)
    }

    /// The common part of two rectangles (empty, at `self`'s origin, when they do not meet).
    public func intersection(_ other: Rect) -> Rect {
        let x0 = max(x, other.x), y0 = max(y, other.y)
        let x1 = min(maxX, other.maxX), y1 = min(maxY, other.maxY)
        guard x1 > x0, y1 > y0 else { return Rect(x: x, y: y, width: 0, height: 0) }
        return Rect(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// Row `i` of the rectangle (empty when out of range).
    public func row(_ i: Int) -> Rect {
        guard i >= 0, i < height else { return Rect(x: x, y: y, width: 0, height: 0) }
        return Rect(x: x, y: y + i, width: width, height: 1)
    }
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

/// One column of a surface.
///
/// A wide character (display width 2, e.g. "東") occupies two cells: the first holds the
/// character, the second is a *continuation* cell (`isContinuation`, symbol " ", same
/// style) that stands for the right half. The terminal layer draws the first cell and
/// skips continuation cells; `Surface.lines` skips them too, so a row reads as text
/// ("東京ab" for six columns). Writing over either half of a wide character blanks the
/// other half, so a surface never holds half a character.
public struct Cell: Equatable, Sendable {
    public var symbol: Character
    public var style: Style
    /// the right half of the wide character in the cell to the left
    public var isContinuation: Bool

    public init(_ symbol: Character = " ", style: Style = .plain) {
        self.symbol = symbol; self.style = style; self.isContinuation = false
    }

    /// The right half of a wide character drawn with `style`.
    public static func continuation(_ style: Style) -> Cell {
        var cell = Cell(" ", style: style)
        cell.isContinuation = true
        return cell
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

    /// Whether `cell` is the right half of a wide character: the terminal layer skips these
    /// (drawing the character in the cell to the left fills both columns).
    public static func isContinuation(_ cell: Cell) -> Bool { cell.isContinuation }

    /// Reads return a blank cell outside the surface; writes outside are ignored. Writing
    /// over half of a wide character blanks its other half.
    public subscript(x: Int, y: Int) -> Cell {
        get {
            guard x >= 0, y >= 0, x < width, y < height else { return Cell() }
            return cells[y * width + x]
        }
        set {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let i = y * width + x
            if cells[i].isContinuation, !newValue.isContinuation, x > 0 {
                cells[i - 1] = Cell(" ", style: cells[i - 1].style)      // the left half loses its right half
            }
            if x + 1 < width, cells[i + 1].isContinuation {
                cells[i + 1] = Cell(" ", style: cells[i + 1].style)      // an orphaned right half
            }
            cells[i] = newValue
        }
    }

    /// Fills `rect` (clipped to the surface) with `symbol` in `style`.
    public mutating func fill(_ rect: Rect, with symbol: Character = " ", style: Style = .plain) {
        let r = rect.intersection(area)
        for y in r.y..<r.maxY where !r.isEmpty {
            for x in r.x..<r.maxX { self[x, y] = Cell(symbol, style: style) }
        }
    }

    /// Writes `text` from (x, y) without wrapping, clipped to `limit` columns (and the
    /// surface). Returns the number of columns used.
    ///
    /// Each character takes its display width (`DisplayWidth`): a wide character takes
    /// two cells (the second a continuation cell) and is left out when only one column
    /// remains; a zero-width character (a lone combining mark) joins the character before
    /// it when they form one grapheme, else it is dropped. A newline ends the write; other
    /// control characters are dropped (callers that want them visible escape them first).
    @discardableResult
    public mutating func put(_ text: String, x: Int, y: Int, style: Style = .plain, limit: Int? = nil) -> Int {
        guard y >= 0, y < height else { return 0 }
        let end = min(width, limit.map { x + max(0, $0) } ?? width)
        var col = x
        for ch in text {
            if ch.isNewline { break }
            guard let w = DisplayWidth.of(ch) else { continue }
            if w == 0 {
                attach(ch, before: col, y: y, from: x)
                continue
            }
            if col + w > end { break }
            if col >= 0 {
                self[col, y] = Cell(ch, style: style)
                if w == 2 { self[col + 1, y] = .continuation(style) }
            }
            col += w
        }
        return max(0, col - x)
    }

    /// Joins a zero-width character to the cell left of `col` when that cell was written by
    /// this `put` and the two make one grapheme.
    private mutating func attach(_ mark: Character, before col: Int, y: Int, from start: Int) {
        var x = col - 1
        while x >= start, x >= 0, self[x, y].isContinuation { x -= 1 }
        guard x >= start, x >= 0, x < width else { return }
        let joined = String(self[x, y].symbol) + String(mark)
        guard joined.count == 1, let combined = joined.first else { return }
        cells[y * width + x].symbol = combined
    }

    /// The surface as text, one string per row; continuation cells are skipped, so a wide
    /// character reads as one character.
    public var lines: [String] {
        (0..<height).map { y in
            String((0..<width).compactMap { x -> Character? in
                let cell = cells[y * width + x]
                return cell.isContinuation ? nil : cell.symbol
            })
        }
    }
}

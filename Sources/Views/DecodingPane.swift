import Core

/// The generated text, token by token, flowed and word-wrapped to the pane's width.
///
/// Each token's cells carry its entropy bucket's role (`EntropyScale`); answer tokens are
/// bold and begin below a `── answer ──` marker line when thinking came before them;
/// latent tokens are underlined; forced tokens are bold in `Role.tokenForced`; tokens a
/// strategy suppressed are in `Role.tokenSuppressed`; the cursor's token is reversed (an
/// empty or newline-only token at the cursor shows a reversed placeholder, ⏎ for a
/// newline). Newlines break lines, tabs become spaces up to the next multiple of 4
/// columns, other control characters show as the control glyph (·).
///
/// Without a cursor the pane follows the tail. With one, it shows the tail while the
/// cursor's line is in it, and otherwise centres the cursor's line.
public struct DecodingPane: Pane {
    public init() {}

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        surface.fill(area)
        guard !area.isEmpty else { return }
        guard !snapshot.records.isEmpty else {
            surface.put("waiting for the first token" + glyphs.ellipsis, x: area.x, y: area.y,
                        style: Style(Role.dim, dim: true), limit: area.width)
            return
        }
        let cursor = snapshot.clampedCursor
        // only the text that can show is laid out: from a line start far enough above the
        // cursor (or the tail) to fill the pane, so a frame costs the same at 100 tokens as at 100,000
        let start = Self.layoutStart(snapshot.records, anchor: cursor ?? snapshot.records.count - 1,
                                     height: area.height, width: area.width)
        let flow = TokenFlow(records: snapshot.records[start...], previousAnswer: start > 0 && snapshot.records[start - 1].isAnswer,
                             cursor: cursor, width: area.width, glyphs: glyphs)
        let top = Self.firstVisibleLine(lines: flow.lines.count, height: area.height,
                                        cursorLine: cursor.map { flow.line(ofRecord: $0) })
        Self.draw(flow, from: top, into: &surface, area: area)
    }

    /// The flow's lines from `top` on, as many as the area holds.
    static func draw(_ flow: TokenFlow, from top: Int, into surface: inout Surface, area: Rect) {
        for (row, line) in flow.lines.dropFirst(top).prefix(area.height).enumerated() {
            var x = area.x
            for cell in line {
                surface[x, area.y + row] = Cell(cell.symbol, style: cell.style)
                if cell.width == 2 { surface[x + 1, area.y + row] = .continuation(cell.style) }
                x += cell.width
            }
        }
    }

    /// The first record to lay out: just after a newline (where layout starts afresh), with at
    /// least `height + 1` lines' worth of text (newlines, or `width` columns) between it and
    /// the anchor; 0 when the text is shorter.
    static func layoutStart(_ records: [StepRecord], anchor: Int, height: Int, width: Int) -> Int {
        var newlines = 0, chars = 0
        var i = min(anchor, records.count - 1)
        while i > 0 {
            let text = records[i].text
            newlines += text.reduce(0) { $1.isNewline ? $0 + 1 : $0 }
            chars += text.count
            if newlines > height + 1 || chars > (height + 1) * max(1, width) { break }
            i -= 1
        }
        // back to the first record after a newline
        while i > 0 && !records[i - 1].text.contains(where: \.isNewline) { i -= 1 }
        return max(0, i)
    }

    /// The first line shown: the tail, unless the cursor's line is above it, then the
    /// cursor's line centred (clamped to the text).
    static func firstVisibleLine(lines: Int, height: Int, cursorLine: Int?) -> Int {
        let tail = max(0, lines - height)
        guard let c = cursorLine, c < tail else { return tail }
        return min(tail, max(0, c - height / 2))
    }

    /// How a token is drawn, before the cursor's reverse.
    static func style(of record: StepRecord) -> Style {
        var style = Style(EntropyScale.role(record.entropy), bold: record.isAnswer)
        if record.isSuppressed { style.role = Role.tokenSuppressed }
        if record.input == .latent { style.underline = true }
        if record.input == .forced { style.role = Role.tokenForced; style.bold = true }
        return style
    }
}

/// The tokens' text laid out in lines of at most `width` columns.
struct TokenFlow {
    struct FlowCell {
        var symbol: Character
        var width: Int
        var style: Style
        var record: Int?
        var isSpace = false
    }

    private(set) var lines: [[FlowCell]] = []
    /// for each record laid out (from `first`), the line its first cell is on (or where it
    /// would be, if it has none)
    private(set) var firstLine: [Int] = []
    private var first = 0

    /// The line record `i` (an index into the whole record list) starts on.
    func line(ofRecord i: Int) -> Int {
        guard !firstLine.isEmpty else { return 0 }
        return firstLine[min(max(0, i - first), firstLine.count - 1)]
    }

    private let width: Int
    private var current: [FlowCell] = []
    private var used = 0
    /// index in `current` just after its last space: where the line may be broken
    private var breakIndex: Int?

    /// `records` may be a tail of the run (indices are the run's), starting after a newline.
    /// `previousAnswer`: whether the record before the slice was an answer token (the answer
    /// marker goes where the answer begins).
    init(records: ArraySlice<StepRecord>, previousAnswer: Bool = false, cursor: Int?, width: Int, glyphs: Glyphs) {
        self.width = max(1, width)
        first = records.startIndex
        var anchors: [Int] = []
        var previousAnswer = previousAnswer
        for i in records.indices {
            let record = records[i]
            if record.isAnswer, !previousAnswer, i > 0 { addMarker(glyphs: glyphs) }
            previousAnswer = record.isAnswer
            anchors.append(lines.count)
            addToken(record, index: i, isCursor: i == cursor, glyphs: glyphs)
        }
        if !current.isEmpty { breakLine() }

        firstLine = anchors
        var seen = Set<Int>()
        for (n, line) in lines.enumerated() {
            for cell in line {
                if let r = cell.record, seen.insert(r).inserted { firstLine[r - first] = n }
            }
        }
        firstLine = firstLine.map { min($0, max(0, lines.count - 1)) }
    }

    private mutating func addToken(_ record: StepRecord, index: Int, isCursor: Bool, glyphs: Glyphs) {
        var style = DecodingPane.style(of: record)
        if isCursor { style.reverse = true }
        var visible = 0
        func cell(_ c: Character, _ w: Int, _ s: Style = style, space: Bool = false) -> FlowCell {
            FlowCell(symbol: c, width: w, style: s, record: index, isSpace: space)
        }
        for ch in record.text {
            if ch.isNewline {
                if isCursor, visible == 0 {
                    for c in glyphs.newline { add(cell(c, 1, Style(Role.tokenCursor, reverse: true))) }
                    visible += 1
                }
                breakLine()
            } else if ch == "\t" {
                for _ in 0..<(4 - used % 4) { add(cell(" ", 1, space: true)) }
                visible += 1
            } else if let w = DisplayWidth.of(ch) {
                if w == 0 { attach(ch); continue }
                add(cell(ch, w, space: ch == " "))
                visible += 1
            } else {
                add(cell(glyphs.control, 1))
                visible += 1
            }
        }
        if isCursor, visible == 0 { add(cell(" ", 1, Style(Role.tokenCursor, reverse: true))) }
    }

    /// "── answer ───…" on a line of its own.
    private mutating func addMarker(glyphs: Glyphs) {
        if !current.isEmpty { breakLine() }
        let style = Style(Role.phaseAnswer, dim: true)
        let h = glyphs.horizontal
        let text = String([h, h]) + " answer " + String(repeating: String(h), count: width)
        var line: [FlowCell] = []
        var w = 0
        for ch in text where w < width {
            line.append(FlowCell(symbol: ch, width: 1, style: style, record: nil))
            w += 1
        }
        lines.append(line)
    }

    private mutating func add(_ cell: FlowCell) {
        guard cell.width <= width else { return }
        if cell.isSpace {
            // a space that does not fit becomes the line break
            if used + cell.width > width { breakLine(); return }
            current.append(cell); used += cell.width
            breakIndex = current.count
            return
        }
        if used + cell.width > width {
            if let b = breakIndex, b > 0 {
                // carry the word after the last space to the next line
                let word = Array(current[b...])
                current.removeSubrange(b...)
                breakLine()
                current = word
                used = word.reduce(0) { $0 + $1.width }
                if used + cell.width > width { breakLine() }   // a word longer than the line
            } else {
                breakLine()
            }
        }
        current.append(cell); used += cell.width
    }

    /// A zero-width character joins the last cell when they make one grapheme.
    private mutating func attach(_ mark: Character) {
        guard let last = current.last else { return }
        let joined = String(last.symbol) + String(mark)
        if joined.count == 1, let c = joined.first { current[current.count - 1].symbol = c }
    }

    private mutating func breakLine() {
        lines.append(current)
        current = []
        used = 0
        breakIndex = nil
    }
}

import Core
import Foundation

/// The problem being solved, dimmed, then the generated text, token by token, flowed and
/// word-wrapped to the pane's width.
///
/// Each token's cells carry its entropy bucket's role (`EntropyScale`); answer tokens are
/// bold and begin below a `── answer ──` marker line when thinking came before them;
/// latent tokens are underlined; forced tokens are bold in `Role.tokenForced`; tokens a
/// strategy suppressed are in `Role.tokenSuppressed`; the cursor's token is reversed (an
/// empty or newline-only token at the cursor shows a reversed placeholder, ⏎ for a
/// newline). Newlines break lines, tabs become spaces up to the next multiple of 4
/// columns, other control characters show as the control glyph (·). The snapshot's hidden
/// tail (the stop string) is not drawn: the output reads as `thinktop run` prints it.
/// Where another branch forks off the text (`forkMarks`), a one-cell fork glyph in
/// `Role.branchFork` stands before the token's first visible character (before the whole
/// token when it has none); it flows and wraps with the word like a character of text.
///
/// The problem and a blank line come before the first token, so they scroll out of view
/// at the top as the text grows. Without a cursor the pane follows the tail. With one on
/// the text's first line (Home), it shows as much of the problem above it as fits; on a
/// later line, the tail while the cursor's line is in it, else the cursor's line centred.
public struct DecodingPane: Pane {
    public init() {}

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        surface.fill(area)
        guard !area.isEmpty else { return }
        let records = snapshot.visibleRecords
        // a cursor on the hidden tail stands on the last record shown
        let cursor = records.isEmpty ? nil : snapshot.clampedCursor.map { min($0, records.count - 1) }
        // only the text that can show is laid out: from a line start far enough above the
        // cursor (or the tail) to fill the pane, so a frame costs the same at 100 tokens as at
        // 100,000; the problem is above the first record, so it is laid out only from there
        let start = records.isEmpty ? 0 : Self.layoutStart(records, anchor: cursor ?? records.count - 1,
                                                            height: area.height, width: area.width)
        let flow = TokenFlow(records: records[start...], previousAnswer: start > 0 && records[start - 1].isAnswer,
                             problem: start == 0 ? snapshot.problem : "", cursor: cursor, width: area.width,
                             forks: Set(snapshot.forkMarks.keys), glyphs: glyphs)
        // before the first token, a line below the problem says the run is on its way
        let waiting = snapshot.records.isEmpty
        let top = Self.firstVisibleLine(lines: flow.lines.count + (waiting ? 1 : 0), height: area.height,
                                        cursorLine: cursor.map { flow.line(ofRecord: $0) }, textTop: flow.textTop)
        Self.draw(flow, from: top, into: &surface, area: area)
        if waiting {
            surface.put("waiting for the first token" + glyphs.ellipsis, x: area.x, y: area.y + flow.lines.count - top,
                        style: Style(Role.dim, dim: true), limit: area.width)
        }
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
    static func layoutStart<Records: RandomAccessCollection>(_ records: Records, anchor: Int, height: Int,
                                                             width: Int) -> Int
    where Records.Element == StepRecord, Records.Index == Int {
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

    /// The first line shown. With the cursor on the text's first line (`textTop`, below the
    /// problem): that line as low as the pane allows, so the problem shows above it. Else the
    /// tail, unless the cursor's line is above it; then the cursor's line centred (clamped to
    /// the text).
    static func firstVisibleLine(lines: Int, height: Int, cursorLine: Int?, textTop: Int = 0) -> Int {
        let tail = max(0, lines - height)
        guard let c = cursorLine else { return tail }
        if c <= textTop { return min(tail, max(0, c - (height - 1))) }
        guard c < tail else { return tail }
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
    /// the line the generated text begins on, below the problem and a blank line (0 without one)
    private(set) var textTop = 0

    /// The line record `i` (an index into the whole record list) starts on.
    func line(ofRecord i: Int) -> Int {
        guard !firstLine.isEmpty else { return 0 }
        return firstLine[min(max(0, i - first), firstLine.count - 1)]
    }

    private let width: Int
    /// every token drawn dimmed (the compare view's shared text)
    private let dimmed: Bool
    private var current: [FlowCell] = []
    private var used = 0
    /// index in `current` just after its last space: where the line may be broken
    private var breakIndex: Int?

    /// `records` may be a tail of the run (indices are the run's), starting after a newline.
    /// `previousAnswer`: whether the record before the slice was an answer token (the answer
    /// marker goes where the answer begins). `problem`, when not blank, goes first, dimmed,
    /// with a blank line after it. `forks`: the steps (records' `index`) whose token gets the
    /// fork mark. `dimmed`: every token in `Role.dim` instead of its own style (shared text).
    init<Records: RandomAccessCollection>(records: Records, previousAnswer: Bool = false, problem: String = "",
                                          cursor: Int?, width: Int, forks: Set<Int> = [], dimmed: Bool = false,
                                          glyphs: Glyphs)
    where Records.Element == StepRecord, Records.Index == Int {
        self.width = max(1, width)
        self.dimmed = dimmed
        first = records.startIndex
        addProblem(problem, glyphs: glyphs)
        var anchors: [Int] = []
        var previousAnswer = previousAnswer
        for i in records.indices {
            let record = records[i]
            if record.isAnswer, !previousAnswer, i > 0 { addMarker(glyphs: glyphs) }
            previousAnswer = record.isAnswer
            anchors.append(lines.count)
            addToken(record, index: i, isCursor: i == cursor, fork: forks.contains(record.index), glyphs: glyphs)
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

    private mutating func addToken(_ record: StepRecord, index: Int, isCursor: Bool, fork: Bool = false,
                                   glyphs: Glyphs) {
        var style = dimmed ? Style(Role.dim, dim: true) : DecodingPane.style(of: record)
        if isCursor { style.reverse = true }
        var visible = 0
        func cell(_ c: Character, _ w: Int, _ s: Style = style, space: Bool = false) -> FlowCell {
            FlowCell(symbol: c, width: w, style: s, record: index, isSpace: space)
        }
        // the fork mark goes before the first character that is not white space (a token
        // of white space only: before the token)
        var markPending = fork
        if fork, !record.text.contains(where: { !$0.isWhitespace }) {
            add(cell(glyphs.fork, 1, Style(Role.branchFork, bold: true)))
            markPending = false
        }
        for ch in record.text {
            if markPending, !ch.isWhitespace {
                add(cell(glyphs.fork, 1, Style(Role.branchFork, bold: true)))
                markPending = false
            }
            if ch.isNewline {
                if isCursor, visible == 0 {
                    for c in glyphs.newline { add(cell(c, 1, Style(Role.tokenCursor, reverse: true))) }
                    visible += 1
                }
                breakLine()
            } else if addCharacter(ch, style: style, record: index, glyphs: glyphs) {
                visible += 1
            }
        }
        if isCursor, visible == 0 { add(cell(" ", 1, Style(Role.tokenCursor, reverse: true))) }
    }

    /// The problem, dimmed, its ends trimmed, then a blank line; nothing when it is blank.
    private mutating func addProblem(_ problem: String, glyphs: Glyphs) {
        let text = problem.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return }
        let style = Style(Role.dim, dim: true)
        for ch in text {
            if ch.isNewline { breakLine() } else { addCharacter(ch, style: style, record: nil, glyphs: glyphs) }
        }
        breakLine()
        breakLine()
        textTop = lines.count
    }

    /// A character other than a newline: a tab as spaces to the next multiple of 4 columns, a
    /// zero-width one joined to the cell before, a control character as the control glyph.
    /// Whether it took a column.
    @discardableResult
    private mutating func addCharacter(_ ch: Character, style: Style, record: Int?, glyphs: Glyphs) -> Bool {
        if ch == "\t" {
            for _ in 0..<(4 - used % 4) { add(FlowCell(symbol: " ", width: 1, style: style, record: record, isSpace: true)) }
        } else if let w = DisplayWidth.of(ch) {
            if w == 0 { attach(ch); return false }
            add(FlowCell(symbol: ch, width: w, style: style, record: record, isSpace: ch == " "))
        } else {
            add(FlowCell(symbol: glyphs.control, width: 1, style: style, record: record))
        }
        return true
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

/// The `:` line being typed: its text, where the cursor is, and what is said under it (an
/// error, the choices Tab found, or what the command takes).
public struct CommandLineView: Equatable, Sendable {
    public var text: String
    /// the cursor, in characters from the start of `text`
    public var cursor: Int
    public var message: String?
    public var isError = false
    public var candidates: [String] = []

    public init(text: String = "", cursor: Int? = nil, message: String? = nil, isError: Bool = false) {
        self.text = text
        self.cursor = cursor ?? text.count
        self.message = message
        self.isError = isError
    }

    // editing, as a shell line does (the message goes with any edit)

    public mutating func insert(_ s: String) {
        let i = text.index(text.startIndex, offsetBy: cursor)
        text.insert(contentsOf: s, at: i)
        cursor += s.count
        quiet()
    }

    /// Backspace: the character before the cursor.
    public mutating func deleteBackward() {
        guard cursor > 0 else { return }
        let i = text.index(text.startIndex, offsetBy: cursor - 1)
        text.remove(at: i)
        cursor -= 1
        quiet()
    }

    /// Delete: the character under the cursor.
    public mutating func deleteForward() {
        guard cursor < text.count else { return }
        text.remove(at: text.index(text.startIndex, offsetBy: cursor))
        quiet()
    }

    /// Ctrl-W: the word before the cursor (and the spaces after it).
    public mutating func deleteWord() {
        var chars = Array(text)
        var i = cursor
        while i > 0 && chars[i - 1] == " " { i -= 1 }
        while i > 0 && chars[i - 1] != " " { i -= 1 }
        chars.removeSubrange(i..<cursor)
        text = String(chars)
        cursor = i
        quiet()
    }

    /// Ctrl-U: everything before the cursor.
    public mutating func deleteToStart() {
        text = String(text.dropFirst(cursor))
        cursor = 0
        quiet()
    }

    public mutating func move(by delta: Int) { cursor = max(0, min(text.count, cursor + delta)) }
    public mutating func moveHome() { cursor = 0 }
    public mutating func moveEnd() { cursor = text.count }

    /// A whole new text (history, completion), the cursor at its end.
    public mutating func replace(with s: String) {
        text = s
        cursor = s.count
    }

    private mutating func quiet() {
        message = nil
        isError = false
        candidates = []
    }
}

/// The command line over the bottom two rows: `:` and the text with the cursor on the upper,
/// and under it the error, Tab's choices or the hint of what the command takes.
public struct CommandLinePane {
    public init() {}

    public func render(_ line: CommandLineView, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        guard area.height >= 2, area.width >= 4 else { return }
        let input = Rect(x: area.x, y: area.maxY - 2, width: area.width, height: 1)
        let below = Rect(x: area.x, y: area.maxY - 1, width: area.width, height: 1)
        surface.fill(input, style: Style(Role.text))
        surface.fill(below, style: Style(Role.keyHint))
        // the text scrolls so that the cursor stays in view
        let room = area.width - 2
        let chars = Array(line.text)
        let start = max(0, line.cursor - room + 1)
        let shown = String(chars[min(start, chars.count)..<min(chars.count, start + room)])
        surface.put(":", x: input.x, y: input.y, style: Style(Role.keyHint, bold: true))
        let used = surface.put(shown, x: input.x + 1, y: input.y, style: Style(Role.text), limit: room)
        // the cursor: the character under it in reverse, or a reversed blank at the end
        let cursorX = input.x + 1 + DisplayWidth.of(String(chars[min(start, chars.count)..<min(line.cursor, chars.count)]))
        let under = line.cursor < chars.count ? String(chars[line.cursor]) : " "
        if cursorX < input.maxX { surface.put(under, x: cursorX, y: input.y, style: Style(Role.text, reverse: true), limit: 2) }
        _ = used
        let message: String
        let style: Style
        if let m = line.message {
            message = m
            style = line.isError ? Style(Role.notice, bold: true) : Style(Role.keyHint)
        } else if !line.candidates.isEmpty {
            message = line.candidates.joined(separator: "  ")
            style = Style(Role.keyHint)
        } else {
            message = "Enter run  Tab complete  \(glyphs.upDown) history  Esc close"
            style = Style(Role.keyHint, dim: true)
        }
        surface.put(Format.clip(message, to: below.width - 1, glyphs: glyphs), x: below.x + 1, y: below.y, style: style, limit: below.width - 1)
    }
}

/// Every glyph the panes draw with, in one place, with an ASCII set for terminals whose
/// locale is not UTF-8. Panes never spell a drawing character themselves.
public struct Glyphs: Sendable, Equatable {
    /// vertical bars from empty to full in eighths of a cell (index 0…8): sparklines
    public let bars: [Character]
    /// horizontal bars from empty to full in eighths of a cell (index 0…8): gauges, top-k bars
    public let hbars: [Character]

    // box drawing
    public let horizontal: Character
    public let vertical: Character
    public let topLeft: Character
    public let topRight: Character
    public let bottomLeft: Character
    public let bottomRight: Character
    /// ├ and ┤: a horizontal line meeting a vertical one
    public let teeRight: Character
    public let teeLeft: Character

    /// between the segments of the status bar
    public let separator: String
    /// text cut short
    public let ellipsis: String
    /// width × height in messages
    public let times: String
    public let trendUp: String
    public let trendDown: String
    public let trendFlat: String
    /// the run state in the status bar
    public let running: String
    public let paused: String
    public let stopped: String
    /// escapes that make invisible text visible: newline, tab, other control characters
    public let newline: String
    public let tab: String
    public let control: Character
    /// the chosen row in the top-k inspector
    public let chosen: String
    /// the cursor keys in hints and help
    public let leftRight: String
    /// the up and down keys in hints
    public let upDown: String
    /// between the parts of a hint or a status segment ("branch 2/3 · shared")
    public let dot: String
    /// the one-cell mark before a token where another branch forks off the text
    public let fork: Character
    /// the current branch in the branch list
    public let current: String
    /// a value that is not there (no answer yet)
    public let none: String
    /// free part of a gauge, and the mark where thinking was force-ended
    public let gaugeFree: Character
    public let gaugeForced: Character
    /// KV-cache map cells by kind
    public let kvPrompt: Character
    public let kvThinking: Character
    public let kvLatent: Character
    public let kvAnswer: Character
    public let kvEvicted: Character
    public let kvFree: Character

    public static let unicode = Glyphs(
        bars: [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"],
        hbars: [" ", "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"],
        horizontal: "─", vertical: "│", topLeft: "┌", topRight: "┐", bottomLeft: "└", bottomRight: "┘",
        teeRight: "├", teeLeft: "┤",
        separator: " ─ ", ellipsis: "…", times: "×", trendUp: "↑", trendDown: "↓", trendFlat: "→",
        running: "▶", paused: "❚❚", stopped: "■",
        newline: "⏎", tab: "⇥", control: "·", chosen: "▸", leftRight: "←→",
        upDown: "↑↓", dot: "·", fork: "⑂", current: "●", none: "—",
        gaugeFree: "░", gaugeForced: "┃",
        kvPrompt: "█", kvThinking: "▓", kvLatent: "▒", kvAnswer: "░", kvEvicted: "·", kvFree: " ")

    public static let ascii = Glyphs(
        bars: [" ", ".", ".", "-", "-", "=", "=", "#", "#"],
        hbars: [" ", " ", " ", "-", "-", "=", "=", "#", "#"],
        horizontal: "-", vertical: "|", topLeft: "+", topRight: "+", bottomLeft: "+", bottomRight: "+",
        teeRight: "+", teeLeft: "+",
        separator: " - ", ellipsis: "...", times: "x", trendUp: "^", trendDown: "v", trendFlat: "-",
        running: ">", paused: "||", stopped: "#",
        newline: "\\n", tab: "\\t", control: ".", chosen: ">", leftRight: "<>",
        upDown: "^v", dot: "|", fork: "^", current: "*", none: "-",
        gaugeFree: ".", gaugeForced: "|",
        kvPrompt: "#", kvThinking: "=", kvLatent: "~", kvAnswer: "-", kvEvicted: "x", kvFree: " ")
}

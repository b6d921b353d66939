import Foundation

/// A run of text in one style; rows of panes are built from spans.
struct Span {
    var text: String
    var style: Style
    init(_ text: String, _ style: Style = .plain) { self.text = text; self.style = style }

    var width: Int { DisplayWidth.of(text) }
}

extension Surface {
    /// Writes spans one after another from (x, y), clipped to `limit` columns; returns the
    /// columns used.
    @discardableResult
    mutating func put(_ spans: [Span], x: Int, y: Int, limit: Int) -> Int {
        var used = 0
        for span in spans where used < limit {
            used += put(span.text, x: x + used, y: y, style: span.style, limit: limit - used)
        }
        return used
    }
}

/// Number and text formatting shared by the panes.
enum Format {
    /// `value` with `digits` decimals; "-" when not finite.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "-" }
        return String(format: "%.\(digits)f", value)
    }

    /// A rate: one decimal below 10, none above.
    static func rate(_ value: Double) -> String {
        guard value.isFinite, value >= 0 else { return "-" }
        return value < 10 ? fixed(value, 1) : fixed(value, 0)
    }

    /// "18.2 / 64.0 MiB" when both sides suit one unit, else "12.0 MiB / 128.0 GiB".
    static func bytes(_ used: Int, of capacity: Int) -> String {
        let (u, uUnit) = binary(used), (c, cUnit) = binary(capacity)
        return uUnit == cUnit ? "\(u) / \(c) \(cUnit)" : "\(u) \(uUnit) / \(c) \(cUnit)"
    }

    /// A byte count with one decimal in KiB, MiB or GiB, whichever keeps it at least 1.
    private static func binary(_ bytes: Int) -> (String, String) {
        let units: [(name: String, size: Double)] = [("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024)]
        let (name, size) = units.first { Double(bytes) >= $0.size } ?? ("KiB", 1024)
        return (fixed(Double(bytes) / size, 1), name)
    }

    /// `text` cut to `width` columns, ending in the ellipsis when it was cut.
    static func clip(_ text: String, to width: Int, glyphs: Glyphs) -> String {
        guard width > 0 else { return "" }
        if DisplayWidth.of(text) <= width { return text }
        let room = width - DisplayWidth.of(glyphs.ellipsis)
        guard room > 0 else { return String(repeating: ".", count: width) }
        var out = "", used = 0
        for ch in text {
            let w = max(0, DisplayWidth.of(ch) ?? 0)
            if used + w > room { break }
            out.append(ch); used += w
        }
        return out + glyphs.ellipsis
    }

    /// `text` in lines of at most `width` columns, broken only at spaces (runs of spaces are
    /// kept within a line and dropped at a break); a word wider than a line is shortened with
    /// the ellipsis. When it needs more than `maxLines` lines, the last one kept ends in the
    /// ellipsis after as many of its words as leave room for it (its first word shortened
    /// when none does).
    static func wrap(_ text: String, width: Int, maxLines: Int = .max, glyphs: Glyphs) -> [String] {
        guard width > 0, maxLines > 0 else { return [] }
        typealias Word = (gap: Int, text: String)
        var words: [Word] = []
        var gap = 0
        for piece in text.split(separator: " ", omittingEmptySubsequences: false) {
            if piece.isEmpty { gap += 1; continue }
            words.append((gap, clip(String(piece), to: width, glyphs: glyphs)))
            gap = 1
        }
        var lines: [[Word]] = [], line: [Word] = [], used = 0
        for word in words {
            let w = DisplayWidth.of(word.text)
            if !line.isEmpty, used + word.gap + w <= width {
                line.append(word); used += word.gap + w
            } else {
                if !line.isEmpty { lines.append(line) }
                line = [word]; used = w
            }
        }
        if !line.isEmpty { lines.append(line) }
        func joined(_ line: [Word]) -> String {
            line.enumerated().map { ($0.offset == 0 ? "" : String(repeating: " ", count: $0.element.gap)) + $0.element.text }
                .joined()
        }
        guard lines.count > maxLines else { return lines.map(joined) }
        var last = lines[maxLines - 1]
        let mark = " " + glyphs.ellipsis
        while last.count > 1, DisplayWidth.of(joined(last) + mark) > width { last.removeLast() }
        let end = clip(joined(last) + mark, to: width, glyphs: glyphs)
        return lines.prefix(maxLines - 1).map(joined) + [end]
    }

    /// `text` padded with spaces to `width` columns (never cut).
    static func pad(_ text: String, to width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - DisplayWidth.of(text)))
    }

    /// A token's text made visible in one line and quoted: newline and tab as their escape
    /// glyphs, other control characters as the control mark. `"\" Wait\""`, `"\"⏎\""`.
    static func token(_ text: String, glyphs: Glyphs) -> String {
        var out = "\""
        for ch in text {
            if ch.isNewline { out += glyphs.newline }
            else if ch == "\t" { out += glyphs.tab }
            else if DisplayWidth.of(ch) == nil { out.append(glyphs.control) }
            else { out.append(ch) }
        }
        return out + "\""
    }
}

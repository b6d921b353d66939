import Foundation

/// Turns token pieces into text across token boundaries: a multi-byte UTF-8 character
/// split over two tokens is emitted whole, with the token that completes it.
public struct UTF8Stream: Sendable, Equatable {
    public private(set) var pending: [UInt8] = []

    public init() {}

    /// Appends a token's bytes and returns the text that is now complete.
    public mutating func append(_ bytes: [UInt8]) -> String {
        pending.append(contentsOf: bytes)
        let complete = Self.completePrefixLength(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[0..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is left (an unfinished character) rendered with replacement characters.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a character still in progress.
    /// Invalid bytes count as complete (they decode as U+FFFD), so nothing is held forever.
    static func completePrefixLength(_ b: [UInt8]) -> Int {
        let n = b.count
        // look back at most 3 bytes for the lead byte of a possibly unfinished sequence
        var i = n - 1
        var back = 0
        while i >= 0 && back < 4 {
            let c = b[i]
            if c & 0xC0 != 0x80 {
                let need: Int
                if c & 0x80 == 0 { need = 1 }
                else if c & 0xE0 == 0xC0 { need = 2 }
                else if c & 0xF0 == 0xE0 { need = 3 }
                else if c & 0xF8 == 0xF0 { need = 4 }
                else { return n }
                return (n - i) < need ? i : n
            }
            i -= 1
            back += 1
        }
        return n
    }
}

/// Finds stop strings in streamed text and holds back text that could be the start of one,
/// so that a stop string never reaches the output.
public struct StopMatcher: Sendable, Equatable {
    public let stops: [String]
    private var held = ""

    public init(stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Feeds new text. Returns the text safe to show and, when a stop string completed,
    /// which one (the text before it is included in `emit`).
    public mutating func feed(_ text: String) -> (emit: String, stop: String?) {
        guard !stops.isEmpty else { return (text, nil) }
        held += text
        var earliest: (String.Index, String)?
        for s in stops {
            if let r = held.range(of: s), earliest == nil || r.lowerBound < earliest!.0 {
                earliest = (r.lowerBound, s)
            }
        }
        if let (at, s) = earliest {
            let emit = String(held[..<at])
            held = ""
            return (emit, s)
        }
        // hold the longest suffix that is a proper prefix of some stop string
        var keep = 0
        for s in stops {
            var k = min(s.count - 1, held.count)
            while k > keep {
                if held.hasSuffix(s.prefix(k)) { keep = k; break }
                k -= 1
            }
        }
        let cut = held.index(held.endIndex, offsetBy: -keep)
        let emit = String(held[..<cut])
        held = String(held[cut...])
        return (emit, nil)
    }

    /// UTF-8 bytes held back because they could start a stop string.
    public var heldBytes: Int { held.utf8.count }

    /// Text still held at the end of generation (it did not become a stop string).
    public mutating func flush() -> String {
        defer { held = "" }
        return held
    }
}

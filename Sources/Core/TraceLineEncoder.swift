import Foundation

/// The writer's side of `TraceLineParser`: a token line written straight into bytes, the
/// same bytes Foundation's `JSONEncoder` gives under the trace's settings (sorted keys,
/// slashes unescaped, non-finite numbers as the strings "inf", "-inf" and "nan"; tested
/// byte for byte). A token line is written at every step, right after a decode has
/// streamed the whole model through the caches, and there `JSONEncoder` took about 0.1 ms
/// of the step (its boxes and key sorting, every time); this takes a few microseconds.
/// Other lines are rare and stay with `JSONEncoder`.
struct TokenLineEncoder {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(4096) }

    /// The record's line in `bytes`, with or without its newline.
    mutating func encode(_ r: StepRecord, newline: Bool = false) {
        bytes.removeAll(keepingCapacity: true)
        // the keys in JSONEncoder's sorted order (by their UTF-8 bytes); absent optionals omitted
        var first = true
        func key(_ k: StaticString) {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            raw("\"")
            raw(k)
            raw("\":")
        }
        bytes.append(UInt8(ascii: "{"))
        key("H"); number(r.entropy)
        if let range = r.entropyRange { key("H_range"); array(range) { $0.number($1) } }
        key("H_rstep"); number(r.stepMean)
        key("H_trend"); number(r.trend)
        key("H_win"); number(r.windowMean)
        if let attention = r.attention { key("attention"); array(attention) { $0.number($1) } }
        key("effects"); array(r.effects) { e, effect in e.effect(effect) }
        key("i"); integer(r.index)
        key("id"); integer(Int(r.token))
        key("input"); string(r.input.rawValue)
        if let kv = r.kvPosition { key("kv_pos"); integer(kv) }
        key("logprob"); number(r.logprob)
        key("margin"); number(r.margin)
        if let missing = r.missingMass { key("missing"); number(missing) }
        key("ms"); number(r.ms)
        key("p"); number(r.prob)
        key("phase"); string(r.phase.rawValue)
        key("pos"); integer(r.position)
        key("rstep"); integer(r.reasoningStep)
        key("text"); string(r.text)
        key("top1"); number(r.top1)
        key("topk"); array(r.top) { e, a in e.alternative(a) }
        key("type"); string(r.type)
        key("varH"); number(r.varentropy)
        bytes.append(UInt8(ascii: "}"))
        if newline { bytes.append(0x0A) }
    }

    private mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func alternative(_ a: Alternative) {
        raw(#"{"id":"#)
        integer(Int(a.id))
        raw(#","p":"#)
        number(a.p)
        raw(#","text":"#)
        string(a.text)
        bytes.append(UInt8(ascii: "}"))
    }

    private mutating func effect(_ e: Effect) {
        raw(#"{"kind":"#)
        string(e.kind.rawValue)
        if let s = e.strategy {
            raw(#","strategy":"#)
            string(s)
        }
        raw(#","text":"#)
        string(e.text)
        bytes.append(UInt8(ascii: "}"))
    }

    private mutating func array<T>(_ xs: [T], _ element: (inout TokenLineEncoder, T) -> Void) {
        bytes.append(UInt8(ascii: "["))
        for (i, x) in xs.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            element(&self, x)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// (an Int's digits fit Swift's inline small string: no allocation)
    private mutating func integer(_ v: Int) {
        bytes.append(contentsOf: String(v).utf8)
    }

    /// JSONEncoder's number: the shortest digits that read back to the same value (Swift's
    /// `description`) without a trailing ".0"; a non-finite one as its string.
    private mutating func number<F: BinaryFloatingPoint & LosslessStringConvertible>(_ v: F) {
        guard v.isFinite else {
            string(v.isNaN ? "nan" : v < 0 ? "-inf" : "inf")
            return
        }
        var s = v.description
        if s.hasSuffix(".0") { s.removeLast(2) }
        bytes.append(contentsOf: s.utf8)
    }

    /// A JSON string as JSONEncoder writes it: `"` and `\` escaped, the control characters as
    /// \b \t \n \f \r or \u00xx, everything else (slashes, U+2028, all of Unicode) as it is.
    private mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0x08: raw("\\b")
            case 0x0C: raw("\\f")
            case 0..<0x20:
                raw("\\u00")
                bytes.append(b >> 4 + UInt8(ascii: "0"))
                bytes.append(b & 15 < 10 ? b & 15 + UInt8(ascii: "0") : b & 15 - 10 + UInt8(ascii: "a"))
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

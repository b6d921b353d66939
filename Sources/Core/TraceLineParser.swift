import Foundation

/// A fast reader for the two lines a trace is made of: `token` and `event`. It reads the
/// bytes once, straight into a `StepRecord` or `TraceEvent`, where Foundation's `JSONDecoder`
/// builds a whole tree first (about 15× slower here, the difference between a 100 MB trace
/// opening at once or after seconds). Anything it does not expect — another line type, an
/// unknown key, a format-1 effect, a branch cause — makes it give up (`nil`), and the caller
/// decodes that line with `JSONDecoder`, so both always agree (tested line for line).
public struct TraceLineParser {
    private let base: UnsafePointer<UInt8>
    private let end: Int
    private var i = 0

    struct Unsupported: Error {}

    private init(_ bytes: UnsafeRawBufferPointer) {
        base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        end = bytes.count
    }

    /// The line in `bytes` (no newline), or nil when it is not a token or event line the fast
    /// path reads.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> TraceLine? {
        guard bytes.count > 2, bytes.baseAddress != nil else { return nil }
        var p = TraceLineParser(bytes)
        return try? p.line()
    }

    public static func parse(_ data: Data) -> TraceLine? {
        data.withUnsafeBytes { parse($0) }
    }

    // MARK: - the two shapes

    private mutating func line() throws -> TraceLine {
        // the type is the writer's last-but-few key (keys are sorted): find it first
        guard let type = peekType() else { throw Unsupported() }
        let line: TraceLine
        switch type {
        case .token: line = .token(try token())
        case .event: line = .event(try event())
        }
        skipSpace()
        guard i == end else { throw Unsupported() }
        return line
    }

    private enum Kind { case token, event }

    /// `"type":"token"` or `"type":"event"` anywhere in the line, without parsing it.
    private func peekType() -> Kind? {
        let needle = Array("\"type\":\"".utf8)
        var k = end - needle.count - 6
        while k >= 0 {
            if base[k] == 0x22, base[k + 1] == 0x74, base[k + 2] == 0x79, base[k + 3] == 0x70, base[k + 4] == 0x65,
               base[k + 5] == 0x22, base[k + 6] == 0x3A, base[k + 7] == 0x22 {
                let v = k + needle.count
                if v + 6 <= end, base[v + 5] == 0x22 {
                    if base[v] == 0x74, base[v + 1] == 0x6F, base[v + 2] == 0x6B, base[v + 3] == 0x65, base[v + 4] == 0x6E { return .token }
                    if base[v] == 0x65, base[v + 1] == 0x76, base[v + 2] == 0x65, base[v + 3] == 0x6E, base[v + 4] == 0x74 { return .event }
                }
                return nil
            }
            k -= 1
        }
        return nil
    }

    private mutating func token() throws -> StepRecord {
        var r = StepRecord(index: 0, position: 0, token: 0, text: "", phase: .thinking, input: .explicit, logprob: 0, prob: 0,
                           entropy: 0, varentropy: 0, top1: 0, margin: 0, top: [], windowMean: 0, trend: 0, reasoningStep: 0,
                           stepMean: 0, effects: [], ms: 0)
        // every key a StepRecord requires, as bits: a line missing one is left to JSONDecoder
        var seen: UInt32 = 0
        try object { key, p in
            switch key {
            case "i": r.index = try p.int(); seen |= 1 << 0
            case "pos": r.position = try p.int(); seen |= 1 << 1
            case "id": r.token = try p.int32(); seen |= 1 << 2
            case "text": r.text = try p.string(); seen |= 1 << 3
            case "phase":
                guard let v = Phase(rawValue: try p.string()) else { throw Unsupported() }
                r.phase = v; seen |= 1 << 4
            case "input":
                guard let v = InputKind(rawValue: try p.string()) else { throw Unsupported() }
                r.input = v; seen |= 1 << 5
            case "logprob": r.logprob = try p.double(); seen |= 1 << 6
            case "p": r.prob = try p.double(); seen |= 1 << 7
            case "H": r.entropy = try p.double(); seen |= 1 << 8
            case "varH": r.varentropy = try p.double(); seen |= 1 << 9
            case "top1": r.top1 = try p.double(); seen |= 1 << 10
            case "margin": r.margin = try p.double(); seen |= 1 << 11
            case "topk": r.top = try p.alternatives(); seen |= 1 << 12
            case "H_win": r.windowMean = try p.double(); seen |= 1 << 13
            case "H_trend": r.trend = try p.double(); seen |= 1 << 14
            case "rstep": r.reasoningStep = try p.int(); seen |= 1 << 15
            case "H_rstep": r.stepMean = try p.double(); seen |= 1 << 16
            case "effects": r.effects = try p.effects(); seen |= 1 << 17
            case "ms": r.ms = try p.double(); seen |= 1 << 18
            case "type": guard try p.string() == "token" else { throw Unsupported() }; seen |= 1 << 19
            case "kv_pos": r.kvPosition = try p.optional { try $0.int() }
            case "attention": r.attention = try p.optional { try $0.floats() }
            case "H_range": r.entropyRange = try p.optional { try $0.doubles() }
            case "missing": r.missingMass = try p.optional { try $0.double() }
            default: throw Unsupported()
            }
        }
        guard seen == (1 << 20) - 1 else { throw Unsupported() }
        return r
    }

    private mutating func event() throws -> TraceEvent {
        var e = TraceEvent(step: 0, kind: .pause)
        var seen: UInt8 = 0
        try object { key, p in
            switch key {
            case "step": e.step = try p.int(); seen |= 1
            case "kind":
                guard let k = EventKind(rawValue: try p.string()) else { throw Unsupported() }
                e.kind = k; seen |= 2
            case "type": guard try p.string() == "event" else { throw Unsupported() }; seen |= 4
            case "strategy": e.strategy = try p.optional { try $0.string() }
            case "position": e.position = try p.optional { try $0.int() }
            case "detail": e.detail = try p.optional { try $0.string() }
            case "removed": e.removed = try p.optional { try $0.ints() }
            case "ms": e.ms = try p.optional { try $0.double() }
            case "visible_bytes": e.visibleBytes = try p.optional { try $0.int() }
            case "branch": e.branch = try p.optional { try $0.int() }
            case "parent": e.parent = try p.optional { try $0.int() }
            default: throw Unsupported()         // `cause` and anything new: JSONDecoder's
            }
        }
        guard seen == 7 else { throw Unsupported() }
        return e
    }

    private mutating func alternatives() throws -> [Alternative] {
        var out: [Alternative] = []
        out.reserveCapacity(20)
        try array { p in
            var a = Alternative(id: 0, p: 0, text: "")
            var seen: UInt8 = 0
            try p.object { key, p in
                switch key {
                case "id": a.id = try p.int32(); seen |= 1
                case "p": a.p = try p.double(); seen |= 2
                case "text": a.text = try p.string(); seen |= 4
                default: throw Unsupported()
                }
            }
            guard seen == 7 else { throw Unsupported() }
            out.append(a)
        }
        return out
    }

    private mutating func effects() throws -> [Effect] {
        var out: [Effect] = []
        try array { p in
            var strategy: String?, kind: EffectKind?, text: String?
            try p.object { key, p in
                switch key {
                case "strategy": strategy = try p.optional { try $0.string() }
                case "kind": kind = EffectKind(rawValue: try p.string())
                case "text": text = try p.string()
                default: throw Unsupported()
                }
            }
            guard let kind, let text else { throw Unsupported() }
            out.append(Effect(strategy, kind, text))
        }
        return out
    }

    // MARK: - JSON pieces

    private mutating func skipSpace() {
        while i < end, base[i] == 0x20 || base[i] == 0x09 || base[i] == 0x0D || base[i] == 0x0A { i += 1 }
    }

    private mutating func expect(_ c: UInt8) throws {
        skipSpace()
        guard i < end, base[i] == c else { throw Unsupported() }
        i += 1
    }

    /// `{ "key": value, … }`, calling `body` with each key (the parser at its value).
    private mutating func object(_ body: (String, inout TraceLineParser) throws -> Void) throws {
        try expect(0x7B)
        skipSpace()
        if i < end, base[i] == 0x7D { i += 1; return }
        while true {
            skipSpace()
            let key = try string()
            try expect(0x3A)
            try body(key, &self)
            skipSpace()
            guard i < end else { throw Unsupported() }
            if base[i] == 0x2C { i += 1; continue }
            if base[i] == 0x7D { i += 1; return }
            throw Unsupported()
        }
    }

    private mutating func array(_ element: (inout TraceLineParser) throws -> Void) throws {
        try expect(0x5B)
        skipSpace()
        if i < end, base[i] == 0x5D { i += 1; return }
        while true {
            try element(&self)
            skipSpace()
            guard i < end else { throw Unsupported() }
            if base[i] == 0x2C { i += 1; continue }
            if base[i] == 0x5D { i += 1; return }
            throw Unsupported()
        }
    }

    /// `null` → nil, else the value.
    private mutating func optional<T>(_ value: (inout TraceLineParser) throws -> T) throws -> T? {
        skipSpace()
        if i + 4 <= end, base[i] == 0x6E, base[i + 1] == 0x75, base[i + 2] == 0x6C, base[i + 3] == 0x6C { i += 4; return nil }
        return try value(&self)
    }

    private mutating func string() throws -> String {
        skipSpace()
        guard i < end, base[i] == 0x22 else { throw Unsupported() }
        i += 1
        let start = i
        // the common case: no escapes, the bytes are the string
        while i < end, base[i] != 0x22, base[i] != 0x5C { i += 1 }
        guard i < end else { throw Unsupported() }
        if base[i] == 0x22 {
            let s = String(decoding: UnsafeBufferPointer(start: base + start, count: i - start), as: UTF8.self)
            i += 1
            return s
        }
        var bytes = [UInt8](UnsafeBufferPointer(start: base + start, count: i - start))
        while i < end {
            let c = base[i]
            if c == 0x22 { i += 1; return String(decoding: bytes, as: UTF8.self) }
            if c != 0x5C { bytes.append(c); i += 1; continue }
            guard i + 1 < end else { throw Unsupported() }
            let e = base[i + 1]
            i += 2
            switch e {
            case 0x22, 0x5C, 0x2F: bytes.append(e)
            case 0x62: bytes.append(0x08)
            case 0x66: bytes.append(0x0C)
            case 0x6E: bytes.append(0x0A)
            case 0x72: bytes.append(0x0D)
            case 0x74: bytes.append(0x09)
            case 0x75:
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    // a surrogate pair: the low half must follow
                    guard i + 1 < end, base[i] == 0x5C, base[i + 1] == 0x75 else { throw Unsupported() }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw Unsupported() }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw Unsupported()
                }
                guard let u = Unicode.Scalar(scalar) else { throw Unsupported() }
                bytes.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw Unsupported()
            }
        }
        throw Unsupported()
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= end else { throw Unsupported() }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = base[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw Unsupported()
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    private mutating func int() throws -> Int {
        skipSpace()
        var negative = false
        if i < end, base[i] == 0x2D { negative = true; i += 1 }
        let start = i
        var v = 0
        while i < end, base[i] >= 0x30, base[i] <= 0x39 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(base[i] - 0x30))
            guard !o1, !o2 else { throw Unsupported() }
            v = a
            i += 1
        }
        // a fraction or exponent is not an integer: let JSONDecoder judge it
        guard i > start, i == end || (base[i] != 0x2E && base[i] != 0x65 && base[i] != 0x45) else { throw Unsupported() }
        return negative ? -v : v
    }

    private mutating func int32() throws -> Int32 {
        guard let v = Int32(exactly: try int()) else { throw Unsupported() }
        return v
    }

    /// A number, or the writer's "inf", "-inf" and "nan" strings; correctly rounded (strtod).
    private mutating func double() throws -> Double {
        try real(Double.infinity, Double.nan) { strtod($0, $1) }
    }

    /// The same for a `Float` (strtof: rounded once, as JSONDecoder rounds it).
    private mutating func float() throws -> Float {
        try real(Float.infinity, Float.nan) { strtof($0, $1) }
    }

    private mutating func real<T: FloatingPoint>(_ infinity: T, _ nan: T,
                                                _ convert: (UnsafePointer<CChar>, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> T) throws -> T {
        skipSpace()
        guard i < end else { throw Unsupported() }
        if base[i] == 0x22 {
            switch try string() {
            case "inf": return infinity
            case "-inf": return -infinity
            case "nan": return nan
            default: throw Unsupported()
            }
        }
        let start = i
        while i < end {
            let c = base[i]
            guard (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2B || c == 0x2E || c == 0x65 || c == 0x45 else { break }
            i += 1
        }
        let n = i - start
        guard n > 0, n < 64 else { throw Unsupported() }
        return try withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer in
            for k in 0..<n { buffer[k] = CChar(bitPattern: base[start + k]) }
            buffer[n] = 0
            var stop: UnsafeMutablePointer<CChar>?
            let v = convert(buffer.baseAddress!, &stop)
            guard let stop, stop == buffer.baseAddress! + n else { throw Unsupported() }
            return v
        }
    }

    private mutating func doubles() throws -> [Double] {
        var out: [Double] = []
        try array { out.append(try $0.double()) }
        return out
    }

    private mutating func floats() throws -> [Float] {
        var out: [Float] = []
        try array { out.append(try $0.float()) }
        return out
    }

    private mutating func ints() throws -> [Int] {
        var out: [Int] = []
        try array { out.append(try $0.int()) }
        return out
    }
}

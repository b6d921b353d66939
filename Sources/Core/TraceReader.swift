import Foundation

/// Reads a trace back. A last line cut off mid-way (a crash while writing) is reported in
/// `truncated` instead of failing the whole read. A file may hold several runs one after the
/// other, each from its header on (`thinktop import` of many responses): `runs` names them and
/// `select(run:)` keeps one; `lines` holds the first until then.
public struct TraceReader {
    public var lines: [TraceLine] = []
    public var truncated = false
    /// every run of the file, in order (one for a trace a session wrote)
    public private(set) var allRuns: [[TraceLine]] = []

    public init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ThinktopError.traceUnreadable(path: path, reason: "no such file or not readable")
        }
        defer { try? handle.close() }
        // in blocks: a long trace never sits in memory whole next to what is read from it
        var parser = LineParser(path: path)
        var carry = Data()
        while true {
            let block: Data
            do { block = try handle.read(upToCount: 8 << 20) ?? Data() } catch {
                throw ThinktopError.traceUnreadable(path: path, reason: "\((error as NSError).localizedDescription)")
            }
            if block.isEmpty { break }
            carry.append(block)
            guard let lastNewline = carry.lastIndex(of: 0x0A) else { continue }
            try parser.feed(carry[carry.startIndex...lastNewline], final: false)
            carry = Data(carry[(lastNewline + 1)...])
        }
        try parser.feed(carry, final: true)
        try self.init(parsed: parser, path: path)
    }

    /// The runs' names: the source's run name of an imported trace, else "1", "2", …
    public var runs: [String] {
        allRuns.enumerated().map { i, run in
            if case .header(let h) = run.first, let name = h.source?.run { return name }
            return "\(i + 1)"
        }
    }

    /// Keeps one run: by name, or by its number counting from 1.
    public mutating func select(run: String, path: String = "trace") throws {
        let names = runs
        let index = names.firstIndex(of: run) ?? Int(run).flatMap { (1...allRuns.count).contains($0) ? $0 - 1 : nil }
        guard let i = index else {
            let listed = names.count <= 5 ? names.joined(separator: ", ") : names.prefix(5).joined(separator: ", ") + ", …"
            throw ThinktopError.traceUnreadable(path: path, reason: "it has no run \(String(reflecting: run)): its \(names.count) runs are \(listed) (or 1–\(names.count))")
        }
        lines = allRuns[i]
    }

    public init(data: Data, path: String = "trace") throws {
        var parser = LineParser(path: path)
        try parser.feed(data, final: true)
        try self.init(parsed: parser, path: path)
    }

    /// Reads lines block by block: token and event lines through the fast reader, the rest
    /// (and whatever it gives up on) through JSONDecoder. The last line of the last block may
    /// be cut off (a write cut short): that is `truncated`, anything else unreadable is an error.
    struct LineParser {
        let path: String
        var lines: [TraceLine] = []
        var truncated = false
        var number = 0
        let decoder: JSONDecoder = {
            let d = JSONDecoder()
            d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return d
        }()
        struct Kind: Decodable { var type: String }

        init(path: String) { self.path = path }

        /// `data` holds whole lines, each ending in a newline, except with `final` the last.
        mutating func feed(_ data: Data, final: Bool) throws {
            try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                guard let base = raw.baseAddress else { return }
                var start = 0
                while start < raw.count {
                    let end: Int
                    if let nl = memchr(base + start, 0x0A, raw.count - start) {
                        end = base.distance(to: UnsafeRawPointer(nl))
                    } else {
                        end = raw.count
                    }
                    number += 1
                    let unterminated = end == raw.count && final
                    if end > start { try line(UnsafeRawBufferPointer(rebasing: raw[start..<end]), unterminated: unterminated) }
                    if truncated { return }
                    start = end + 1
                }
            }
        }

        private mutating func line(_ bytes: UnsafeRawBufferPointer, unterminated: Bool) throws {
            if let fast = TraceLineParser.parse(bytes) {
                lines.append(fast)
                return
            }
            let slice = Data(bytes)
            do {
                let kind = try decoder.decode(Kind.self, from: slice)
                switch kind.type {
                case "header":
                    let h = try decoder.decode(TraceHeader.self, from: slice)
                    guard h.format >= 1, h.format <= TraceFormat.version else {
                        throw ThinktopError.traceUnreadable(path: path, reason: "trace format \(h.format) is newer than this thinktop reads (\(TraceFormat.version))")
                    }
                    lines.append(.header(h))
                case "token": lines.append(.token(try decoder.decode(StepRecord.self, from: slice)))
                case "event": lines.append(.event(try decoder.decode(TraceEvent.self, from: slice)))
                case "summary": lines.append(.summary(try decoder.decode(TraceSummary.self, from: slice)))
                default:
                    throw ThinktopError.traceUnreadable(path: path, reason: "line \(number) has unknown type \"\(kind.type)\"")
                }
            } catch let e as ThinktopError {
                throw e
            } catch {
                // an unterminated last line is a write cut short, anything else is not a trace
                if unterminated {
                    truncated = true
                    return
                }
                throw ThinktopError.traceUnreadable(path: path, reason: "line \(number) is not a thinktop trace line")
            }
        }
    }

    private init(parsed parser: LineParser, path: String) throws {
        lines = parser.lines
        truncated = parser.truncated
        guard case .header(let h) = lines.first else {
            throw ThinktopError.traceUnreadable(path: path, reason: "it does not start with a thinktop trace header")
        }
        if h.format == 1 { upgradeSuppressions() }
        for line in lines {
            if case .header = line { allRuns.append([]) }
            allRuns[allRuns.count - 1].append(line)
        }
        lines = allRuns[0]
    }

    /// Format 1 wrote effects as text, and for the effects that suppressed a token a
    /// `suppress` event whose detail is exactly those effect lines joined by "; ". Those
    /// effects become `.suppress` ones, so a format-1 trace marks the same tokens.
    private mutating func upgradeSuppressions() {
        var tokenAt: [Int: Int] = [:]          // position → index in `lines` of its latest token
        for i in lines.indices {
            switch lines[i] {
            case .token(let t): tokenAt[t.position] = i
            case .event(let e) where e.kind == .suppress:
                guard let p = e.position, let ti = tokenAt[p], case .token(var t) = lines[ti] else { continue }
                let suppressed = Set((e.detail ?? "").components(separatedBy: "; "))
                for k in t.effects.indices where suppressed.contains(t.effects[k].line) { t.effects[k].kind = .suppress }
                lines[ti] = .token(t)
            default: break
            }
        }
    }

    public var header: TraceHeader? {
        if case .header(let h) = lines.first { return h }
        return nil
    }
    public var tokens: [StepRecord] { lines.compactMap { if case .token(let t) = $0 { return t } else { return nil } } }
    public var events: [TraceEvent] { lines.compactMap { if case .event(let e) = $0 { return e } else { return nil } } }
    /// The tokens standing at the end of the run: every rewind event drops the tokens at
    /// and after its position, as it did in the session.
    public var finalTokens: [StepRecord] {
        var out: [StepRecord] = []
        for l in lines {
            switch l {
            case .token(let t): out.append(t)
            case .event(let e) where e.kind == .rewind:
                if let p = e.position { out.removeAll { $0.position >= p } }
            default: break
            }
        }
        return out
    }
    public var summary: TraceSummary? {
        for l in lines.reversed() { if case .summary(let s) = l { return s } }
        return nil
    }
}

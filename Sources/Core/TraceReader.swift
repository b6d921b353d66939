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
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ThinktopError.traceUnreadable(path: path, reason: "no such file or not readable")
        }
        try self.init(data: data, path: path)
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
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let rawLines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        struct Kind: Decodable { var type: String }
        for (n, raw) in rawLines.enumerated() {
            if raw.isEmpty { continue }
            let isLast = n == rawLines.count - 1
            do {
                let kind = try decoder.decode(Kind.self, from: raw)
                switch kind.type {
                case "header":
                    let h = try decoder.decode(TraceHeader.self, from: raw)
                    guard h.format >= 1, h.format <= TraceFormat.version else {
                        throw ThinktopError.traceUnreadable(path: path, reason: "trace format \(h.format) is newer than this thinktop reads (\(TraceFormat.version))")
                    }
                    lines.append(.header(h))
                case "token": lines.append(.token(try decoder.decode(StepRecord.self, from: raw)))
                case "event": lines.append(.event(try decoder.decode(TraceEvent.self, from: raw)))
                case "summary": lines.append(.summary(try decoder.decode(TraceSummary.self, from: raw)))
                default:
                    throw ThinktopError.traceUnreadable(path: path, reason: "line \(n + 1) has unknown type \"\(kind.type)\"")
                }
            } catch let e as ThinktopError {
                throw e
            } catch {
                // an unterminated last line is a write cut short, anything else is not a trace
                if isLast && data.last != 0x0A {
                    truncated = true
                    break
                }
                throw ThinktopError.traceUnreadable(path: path, reason: "line \(n + 1) is not a thinktop trace line")
            }
        }
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

import Foundation

/// What began a branch at its fork: a token chosen there, the strategies set there, a new
/// seed, or a plain rewind (the same settings, so with the same generator state it goes
/// the parent's way unless something else changes).
public struct BranchCause: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// the run as it started
        case root
        /// a token taken instead of the one generated
        case token
        /// a different set of strategies (or parameters) from the fork on
        case strategies
        /// a different seed from the fork on
        case seed
        /// a rewind that changed nothing yet
        case rewind
    }

    public var kind: Kind
    /// the token taken at the fork (`token`)
    public var token: Int32?
    /// its text
    public var text: String?
    /// its rank among the fork's alternatives (1: the most likely), when it was among them
    public var rank: Int?
    /// the strategies on from the fork, when they differ from the parent's there
    public var strategies: [String]?
    /// the parent's strategies at the fork, with `strategies`
    public var parentStrategies: [String]?
    public var seed: UInt64?

    public init(kind: Kind, token: Int32? = nil, text: String? = nil, rank: Int? = nil, strategies: [String]? = nil,
                parentStrategies: [String]? = nil, seed: UInt64? = nil) {
        self.kind = kind; self.token = token; self.text = text; self.rank = rank; self.strategies = strategies
        self.parentStrategies = parentStrategies; self.seed = seed
    }

    public static let root = BranchCause(kind: .root)

    enum CodingKeys: String, CodingKey {
        case kind, token = "id", text, rank, strategies, seed
        case parentStrategies = "parent_strategies"
    }

    /// "token \" But\" (#2)", "strategies nowait (was none)", "seed 7", "rewind", "start".
    public var description: String {
        var parts: [String] = []
        switch kind {
        case .root: return "start"
        case .rewind: parts.append("rewind")
        case .seed: break
        case .token, .strategies: break
        }
        if let token {
            parts.append("token \(String(reflecting: text ?? "#\(token)"))" + (rank.map { " (#\($0))" } ?? ""))
        }
        if let strategies {
            let now = strategies.isEmpty ? "none" : strategies.joined(separator: " ")
            let was = (parentStrategies ?? []).isEmpty ? "none" : parentStrategies!.joined(separator: " ")
            parts.append("strategies \(now) (was \(was))")
        }
        if let seed { parts.append("seed \(seed)") }
        return parts.joined(separator: ", ")
    }
}

/// A branch of a session's tree: the run from the root to its fork, then its own steps.
/// Branch 0 is the run as started; every other one forks off its parent at `forkStep` (its
/// records before that step are its parent's).
public struct BranchInfo: Codable, Sendable, Equatable {
    public var id: Int
    public var parent: Int?
    /// the first step that is the branch's own
    public var forkStep: Int
    public var cause: BranchCause

    public init(id: Int, parent: Int?, forkStep: Int, cause: BranchCause) {
        self.id = id; self.parent = parent; self.forkStep = forkStep; self.cause = cause
    }

    public static let root = BranchInfo(id: 0, parent: nil, forkStep: 0, cause: .root)
}

/// One branch as a trace (or the workbench's log of the session) tells it: its records from
/// step 0, the events that stand on it, and how it ended.
public struct BranchRun: Sendable, Equatable {
    public var info: BranchInfo
    public var records: [StepRecord]
    public var events: [TraceEvent]
    /// nil while it can still go on
    public var stopReason: String?

    public var id: Int { info.id }
    /// the steps the branch generated itself (from its fork on)
    public var ownRecords: ArraySlice<StepRecord> { records[min(info.forkStep, records.count)...] }
    public var phase: Phase { stopReason != nil ? .done : (records.last?.phase ?? .prompt) }
}

/// The branches of a run rebuilt from its lines in the order the session wrote them: a
/// `branch` event starts a branch from its parent's records before the fork step (and the
/// events before it), a `switch` event makes another branch current, tokens and other
/// events go to the current one, a `rewind` cuts it back. A trace without branches is
/// branch 0 alone.
public struct BranchLog: Sendable, Equatable {
    public private(set) var branches: [BranchRun] = [BranchRun(info: .root, records: [], events: [])]
    /// index into `branches` of the branch being written
    public private(set) var current = 0

    public init() {}

    public init(lines: [TraceLine]) {
        for l in lines { add(l) }
    }

    public var currentRun: BranchRun { branches[current] }

    /// The branch with id `id`.
    public func branch(_ id: Int) -> BranchRun? { branches.first { $0.id == id } }

    public mutating func add(_ line: TraceLine) {
        switch line {
        case .header:
            self = BranchLog()
        case .token(let r):
            // in place: a copy of the branch would make every append copy all its records
            if let last = branches[current].records.last, last.index >= r.index {
                branches[current].records.removeAll { $0.index >= r.index }
            }
            branches[current].records.append(r)
            branches[current].stopReason = nil
        case .event(let e):
            add(e)
        case .summary(let s):
            if let list = s.branches {
                for b in list { if let i = branches.firstIndex(where: { $0.id == b.id }) { branches[i].stopReason = b.stopReason } }
            } else {
                branches[current].stopReason = s.stopReason
            }
        }
    }

    public mutating func add(_ e: TraceEvent) {
        switch e.kind {
        case .branch:
            guard let id = e.branch else { return }
            let parentIndex = e.parent.flatMap { p in branches.firstIndex { $0.id == p } } ?? current
            let parent = branches[parentIndex]
            let info = BranchInfo(id: id, parent: parent.id, forkStep: e.step, cause: e.cause ?? BranchCause(kind: .rewind))
            let run = BranchRun(info: info, records: parent.records.filter { $0.index < e.step },
                                events: parent.events.filter { $0.step < e.step } + [e])
            branches.append(run)
            current = branches.count - 1
        case .switchBranch:
            if let id = e.branch, let i = branches.firstIndex(where: { $0.id == id }) { current = i }
        case .rewind:
            if let p = e.position { branches[current].records.removeAll { $0.position >= p } }
            branches[current].events.removeAll { $0.step >= e.step && $0.kind != .branch }
            branches[current].events.append(e)
            branches[current].stopReason = nil
        default:
            branches[current].events.append(e)
        }
    }

    /// Moves the last of `source` onto the current branch (a replay stepping forward through a
    /// trace that never rewinds: the record is moved, not copied).
    public mutating func moveRecord(from source: inout [StepRecord]) {
        branches[current].records.append(source.removeLast())
        branches[current].stopReason = nil
    }

    /// Room for `count` records on the current branch (a replay that will move them all in:
    /// no growth by doubling past what the trace has).
    public mutating func reserveRecords(_ count: Int) {
        branches[current].records.reserveCapacity(count)
    }

    /// Moves the current branch's last record onto `destination` (the replay stepping back).
    public mutating func moveLastRecord(to destination: inout [StepRecord]) {
        guard let r = branches[current].records.popLast() else { return }
        destination.append(r)
        branches[current].stopReason = nil
    }

    /// Takes the last `records` records and `events` events off the current branch: undoes
    /// the lines last added, when they were tokens and events that neither rewound nor forked
    /// (a replay seeking back).
    public mutating func dropLast(records: Int, events: Int) {
        branches[current].records.removeLast(min(records, branches[current].records.count))
        branches[current].events.removeLast(min(events, branches[current].events.count))
        branches[current].stopReason = nil
    }

    /// Marks the current branch finished (the session said so).
    public mutating func finished(_ reason: String) { branches[current].stopReason = reason }

    /// The step where branches `a` and `b` part: their records agree before it (the fork of
    /// the branch that is not the other's ancestor, on the path from their common ancestor).
    public func divergence(_ a: Int, _ b: Int) -> Int {
        func path(_ id: Int) -> [BranchInfo] {
            var out: [BranchInfo] = []
            var next: Int? = id
            while let n = next, let run = branch(n), !out.contains(where: { $0.id == n }) {
                out.insert(run.info, at: 0)
                next = run.info.parent
            }
            return out
        }
        let pa = path(a), pb = path(b)
        var i = 0
        while i < pa.count, i < pb.count, pa[i].id == pb[i].id { i += 1 }
        let forks = [i < pa.count ? pa[i].forkStep : nil, i < pb.count ? pb[i].forkStep : nil].compactMap { $0 }
        let shorter = min(branch(a)?.records.count ?? 0, branch(b)?.records.count ?? 0)
        return forks.min() ?? shorter
    }

    /// Steps of `id` at which other branches fork off it (within the records it holds).
    public func forkSteps(on id: Int) -> [Int: [Int]] {
        guard let run = branch(id) else { return [:] }
        var out: [Int: [Int]] = [:]
        for b in branches where b.id != id && b.info.parent != nil && b.info.forkStep < run.records.count {
            // a branch forks off `id`'s text when `id` holds its parent's records up to the fork
            if divergence(id, b.id) == b.info.forkStep { out[b.info.forkStep, default: []].append(b.id) }
        }
        return out
    }
}

/// What the compare view and `thinktop compare` put side by side for one branch.
public struct BranchStatistics: Sendable, Equatable {
    public var branch: Int
    public var tokens: Int
    public var thinkingTokens: Int
    public var answerTokens: Int
    /// occurrences of each reflection word (`ReflectionWords.list`) in the branch's text
    public var reflections: [String: Int]
    public var reflectionTotal: Int { reflections.values.reduce(0, +) }
    /// mean raw entropy over the branch's steps (nats)
    public var meanEntropy: Double
    /// interventions (trace events that are) by strategy
    public var interventions: [String: Int]
    public var answer: String?
    public var stopReason: String?
    /// the branch's full generated text
    public var text: String

    public init(_ run: BranchRun, close: String = "</think>") {
        branch = run.id
        tokens = run.records.count
        thinkingTokens = run.records.filter { $0.phase == .thinking }.count
        answerTokens = tokens - thinkingTokens
        text = run.records.map(\.text).joined()
        reflections = ReflectionWords.count(in: text)
        meanEntropy = run.records.isEmpty ? 0 : run.records.reduce(0) { $0 + $1.entropy } / Double(run.records.count)
        var counts: [String: Int] = [:]
        for e in run.events where e.kind.isIntervention { counts[e.strategy ?? e.kind.rawValue, default: 0] += 1 }
        interventions = counts
        answer = AnswerExtractor.extract(text, close: close)
        stopReason = run.stopReason
    }
}

/// The words that mark a model going back over its reasoning, counted by the compare
/// summary: whole words, any capitalisation ("Wait", "wait", "WAIT").
public enum ReflectionWords {
    public static let list = ["Wait", "Alternatively", "Hmm", "However", "Actually", "double-check", "verify"]

    public static func count(in text: String) -> [String: Int] {
        var out: [String: Int] = [:]
        for w in list {
            let pattern = "(?<![A-Za-z])" + NSRegularExpression.escapedPattern(for: w) + "(?![A-Za-z])"
            guard let re = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]) else { continue }
            let n = re.numberOfMatches(in: text, range: NSRange(text.startIndex..., in: text))
            if n > 0 { out[w] = n }
        }
        return out
    }

    /// "Wait 3, Hmm 1" in the list's order ("none" when there are none).
    public static func describe(_ counts: [String: Int]) -> String {
        let parts = list.compactMap { w in counts[w].map { "\(w) \($0)" } }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}

/// The side-by-side summary as a markdown table: one column per branch, a row per measure;
/// a cell that differs from the first column's is marked with `*`.
public enum BranchComparison {
    public struct Column: Sendable {
        public var title: String
        public var stats: BranchStatistics
        public init(title: String, stats: BranchStatistics) { self.title = title; self.stats = stats }
    }

    /// The measures in order: name, then each column's value.
    public static func rows(_ columns: [Column]) -> [(String, [String])] {
        func row(_ name: String, _ f: (BranchStatistics) -> String) -> (String, [String]) { (name, columns.map { f($0.stats) }) }
        return [
            row("thinking tokens") { "\($0.thinkingTokens)" },
            row("answer tokens") { "\($0.answerTokens)" },
            row("total tokens") { "\($0.tokens)" },
            row("reflection words") { "\($0.reflectionTotal)" + ($0.reflectionTotal > 0 ? " (\(ReflectionWords.describe($0.reflections)))" : "") },
            row("mean entropy") { String(format: "%.3f", $0.meanEntropy) },
            row("interventions") { s in
                s.interventions.isEmpty ? "none" : s.interventions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            },
            row("stop") { $0.stopReason ?? "running" },
            row("answer") { $0.answer ?? "—" },
        ]
    }

    public static func markdown(_ columns: [Column]) -> String {
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        var out = "| | " + columns.map { cell($0.title) }.joined(separator: " | ") + " |\n"
        out += "|---|" + columns.map { _ in "---|" }.joined() + "\n"
        for (name, values) in rows(columns) {
            let marked = values.enumerated().map { i, v in i > 0 && v != values[0] ? "\(cell(v)) *" : cell(v) }
            out += "| \(name) | " + marked.joined(separator: " | ") + " |\n"
        }
        return out
    }
}

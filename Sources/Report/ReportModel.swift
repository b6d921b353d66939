import Core
import Foundation

/// What the exports draw a trace from: its header and summary, every branch, and which one
/// is shown. Built from a trace file (`init(reader:name:branch:)`) or from what the workbench
/// holds of a live run.
public struct ReportInput: Sendable {
    public var header: TraceHeader?
    public var summary: TraceSummary?
    public var log: BranchLog
    /// the branch drawn first (and the one the SVG and CSV draw)
    public var shown: Int
    /// the file's last line was cut off: the report says so
    public var truncated: Bool
    /// the trace's file name, for the title
    public var name: String

    public init(header: TraceHeader?, summary: TraceSummary?, log: BranchLog, shown: Int? = nil, truncated: Bool = false,
                name: String) {
        self.header = header; self.summary = summary; self.log = log; self.truncated = truncated; self.name = name
        self.shown = shown ?? log.currentRun.id
    }

    /// The selected run of `reader`; `branch` picks the branch shown (else the one current at
    /// the trace's end). Throws when the trace has no header or no such branch.
    public init(reader: TraceReader, name: String, branch: Int? = nil) throws {
        guard let header = reader.header else {
            throw ThinktopError.invalidArgument("\(name) has no header line: it is not a thinktop trace")
        }
        let log = BranchLog(lines: reader.lines)
        if let b = branch, log.branch(b) == nil {
            let ids = log.branches.map { "\($0.id)" }.joined(separator: ", ")
            throw ThinktopError.invalidArgument("\(name) has no branch \(b) (its branches: \(ids))")
        }
        self.init(header: header, summary: reader.summary, log: log, shown: branch, truncated: reader.truncated, name: name)
    }

    public var shownRun: BranchRun { log.branch(shown) ?? log.currentRun }

    /// Whether the run's distributions are a server's top k (entropy known as a bracket).
    public var partial: Bool { log.branches.contains { $0.records.contains { !$0.isExact } } }

    /// Where the run's KV cache was, when not here: nil for a local run.
    public var kvAbsence: String? {
        if header?.source != nil { return "no KV cache: imported from a server's answer" }
        if header?.server != nil { return "the KV cache was held in the server's slot" }
        return nil
    }

    /// A branch's title as the workbench writes it ("branch 1: token \" But\" (#2)").
    public func title(_ run: BranchRun) -> String { "branch \(run.id): \(run.info.cause.description)" }
}

/// A strategy event worth marking on the text and the charts: interventions, the KV cache,
/// strategy switches and parameters, rewinds, branches, stop strings (the workbench's own
/// pause, resume and step are left out).
public struct EventMark: Sendable, Equatable {
    public var step: Int
    public var kind: EventKind
    public var label: String

    public init(_ e: TraceEvent) {
        step = e.step
        kind = e.kind
        if e.kind == .branch, let b = e.branch {
            label = "branch \(b) starts here (from branch \(e.parent ?? 0)): \(e.cause?.description ?? "rewind")"
            return
        }
        var parts = [e.kind.rawValue]
        if let s = e.strategy { parts.append("(\(s))") }
        if e.kind == .evict, let removed = e.removed { parts.append("removed \(removed.count)") }
        if let d = e.detail, !d.isEmpty { parts.append(d) }
        label = parts.joined(separator: " ")
    }

    public static func marks(_ events: [TraceEvent]) -> [EventMark] {
        events.filter { ![.pause, .resume, .step, .switchBranch].contains($0.kind) }.map(EventMark.init)
    }

    /// The family a mark is drawn in: `kv`, `branch`, `command` or `strategy`.
    public var family: String {
        switch kind {
        case .evict, .kvPolicy, .rebuild, .contextFull: return "kv"
        case .branch, .rewind: return "branch"
        case .enable, .disable, .parameter, .stop, .error, .stopString: return "command"
        default: return "strategy"
        }
    }
}

/// The per-step series the charts plot, for one branch.
public struct StepSeries: Sendable {
    public var steps: [Int] = []
    public var entropy: [Double] = []
    /// a partial distribution's bracket; equal to `entropy` where the whole vocabulary was seen
    public var entropyLow: [Double] = []
    public var entropyHigh: [Double] = []
    public var windowMean: [Double] = []
    public var confidence: [Double] = []
    public var margin: [Double] = []
    public var varentropy: [Double] = []
    /// thinking tokens so far, after each step
    public var thinking: [Int] = []
    /// the thinking budget in force at each step (nil: budget forcing off)
    public var budget: [Int?] = []
    /// KV cells holding tokens after each step (prompt included); empty when the cache was elsewhere
    public var kvHeld: [Int] = []
    public var kvCapacity = 0
    public var marks: [EventMark] = []
    /// steps at which budget forcing ended thinking
    public var budgetEnds: [Int] = []
    /// steps with an eviction, and how many cells each removed
    public var evictions: [(step: Int, removed: Int)] = []
    /// whether any step's entropy is a bracket
    public var partial = false

    public var count: Int { steps.count }

    public init(_ run: BranchRun, header: TraceHeader?, local: Bool) {
        let records = run.records
        steps = records.map(\.index)
        entropy = records.map { $0.entropy.isFinite ? $0.entropy : 0 }
        entropyLow = records.map { $0.entropyBounds.lowerBound }
        entropyHigh = records.map { $0.entropyBounds.upperBound }
        partial = records.contains { !$0.isExact }
        windowMean = records.map(\.windowMean)
        confidence = records.map(\.top1)
        margin = records.map(\.margin)
        varentropy = records.map(\.varentropy)
        marks = EventMark.marks(run.events)
        budgetEnds = run.events.filter { $0.kind == .budgetEnd }.map(\.step)
        evictions = run.events.filter { $0.kind == .evict }.map { ($0.step, $0.removed?.count ?? 0) }

        // the budget: the header's, then each switch or parameter change of budget forcing
        var current = Self.budget(specs: header?.settings.strategies ?? [])
        let changes = run.events.filter { $0.strategy == "budget" && [.enable, .disable, .parameter].contains($0.kind) }
        var next = 0, used = 0
        for r in records {
            while next < changes.count, changes[next].step <= r.index {
                let e = changes[next]
                switch e.kind {
                case .disable: current = nil
                default:
                    let spec = e.kind == .parameter ? (e.detail ?? "budget") : "budget"
                    current = Self.budget(specs: [spec]) ?? current
                }
                next += 1
            }
            if r.phase == .thinking { used += 1 }
            thinking.append(used)
            budget.append(current)
        }

        guard local, let h = header else { return }
        kvCapacity = h.settings.contextSize
        var removed = 0, e = 0
        let evicts = evictions
        for r in records {
            while e < evicts.count, evicts[e].step <= r.index { removed += evicts[e].removed; e += 1 }
            kvHeld.append(h.promptTokens + r.index + 1 - removed)
        }
    }

    /// The budget a strategy list sets: budget forcing's `budget` when it is on.
    static func budget(specs: [String]) -> Int? {
        guard let (list, on) = try? StrategyRegistry.configure(specs), on.contains("budget"),
              let b = list.first(where: { $0.id == "budget" }) as? BudgetForcing else { return nil }
        return b.budget
    }
}

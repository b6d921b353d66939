import Core
import Foundation
import Views

/// A recorded trace played back in time: tokens appear at their recorded pace (scaled by
/// `speed`), rewinds happen where they happened.
final class ReplayTimeline {
    let header: TraceHeader
    let truncated: Bool
    /// the trace's summary line (nil: the run did not finish writing it)
    let summary: TraceSummary?
    private let items: [TraceLine]
    private var next = 0
    private var due = Date()
    /// the current branch's records as far as the replay has come (the branch log keeps them:
    /// one copy of a long trace's records, not two)
    var records: [StepRecord] { progress.currentRun.records }
    /// evictions standing at this point of the replay: (the position the incoming token took,
    /// nil for the prefill's; the positions removed)
    private var evictions: [(at: Int?, removed: [Int])] = [] { didSet { evictedCache = nil } }
    /// `evicted`, built once per change of `evictions` (a long run's frame asks more than once)
    private var evictedCache: Set<Int>?
    private(set) var kvPolicy: String?
    /// with a trace written with --trace-attention: the attention each position has received
    /// from the generated tokens so far
    private(set) var attention: [Float] = []
    var evicted: Set<Int> {
        if let e = evictedCache { return e }
        var e = Set<Int>()
        for ev in evictions { e.formUnion(ev.removed) }
        evictedCache = e
        return e
    }
    /// the text after a stop string, hidden as the run hid it
    private(set) var hidden: WorkbenchSnapshot.HiddenTail?
    /// the step at which budget forcing ended thinking, if it did
    private(set) var forcedEndAt: Int?
    /// the problem as the user gave it (format 1 traces: the whole prompt)
    var problem: String { header.problem ?? header.prompt }

    private func attend(_ a: [Float]) {
        if attention.count < a.count { attention += [Float](repeating: 0, count: a.count - attention.count) }
        for (p, w) in a.enumerated() { attention[p] += w }
    }

    /// The oldest position the sliding-window layers attend to, when shifts moved positions:
    /// the KV positions are then the held positions in order, so the window is the last
    /// `window` held ones. Without shifts, nil (the last `window` positions).
    func slidingFrom(window: Int) -> Int? {
        guard window > 0, records.contains(where: { $0.kvPosition != nil }), let last = records.last else { return nil }
        let gone = evicted
        var held = 0
        var p = last.position
        while p >= 0 {
            if !gone.contains(p) { held += 1; if held == window { return p } }
            p -= 1
        }
        return 0
    }
    var playing = true
    var speed = 1.0
    /// every branch of the trace, as it stands at its end
    /// every branch of the trace as it stands at its end: built when first asked for (a long
    /// trace with one branch never needs a second copy of its records)
    private(set) lazy var branches = BranchLog(lines: lines)
    /// whether the trace forks (then the workbench needs `branches` from the start)
    let forks: Bool
    private let lines: [TraceLine]
    /// the branches as far as the replay has come
    private var progress = BranchLog()
    /// the branch the replay is on
    var currentBranch: Int { progress.currentRun.id }

    init(reader: TraceReader) throws {
        guard let h = reader.header else { throw ThinktopError.traceUnreadable(path: "trace", reason: "no header") }
        header = h
        truncated = reader.truncated
        summary = reader.summary
        kvPolicy = h.settings.kvPolicy
        lines = reader.lines
        forks = reader.lines.contains { if case .event(let e) = $0 { return e.kind == .branch } else { return false } }
        items = reader.lines.filter {
            switch $0 {
            case .token: return true
            case .event(let e): return [.rewind, .evict, .kvPolicy, .stopString, .budgetEnd, .branch, .switchBranch].contains(e.kind)
            default: return false
            }
        }
    }

    var finished: Bool { next >= items.count }

    /// no rewind, branch or switch and no attention: every line only adds, so a seek back can
    /// take lines off instead of replaying from the start
    private lazy var linear: Bool = !items.contains {
        switch $0 {
        case .token(let t): return t.attention != nil
        case .event(let e): return [.rewind, .branch, .switchBranch].contains(e.kind)
        default: return false
        }
    }

    /// Undoes lines `target ..< next` of a linear trace.
    private func cutBack(to target: Int) {
        var tokens = 0, events = 0, evicts = 0
        for k in target..<next {
            switch items[k] {
            case .token: tokens += 1
            case .event(let e):
                events += 1
                if e.kind == .evict { evicts += 1 }
            default: break
            }
        }
        fillAhead()
        for _ in 0..<tokens { progress.moveLastRecord(to: &ahead) }
        progress.dropLast(records: 0, events: events)
        evictions.removeLast(min(evicts, evictions.count))
        next = target
        // what the lines taken off had set: as the lines still applied last set it
        kvPolicy = header.settings.kvPolicy
        hidden = nil
        forcedEndAt = nil
        var found = (kv: false, stop: false, budget: false)
        var k = target - 1
        while k >= 0, !(found.kv && found.stop && found.budget) {
            if case .event(let e) = items[k] {
                switch e.kind {
                case .kvPolicy where !found.kv: kvPolicy = e.detail; found.kv = true
                case .stopString where !found.stop:
                    if let p = e.position { hidden = .init(position: p, visibleBytes: e.visibleBytes ?? 0) }
                    found.stop = true
                case .budgetEnd where !found.budget: forcedEndAt = e.step; found.budget = true
                default: break
                }
            }
            k -= 1
        }
    }

    /// how far the replay has come, in lines of the trace (tokens and the events it replays)
    var position: Int { next }
    var length: Int { items.count }
    /// the step of the last token shown (−1 before the first)
    var step: Int { records.last?.index ?? -1 }

    /// Goes to line `target` of the replay (0 … `length`): forward by applying lines; backward
    /// by taking the lines back off when the trace never rewinds, forks or carries attention,
    /// else by replaying from the start (a line is an append or a small edit).
    func seek(to target: Int) {
        let target = max(0, min(items.count, target))
        if target < next, linear {
            cutBack(to: target)
        } else if target < next {
            next = 0
            evictions = []
            attention = []
            hidden = nil
            forcedEndAt = nil
            kvPolicy = header.settings.kvPolicy
            progress = BranchLog()
        }
        while next < target { _ = stepForward() }
        due = Date()
    }

    /// A linear trace's records not yet replayed, the next one last: stepping forward moves
    /// the next record from here onto the replay's branch and stepping back moves it home, so
    /// a seek moves records instead of copying them (a copy retains every field; a 100,000-token
    /// trace's far seeks took over 100 ms copying). Filled on the first step, one copy each.
    private var ahead: [StepRecord] = []
    private var aheadFilled = false

    private func fillAhead() {
        guard linear, !aheadFilled else { return }
        aheadFilled = true
        var count = 0
        for line in items[next...] { if case .token = line { count += 1 } }
        ahead.reserveCapacity(count)
        progress.reserveRecords(progress.currentRun.records.count + count)
        for line in items[next...].reversed() { if case .token(let r) = line { ahead.append(r) } }
    }

    /// Applies the next line. Returns false at the end.
    func stepForward() -> Bool {
        guard next < items.count else { return false }
        if linear, case .token = items[next] {
            fillAhead()
            progress.moveRecord(from: &ahead)
        } else {
            progress.add(items[next])
        }
        switch items[next] {
        case .event(let e) where e.kind == .branch || e.kind == .switchBranch:
            // another branch: its records as they stood; its own evictions are not replayed
            let events = progress.currentRun.events
            hidden = events.last { $0.kind == .stopString }.flatMap { e in e.position.map { .init(position: $0, visibleBytes: e.visibleBytes ?? 0) } }
            forcedEndAt = events.last { $0.kind == .budgetEnd }?.step
            evictions = []
            attention = []
            for r in records { if let a = r.attention { attend(a) } }
        case .token(let t):
            if let a = t.attention { attend(a) }
        case .event(let e) where e.kind == .rewind:
            if let p = e.position {
                if let h = hidden, h.position >= p { hidden = nil }
                if let f = forcedEndAt, f >= p - header.promptTokens { forcedEndAt = nil }
                attention = []
                for r in records { if let a = r.attention { attend(a) } }
                // evictions made when the token at p or later was fed are undone (as in the session)
                evictions.removeAll { $0.at.map { $0 >= p } ?? false }
            }
        case .event(let e) where e.kind == .evict:
            evictions.append((e.position, e.removed ?? []))
        case .event(let e) where e.kind == .kvPolicy:
            kvPolicy = e.detail
        case .event(let e) where e.kind == .budgetEnd:
            forcedEndAt = e.step
        case .event(let e) where e.kind == .stopString:
            if let p = e.position { hidden = .init(position: p, visibleBytes: e.visibleBytes ?? 0) }
        default: break
        }
        next += 1
        return true
    }

    /// Plays lines whose time has come. Returns whether anything changed.
    func advance(now: Date) -> Bool {
        guard playing, !finished else { due = now; return false }
        var changed = false
        var steps = 0
        while !finished && now >= due && steps < 64 {
            let ms: Double
            if case .token(let t) = items[next] { ms = max(1, t.ms) } else { ms = 1 }
            _ = stepForward()
            due = due.addingTimeInterval(ms / 1000 / speed)
            changed = true
            steps += 1
        }
        if due < now.addingTimeInterval(-1) { due = now }   // don't race to catch up after a pause
        return changed
    }
}

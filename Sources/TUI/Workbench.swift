import Core
import Foundation
import Synchronization
import Views

/// What the decoding thread tells the UI, in order. The session's callbacks push on the
/// session's thread; the UI drains once per frame, so the two threads share nothing else.
final class Mailbox: Sendable {
    enum Item: Sendable {
        case record(StepRecord)
        case rewind(position: Int)
        case paused(Bool)
        case finished(String)
        case event(TraceEvent)
        case strategies([StrategyStatus])
        case kv(KVView)
        /// the trace could not be written: recording stopped
        case traceFailed(String)
        /// the run's summary, once the session's thread is done with it
        case summary(TraceSummary)
        /// how each parked branch keeps its cache (branch id → "shared", "kept on host", …)
        case branchCaches([Int: String])
    }
    private let items = Mutex<[Item]>([])

    func push(_ item: Item) { items.withLock { $0.append(item) } }

    func drain() -> [Item] {
        items.withLock { i in
            defer { i.removeAll(keepingCapacity: true) }
            return i
        }
    }
}

/// What the KV map shows of the ledger, copied on the session's thread.
struct KVView: Sendable {
    var evicted: Set<Int>
    var held: Int
    /// the policy's spec, its id, and its name and parameters for the panel
    var policy: String
    var policyID: String
    var policyRow: String
    var slidingFrom: Int?
    var attention: [Float]

    init(_ session: DecodingSession) {
        evicted = session.ledger.evicted[.main] ?? []
        held = session.ledger.count(sequence: .main)
        policy = session.kvPolicy.spec
        policyID = session.kvPolicy.id
        policyRow = ([session.kvPolicy.id] + session.kvPolicy.parameterValues.map { "\($0.name)\u{00A0}\($0.value)" })
            .joined(separator: " ")
        slidingFrom = session.ledger.slidingWindowIndices()?.lowerBound
        attention = session.attentionByPosition()
    }
}

/// The workbench's keys. Core knows strategies by id; which key toggles which is the TUI's
/// business (the README's table reads it from here too).
enum StrategyKeys {
    static let byID: [String: Character] = [
        "budget": "b", "deer": "e", "thinkbrake": "x", "answerstop": "a", "stoppressure": "p", "cgrs": "c",
        "nowait": "w", "entropix": "n", "swir": "s",
    ]
    /// cycles the KV policies
    static let kvPolicy: Character = "k"

    static func key(_ id: String) -> Character { byID[id] ?? " " }
    static func id(for key: Character) -> String? { byID.first { $0.value == key }?.key }
}

/// The KV policy's row (`k` cycles the policies): its name and parameters.
func kvRow(_ row: String?) -> WorkbenchSnapshot.StrategyRow {
    let none = row == nil || row == "none"
    return .init(key: StrategyKeys.kvPolicy, name: "KV policy", enabled: !none, available: true,
                 detail: none ? "none (stops when full)" : row!)
}

/// The policies `k` steps through mid-run: SnapKV acts at the prefill only, and H2O needs
/// the attention tap, which is chosen when the context is made.
func nextKVPolicy(after current: String, attention: Bool) -> String {
    let cycle = attention ? ["none", "streaming", "h2o"] : ["none", "streaming"]
    let i = cycle.firstIndex(of: current) ?? -1
    return cycle[(i + 1) % cycle.count]
}

/// The panel's rows for the strategies' published status, and the KV policy's row.
func strategyRows(_ statuses: [StrategyStatus], kvRow row: String?) -> [WorkbenchSnapshot.StrategyRow] {
    statuses.map { st in
        // a parameter's name and value are joined by a no-break space, so wrapping keeps them together
        let params = st.shown.map { "\($0.name)\u{00A0}\($0.value)" }.joined(separator: " ")
        let detail = st.enabled ? (st.liveState.isEmpty ? params : st.liveState) : params
        return .init(key: StrategyKeys.key(st.id), name: st.name, enabled: st.enabled, available: st.unavailable == nil,
                     detail: detail, reason: st.unavailable)
    } + [kvRow(row)]
}

/// What the workbench knows of a live run besides what the mailbox brings.
struct LiveRun: Sendable {
    let header: TraceHeader
    /// the problem as the user gave it (before any chat template)
    let problem: String
    /// whether the attention tap is on (H2O can be cycled to)
    let attention: Bool
    let strategies: [StrategyStatus]
    /// the KV policy as the panel shows it (`KVView.policyRow`), and its id
    let kvRow: String
    let kvPolicyID: String
    let thread: SessionThread
}

/// The interactive workbench: a live session or a recorded trace, drawn by the Views panes,
/// driven by keys. The decoding runs on its own thread; this loop redraws at most ~30 times
/// a second from what the mailbox delivered and stays responsive while the model computes.
final class WorkbenchApp {
    enum Source {
        case live(LiveRun)
        case replay(ReplayTimeline)
    }

    let source: Source
    let terminal: CursesTerminal
    private let mailbox: Mailbox
    var snapshot: WorkbenchSnapshot
    /// the strategies as last published
    var statuses: [StrategyStatus] = []
    /// the KV policy's row and id as last published
    private var kvPolicyRow: String?
    private var kvPolicyID: String
    private var noticeUntil = Date.distantPast
    private var quit = false
    /// the run's summary, once the session's thread wrote it
    private(set) var summary: TraceSummary?
    /// why the trace stopped being written, if it did
    private(set) var traceFailure: String?
    /// the run's branches as the mailbox told them (live) or as the whole trace has them (replay)
    var log = BranchLog()
    /// how each parked branch keeps its cache (live)
    var cacheStates: [Int: String] = [:]
    /// replay: the branch the user switched to (the timeline's playback is paused meanwhile)
    var replayBranch: Int?
    /// the trace being written (live) or replayed: `E` writes the report beside it
    var tracePath: String?

    init(source: Source, terminal: CursesTerminal, mailbox: Mailbox = Mailbox()) {
        self.source = source
        self.terminal = terminal
        self.mailbox = mailbox
        switch source {
        case .live(let run):
            let h = run.header
            statuses = run.strategies
            kvPolicyRow = run.kvRow
            kvPolicyID = run.kvPolicyID
            snapshot = WorkbenchSnapshot(
                modelName: h.model.file, modelDetail: h.model.description, status: .running,
                promptTokens: h.promptTokens, contextSize: h.settings.contextSize,
                strategies: strategyRows(run.strategies, kvRow: run.kvRow),
                kvBytesPerToken: h.model.kvBytesPerToken ?? 0, slidingWindow: h.model.slidingWindow)
            snapshot.problem = run.problem
            snapshot.kvPolicy = h.settings.kvPolicy
            (snapshot.origin, snapshot.kvNote) = Self.origin(h)
            updateBudget()
        case .replay(let timeline):
            kvPolicyID = ""
            snapshot = Self.replaySnapshot(timeline)
            if timeline.forks {
                log = timeline.branches
                showReplayBranches()
            }
            if timeline.truncated {
                flash("the trace was cut off mid-line: replaying up to its last whole line", seconds: 6)
            }
        }
    }

    /// Where a run comes from when no local model made it: the status bar's words and the KV
    /// pane's note.
    static func origin(_ h: TraceHeader) -> (String?, String?) {
        if let s = h.server {
            let host = URL(string: s.url).map { "\($0.host ?? "")\($0.port.map { ":\($0)" } ?? "")" } ?? s.url
            return ("server \(host)", "the server's slot holds it")
        }
        if let s = h.source {
            return ("imported \(s.file) (\(s.format))", "no KV cache: imported from a server's answer")
        }
        return (nil, nil)
    }

    /// Runs until the user quits or a signal arrives; a live run's session is then stopped
    /// and its thread joined (the trace gets its summary).
    func run() {
        var lastFrame = Date.distantPast
        var dirty = true
        while !quit {
            if pendingQuitSignal.load(ordering: .relaxed) != 0 { quit = true; break }
            if let key = terminal.readKey(timeoutMs: 15) {
                handle(key)
                dirty = true
            }
            if absorbMailbox() { dirty = true }
            if case .replay(let timeline) = source, timeline.advance(now: Date()) {
                showReplay(timeline)
                dirty = true
            }
            if snapshot.notice != nil && Date() > noticeUntil { snapshot.notice = nil; dirty = true }
            let now = Date()
            if dirty && now.timeIntervalSince(lastFrame) >= 1.0 / 30 {
                draw()
                lastFrame = now
                dirty = false
            }
        }
        if case .live(let run) = source {
            run.thread.send(.stop)
            run.thread.join()
            _ = absorbMailbox()
        }
    }

    private func draw() {
        let (w, h) = terminal.size
        if case .replay(let timeline) = source {
            snapshot.status = .replay(playing: timeline.playing, speed: timeline.speed)
        }
        snapshot.tokensPerSecond = recentRate()
        terminal.draw(Workbench.render(snapshot, width: w, height: h, glyphs: terminal.glyphs))
    }

    private func recentRate() -> Double {
        let recent = snapshot.records.suffix(32)
        let ms = recent.reduce(0.0) { $0 + $1.ms }
        return ms > 0 ? Double(recent.count) * 1000 / ms : 0
    }

    func flash(_ text: String, seconds: Double = 3) {
        snapshot.notice = text
        noticeUntil = Date().addingTimeInterval(seconds)
    }

    /// The budget gauge follows budget forcing's published budget while it is on.
    private func updateBudget() {
        let budget = statuses.first { $0.id == "budget" && $0.enabled }
        snapshot.thinkingBudget = budget?.value("budget").flatMap { Int($0) }
    }

    /// Applies what the decoding thread sent. Returns whether anything changed.
    private func absorbMailbox() -> Bool {
        let items = mailbox.drain()
        guard !items.isEmpty else { return false }
        for item in items {
            switch item {
            case .record(let r):
                log.add(.token(r))
                snapshot.records.append(r)
            case .rewind(let p):
                snapshot.records.removeAll { $0.position >= p }
                if let h = snapshot.hiddenFrom, h.position >= p { snapshot.hiddenFrom = nil }
                if case .done = snapshot.status { snapshot.status = .running }
                if let c = snapshot.cursor, c >= snapshot.records.count { snapshot.cursor = nil }
            case .paused(let paused):
                if case .done = snapshot.status { continue }
                snapshot.status = paused ? .paused : .running
            case .finished(let reason):
                log.finished(reason)
                snapshot.status = .done(reason)
            case .branchCaches(let states):
                cacheStates = states
                showBranchCache()
            case .event(let e):
                log.add(e)
                switch e.kind {
                case .branch, .switchBranch: showCurrentBranch()
                case .error: flash(e.detail ?? "error", seconds: 6)
                case .budgetEnd: snapshot.forcedEndAt = e.step; flash("budget reached: thinking ended")
                case .earlyExit: flash("early exit: \(e.detail ?? "")")
                case .contextFull: flash("the context is full: press k for an evicting KV policy to go on", seconds: 8)
                case .kvPolicy: flash("KV policy \(e.detail ?? "")")
                case .stopString:
                    if let p = e.position { snapshot.hiddenFrom = .init(position: p, visibleBytes: e.visibleBytes ?? 0) }
                default: break
                }
            case .kv(let v):
                snapshot.evicted = v.evicted
                snapshot.kvHeld = v.held
                snapshot.kvPolicy = v.policy
                kvPolicyID = v.policyID
                snapshot.slidingFrom = v.slidingFrom
                snapshot.attention = v.attention
                if kvPolicyRow != v.policyRow {
                    kvPolicyRow = v.policyRow
                    snapshot.strategies = strategyRows(statuses, kvRow: v.policyRow)
                }
            case .strategies(let list):
                statuses = list
                snapshot.strategies = strategyRows(list, kvRow: kvPolicyRow)
                updateBudget()
            case .traceFailed(let why):
                traceFailure = why
                snapshot.alert = "trace stopped"
                flash("trace write failed: \(why) — recording stopped, the run goes on", seconds: 10)
            case .summary(let s):
                summary = s
            }
        }
        return true
    }

    // MARK: keys

    private func handle(_ key: Key) {
        if snapshot.compare != nil { handleCompare(key); return }
        if snapshot.showBranches { handleBranchList(key); return }
        if snapshot.topKSelection != nil { handleTopKSelection(key); return }
        switch key {
        case .resize:
            terminal.invalidate()
        case .left, .up:
            moveCursor(by: -1)
        case .right, .down:
            moveCursor(by: 1)
        case .pageUp:
            moveCursor(by: -20)
        case .pageDown:
            moveCursor(by: 20)
        case .home:
            snapshot.cursor = snapshot.records.isEmpty ? nil : 0
        case .end:
            snapshot.cursor = nil
        case .char(let c):
            handle(character: c)
        }
    }

    private func moveCursor(by delta: Int) {
        let n = snapshot.records.count
        guard n > 0 else { return }
        let current = snapshot.cursor ?? (n - 1)
        let next = current + delta
        snapshot.cursor = next >= n - 1 && delta > 0 ? nil : max(0, min(n - 1, next))
    }

    private func handle(character c: Character) {
        switch c {
        case "q", "Q":
            quit = true
        case "?", "h":
            snapshot.showHelp.toggle()
        case "\u{1B}":
            if snapshot.showHelp { snapshot.showHelp = false }
        case "0"..."9":
            pickAlternative(rank: c == "0" ? 9 : Int(String(c))! - 1)
        case "\t":
            if let i = snapshot.focusIndex, !snapshot.records[i].top.isEmpty { snapshot.topKSelection = 0 }
        case "v":
            openBranchList()
        case "[", "]":
            switchNeighbour(c == "]" ? 1 : -1)
        case "C":
            openCompare(with: nil)
        case "E":
            exportReport()
        default:
            switch source {
            case .live(let run): handleLive(c, run)
            case .replay(let timeline): handleReplay(c, timeline)
            }
        }
    }

    private func handleLive(_ c: Character, _ run: LiveRun) {
        let session = run.thread
        switch c {
        case " ":
            if case .paused = snapshot.status {
                session.send(.resume)
            } else if case .running = snapshot.status {
                session.send(.pause)
            } else {
                flash("generation has finished: move the cursor back and press r to regenerate from there")
            }
        case ".":
            if case .done = snapshot.status {
                flash("generation has finished")
            } else {
                session.send(.step)
            }
        case "r":
            guard let c = snapshot.cursor, c < snapshot.records.count else {
                flash("move the cursor back (←) to the token to regenerate from, then press r")
                return
            }
            // a new branch from there: the old continuation stays as the branch it was
            session.send(.fork(step: c, token: nil))
            session.send(.resume)
            snapshot.cursor = nil
            flash("branch \(nextBranchID) from step \(c): branch \(snapshot.currentBranch) is kept (v lists branches)")
        case "t":
            session.send(.endThinking)
            flash("ending thinking: feeding the think-close marker")
        case StrategyKeys.kvPolicy:
            let next = nextKVPolicy(after: kvPolicyID, attention: run.attention)
            session.send(.setKVPolicy(next))
            if next == "none" && !run.attention {
                flash("KV policy none (H2O needs the attention tap: start with --attention)")
            }
        case "+", "-", "=":
            guard let current = statuses.first(where: { $0.id == "budget" })?.value("budget").flatMap({ Int($0) }) else { return }
            let step = max(16, current / 8)
            let next = max(16, c == "-" ? current - step : current + step)
            session.send(.setParameter("budget", "budget", "\(next)"))
            if !statuses.contains(where: { $0.id == "budget" && $0.enabled }) {
                session.send(.enableStrategy("budget", true))
            }
            flash("thinking budget \(next)")
        default:
            guard let id = StrategyKeys.id(for: c), let st = statuses.first(where: { $0.id == id }) else { return }
            if let why = st.unavailable {
                flash("\(st.name) is not available: it \(why)", seconds: 5)
                return
            }
            session.send(.enableStrategy(id, !st.enabled))
            flash("\(st.name) \(st.enabled ? "off" : "on")")
        }
    }


}

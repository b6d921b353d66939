import Core
import Foundation
import Synchronization
import Views

/// The interactive workbench: a live session or a recorded trace, drawn by the Views panes,
/// driven by keys. The decoding runs on its own thread; this loop redraws at most ~30 times
/// a second from what the mailbox delivered and stays responsive while the model computes.
final class WorkbenchApp {
    enum Source {
        case live(LiveRun)
        case replay(ReplayTimeline)
    }

    var source: Source
    let terminal: CursesTerminal
    private let mailbox: Mailbox
    var snapshot: WorkbenchSnapshot
    /// the strategies as last published (with the values sent since laid over them)
    var statuses: [StrategyStatus] = []
    /// parameter values sent to the session and not yet published back, by "strategy.name":
    /// a publication that answers an earlier send of the same parameter must not put the
    /// older value back under keys still being pressed
    var sentParameters: [String: (value: String, at: Date)] = [:]
    /// the KV policy's row and id as last published
    private(set) var kvPolicyRow: String?
    var kvPolicyID: String
    private var noticeUntil = Date.distantPast
    var quit = false
    /// the command line's history (↑ ↓), loaded from and saved to `historyPath`
    var history = CommandHistory()
    var historyPath: String?
    /// sampling and the token limit as the command line last set them
    var sampling: SamplingParameters?
    var maxTokens = 0
    /// the seed the command line set, if it did: branches it starts draw from it
    var seedSet: UInt64?
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
            kvPolicyID = run.info.kvPolicyID
            snapshot = Self.liveSnapshot(run.info)
            start(run.info)
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

    /// A live run's first frame: its model, prompt and strategies, nothing generated yet.
    static func liveSnapshot(_ run: LiveRunInfo) -> WorkbenchSnapshot {
        let h = run.header
        var snapshot = WorkbenchSnapshot(
            modelName: h.model.file, modelDetail: h.model.description, status: .running,
            promptTokens: h.promptTokens, contextSize: h.settings.contextSize,
            strategies: strategyRows(run.strategies, kvRow: run.kvRow, kvSpec: h.settings.kvPolicy),
            kvBytesPerToken: h.model.kvBytesPerToken ?? 0, slidingWindow: h.model.slidingWindow)
        snapshot.problem = run.problem
        snapshot.kvPolicy = h.settings.kvPolicy
        (snapshot.origin, snapshot.kvNote) = origin(h)
        return snapshot
    }

    /// Takes a live run's facts (the first, or a new problem's).
    private func start(_ run: LiveRunInfo) {
        statuses = run.strategies
        kvPolicyRow = run.kvRow
        kvPolicyID = run.kvPolicyID
        sampling = run.header.settings.sampling
        maxTokens = run.header.settings.maxTokens
        seedSet = nil
        updateBudget()
    }

    /// A new problem's run took over: the panes start over on it, keeping what the person has
    /// open (the command line being typed, the strategy editor, the help).
    private func takeOver(_ info: LiveRunInfo) {
        guard case .live(var run) = source else { return }
        run.info = info
        source = .live(run)
        // what the person has open stays open: a line being typed, the editor, the help
        let (focus, line, help, commands) = (snapshot.strategyFocus, snapshot.commandLine, snapshot.showHelp, snapshot.showCommands)
        snapshot = Self.liveSnapshot(info)
        (snapshot.strategyFocus, snapshot.commandLine, snapshot.showHelp, snapshot.showCommands) = (focus, line, help, commands)
        log = BranchLog()
        cacheStates = [:]
        summary = nil
        start(info)
        flash("a new run on: \(info.problem.prefix(60))", seconds: 5)
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
            run.driver.quitting.store(true, ordering: .sequentiallyConsistent)
            run.thread.send(.stop)
            run.thread.join()
            _ = absorbMailbox()
        }
    }

    private func draw() {
        let (w, h) = terminal.size
        if !snapshot.showHelp { snapshot.showCommands = false }
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
                    snapshot.strategies = strategyRows(statuses, kvRow: v.policyRow, kvSpec: v.policy)
                }
            case .strategies(let list):
                statuses = withSentParameters(list)
                snapshot.strategies = strategyRows(statuses, kvRow: kvPolicyRow, kvSpec: snapshot.kvPolicy)
                updateBudget()
            case .traceFailed(let why):
                traceFailure = why
                snapshot.alert = "trace stopped"
                flash("trace write failed: \(why) — recording stopped, the run goes on", seconds: 10)
            case .summary(let s):
                summary = s
            case .newRun(let info):
                takeOver(info)
            case .tracing(let path):
                tracePath = path
                snapshot.alert = nil
                flash("recording the trace to \(path) (everything so far is in it)", seconds: 6)
            case .notice(let text):
                flash(text, seconds: 6)
            }
        }
        return true
    }

    // MARK: keys

    private func handle(_ key: Key) {
        if snapshot.commandLine != nil { handleCommandLine(key); return }
        if snapshot.strategyFocus != nil, handleStrategyFocus(key) { return }
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
        case .delete:
            break
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
        case ":":
            openCommandLine()
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
            session.send(.fork(step: c, token: nil, seed: seedSet))
            session.send(.resume)
            snapshot.cursor = nil
            flash("branch \(nextBranchID) from step \(c): branch \(snapshot.currentBranch) is kept (v lists branches)")
        case "t":
            session.send(.endThinking)
            flash("ending thinking: feeding the think-close marker")
        case "S":
            openStrategyFocus()
        case StrategyKeys.kvPolicy:
            let next = nextKVPolicy(after: kvPolicyID, attention: run.info.attention)
            session.send(.setKVPolicy(next))
            if next == "none" && !run.info.attention {
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

import Core
import Foundation
import Views

/// What the decoding thread tells the UI, in order. The session's callbacks push; the UI
/// drains once per frame, so the two threads share nothing else.
final class Mailbox: @unchecked Sendable {
    enum Item {
        case record(StepRecord)
        case rewind(position: Int)
        case paused(Bool)
        case finished(String)
        case event(TraceEvent)
        case strategies([WorkbenchSnapshot.StrategyRow])
        case kv(KVView)
    }
    private let lock = NSLock()
    private var items: [Item] = []

    func push(_ item: Item) {
        lock.lock()
        items.append(item)
        lock.unlock()
    }

    func drain() -> [Item] {
        lock.lock()
        defer { lock.unlock() }
        let out = items
        items.removeAll(keepingCapacity: true)
        return out
    }
}

/// What the KV map shows of the ledger, copied on the session's thread.
struct KVView {
    var evicted: Set<Int>
    var held: Int
    var policy: String
    var slidingFrom: Int?
    var attention: [Float]

    init(_ session: DecodingSession) {
        evicted = session.ledger.evicted[0] ?? []
        held = session.ledger.count(sequence: 0)
        policy = session.kvPolicy.spec
        slidingFrom = session.ledger.slidingWindowIndices()?.lowerBound
        attention = session.attentionByPosition()
    }
}

/// The KV policy's row: `k` cycles the policies.
func kvRow(_ session: DecodingSession) -> WorkbenchSnapshot.StrategyRow {
    let p = session.kvPolicy
    return .init(key: "k", name: "KV policy", enabled: p.id != "none", available: true,
                 detail: p.id == "none" ? "none (stops when full)" : p.spec)
}

/// The policies `k` steps through mid-run: SnapKV acts at the prefill only, and H2O needs
/// the attention tap, which is chosen when the context is made.
func nextKVPolicy(after current: String, attention: Bool) -> String {
    let cycle = attention ? ["none", "streaming", "h2o"] : ["none", "streaming"]
    let i = cycle.firstIndex(of: current) ?? -1
    return cycle[(i + 1) % cycle.count]
}

/// The panel's rows for a session's strategies. Call on the session's thread (or before it starts).
func strategyRows(_ session: DecodingSession) -> [WorkbenchSnapshot.StrategyRow] {
    session.strategies.map { st in
        let on = session.enabled.contains(st.id)
        let params = st.parameters.map { "\($0.0) \($0.1)" }.joined(separator: " ")
        let detail = on ? (st.liveState.isEmpty ? params : st.liveState) : params
        return .init(key: st.key, name: st.name, enabled: on, available: true, detail: detail)
    } + [kvRow(session)]
}

/// Rows for a replay: the strategies the trace was recorded with, read-only.
func replayRows(_ header: TraceHeader) -> [WorkbenchSnapshot.StrategyRow] {
    header.settings.strategies.map { spec in
        let name = String(spec.split(separator: ":").first ?? "")
        return .init(key: " ", name: name, enabled: true, available: true, detail: spec)
    }
}

/// The interactive workbench: a live session or a recorded trace, drawn by the Views panes,
/// driven by keys. The decoding runs on its own thread; this loop redraws at most ~30 times
/// a second from what the mailbox delivered and stays responsive while the model computes.
final class WorkbenchApp {
    enum Source {
        case live(PreparedRun)
        case replay(ReplayTimeline)
    }

    private let source: Source
    private let terminal: CursesTerminal
    private let mailbox = Mailbox()
    private var snapshot: WorkbenchSnapshot
    private var noticeUntil = Date.distantPast
    private var sessionThread: Thread?
    private var sessionDone = DispatchSemaphore(value: 0)
    private var quit = false

    init(source: Source, terminal: CursesTerminal) {
        self.source = source
        self.terminal = terminal
        switch source {
        case .live(let run):
            let facts = run.header.model
            snapshot = WorkbenchSnapshot(
                modelName: facts.file, modelDetail: facts.description, status: .running,
                promptTokens: run.header.promptTokens, contextSize: run.header.settings.contextSize,
                strategies: strategyRows(run.session), kvBytesPerToken: facts.kvBytesPerToken ?? 0,
                slidingWindow: facts.slidingWindow)
        case .replay(let timeline):
            let h = timeline.header
            snapshot = WorkbenchSnapshot(
                modelName: h.model.file, modelDetail: h.model.description, status: .replay(playing: true, speed: 1),
                promptTokens: h.promptTokens, contextSize: h.settings.contextSize,
                strategies: replayRows(h), kvBytesPerToken: h.model.kvBytesPerToken ?? 0,
                slidingWindow: h.model.slidingWindow)
            if timeline.truncated {
                flash("the trace was cut off mid-line: replaying up to its last whole line", seconds: 6)
            }
        }
    }

    /// Runs until the user quits or a signal arrives.
    func run() {
        if case .live(let run) = source { startSession(run) }
        var lastFrame = Date.distantPast
        var dirty = true
        while !quit {
            if pendingQuitSignal != 0 { quit = true; break }
            if let key = terminal.readKey(timeoutMs: 15) {
                handle(key)
                dirty = true
            }
            if absorbMailbox() { dirty = true }
            if case .replay(let timeline) = source, timeline.advance(now: Date()) {
                snapshot.records = timeline.records
                snapshot.evicted = timeline.evicted
                snapshot.kvPolicy = timeline.kvPolicy
                snapshot.slidingFrom = timeline.slidingFrom(window: snapshot.slidingWindow)
                snapshot.attention = timeline.attention
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
        stopSession()
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

    private func flash(_ text: String, seconds: Double = 3) {
        snapshot.notice = text
        noticeUntil = Date().addingTimeInterval(seconds)
    }

    // MARK: the live session

    private func startSession(_ run: PreparedRun) {
        let session = run.session
        let box = mailbox
        let traceStep = session.onStep
        let traceEvent = session.onEvent
        session.onStep = { [unowned session] r in
            traceStep?(r)
            box.push(.record(r))
            if !session.enabled.isEmpty { box.push(.strategies(strategyRows(session))) }
            box.push(.kv(KVView(session)))
        }
        session.onEvent = { [unowned session] e in
            traceEvent?(e)
            switch e.kind {
            case "enable", "disable", "parameter": box.push(.strategies(strategyRows(session)))
            case "kv-policy":
                box.push(.strategies(strategyRows(session)))
                box.push(.kv(KVView(session)))
            case "rewind":
                box.push(.rewind(position: e.position ?? 0))
                box.push(.kv(KVView(session)))
            case "pause", "step": box.push(.paused(true))
            case "resume": box.push(.paused(false))
            default: break
            }
            box.push(.event(e))
        }
        session.onFinish = { reason in box.push(.finished(reason.rawValue)) }
        let done = sessionDone
        let thread = Thread {
            session.run(stayAfterDone: true)
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.name = "thinktop-decode"
        sessionThread = thread
        thread.start()
    }

    private func stopSession() {
        guard case .live(let run) = source, sessionThread != nil else { return }
        run.session.send(.stop)
        sessionDone.wait()
        sessionThread = nil
        _ = try? run.finish()
    }

    /// Applies what the decoding thread sent. Returns whether anything changed.
    private func absorbMailbox() -> Bool {
        let items = mailbox.drain()
        guard !items.isEmpty else { return false }
        for item in items {
            switch item {
            case .record(let r):
                snapshot.records.append(r)
            case .rewind(let p):
                snapshot.records.removeAll { $0.position >= p }
                if case .done = snapshot.status { snapshot.status = .running }
                if let c = snapshot.cursor, c >= snapshot.records.count { snapshot.cursor = nil }
            case .paused(let paused):
                if case .done = snapshot.status { continue }
                snapshot.status = paused ? .paused : .running
            case .finished(let reason):
                snapshot.status = .done(reason)
            case .event(let e):
                switch e.kind {
                case "error": flash(e.detail ?? "error", seconds: 6)
                case "budget-end": snapshot.forcedEndAt = e.step; flash("budget reached: thinking ended")
                case "early-exit": flash("early exit: \(e.detail ?? "")")
                case "context-full": flash("the context is full: press k for an evicting KV policy to go on", seconds: 8)
                case "kv-policy": flash("KV policy \(e.detail ?? "")")
                default: break
                }
            case .kv(let v):
                snapshot.evicted = v.evicted
                snapshot.kvHeld = v.held
                snapshot.kvPolicy = v.policy
                snapshot.slidingFrom = v.slidingFrom
                snapshot.attention = v.attention
            case .strategies(let rows):
                snapshot.strategies = rows
                if let b = rows.first(where: { $0.key == "b" }), b.enabled,
                   case .live(let run) = source, let budget = budgetValue(run) {
                    snapshot.thinkingBudget = budget
                } else {
                    snapshot.thinkingBudget = nil
                }
            }
        }
        return true
    }

    // MARK: keys

    private func handle(_ key: Key) {
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
        default:
            switch source {
            case .live(let run): handleLive(c, run.session)
            case .replay(let timeline): handleReplay(c, timeline)
            }
        }
    }

    private func handleLive(_ c: Character, _ session: DecodingSession) {
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
            let position = snapshot.records[c].position
            session.send(.rewind(toPosition: position))
            session.send(.resume)
            snapshot.cursor = nil
            flash("rewound to position \(position)")
        case "t":
            session.send(.endThinking)
            flash("ending thinking: feeding the think-close marker")
        case "k":
            let current = snapshot.kvPolicy.flatMap { $0.split(separator: ":").first.map(String.init) } ?? "none"
            let next = nextKVPolicy(after: current, attention: session.capturesAttention)
            session.send(.setKVPolicy(next))
            if next == "none" && !session.capturesAttention {
                flash("KV policy none (H2O needs the attention tap: start with --attention)")
            }
        case "+", "-", "=":
            guard case .live(let run) = source, let current = budgetValue(run) else { return }
            let step = max(16, current / 8)
            let next = max(16, c == "-" ? current - step : current + step)
            session.send(.setParameter("budget", "budget", "\(next)"))
            if !snapshot.strategies.contains(where: { $0.key == "b" && $0.enabled }) {
                session.send(.enableStrategy("budget", true))
            }
            flash("thinking budget \(next)")
        default:
            if let row = snapshot.strategies.first(where: { $0.key == c }) {
                guard row.available, let st = session.strategies.first(where: { $0.key == c }) else {
                    flash("\(row.name) is not available yet")
                    return
                }
                session.send(.enableStrategy(st.id, !row.enabled))
                flash("\(row.name) \(row.enabled ? "off" : "on")")
            }
        }
    }

    /// The budget strategy's current budget (its parameter is only changed through commands,
    /// so reading it here races at worst with a pending change of our own).
    private func budgetValue(_ run: PreparedRun) -> Int? {
        (run.session.strategy("budget") as? BudgetForcing)?.budget
    }

    private func handleReplay(_ c: Character, _ timeline: ReplayTimeline) {
        switch c {
        case " ":
            timeline.playing.toggle()
        case ".":
            timeline.playing = false
            _ = timeline.stepForward()
            snapshot.records = timeline.records
        case "+", "=":
            timeline.speed = min(64, timeline.speed * 2)
        case "-":
            timeline.speed = max(1.0 / 16, timeline.speed / 2)
        case "r", "t":
            flash("a replay cannot change the run: start one with `thinktop` to steer it")
        default:
            if snapshot.strategies.contains(where: { $0.key == c }) {
                flash("a replay cannot change the run")
            }
        }
    }
}

/// A recorded trace played back in time: tokens appear at their recorded pace (scaled by
/// `speed`), rewinds happen where they happened.
final class ReplayTimeline {
    let header: TraceHeader
    let truncated: Bool
    private let items: [TraceLine]
    private var next = 0
    private var due = Date()
    private(set) var records: [StepRecord] = []
    /// evictions standing at this point of the replay: (the position the incoming token took,
    /// nil for the prefill's; the positions removed)
    private var evictions: [(at: Int?, removed: [Int])] = []
    private(set) var kvPolicy: String?
    /// with a trace written with --trace-attention: the attention each position has received
    /// from the generated tokens so far
    private(set) var attention: [Float] = []
    var evicted: Set<Int> { Set(evictions.flatMap(\.removed)) }

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

    init(reader: TraceReader) throws {
        guard let h = reader.header else { throw ThinktopError.traceUnreadable(path: "trace", reason: "no header") }
        header = h
        truncated = reader.truncated
        kvPolicy = h.settings.kvPolicy
        items = reader.lines.filter {
            switch $0 {
            case .token: return true
            case .event(let e): return ["rewind", "evict", "kv-policy"].contains(e.kind)
            default: return false
            }
        }
    }

    var finished: Bool { next >= items.count }

    /// Applies the next line. Returns false at the end.
    func stepForward() -> Bool {
        guard next < items.count else { return false }
        switch items[next] {
        case .token(let t):
            records.append(t)
            if let a = t.attention { attend(a) }
        case .event(let e) where e.kind == "rewind":
            if let p = e.position {
                records.removeAll { $0.position >= p }
                attention = []
                for r in records { if let a = r.attention { attend(a) } }
                // evictions made when the token at p or later was fed are undone (as in the session)
                evictions.removeAll { $0.at.map { $0 >= p } ?? false }
            }
        case .event(let e) where e.kind == "evict":
            evictions.append((e.position, e.removed ?? []))
        case .event(let e) where e.kind == "kv-policy":
            kvPolicy = e.detail
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

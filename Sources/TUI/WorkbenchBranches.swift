import Core
import Foundation
import Views

// The workbench's branches: picking an alternative, the branch list, switching, and the
// compare view. Live, the branches are the mailbox's lines rebuilt (`log`); in a replay,
// the whole trace's.
extension WorkbenchApp {
    /// the id the next branch gets
    var nextBranchID: Int { (log.branches.map(\.id).max() ?? 0) + 1 }

    private var isLive: Bool {
        if case .live = source { return true }
        return false
    }

    private var closeMarker: String {
        switch source {
        case .live(let run): return run.header.settings.thinkClose
        case .replay(let t): return t.header.settings.thinkClose
        }
    }

    // MARK: the shown branch

    /// After a fork or a switch: the panes show the current branch as the log has it.
    func showCurrentBranch() {
        let run = log.currentRun
        snapshot.records = run.records
        snapshot.currentBranch = run.id
        snapshot.cursor = nil
        snapshot.topKSelection = nil
        let events = run.events
        snapshot.hiddenFrom = events.last { $0.kind == .stopString }.flatMap { e in
            e.position.map { WorkbenchSnapshot.HiddenTail(position: $0, visibleBytes: e.visibleBytes ?? 0) }
        }
        snapshot.forcedEndAt = events.last { $0.kind == .budgetEnd }?.step
        if let reason = run.stopReason {
            snapshot.status = .done(reason)
        } else if case .done = snapshot.status {
            snapshot.status = .running
        }
        snapshot.forkMarks = log.forkSteps(on: run.id)
        showBranchCache()
        if snapshot.showBranches { snapshot.branches = branchRows() }
    }

    /// The status bar's word on how the other branches keep their cache.
    func showBranchCache() {
        guard log.branches.count > 1 else { snapshot.branchCache = nil; return }
        let kinds = Set(cacheStates.filter { $0.key != snapshot.currentBranch }.map(\.value))
        snapshot.branchCache = kinds.isEmpty ? nil : "others " + kinds.sorted().joined(separator: ", ")
        if !isLive { snapshot.branchCache = "recorded" }
        snapshot.branches = branchRows()
    }

    /// Replay: the branch rows and marks from the whole trace.
    func showReplayBranches() {
        snapshot.branches = branchRows()
        snapshot.branchCache = "recorded"
        snapshot.forkMarks = log.forkSteps(on: snapshot.currentBranch)
    }

    /// Every branch, depth first from branch 0 (children in the order they were made).
    func treeOrder() -> [BranchRun] {
        var out: [BranchRun] = []
        func visit(_ id: Int) {
            guard let b = log.branch(id), !out.contains(where: { $0.id == id }) else { return }
            out.append(b)
            for c in log.branches where c.info.parent == id { visit(c.id) }
        }
        visit(0)
        return out
    }

    func branchRows() -> [BranchRow] {
        treeOrder().map { b in
            BranchRow(id: b.id, parent: b.info.parent, forkStep: b.info.forkStep, cause: b.info.cause.description,
                      length: b.records.count, phase: b.phase,
                      answer: AnswerExtractor.extract(b.records.map(\.text).joined(), close: closeMarker),
                      cache: b.id == snapshot.currentBranch ? "current" : (cacheStates[b.id] ?? (isLive ? "" : "recorded")))
        }
    }

    // MARK: picking an alternative

    /// Takes the alternative of rank `rank` (0: the most likely) at the focused step on a new
    /// branch, with the strategies now on.
    func pickAlternative(rank: Int) {
        guard let i = snapshot.focusIndex else { return }
        let record = snapshot.records[i]
        guard rank < record.top.count else {
            flash("step \(i) shows \(record.top.count) alternatives")
            return
        }
        let alt = record.top[rank]
        guard case .live(let run) = source else {
            flash("a replay cannot take another token: start the run with `thinktop` to branch it")
            return
        }
        guard alt.id != record.token else {
            flash("\(String(reflecting: alt.text)) is the token taken at step \(i): pick another")
            return
        }
        run.thread.send(.fork(step: i, token: alt.id))
        run.thread.send(.resume)
        snapshot.topKSelection = nil
        flash("branch \(nextBranchID): \(String(reflecting: alt.text)) at step \(i) instead of \(String(reflecting: record.text)) (v lists branches)", seconds: 5)
    }

    func handleTopKSelection(_ key: Key) {
        guard let sel = snapshot.topKSelection, let i = snapshot.focusIndex else { snapshot.topKSelection = nil; return }
        let n = snapshot.records[i].top.count
        switch key {
        case .up, .left: snapshot.topKSelection = max(0, sel - 1)
        case .down, .right: snapshot.topKSelection = min(n - 1, sel + 1)
        case .char("\n"), .char("\r"): pickAlternative(rank: sel)
        case .char("\u{1B}"), .char("\t"): snapshot.topKSelection = nil
        case .char("q"): snapshot.topKSelection = nil
        case .resize: terminal.invalidate()
        default: break
        }
    }

    // MARK: the branch list

    func openBranchList() {
        guard log.branches.count > 1 else {
            flash("one branch so far: press r at a token, or a digit to take an alternative, to start another")
            return
        }
        snapshot.branches = branchRows()
        snapshot.branchSelection = snapshot.branches.firstIndex { $0.id == snapshot.currentBranch } ?? 0
        snapshot.showBranches = true
    }

    func handleBranchList(_ key: Key) {
        let n = snapshot.branches.count
        switch key {
        case .up: snapshot.branchSelection = max(0, snapshot.branchSelection - 1)
        case .down: snapshot.branchSelection = min(n - 1, snapshot.branchSelection + 1)
        case .char("\n"), .char("\r"):
            snapshot.showBranches = false
            switchTo(snapshot.branches[snapshot.branchSelection].id)
        case .char("c"):
            snapshot.showBranches = false
            openCompare(with: snapshot.branches[snapshot.branchSelection].id)
        case .char("\u{1B}"), .char("v"): snapshot.showBranches = false
        case .char("q"): snapshot.showBranches = false
        case .resize: terminal.invalidate()
        default: break
        }
    }

    /// `[` and `]`: the branch before or after the current one in the tree's order.
    func switchNeighbour(_ delta: Int) {
        let order = treeOrder().map(\.id)
        guard order.count > 1, let i = order.firstIndex(of: snapshot.currentBranch) else {
            flash("one branch so far")
            return
        }
        switchTo(order[(i + delta + order.count) % order.count])
    }

    func switchTo(_ id: Int) {
        guard id != snapshot.currentBranch else { return }
        switch source {
        case .live(let run):
            run.thread.send(.switchBranch(id))
            flash("branch \(id)")
        case .replay(let timeline):
            // the recorded branch as it stood at the end of the trace
            timeline.playing = false
            guard let b = log.branch(id) else { return }
            replayBranch = id
            snapshot.records = b.records
            snapshot.currentBranch = id
            snapshot.cursor = nil
            snapshot.forkMarks = log.forkSteps(on: id)
            snapshot.hiddenFrom = b.events.last { $0.kind == .stopString }.flatMap { e in
                e.position.map { WorkbenchSnapshot.HiddenTail(position: $0, visibleBytes: e.visibleBytes ?? 0) }
            }
            snapshot.forcedEndAt = b.events.last { $0.kind == .budgetEnd }?.step
            showReplayBranches()
            flash("branch \(id) as recorded (p plays the trace again)")
        }
    }

    // MARK: the compare view

    /// Opens the compare view: the current branch against `other`, or, when nil, against its
    /// parent (branch 0: the newest of its children).
    func openCompare(with other: Int?) {
        let current = snapshot.currentBranch
        let partner = other ?? log.branch(current)?.info.parent ?? log.branches.last { $0.info.parent == current }?.id
        guard let b = partner, b != current, let left = log.branch(min(b, current)), let right = log.branch(max(b, current)) else {
            flash("nothing to compare yet: start another branch (r, or a digit at a token)")
            return
        }
        func side(_ run: BranchRun) -> CompareView.Side {
            CompareView.Side(title: "branch \(run.id): \(run.info.cause.description)", records: run.records,
                             stats: BranchStatistics(run, close: closeMarker))
        }
        snapshot.compare = CompareView(left: side(left), right: side(right), forkStep: log.divergence(left.id, right.id))
    }

    func handleCompare(_ key: Key) {
        let scroll = snapshot.compare?.scroll ?? 0
        let (w, h) = terminal.size
        let most = ComparePane.maxScroll(snapshot, width: w, height: h, glyphs: terminal.glyphs)
        switch key {
        case .up: snapshot.compare?.scroll = max(0, scroll - 1)
        case .down: snapshot.compare?.scroll = min(most, scroll + 1)
        case .pageUp: snapshot.compare?.scroll = max(0, scroll - 10)
        case .pageDown: snapshot.compare?.scroll = min(most, scroll + 10)
        case .char("\u{1B}"), .char("C"), .char("q"): snapshot.compare = nil
        case .resize: terminal.invalidate()
        default: break
        }
    }
}

import Core
import Foundation
import Views

// The workbench over a recorded trace: the snapshot a replay starts from, what the timeline
// has come to, and the replay's own keys (play, speed, scrubbing).

/// Rows for a replay: the strategies the trace was recorded with (their specs read back by
/// the registry; a spec this version does not know is shown as it is), read-only.
func replayRows(_ header: TraceHeader) -> [WorkbenchSnapshot.StrategyRow] {
    header.settings.strategies.map { spec in
        guard let (list, on) = try? StrategyRegistry.configure([spec]), let st = list.first(where: { on.contains($0.id) }) else {
            return .init(key: " ", name: spec, enabled: true, available: true, detail: "")
        }
        let params = st.parameterValues.map { "\($0.name)\u{00A0}\($0.value)" }.joined(separator: " ")
        return .init(key: StrategyKeys.key(st.id), name: st.name, enabled: true, available: true, detail: params)
    }
}

extension WorkbenchApp {
    func showReplay(_ timeline: ReplayTimeline) {
        guard replayBranch == nil else { return }
        let branch = snapshot.currentBranch
        Self.show(timeline, in: &snapshot)
        if snapshot.currentBranch != branch {
            snapshot.forkMarks = log.forkSteps(on: timeline.currentBranch)
            showReplayBranches()
        }
    }

    /// The snapshot a replay starts from: the trace's model, settings and starting budget.
    static func replaySnapshot(_ timeline: ReplayTimeline) -> WorkbenchSnapshot {
        let h = timeline.header
        var snapshot = WorkbenchSnapshot(
            modelName: h.model.file, modelDetail: h.model.description, status: .replay(playing: true, speed: 1),
            promptTokens: h.promptTokens, contextSize: h.settings.contextSize,
            strategies: replayRows(h), kvBytesPerToken: h.model.kvBytesPerToken ?? 0,
            slidingWindow: h.model.slidingWindow)
        snapshot.problem = timeline.problem
        (snapshot.origin, snapshot.kvNote) = origin(h)
        // the budget the run was started with (a change mid-run is a `parameter` event)
        if let (list, on) = try? StrategyRegistry.configure(h.settings.strategies), on.contains("budget"),
           let budget = list.first(where: { $0.id == "budget" }) as? BudgetForcing {
            snapshot.thinkingBudget = budget.budget
        }
        return snapshot
    }

    /// What the replay has come to, into the snapshot.
    static func show(_ timeline: ReplayTimeline, in snapshot: inout WorkbenchSnapshot) {
        snapshot.records = timeline.records
        snapshot.currentBranch = timeline.currentBranch
        snapshot.evicted = timeline.evicted
        snapshot.kvPolicy = timeline.kvPolicy
        snapshot.slidingFrom = timeline.slidingFrom(window: snapshot.slidingWindow)
        snapshot.attention = timeline.attention
        snapshot.hiddenFrom = timeline.hidden
        snapshot.forcedEndAt = timeline.forcedEndAt
    }

    func handleReplay(_ c: Character, _ timeline: ReplayTimeline) {
        switch c {
        case " ":
            timeline.playing.toggle()
        case ".":
            timeline.playing = false
            _ = timeline.stepForward()
            showReplay(timeline)
        case "+", "=":
            timeline.speed = min(64, timeline.speed * 2)
        case "-":
            timeline.speed = max(1.0 / 16, timeline.speed / 2)
        case "r", "t":
            flash("a replay cannot change the run: start one with `thinktop` to steer it")
        case "<", ">":
            // scrub: a twentieth of the trace back or forward (paused there)
            timeline.playing = false
            replayBranch = nil
            let jump = max(1, timeline.length / 20)
            // the snapshot lets go of the records first: the timeline then edits them in place
            snapshot.records = []
            timeline.seek(to: timeline.position + (c == ">" ? jump : -jump))
            snapshot.cursor = nil
            showReplay(timeline)
            flash("step \(max(0, timeline.step)) · \(timeline.position * 100 / max(1, timeline.length)) % of the trace (space plays on)")
        case "p" where replayBranch != nil:
            replayBranch = nil
            timeline.playing = true
            showReplay(timeline)
        default:
            if StrategyKeys.id(for: c) != nil || c == StrategyKeys.kvPolicy {
                flash("a replay cannot change the run")
            }
        }
    }
}

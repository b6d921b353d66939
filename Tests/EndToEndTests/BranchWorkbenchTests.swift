import Core
import Foundation
import Testing

/// Branches in the workbench through tmux: take the second-best token at a "Wait", see the
/// new branch, switch back, compare the two; then the same from the trace, without a model.
@Suite("Branches in the workbench through tmux", .serialized)
struct BranchWorkbenchTests {
    /// The first step whose token spells "Wait" in a trace's branch 0, else step 20.
    func waitStep(_ trace: String) throws -> Int {
        let log = BranchLog(lines: try TraceReader(path: trace).lines)
        return log.branch(0)?.records.first { $0.text.contains("Wait") }?.index ?? 20
    }

    @Test("take the second-best token at a Wait, see the branch, switch back, compare; replay shows the tree")
    func pickSwitchCompareReplay() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("branches.jsonl").path
        let t = try TmuxSession([Binary.path, "tui", "--max-tokens", "80", "--stop", "NEVER-SEEN-STOP", "--trace", trace],
                                width: 140, height: 44)
        let done = t.wait(timeout: 60) { $0.contains("done") }
        #expect(done.contains("done"), "\(done)")
        let k = try waitStep(trace)
        t.send("Home")
        for _ in 0..<k { t.send("Right") }
        Thread.sleep(forTimeInterval: 0.5)
        #expect(t.screen.contains("#\(k) "), "the top-k pane is not at step \(k):\n\(t.screen)")
        t.send("2")
        let branched = t.wait { $0.contains("branch 1/2") && $0.contains("done") }
        #expect(branched.contains("branch 1/2"), "\(branched)")

        // the branch took the second alternative at step k, then went on as a run forced there
        let log = BranchLog(lines: try TraceReader(path: trace).lines)
        let parent = try #require(log.branch(0)), child = try #require(log.branch(1))
        let alternative = parent.records[k].top[1]
        #expect(child.info.forkStep == k && child.info.parent == 0 && child.info.cause.kind == .token)
        #expect(child.records[k].token == alternative.id)
        #expect(child.records.prefix(k).map(\.token) == parent.records.prefix(k).map(\.token))
        let forced = dir.appendingPathComponent("forced.jsonl").path
        let run = try Binary.run(["run", "--max-tokens", "80", "--stop", "NEVER-SEEN-STOP", "--force-at", "\(k)",
                                  "--token", "\(alternative.id)", "--trace", forced])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try TraceReader(path: forced).finalTokens.map(\.token) == child.records.map(\.token))

        // back to branch 0: its text again, with the fork marked
        t.send("[")
        let back = t.wait { $0.contains("branch 0/2") }
        #expect(back.contains("branch 0/2"), "\(back)")
        // the compare view: both sides from the fork, and the summary
        t.send("C")
        // the whole view, not a screen caught halfway through its drawing
        let compare = t.wait {
            $0.contains("Compare from step \(k)") && $0.contains("branch 1: token") && $0.contains("total tokens")
                && $0.split(separator: "\n").contains { $0.hasPrefix("total tokens") && $0.contains("80") }
        }
        #expect(compare.contains("Compare from step \(k)"), "\(compare)")
        #expect(compare.contains("branch 0: start") && compare.contains("branch 1: token"), "\(compare)")
        let totals = compare.split(separator: "\n").first { $0.hasPrefix("total tokens") }.map(String.init) ?? ""
        #expect(totals.contains("80") && totals.contains("│"), "\(compare)")
        t.send("Escape")
        t.send("q")
        #expect(t.wait { $0.contains("EXITED") }.contains("EXITED 0"))

        // the trace replays with both branches: the list, a switch, the compare view
        let r = try TmuxSession([Binary.path, "replay", trace], width: 140, height: 44)
        r.send("+", "+", "+", "+", "+", "+")
        r.wait { $0.contains("branch 1/2") }
        r.send("v")
        // waits are for the whole of what is checked: a capture may catch a frame half drawn
        let list = r.wait { $0.contains("Branches") && $0.contains("@ \(k)") && $0.contains("token") }
        #expect(list.contains("@ \(k)") && list.contains("token"), "\(list)")
        r.send("Up")
        r.send("Enter")
        let switched = r.wait { $0.contains("branch 0/2") }
        #expect(switched.contains("branch 0/2"), "\(switched)")
        r.send("C")
        let replayed = r.wait { $0.contains("Compare from step \(k)") && $0.contains("total tokens") }
        #expect(replayed.contains("Compare from step \(k)") && replayed.contains("total tokens"), "\(replayed)")
        r.send("Escape")
        r.send("q")
        #expect(r.wait { $0.contains("EXITED") }.contains("EXITED 0"))
    }
}

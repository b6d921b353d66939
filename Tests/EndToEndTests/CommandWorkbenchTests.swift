import Core
import Foundation
import Testing
import TestSupport

/// The workbench's command line and strategy editor in a real terminal: what a presenter does
/// on the demo, read back from the screen and from the trace.
@Suite("The workbench's command line through tmux", .serialized)
struct CommandWorkbenchTests {
    /// `thinktop tui ARGS` with the command history kept under `state` (not the user's)
    func workbench(_ args: [String], state: URL, width: Int = 150) throws -> TmuxSession {
        try TmuxSession(["env", "XDG_STATE_HOME=\(state.path)", Binary.path, "tui"] + args, width: width)
    }

    /// Types a command line and Enter.
    func command(_ t: TmuxSession, _ line: String) {
        t.send(":")
        t.wait(timeout: 5) { $0.contains("Tab complete") }
        t.send("-l", line)
        t.send("Enter")
    }

    func quit(_ t: TmuxSession) {
        t.send("q")
        let end = t.wait { $0.contains("EXITED") }
        #expect(end.contains("EXITED 0"), "\(end)")
    }

    func events(_ run: [TraceLine]) -> [TraceEvent] {
        run.compactMap { if case .event(let e) = $0 { return e } else { return nil } }
    }

    func tokens(_ run: [TraceLine]) -> [StepRecord] {
        run.compactMap { if case .token(let r) = $0 { return r } else { return nil } }
    }

    @Test("DEER acts on the demo once its threshold is lowered on the command line: the trace has the change, then the exit")
    func lowerDEERThreshold() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("deer.jsonl").path
        let t = try workbench(["--paused", "--strategy", "deer", "--trace", trace], state: dir)
        t.wait { $0.contains("paused") }
        command(t, "set deer.threshold 0.3")
        let set = t.wait(timeout: 5) { $0.contains("DEER threshold 0.3") }
        #expect(set.contains("DEER threshold 0.3"), "\(set)")
        t.send("Space")
        let exited = t.wait(timeout: 60) { $0.contains("done:") }
        #expect(exited.contains("early exit") || exited.contains("exited"), "\(exited)")
        quit(t)
        let run = events(try TraceReader(path: trace).lines)
        let change = try #require(run.first { $0.kind == .parameter && $0.strategy == "deer" })
        #expect(change.detail == "deer:threshold=0.3")
        let exit = try #require(run.first { $0.kind == .earlyExit })
        #expect(exit.step > change.step)
        // the same demo at DEER's own threshold probes and does not exit: the change made it act
        let plain = dir.appendingPathComponent("plain.jsonl").path
        let r = try Binary.run(["run", "--strategy", "deer", "--trace", plain, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let plainEvents = events(try TraceReader(path: plain).lines)
        #expect(plainEvents.contains { $0.kind == .probe } && !plainEvents.contains { $0.kind == .earlyExit })
    }

    @Test("CGRS acts once δ is lowered with - in the strategy pane; the pane lists its parameters; Enter types a value")
    func lowerCGRSDelta() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("cgrs.jsonl").path
        let t = try workbench(["--paused", "--strategy", "cgrs", "--trace", trace], state: dir)
        t.wait { $0.contains("paused") }
        t.send("S")
        t.send("c")
        func delta(_ s: String) -> String? {
            s.range(of: #"▸ delta +[0-9.]+"#, options: .regularExpression).map { String(s[$0].split(separator: " ").last!) }
        }
        let pane = t.wait(timeout: 5) { delta($0) == "0.9" }
        #expect(delta(pane) == "0.9" && pane.contains("cue") && pane.contains("certainty"), "\(pane)")
        #expect(pane.contains("adjust") && pane.contains("Esc done"), "the key bar says the pane's keys:\n\(pane)")
        for _ in 0..<8 { t.send("-") }
        let lowered = t.wait(timeout: 5) { delta($0) == "0.5" }
        #expect(lowered.contains("CGRS delta 0.55 → 0.5"), "\(lowered)")
        // Enter opens the command line on the parameter
        t.send("Enter")
        let line = t.wait(timeout: 5) { $0.contains(":set cgrs.delta") }
        #expect(line.contains(":set cgrs.delta"), "\(line)")
        t.send("-l", "0.45")
        t.send("Enter")
        #expect(delta(t.wait(timeout: 5) { delta($0) == "0.45" }) == "0.45")
        t.send("Escape")
        t.wait(timeout: 5) { !$0.contains("Esc done") }
        t.send("Space")
        let done = t.wait(timeout: 60) { $0.contains("done:") }
        #expect(done.contains("done:"), "\(done)")
        quit(t)
        let run = events(try TraceReader(path: trace).lines)
        let changes = run.filter { $0.kind == .parameter && $0.strategy == "cgrs" }.compactMap(\.detail)
        #expect(changes.first == "cgrs:delta=0.85" && changes.last == "cgrs:delta=0.45" && changes.count == 9, "\(changes)")
        #expect(run.contains { $0.kind == .suppress })
        // at δ 0.9 the demo's certainty never passes it: no suppression
        let plain = dir.appendingPathComponent("plain.jsonl").path
        #expect(try Binary.run(["run", "--strategy", "cgrs", "--trace", plain, "--quiet"]).status == 0)
        #expect(!events(try TraceReader(path: plain).lines).contains { $0.kind == .suppress })
    }

    @Test("temperature set to 0 mid-run, then a new problem: the trace has the change, greedy tokens after it, and a second run with the new settings")
    func temperatureThenNewProblem() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.jsonl").path
        let t = try workbench(["--max-tokens", "3000", "--stop", "NEVER-SEEN-STOP", "--trace", trace], state: dir)
        t.wait { (contextUsed($0) ?? 0) > 520 }
        t.send("Space")
        t.wait { $0.contains("paused") }
        command(t, "temp 0")
        t.wait(timeout: 5) { $0.contains("sampling: temp 0.0") }
        t.send("Space")
        let before = contextUsed(t.screen) ?? 0
        t.wait { (contextUsed($0) ?? 0) > before + 30 }
        command(t, "problem Tom has 12 apples and buys 30 more. How many apples does he have?")
        let second = t.wait(timeout: 30) { $0.contains("Tom has 12 apples and buys 30 more") }
        #expect(second.contains("Tom has 12 apples and buys 30 more"), "\(second)")
        #expect(!second.contains("A farmer has 17 sheep"), "\(second)")
        t.wait { (contextUsed($0) ?? 0) > 520 }
        quit(t)
        let reader = try TraceReader(path: trace)
        #expect(reader.allRuns.count == 2)
        let first = reader.allRuns[0]
        let change = try #require(events(first).first { $0.kind == .settings })
        #expect(change.detail == "temp 0.6 → 0.0")
        let after = tokens(first).filter { $0.index >= change.step }
        #expect(after.count >= 30 && after.allSatisfy { $0.token == $0.top[0].id })
        // the first run ends where the new problem took over, with its summary
        #expect(events(first).last?.kind == .stop)
        if case .summary = first.last {} else { Issue.record("the first run has no summary line") }
        guard case .header(let h) = reader.allRuns[1].first else { Issue.record("no second header"); return }
        #expect(h.problem == "Tom has 12 apples and buys 30 more. How many apples does he have?")
        #expect(h.prompt.hasSuffix("Problem: Tom has 12 apples and buys 30 more. How many apples does he have?\n<think>\n"))
        #expect(h.settings.sampling?.temperature == 0)
        #expect(tokens(reader.allRuns[1]).first?.position == h.promptTokens)
    }

    @Test("two problems typed back to back: the line typed while the first takes over stays open, and each runs in turn")
    func problemsBackToBack() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("two.jsonl").path
        let t = try workbench(["--paused", "--trace", trace], state: dir)
        t.wait { $0.contains("paused") }
        // the second line is opened with the first's Enter, before the first run takes over
        t.send(":")
        t.wait(timeout: 5) { $0.contains("Tab complete") }
        t.send("-l", "problem first one")
        t.send("Enter", ":")
        t.send("-l", "problem What is")
        // taken over: the decoding pane shows the new problem
        let over = t.wait(timeout: 30) { $0.range(of: #"│first one +│"#, options: .regularExpression) != nil }
        #expect(over.contains(":problem What is"), "the line being typed was lost when the new run took over:\n\(over)")
        t.send("-l", " 5 + 6?")
        t.send("Enter")
        let second = t.wait(timeout: 30) { $0.range(of: #"│What is 5 \+ 6\? +│"#, options: .regularExpression) != nil }
        #expect(second.contains("What is 5 + 6?"), "\(second)")
        quit(t)
        let problems = try TraceReader(path: trace).allRuns.compactMap { run -> String? in
            if case .header(let h) = run.first { return h.problem }
            return nil
        }
        #expect(problems == [DemoProblem.question, "first one", "What is 5 + 6?"])
        // no key of the second line reached the workbench as a key (b, e, s would have turned strategies on)
        #expect(try TraceReader(path: trace).lines.allSatisfy { line in
            if case .event(let e) = line { return e.kind != .enable && e.kind != .branch }
            return true
        })
    }

    @Test("↑ on the command line recalls a command from an earlier workbench; a bad command is said under the line, which stays")
    func historyAndErrors() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try workbench(["--paused"], state: dir)
        a.wait { $0.contains("paused") }
        command(a, "top-k 5")
        a.wait(timeout: 5) { $0.contains("sampling: top-k 5") }
        command(a, "temp hot")
        let bad = a.wait(timeout: 5) { $0.contains("got \"hot\"") }
        #expect(bad.contains("temp must be a number ≥ 0 (0: greedy), got \"hot\""), "\(bad)")
        #expect(bad.contains(":temp hot"), "the line stays to be fixed:\n\(bad)")
        a.send("Escape")
        quit(a)
        let b = try workbench(["--paused"], state: dir)
        b.wait { $0.contains("paused") }
        b.send(":")
        b.wait(timeout: 5) { $0.contains("Tab complete") }
        b.send("Up")
        let recalled = b.wait(timeout: 5) { $0.contains(":top-k 5") }
        #expect(recalled.contains(":top-k 5"), "\(recalled)")
        b.send("Escape")
        quit(b)
        let saved = try String(contentsOfFile: dir.appendingPathComponent("thinktop/history").path, encoding: .utf8)
        #expect(saved == "top-k 5\n")
    }

    @Test("trace FILE records from then on with every line so far; max-tokens raised goes on past the old limit")
    func traceLateAndMaxTokens() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("late.jsonl").path
        // wide: the status bar keeps the context count beside the notices
        let t = try workbench(["--max-tokens", "20", "--stop", "NEVER-SEEN-STOP"], state: dir, width: 230)
        let done = t.wait(timeout: 30) { $0.contains("done: max tokens") }
        #expect(done.contains("done: max tokens"), "\(done)")
        command(t, "trace \(trace)")
        let recording = t.wait(timeout: 5) { $0.contains("recording the trace to") }
        #expect(recording.contains("recording the trace to"), "\(recording)")
        command(t, "max-tokens 45")
        let at20 = contextUsed(done) ?? 0
        let again = t.wait(timeout: 30) { $0.contains("done: max tokens") && contextUsed($0) == at20 + 25 }
        #expect(again.contains("done: max tokens") && contextUsed(again) == at20 + 25, "\(again)")
        quit(t)
        let lines = try TraceReader(path: trace).lines
        guard case .header = lines.first else { Issue.record("the trace does not start with its header"); return }
        let records = tokens(lines)
        #expect(records.first?.index == 0)
        #expect(events(lines).contains { $0.kind == .settings && $0.detail == "max-tokens 20 → 45" })
        guard case .summary(let s) = lines.last else { Issue.record("no summary"); return }
        #expect(s.tokens == 45 && s.stopReason == "max tokens")
    }

    @Test("goto moves the cursor, rewind after seed branches there with the new seed, export writes the report; a replay takes goto and refuses changes")
    func gotoRewindExport() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("g.jsonl").path
        let html = dir.appendingPathComponent("g.html").path
        let t = try workbench(["--max-tokens", "60", "--stop", "NEVER-SEEN-STOP", "--trace", trace], state: dir, width: 170)
        t.wait(timeout: 30) { $0.contains("done: max tokens") }
        command(t, "goto 10")
        let cursor = t.wait(timeout: 5) { $0.contains("cursor #10 of 60") }
        #expect(cursor.contains("cursor #10 of 60"), "\(cursor)")
        // after `seed`, the branch draws from the new seed at its step
        command(t, "seed 8")
        t.wait(timeout: 5) { $0.contains("sampling: seed 8") }
        command(t, "rewind 10")
        let branched = t.wait(timeout: 5) { $0.contains("branch 1 from step 10") }
        #expect(branched.contains("branch 1 from step 10"), "\(branched)")
        t.wait(timeout: 30) { $0.contains("done: max tokens") }
        command(t, "export \(html)")
        let written = t.wait(timeout: 20) { $0.contains("written to") }
        #expect(written.contains("written to"), "\(written)")
        quit(t)
        #expect(((try? String(contentsOfFile: html, encoding: .utf8)) ?? "").contains("<html"))
        let log = BranchLog(lines: try TraceReader(path: trace).lines)
        #expect(log.branches.count == 2 && log.branch(1)?.info.forkStep == 10)
        #expect(log.branch(1)?.info.cause.kind == .seed && log.branch(1)?.info.cause.seed == 8)
        let r = try TmuxSession([Binary.path, "replay", trace], width: 170)
        // a replay reaches a step at the recorded pace and goes to steps it has shown: pause
        // it past step 5 (the top-k pane's "#N" is the step shown)
        func shownStep(_ screen: String) -> Int? {
            screen.range(of: #"#[0-9]+ +H "#, options: .regularExpression).flatMap { Int(screen[$0].dropFirst().prefix { $0 != " " }) }
        }
        r.wait { (shownStep($0) ?? 0) >= 8 }
        r.send("Space")
        command(r, "goto 5")
        let moved = r.wait(timeout: 5) { $0.contains("cursor #5 of") }
        #expect(moved.contains("cursor #5 of"), "\(moved)")
        command(r, "temp 1")
        let refused = r.wait(timeout: 5) { $0.contains("a replay cannot change the run") }
        #expect(refused.contains("temp: a replay cannot change the run (here: goto, export, help, q)"), "\(refused)")
        r.send("Escape")
        quit(r)
    }

    @Test("model loading: `run` in a terminal says what loaded where; the workbench says it once it is up")
    func loadingProgress() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try TmuxSession([Binary.path, "run", "--max-tokens", "3"])
        let said = run.wait { $0.contains("EXITED") }
        #expect(said.range(of: #"loaded gemma-3-270m-q4_k_m\.gguf \(\d+ MiB\) on CPU in \d+\.\d s"#, options: .regularExpression) != nil, "\(said)")
        let t = try workbench(["--paused"], state: dir, width: 200)
        let up = t.wait { $0.contains("paused") && $0.contains("loaded") }
        #expect(up.range(of: #"loaded gemma-3-270m-q4_k_m\.gguf \(\d+ MiB\) on CPU"#, options: .regularExpression) != nil, "\(up)")
        quit(t)
        // layers on a ggml-rpc-server: it is named where they go
        let server = try TestServer.rpc()
        defer { server.kill() }
        let rpc = try TmuxSession([Binary.path, "run", "--rpc", "127.0.0.1:\(server.port)", "--max-tokens", "3"], width: 160)
        let remote = rpc.wait { $0.contains("EXITED") }
        #expect(remote.range(of: #"\(\d+ MiB\) on RPC 127\.0\.0\.1:"# + "\(server.port)" + #" \+ CPU in"#, options: .regularExpression) != nil,
                "\(remote)")
        #expect(remote.contains("EXITED 0"), "\(remote)")
    }
}

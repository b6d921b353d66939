import Core
import Foundation
import Testing
import TestSupport

/// The workbench in a real terminal: tmux runs `thinktop`, `send-keys` types, and
/// `capture-pane -p` reads the screen as a person would see it.
final class TmuxSession {
    let name = "thinktop-test-\(UUID().uuidString.prefix(8))"

    /// `shell`: commands the shell runs first (e.g. a `ulimit`).
    init(_ command: [String], width: Int = 120, height: Int = 40, shell: String = "") throws {
        let quoted = command.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        // the shell prints the exit status and stays, so the screen after quitting can be read
        let script = "\(shell) env -u NO_COLOR THINKTOP_MODEL='\(Binary.model)' \(quoted); echo \"EXITED $?\"; sleep 30"
        // a server that is shutting down (the previous test closed its last session) can
        // swallow the request: try again until the session is there
        for _ in 0..<10 {
            try Self.tmux(["new-session", "-d", "-s", name, "-x", "\(width)", "-y", "\(height)", "bash", "-c", script])
            if (try? Self.tmux(["list-sessions", "-F", "#{session_name}"]))?.contains(name) == true { return }
            Thread.sleep(forTimeInterval: 0.3)
        }
        throw ThinktopError.io("tmux did not start the session \(name)")
    }

    deinit { try? Self.tmux(["kill-session", "-t", name]) }

    /// Runs tmux on the tests' own server (`-L`, no user configuration). Through
    /// posix_spawn and waitpid, with output to a file: the tmux server the first call starts
    /// inherits whatever the client had open, so pipes would never see their end.
    @discardableResult
    static func tmux(_ args: [String]) throws -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-\(UUID()).out").path
        defer { unlink(out) }
        let quoted = (["tmux", "-L", "thinktop-tests", "-f", "/dev/null"] + args)
            .map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let script = "TERM=xterm-256color \(quoted) >'\(out)' 2>/dev/null </dev/null"
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(script), nil]
        defer { argv.forEach { free($0) } }
        let rc = posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ)
        guard rc == 0 else { throw ThinktopError.io("cannot start tmux (\(rc))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    var screen: String { (try? Self.tmux(["capture-pane", "-p", "-t", name])) ?? "" }
    /// the screen with its colour and attribute escapes
    var styledScreen: String { (try? Self.tmux(["capture-pane", "-p", "-e", "-t", name])) ?? "" }

    func send(_ keys: String...) { _ = try? Self.tmux(["send-keys", "-t", name] + keys) }

    func resize(width: Int, height: Int) {
        _ = try? Self.tmux(["resize-window", "-t", name, "-x", "\(width)", "-y", "\(height)"])
    }

    /// Waits until the screen satisfies `condition`, and still does a moment later (a capture
    /// can catch a frame half drawn: the frame after it is whole); returns the last screen
    /// either way.
    @discardableResult
    func wait(timeout: TimeInterval = 30, _ condition: (String) -> Bool) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var s = screen
        while Date() < deadline {
            if condition(s) {
                Thread.sleep(forTimeInterval: 0.08)
                let settled = screen
                if condition(settled) { return settled }
                s = settled
                continue
            }
            Thread.sleep(forTimeInterval: 0.1)
            s = screen
        }
        return s
    }
}

/// "ctx 612/4096" in the status bar: positions in use.
func contextUsed(_ screen: String) -> Int? {
    guard let r = screen.range(of: #"ctx \d+/\d+"#, options: .regularExpression) else { return nil }
    let s = screen[r].dropFirst(4)
    return Int(s.split(separator: "/")[0])
}

@Suite("The workbench through tmux", .serialized)
struct WorkbenchTests {
    /// a live run that will not end by itself during a test
    func liveSession(trace: String? = nil, extra: [String] = []) throws -> TmuxSession {
        var cmd = [Binary.path, "tui", "--max-tokens", "3000", "--stop", "NEVER-SEEN-STOP"]
        if let trace { cmd += ["--trace", trace] }
        return try TmuxSession(cmd + extra)
    }

    @Test("it opens on the default model and shows the panes with tokens appearing")
    func opensAndGenerates() throws {
        let t = try liveSession()
        let first = t.wait { (contextUsed($0) ?? 0) > 520 }
        for pane in ["Decoding", "Entropy", "Confidence", "KV", "Strategies", "Budget"] {
            #expect(first.contains(pane), "no \(pane) pane:\n\(first)")
        }
        #expect(first.contains("gemma-3-270m"))
        #expect(first.contains("running"))
        let a = contextUsed(first) ?? 0
        let later = t.wait { (contextUsed($0) ?? 0) > a + 20 }
        #expect((contextUsed(later) ?? 0) > a, "no new tokens:\n\(later)")
        t.send("q")
        let end = t.wait { $0.contains("EXITED") }
        #expect(end.contains("EXITED 0"), "\(end)")
        #expect(end.contains("tokens (thinking"))
    }

    @Test("the problem is shown above the thinking, and the stop string is hidden as `run` hides it")
    func problemAndStopString() throws {
        let t = try TmuxSession([Binary.path, "tui"])
        let done = t.wait(timeout: 60) { $0.contains("done: stop string") }
        #expect(done.contains("done: stop string"), "\(done)")
        let pane = done.split(separator: "\n").map { $0.prefix(84) }.joined(separator: "\n")
        #expect(pane.contains("A farmer has 17 sheep. All but 9 run away. How many sheep does the farmer have"), "\(done)")
        #expect(!pane.contains("Problem:"), "the stop string shows:\n\(done)")
        // the problem is drawn dimmed (SGR 2), the generated text is not
        let styled = t.styledScreen
        let problemLine = try #require(styled.split(separator: "\n").first { $0.contains("A farmer has 17 sheep") })
        #expect(problemLine.contains("\u{1B}[2m") || problemLine.contains(";2m"), "\(problemLine)")
        t.send("q")
        #expect(t.wait { $0.contains("EXITED") }.contains("EXITED 0"))
    }

    @Test("a trace that can no longer be written: the workbench says so, the run goes on, the exit is 1")
    func traceWriteFailure() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.jsonl").path
        // 8 KiB of file: the header and a few token lines fit, then writes fail (EFBIG)
        let t = try TmuxSession([Binary.path, "tui", "--max-tokens", "3000", "--stop", "NEVER-SEEN-STOP", "--trace", trace],
                                shell: "ulimit -f 8;")
        let failed = t.wait { $0.contains("trace write failed") }
        #expect(failed.contains("trace write failed") && failed.contains("trace stopped"), "\(failed)")
        // the notice goes after a while; the alert stays, and the run went on
        let quiet = t.wait(timeout: 20) { !$0.contains("trace write failed") && contextUsed($0) != nil }
        #expect(quiet.contains("trace stopped"), "\(quiet)")
        let used = contextUsed(quiet) ?? 0
        let later = t.wait { (contextUsed($0) ?? 0) > used + 10 }
        #expect((contextUsed(later) ?? 0) > used + 10, "the run stopped:\n\(later)")
        t.send("q")
        let end = t.wait { $0.contains("EXITED") }
        #expect(end.contains("EXITED 1"), "\(end)")
        // the terminal wraps the line: read it whole
        let unwrapped = end.replacingOccurrences(of: "\n", with: "")
        #expect(unwrapped.contains("thinktop: cannot write the trace \(trace): File too large: recording stopped there"), "\(end)")
        #expect(!end.contains("ExitCode"))
        // what was written before the failure reads back
        let read = try TraceReader(path: trace)
        #expect(read.header != nil && !read.tokens.isEmpty)
    }

    @Test("an RPC server killed under the workbench: the terminal comes back with one line, exit 1, the trace whole")
    func rpcServerDies() throws {
        let server = try TestServer.rpc()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.jsonl").path
        let t = try TmuxSession([Binary.path, "tui", "--rpc", server.endpoint, "--max-tokens", "3000", "--stop", "NEVER-SEEN-STOP",
                                 "--trace", trace])
        t.wait { (contextUsed($0) ?? 0) > 520 }
        server.kill()
        let end = t.wait { $0.contains("EXITED") }
        #expect(end.contains("EXITED 1"), "\(end)")
        let unwrapped = end.replacingOccurrences(of: "\n", with: "")
        #expect(unwrapped.contains("thinktop: RPC server \(server.endpoint) stopped answering"), "\(end)")
        #expect(!end.contains("Decoding"), "the terminal was not restored:\n\(end)")
        #expect(try TraceReader(path: trace).summary?.stopReason == "error")
    }

    @Test("a mistyped subcommand is named, with the one meant")
    func unknownSubcommand() throws {
        let t = try TmuxSession([Binary.path, "repaly", "t.jsonl"])
        let end = t.wait { $0.contains("EXITED") }
        #expect(end.contains("thinktop: unknown subcommand 'repaly' (did you mean 'replay'?)"), "\(end)")
        #expect(end.contains("EXITED 64"))
    }

    @Test("space pauses, . advances exactly one token, space resumes")
    func pauseAndStep() throws {
        let t = try liveSession()
        t.wait { (contextUsed($0) ?? 0) > 510 }
        t.send("Space")
        let paused = t.wait { $0.contains("paused") }
        #expect(paused.contains("paused"), "\(paused)")
        Thread.sleep(forTimeInterval: 0.3)
        let n0 = contextUsed(t.screen) ?? -1
        Thread.sleep(forTimeInterval: 1.0)
        let n1 = contextUsed(t.screen) ?? -2
        #expect(n0 == n1, "the count moved while paused: \(n0) → \(n1)")
        t.send(".")
        let stepped = t.wait(timeout: 5) { contextUsed($0) == n1 + 1 }
        #expect(contextUsed(stepped) == n1 + 1)
        Thread.sleep(forTimeInterval: 0.7)
        #expect(contextUsed(t.screen) == n1 + 1, "a step advanced more than one token")
        t.send("Space")
        let resumed = t.wait { (contextUsed($0) ?? 0) > n1 + 5 }
        #expect((contextUsed(resumed) ?? 0) > n1 + 5)
        t.send("q")
        #expect(t.wait { $0.contains("EXITED") }.contains("EXITED 0"))
    }

    @Test("r after moving the cursor back starts a branch there, keeping the old one; generation resumes")
    func rewindFromCursor() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("r.jsonl").path
        // wide enough that the status bar keeps "ctx" beside the branch segment
        let t = try TmuxSession([Binary.path, "tui", "--max-tokens", "3000", "--stop", "NEVER-SEEN-STOP", "--trace", trace],
                                width: 170)
        t.wait { (contextUsed($0) ?? 0) > 540 }
        t.send("Space")
        t.wait { $0.contains("paused") }
        Thread.sleep(forTimeInterval: 0.3)
        let before = contextUsed(t.screen) ?? 0
        for _ in 0..<15 { t.send("Left") }
        Thread.sleep(forTimeInterval: 0.3)
        t.send("r")
        let after = t.wait(timeout: 5) { $0.contains("from step") }
        #expect(after.contains("branch 1 from step") && after.contains("branch 0 is kept"), "\(after)")
        let step = Int(after.range(of: #"from step \d+"#, options: .regularExpression)
            .map { after[$0].split(separator: " ").last! } ?? "") ?? -1
        // following the tail the cursor is on the newest token; 15 presses of ← go 15 further back,
        // and r regenerates from that token on
        let prompt = try #require(TraceReader(path: trace).header).promptTokens
        #expect(prompt + step == before - 16, "branched at step \(step), expected position \(before - 16)")
        let grown = t.wait { (contextUsed($0) ?? 0) > before + 5 }
        #expect((contextUsed(grown) ?? 0) > before + 5)
        t.send("q")
        #expect(t.wait { $0.contains("EXITED") }.contains("EXITED 0"))
        let log = BranchLog(lines: try TraceReader(path: trace).lines)
        #expect(log.branches.count == 2 && (log.branch(0)?.records.count ?? 0) >= before - prompt)
    }

    @Test("a strategy key flips its shown state; ? shows the help; a tiny terminal gets a message")
    func keysHelpAndSize() throws {
        let t = try liveSession()
        t.wait { (contextUsed($0) ?? 0) > 510 }
        func noWaitRow(_ s: String) -> String { s.split(separator: "\n").first { $0.contains("w NoWait") }.map(String.init) ?? "" }
        #expect(noWaitRow(t.screen).contains("off"), "\(t.screen)")
        t.send("w")
        let on = t.wait(timeout: 5) { noWaitRow($0).contains(" on") }
        #expect(noWaitRow(on).contains(" on"), "\(on)")
        t.send("w")
        let off = t.wait(timeout: 5) { noWaitRow($0).contains("off") }
        #expect(noWaitRow(off).contains("off"), "\(off)")
        t.send("k")
        #expect(t.wait(timeout: 5) { $0.contains("KV policy streaming:sinks=4:recent=512") }.contains("k KV policy     on"))
        t.send("?")
        let help = t.wait(timeout: 5) { $0.contains("rewind") && $0.contains("quit") && $0.contains("pause") }
        #expect(help.contains("step"))
        t.send("?")
        t.resize(width: 40, height: 10)
        let small = t.wait(timeout: 5) { $0.contains("needs at least") }
        #expect(small.contains("needs at least"), "\(small)")
        t.resize(width: 120, height: 40)
        #expect(t.wait(timeout: 5) { $0.contains("Decoding") }.contains("Decoding"))
        t.send("q")
        #expect(t.wait { $0.contains("EXITED") }.contains("EXITED 0"))
    }

    @Test("t ends thinking now; Ctrl-C quits cleanly with the terminal restored")
    func endThinkingAndInterrupt() throws {
        let t = try liveSession()
        t.wait { (contextUsed($0) ?? 0) > 505 }
        t.send("Space")
        t.wait { $0.contains("paused") }
        t.send("t")
        t.send("Space")
        let ended = t.wait(timeout: 10) { $0.contains("── answer") || $0.contains("-- answer") }
        #expect(ended.contains("</think>"), "\(ended)")
        t.send("C-c")
        let end = t.wait { $0.contains("EXITED") }
        #expect(end.contains("EXITED 0") && end.contains("tokens (thinking"), "\(end)")
        #expect(!end.contains("Decoding"), "the workbench is still on screen after Ctrl-C")
    }

    @Test("colours come from the theme; NO_COLOR drops them")
    func colours() throws {
        let coloured = try TmuxSession([Binary.path, "tui", "--max-tokens", "40"])
        let a = coloured.wait { (contextUsed($0) ?? 0) > 505 }
        #expect(a.contains("Decoding"))
        #expect(coloured.styledScreen.contains("38;5;"), "no 256-colour escapes with the dark theme")
        coloured.send("q")
        let plain = try TmuxSession(["env", "NO_COLOR=1", Binary.path, "tui", "--max-tokens", "40"])
        plain.wait { (contextUsed($0) ?? 0) > 505 }
        let styled = plain.styledScreen
        #expect(!styled.contains("38;5;") && !styled.contains("48;5;"), "colour escapes despite NO_COLOR")
        plain.send("q")
    }

    @Test("a non-UTF-8 locale gets ASCII glyphs; SIGTERM restores the terminal")
    func asciiAndTerm() throws {
        let t = try TmuxSession(["env", "LC_ALL=C", "LANG=C", Binary.path, "tui", "--max-tokens", "3000", "--stop", "NEVER-SEEN-STOP"])
        let s = t.wait { (contextUsed($0) ?? 0) > 505 }
        #expect(s.contains("+ Decoding -"), "\(s)")
        #expect(!s.contains("┌") && !s.contains("█"), "box or block glyphs under LC_ALL=C:\n\(s)")
        // stop the workbench with SIGTERM, as a process manager would
        _ = try TmuxSession.tmux(["run-shell", "pkill -TERM -f 'thinktop tui --max-tokens 3000 --stop NEVER-SEEN-STOP'"])
        let end = t.wait { $0.contains("EXITED") }
        #expect(end.contains("EXITED 0") && !end.contains("+ Decoding -"), "\(end)")
    }

    @Test("KV cache: the map shows StreamingLLM's evictions live; k switches policies; a full context waits for one")
    func kvPolicies() throws {
        let t = try TmuxSession([Binary.path, "tui", "--prompt", "Count from one to one thousand, one number a line.",
                                 "--raw", "--ctx", "256", "--kv", "streaming:sinks=4:recent=32",
                                 "--max-tokens", "3000", "--stop", "NEVER-SEEN-STOP"])
        func mapRow(_ s: String) -> String { s.split(separator: "\n").first { $0.contains("global") }.map(String.init) ?? "" }
        func kvRow(_ s: String) -> String { s.split(separator: "\n").first { $0.contains("k KV policy") }.map(String.init) ?? "" }
        // the sinks held, then evicted positions, then the recent window: 36 positions held
        var s = t.wait { mapRow($0).contains("global █·") && contextUsed($0) == 36 }
        #expect(mapRow(s).contains("global █·"), "\(s)")
        #expect(contextUsed(s) == 36)
        #expect(kvRow(s).contains("on  streaming"))
        // without the attention tap k goes back to none: the cache fills and the run stops
        t.send("k")
        s = t.wait { kvRow($0).contains("none") && $0.contains("context full") }
        #expect(kvRow(s).contains("off none"), "\(s)")
        #expect(s.contains("done: context full"))
        // k again: StreamingLLM makes room and the same run goes on
        t.send("k")
        s = t.wait { $0.contains("running") && (contextUsed($0) ?? 0) <= 36 }
        #expect(s.contains("running"), "\(s)")
        #expect(contextUsed(s) ?? 0 <= 36)
        t.send("q")
        #expect(t.wait { $0.contains("EXITED 0") }.contains("EXITED 0"))
    }

    @Test("replay shows a recorded trace without the model; q exits")
    func replay() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("rec.jsonl").path
        let rec = try Binary.run(["run", "--max-tokens", "60", "--stop", "NEVER-SEEN-STOP", "--trace", trace])
        #expect(rec.status == 0)
        let t = try TmuxSession([Binary.path, "replay", trace])
        let s = t.wait { $0.contains("replay") && (contextUsed($0) ?? 0) > 520 }
        #expect(s.contains("Decoding") && s.contains("replay"), "\(s)")
        t.send("Space")
        Thread.sleep(forTimeInterval: 0.5)
        let a = contextUsed(t.screen)
        Thread.sleep(forTimeInterval: 0.8)
        #expect(contextUsed(t.screen) == a)
        // scrubbing: > jumps a twentieth of the trace forward, < back, and stays paused there
        for _ in 0..<20 { t.send(">") }
        let end = t.wait { $0.contains("100 % of the trace") }
        // the status line says where; the top-k pane shows the last token there
        #expect(end.contains("step 59 · 100 % of the trace") && end.contains("#59 "), "\(end)")
        for _ in 0..<10 { t.send("<") }
        let middle = t.wait { $0.contains("50 % of the trace") }
        #expect(middle.contains("step 29 · 50 % of the trace") && middle.contains("#29 ") && !middle.contains("#59 "), "\(middle)")
        t.send("q")
        #expect(t.wait { $0.contains("EXITED") }.contains("EXITED 0"))

        // a trace cut off mid-line replays with a notice
        var data = try #require(FileManager.default.contents(atPath: trace))
        data.removeLast(100)
        let cut = dir.appendingPathComponent("cut.jsonl").path
        FileManager.default.createFile(atPath: cut, contents: data)
        let u = try TmuxSession([Binary.path, "replay", cut])
        #expect(u.wait(timeout: 10) { $0.contains("cut off") }.contains("cut off"))
        u.send("q")
        #expect(u.wait { $0.contains("EXITED") }.contains("EXITED 0"))

        // a StreamingLLM run with attention replays its evictions and its attention band
        let kvTrace = dir.appendingPathComponent("kv.jsonl").path
        let kv = try Binary.run(["run", "--prompt", "Count from one to one thousand, one number a line.", "--raw",
                                 "--ctx", "256", "--kv", "streaming:sinks=4:recent=32", "--trace-attention",
                                 "--max-tokens", "80", "--stop", "NEVER-SEEN-STOP", "--trace", kvTrace])
        #expect(kv.status == 0, "\(kv.stderr)")
        let v = try TmuxSession([Binary.path, "replay", kvTrace])
        v.send("+", "+", "+", "+", "+", "+")
        let shown = v.wait { $0.contains("global █·") && $0.contains("attn   █") }
        #expect(shown.contains("global █·") && shown.contains("attn   █"), "\(shown)")
        v.send("q")
        #expect(v.wait { $0.contains("EXITED") }.contains("EXITED 0"))
    }

    @Test("without a terminal the workbench refuses with a pointer to `thinktop run`; a non-trace is refused")
    func noTerminal() throws {
        let r = try Binary.run(["tui"])
        #expect(r.status != 0)
        #expect(r.stderrLines.count == 1 && r.stderr.contains("thinktop run"), "\(r.stderr)")
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let notTrace = dir.appendingPathComponent("x.jsonl").path
        try "hello\n".write(toFile: notTrace, atomically: true, encoding: .utf8)
        let q = try Binary.run(["replay", notTrace])
        #expect(q.status != 0 && q.stderrLines.count == 1 && q.stderr.contains("cannot read the trace"), "\(q.stderr)")
        let bad = dir.appendingPathComponent("bad.theme").path
        try "text = 252\nkv.free = purple\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let t = try TmuxSession([Binary.path, "tui", "--theme", bad])
        let s = t.wait { $0.contains("EXITED") }
        #expect(s.contains("line 2") && s.contains("purple") && s.contains("EXITED 1"), "\(s)")
    }
}

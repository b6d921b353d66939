import Core
import Foundation
import Testing

/// `thinktop compare` and `run --force-at` on the default model, as a user runs them.
@Suite("thinktop compare and run --force-at", .serialized)
struct CompareCommandTests {
    /// The printed markdown table: row name → the cells (the "differs" mark ` *` dropped),
    /// and the column titles.
    func table(_ stdout: String) -> (titles: [String], rows: [String: [String]]) {
        func cells(_ line: Substring) -> [String] {
            String(line.dropFirst().dropLast()).components(separatedBy: " | ")
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .map { $0.hasSuffix(" *") ? String($0.dropLast(2)) : $0 }
        }
        let lines = stdout.split(separator: "\n").filter { $0.hasPrefix("| ") }
        guard let head = lines.first else { return ([], [:]) }
        var rows: [String: [String]] = [:]
        for l in lines.dropFirst() {
            let c = cells(l)
            rows[c[0]] = Array(c.dropFirst())
        }
        return (Array(cells(head).dropFirst()), rows)
    }

    func branches(ofTrace path: String) throws -> (log: BranchLog, reader: TraceReader) {
        let reader = try TraceReader(path: path)
        return (BranchLog(lines: reader.lines), reader)
    }

    func tokens(ofRun path: String) throws -> [StepRecord] { try TraceReader(path: path).tokens }

    @Test("compare --strategies \"none;nowait\": the table's numbers are those of the trace's branches; branch 1 forks off 0 at step 0")
    func strategies() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("c.jsonl").path
        let r = try Binary.run(["compare", "--strategies", "none;nowait", "--max-tokens", "60", "-o", trace])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderrLines.count == 1 && r.stderr.contains("2 branches") && r.stderr.contains("trace \(trace)"), "\(r.stderr)")

        // one trace: the header, every token and event line, the summary last
        let (log, reader) = try branches(ofTrace: trace)
        let header = try #require(reader.header)
        guard case .header = reader.lines.first, case .summary(let summary) = reader.lines.last else {
            Issue.record("the trace does not run from its header to its summary")
            return
        }
        #expect(header.settings.strategies.isEmpty)
        #expect(summary.branches?.count == 2)
        #expect(log.branches.map(\.id) == [0, 1])
        let fork = try #require(log.branch(1)).info
        #expect(fork.parent == 0 && fork.forkStep == 0)
        #expect(fork.cause.kind == .strategies && fork.cause.strategies == ["nowait"] && fork.cause.parentStrategies == [])
        for b in log.branches {
            #expect(b.records.map(\.index) == Array(0..<b.records.count))
            #expect(b.records.count == 60 && b.stopReason == "max tokens")
        }

        // the table is the trace's: every number as BranchStatistics computes it from the file
        let stats = log.branches.map { BranchStatistics($0, close: header.settings.thinkClose) }
        let (titles, rows) = table(r.stdout)
        #expect(titles == ["none", "nowait"])
        for (i, s) in stats.enumerated() {
            #expect(rows["thinking tokens"]?[i] == "\(s.thinkingTokens)")
            #expect(rows["answer tokens"]?[i] == "\(s.answerTokens)")
            #expect(rows["total tokens"]?[i] == "\(s.tokens)")
            #expect(rows["reflection words"]?[i].hasPrefix("\(s.reflectionTotal)") == true)
            #expect(rows["mean entropy"]?[i] == String(format: "%.3f", s.meanEntropy))
            #expect(rows["stop"]?[i] == s.stopReason)
            #expect(rows["answer"]?[i] == (s.answer ?? "—"))
            let interventions = s.interventions.isEmpty ? "none"
                : s.interventions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            #expect(rows["interventions"]?[i] == interventions)
        }
        #expect(r.stdout == BranchComparison.markdown(zip(titles, stats).map { BranchComparison.Column(title: $0, stats: $1) }))

        // on the demo problem, NoWait suppresses: the plain run has a "Wait", its branch none
        #expect(stats[0].interventions.isEmpty)
        #expect((stats[1].interventions["nowait"] ?? 0) > 0)
        #expect(stats[1].interventions["nowait"] == log.branch(1)!.events.filter { $0.kind == .suppress && $0.strategy == "nowait" }.count)
        #expect(stats[0].reflections["Wait"] == 1 && stats[1].reflections["Wait"] == nil)

        // branch 0 is the plain run from the same seed
        let plain = dir.appendingPathComponent("plain.jsonl").path
        #expect(try Binary.run(["run", "--max-tokens", "60", "--quiet", "--trace", plain]).status == 0)
        #expect(log.branch(0)!.records.map(\.token) == (try tokens(ofRun: plain)).map(\.token))
    }

    @Test("compare --fork-at 12 --token: the branch is run --force-at 12 --token's run, and the plain run's before step 12")
    func forkAtToken() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["--temp", "0", "--max-tokens", "40", "--threads", "2"]
        // the second alternative at step 12 of a plain run
        let plain = dir.appendingPathComponent("plain.jsonl").path
        #expect(try Binary.run(["run", "--quiet", "--trace", plain] + common).status == 0)
        let plainTokens = try tokens(ofRun: plain)
        let second = try #require(plainTokens.count > 12 ? plainTokens[12].top[1] : nil)
        #expect(second.id != plainTokens[12].token)

        let trace = dir.appendingPathComponent("fork.jsonl").path
        let c = try Binary.run(["compare", "--fork-at", "12", "--token", second.text, "-o", trace] + common)
        #expect(c.status == 0, "\(c.stderr)")
        let forced = dir.appendingPathComponent("forced.jsonl").path
        let f = try Binary.run(["run", "--quiet", "--force-at", "12", "--token", second.text, "--trace", forced] + common)
        #expect(f.status == 0, "\(f.stderr)")

        let (log, _) = try branches(ofTrace: trace)
        #expect(log.branches.map(\.id) == [0, 1])
        let root = try #require(log.branch(0)), branch = try #require(log.branch(1))
        #expect(branch.info.parent == 0 && branch.info.forkStep == 12)
        #expect(branch.info.cause.kind == .token && branch.info.cause.token == second.id && branch.info.cause.rank == 2)
        #expect(root.records.map(\.token) == plainTokens.map(\.token))
        #expect(Array(branch.records.prefix(12)).map(\.token) == Array(root.records.prefix(12)).map(\.token))
        #expect(branch.records[12].token == second.id)
        let forcedTokens = try tokens(ofRun: forced)
        #expect(forcedTokens[12].input == .forced)
        #expect(branch.records.map(\.token) == forcedTokens.map(\.token))

        let (titles, rows) = table(c.stdout)
        #expect(titles == ["as run", "token \(String(reflecting: second.text)) at step 12"])
        #expect(rows["total tokens"] == ["\(root.records.count)", "\(branch.records.count)"])
    }

    @Test("a fork at step 0 with the same strategies goes the plain run's way")
    func sameSetsAgree() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("c.jsonl").path
        let r = try Binary.run(["compare", "--strategies", "none;none", "--max-tokens", "20", "-o", trace])
        #expect(r.status == 0, "\(r.stderr)")
        let (log, _) = try branches(ofTrace: trace)
        #expect(log.branches.count == 2)
        // a fork at step 0 starts from the prefill's own logits (the prompt's last token
        // evaluated alone would give others): the same set goes the same way
        #expect(log.branch(1)?.records.first?.entropy == log.branch(0)?.records.first?.entropy)
        #expect(log.branch(1)?.records.map(\.token) == log.branch(0)?.records.map(\.token))
    }

    @Test("compare --help and run --help name the new options")
    func help() throws {
        let c = try Binary.run(["compare", "--help"])
        #expect(c.status == 0 && c.stdout.contains("USAGE: thinktop compare") && c.stdout.contains("--strategies") && c.stdout.contains("--fork-at"))
        let r = try Binary.run(["run", "--help"])
        #expect(r.status == 0 && r.stdout.contains("--force-at") && r.stdout.contains("--token"))
    }

    /// One line on stderr naming the mistake, a non-zero exit, nothing on stdout.
    func expectOneLineError(_ args: [String], mentions: String) throws {
        let r = try Binary.run(args)
        #expect(r.status != 0, "\(args) exited 0")
        #expect(r.stdout.isEmpty, "\(args) printed \(r.stdout)")
        #expect(r.stderrLines.count == 1, "\(args): \(r.stderr)")
        #expect(r.stderr.hasPrefix("thinktop: ") && r.stderr.contains(mentions), "\(args): \(r.stderr)")
    }

    @Test("a token that is not one token, and the other misuses: one line, a non-zero exit")
    func badArguments() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.jsonl").path
        try expectOneLineError(["run", "--force-at", "2", "--token", " and then", "--max-tokens", "4", "--trace", trace],
                               mentions: "--token \" and then\" is not one token of the model's vocabulary: it is 2 tokens")
        #expect(((try? Data(contentsOf: URL(fileURLWithPath: trace))) ?? Data()).isEmpty, "the trace got lines")
        try expectOneLineError(["run", "--force-at", "2", "--token", "", "--max-tokens", "4"], mentions: "it is no token at all")
        try expectOneLineError(["run", "--force-at", "2", "--token", "99999999", "--max-tokens", "4"], mentions: "is not a token id")
        try expectOneLineError(["run", "--force-at", "2", "--max-tokens", "4"], mentions: "--force-at needs --token")
        try expectOneLineError(["run", "--token", "x", "--max-tokens", "4"], mentions: "--token goes with --force-at")
        try expectOneLineError(["run", "--force-at", "4", "--token", "x", "--max-tokens", "4"], mentions: "past --max-tokens 4")
        try expectOneLineError(["compare", "--strategies", "nowait"], mentions: "at least two sets")
        try expectOneLineError(["compare"], mentions: "name what to compare")
        try expectOneLineError(["compare", "--strategies", "none;waitless"], mentions: "unknown strategy \"waitless\"")
        try expectOneLineError(["compare", "--strategies", "none;nowait", "--fork-at", "3", "--token", "x"], mentions: "not both")
        try expectOneLineError(["compare", "--strategies", "none;nowait", "--strategy", "cgrs"], mentions: "--strategy goes with --fork-at")
        try expectOneLineError(["compare", "--fork-at", "2", "--token", " and then", "--max-tokens", "4"], mentions: "is not one token")
        try expectOneLineError(["compare", "--fork-at", "30", "--token", " and", "--max-tokens", "40", "--stop", "sheep"],
                               mentions: "--fork-at 30 is past the run's end")
    }

    @Test("a set's list value keeps its commas: cgrs:triggers=Wait,Hmm,nowait is two specs")
    func setGrammar() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("c.jsonl").path
        let r = try Binary.run(["compare", "--strategies", " none ; cgrs:triggers=Wait,Hmm,nowait", "--max-tokens", "8", "-o", trace])
        #expect(r.status == 0, "\(r.stderr)")
        let (log, _) = try branches(ofTrace: trace)
        let specs = try #require(log.branch(1)?.info.cause.strategies)
        #expect(specs.count == 2 && specs[0].hasPrefix("cgrs:") && specs[0].contains("triggers=Wait,Hmm") && specs[1] == "nowait", "\(specs)")
        #expect(table(r.stdout).titles == ["none", "cgrs:triggers=Wait,Hmm,nowait"])
    }
}

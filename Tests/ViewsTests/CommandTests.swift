import Core
import Foundation
import Testing
@testable import Views

/// The `:` command line as pure functions: every command parsed, every error said, Tab's
/// completions, the history, the line's editing and how it is drawn.
@Suite("The workbench's command line")
struct CommandTests {
    /// a live run of 40 steps with DEER on, StreamingLLM in force and the first release's sampling
    var context: CommandContext {
        CommandContext(kvPolicy: "streaming", enabled: ["deer"], unavailable: ["swir": "needs embedding input"],
                       values: ["deer": [ParameterValue(name: "threshold", value: "0.95")],
                                "kv": [ParameterValue(name: "sinks", value: "4"), ParameterValue(name: "recent", value: "512")],
                                "sampling": [ParameterValue(name: "temp", value: "0.6")]],
                       steps: 40)
    }

    func parse(_ line: String, _ c: CommandContext? = nil) -> WorkbenchCommand? {
        try? CommandParser.parse(line, context: c ?? context).get()
    }

    func error(_ line: String, _ c: CommandContext? = nil) -> String? {
        if case .failure(let e) = CommandParser.parse(line, context: c ?? context) { return e.message }
        return nil
    }

    @Test("every command parses into what it asks")
    func everyCommand() {
        #expect(parse("set deer.threshold 0.8") == .set(owner: "deer", parameter: "threshold", value: "0.8"))
        #expect(parse(":set deer.threshold=0.8") == .set(owner: "deer", parameter: "threshold", value: "0.8"))
        #expect(parse("set DEER.threshold 0.8") == .set(owner: "deer", parameter: "threshold", value: "0.8"))
        #expect(parse("set kv.recent 256") == .set(owner: "kv", parameter: "recent", value: "256"))
        #expect(parse("set deer.cue \\nSo the answer is") == .set(owner: "deer", parameter: "cue", value: "\\nSo the answer is"))
        #expect(parse("strategy +cgrs:delta=0.5") == .strategyOn(id: "cgrs", spec: "cgrs:delta=0.5"))
        #expect(parse("strategy budget=256") == .strategyOn(id: "budget", spec: "budget=256"))
        #expect(parse("strategy -deer") == .strategyOff(id: "deer"))
        #expect(parse("kv streaming:recent=128") == .kv(spec: "streaming:recent=128"))
        #expect(parse("temp 1.2") == .sampling(.temperature(1.2)))
        #expect(parse("top-p 0.9") == .sampling(.topP(0.9)))
        #expect(parse("top-k 40") == .sampling(.topK(40)))
        #expect(parse("min-p 0.05") == .sampling(.minP(0.05)))
        #expect(parse("seed 8") == .sampling(.seed(8)))
        #expect(parse("max-tokens 2000") == .maxTokens(2000))
        #expect(parse("problem What is 12 × 13?") == .problem("What is 12 × 13?"))
        #expect(parse("problem a\\nb") == .problem("a\nb"))
        #expect(parse("prompt-file problems/p1.txt") == .promptFile("problems/p1.txt"))
        #expect(parse("demo") == .demo)
        #expect(parse("trace run.jsonl") == .trace("run.jsonl"))
        #expect(parse("export run.html") == .export("run.html"))
        #expect(parse("rewind 12") == .rewind(12))
        #expect(parse("goto 39") == .goto(39))
        #expect(parse("help") == .help(nil))
        #expect(parse("help set") == .help("set"))
        #expect(parse("help quit") == .help("q"))
        #expect(parse("q") == .quit)
        #expect(parse("  quit ") == .quit)
        // every command in the table parses in some form (a new one must be added here)
        #expect(CommandTable.entries.map(\.name) == ["set", "strategy", "kv", "temp", "top-p", "top-k", "min-p", "seed", "max-tokens",
                                                     "problem", "prompt-file", "demo", "trace", "export", "rewind", "goto", "help", "q"])
    }

    @Test("a sampling change applies to the parameters it names and keeps the others")
    func samplingApplied() throws {
        let p = try SamplingParameters(temperature: 0.6, topK: 20, topP: 0.95, minP: 0, seed: 7)
        #expect(WorkbenchCommand.SamplingChange.temperature(1.5).applied(to: p)
            == (try SamplingParameters(temperature: 1.5, topK: 20, topP: 0.95, minP: 0, seed: 7)))
        #expect(WorkbenchCommand.SamplingChange.seed(9).applied(to: p).seed == 9)
        #expect(WorkbenchCommand.SamplingChange.topK(0).applied(to: p).topK == 0)
        #expect(WorkbenchCommand.SamplingChange.topP(0.5).applied(to: p).topP == 0.5)
        #expect(WorkbenchCommand.SamplingChange.minP(0.1).applied(to: p).minP == 0.1)
    }

    @Test("every error is one line naming what is wrong and what would do")
    func everyError() {
        let cases: [(String, String)] = [
            ("", "type a command (help lists them)"),
            ("frobnicate", "no command \"frobnicate\" (help lists them)"),
            ("sed deer.threshold 1", "no command \"sed\" (did you mean set, seed?)"),
            ("set", "set needs STRATEGY.PARAM VALUE: set a parameter (kv.PARAM: the KV policy's), e.g. set deer.threshold 0.8"),
            ("set threshold 0.8", "set needs STRATEGY.PARAM VALUE, e.g. set deer.threshold 0.8 (got \"threshold\")"),
            ("set dear.threshold 0.8", "set: no strategy \"dear\" (known: budget, deer, thinkbrake, answerstop, stoppressure, cgrs, nowait, entropix, swir, or kv)"),
            ("set deer.treshold 0.8", "strategy deer has no parameter \"treshold\" (it has: threshold, trigger, triggers, cue, probe, stops, mean, ratio, limit, maxProbes, context)"),
            ("set deer.threshold", "set deer.threshold needs a value: a number in 0.0…1.0 (now 0.95)"),
            ("set kv.window 3", "KV policy streaming has no parameter \"window\" (it has: sinks, recent, batch)"),
            ("strategy", "strategy needs +SPEC | -NAME: turn a strategy on (with parameters, as --strategy) or off"),
            ("strategy +deeer", "strategy: no strategy \"deeer\" (known: budget, deer, thinkbrake, answerstop, stoppressure, cgrs, nowait, entropix, swir)"),
            ("strategy -cgrs", "strategy CGRS is already off"),
            ("strategy -deer:threshold=0.5", "strategy -deer turns it off: it takes no parameters"),
            ("strategy +swir", "SwiReasoning is not available: it needs embedding input"),
            ("temp -1", "temp must be a number ≥ 0 (0: greedy), got \"-1\""),
            ("temp warm", "temp must be a number ≥ 0 (0: greedy), got \"warm\""),
            ("top-p 0", "top-p must be a number above 0 up to 1, got \"0\""),
            ("top-p 1.5", "top-p must be a number above 0 up to 1, got \"1.5\""),
            ("min-p 1", "min-p must be a number from 0 up to (not including) 1, got \"1\""),
            ("top-k -3", "top-k must be a whole number ≥ 0 (0: the whole vocabulary), got \"-3\""),
            ("top-k 2.5", "top-k must be a whole number ≥ 0 (0: the whole vocabulary), got \"2.5\""),
            ("seed -1", "seed must be a whole number from 0 to 18446744073709551615, got \"-1\""),
            ("max-tokens 0", "max-tokens must be a whole number ≥ 1, got \"0\""),
            ("temp", "temp needs T: sampling temperature (0: greedy)"),
            ("problem", "problem needs TEXT: a new run on this problem (the current one stays in the trace)"),
            ("prompt-file", "prompt-file needs FILE: a new run on the problem in FILE"),
            ("demo now", "demo takes nothing, got \"now\""),
            ("q now", "q takes nothing, got \"now\""),
            ("trace", "trace needs FILE: record the trace to FILE from now (with everything so far)"),
            ("trace runs/", "trace needs a file name, got the folder runs/"),
            ("export run.txt", "export writes an HTML report: name a file ending in .html, got \"run.txt\""),
            ("rewind 40", "rewind 40: the branch has steps 0…39"),
            ("rewind -1", "rewind -1: the branch has steps 0…39"),
            ("rewind x", "rewind must be a step number, got \"x\""),
            ("goto 100", "goto 100: the branch has steps 0…39"),
            ("help frob", "help: no command \"frob\" (help lists them)"),
        ]
        for (line, message) in cases {
            #expect(error(line) == message, "\(line)")
        }
        // errors that come from the declarations name the owner and the parameter
        #expect(error("set deer.threshold 1.5")?.hasPrefix("strategy deer: threshold must be") == true)
        #expect(error("set deer.trigger word")?.hasPrefix("strategy deer: trigger must be one of") == true)
        #expect(error("set kv.recent -4")?.hasPrefix("KV policy streaming: recent must be") == true)
        #expect(error("strategy +deer:threshold=2")?.hasPrefix("strategy deer: threshold must be") == true)
        #expect(error("strategy +deer:x") == "strategy deer:x: expected PARAM=VALUE, got \"x\"")
        #expect(error("kv sliding")?.hasPrefix("kv: unknown KV policy \"sliding\"") == true)
        var empty = context
        empty.steps = 0
        #expect(error("rewind 0", empty) == "rewind: there is no step yet")
        #expect(error("goto 0", empty) == "goto: there is no step yet")
        var replay = context
        replay.replay = true
        #expect(error("temp 1", replay) == "temp: a replay cannot change the run (here: goto, export, help, q)")
        #expect(error("problem x", replay) == "problem: a replay cannot change the run (here: goto, export, help, q)")
        #expect(parse("goto 3", replay) == .goto(3))
        #expect(parse("export r.html", replay) == .export("r.html"))
    }

    @Test("Tab completes command names, strategy and parameter names, and says what a value takes")
    func completion() {
        func tab(_ line: String, _ c: CommandContext? = nil) -> Completion { CommandCompletion.complete(line, context: c ?? context) }
        #expect(tab("se").line == "se")
        #expect(tab("se").candidates == ["set", "seed"])
        #expect(tab("str").line == "strategy ")
        #expect(tab("max").line == "max-tokens ")
        #expect(tab("t").candidates == ["temp", "top-p", "top-k", "trace"])
        #expect(tab("top").line == "top-")
        #expect(tab("zz").hint == "nothing matches \"zz\"")
        // owners, then their parameters
        #expect(tab("set de").line == "set deer.")
        #expect(tab("set deer.th").line == "set deer.threshold ")
        #expect(tab("set deer.").candidates.first == "deer.threshold")
        #expect(tab("set deer.").candidates.count == 11)
        #expect(tab("set kv.").candidates == ["kv.sinks", "kv.recent", "kv.batch"])
        #expect(tab("set kv.r").line == "set kv.recent ")
        #expect(tab("set a").line == "set answerstop.")
        // a value: what it takes, with the value now
        #expect(tab("set deer.threshold ").hint == "threshold: a number in 0.0…1.0 (now 0.95) — exit when the confidence is strictly above this")
        #expect(tab("set deer.mean a").line == "set deer.mean arithmetic")
        #expect(tab("set deer.trigger ").candidates == ["text", "token"])
        // strategies: those off to turn on (not the unavailable), those on to turn off
        #expect(tab("strategy +c").line == "strategy +cgrs")
        #expect(tab("strategy -").line == "strategy -deer")
        #expect(!tab("strategy +").candidates.contains("deer") && !tab("strategy +").candidates.contains("swir"))
        #expect(tab("kv s").candidates == ["streaming", "snapkv"])
        #expect(tab("kv streaming:").candidates == ["sinks=", "recent=", "batch="])
        #expect(tab("help pro").candidates == ["problem", "prompt-file"])
        #expect(tab("temp ").hint == "temp T — sampling temperature (0: greedy) (now 0.6)")
        #expect(tab("goto ").hint == "goto N — move the cursor to step N (now 0…39)")
        var replay = context
        replay.replay = true
        #expect(tab("", replay).candidates == ["export", "goto", "help", "q"])
    }

    @Test("history: ↑ goes back, ↓ forward and then to the line being typed; repeats and blanks are not kept; the file keeps the newest")
    func history() throws {
        var h = CommandHistory(limit: 3)
        h.add("temp 1")
        h.add("temp 1")
        h.add("  ")
        h.add("set deer.threshold 0.8")
        #expect(h.entries == ["temp 1", "set deer.threshold 0.8"])
        #expect(h.older(current: "draft") == "set deer.threshold 0.8")
        #expect(h.older(current: "x") == "temp 1")
        #expect(h.older(current: "x") == nil)
        #expect(h.newer() == "set deer.threshold 0.8")
        #expect(h.newer() == "draft")
        #expect(h.newer() == nil)
        _ = h.older(current: "typed")
        h.reset()
        #expect(h.older(current: "") == "set deer.threshold 0.8")
        h.add("seed 1")
        h.add("seed 2")
        #expect(h.entries == ["set deer.threshold 0.8", "seed 1", "seed 2"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("thinktop-history-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/state/thinktop/history"
        try h.save(path: path)
        let loaded = CommandHistory.load(path: path, limit: 2)
        #expect(loaded.entries == ["seed 1", "seed 2"])
        #expect(CommandHistory.load(path: dir + "/none").entries.isEmpty)
        #expect(CommandHistory.defaultPath(environment: ["XDG_STATE_HOME": "/s", "HOME": "/h"]) == "/s/thinktop/history")
        #expect(CommandHistory.defaultPath(environment: ["HOME": "/h"]) == "/h/.local/state/thinktop/history")
    }

    @Test("the line edits as a shell line does")
    func editing() {
        var l = CommandLineView(text: "set deer.threshold 0.8")
        l.deleteBackward()
        l.insert("5")
        #expect(l.text == "set deer.threshold 0.5")
        l.deleteWord()
        #expect(l.text == "set deer.threshold " && l.cursor == 19)
        l.moveHome()
        l.deleteForward()
        #expect(l.text == "et deer.threshold ")
        l.move(by: 2)
        l.deleteToStart()
        #expect(l.text == " deer.threshold " && l.cursor == 0)
        l.message = "x"
        l.insert("a")
        #expect(l.message == nil)
        l.move(by: 100)
        #expect(l.cursor == l.text.count)
    }

    @Test("drawn over the bottom two rows: the line with its cursor, the error under it")
    func drawn() {
        var s = Surface(width: 40, height: 5)
        let line = CommandLineView(text: "temp -1", message: "temp must be a number ≥ 0 (0: greedy), got \"-1\"", isError: true)
        CommandLinePane().render(line, into: &s, area: s.area, glyphs: .unicode)
        #expect(s.lines[3].hasPrefix(":temp -1"))
        #expect(s[8, 3].style.reverse)           // the cursor, after the text
        #expect(s.lines[4].hasPrefix(" temp must be a number ≥ 0 (0: greedy),"))
        #expect(s[1, 4].style.role == Role.notice)
        var t = Surface(width: 40, height: 5)
        CommandLinePane().render(CommandLineView(text: "se"), into: &t, area: t.area, glyphs: .unicode)
        #expect(t.lines[4].contains("Enter run  Tab complete"))
    }
}

@Suite("The strategy pane's editor")
struct StrategyEditorTests {
    let rows: [WorkbenchSnapshot.StrategyRow] = [
        .init(key: "e", name: "DEER", enabled: true, available: true, detail: "threshold 0.8",
              parameters: [.init(name: "threshold", value: "0.8", kind: .number(0...1, lowerOpen: false), help: "exit when the confidence is above this"),
                           .init(name: "probe", value: "20", kind: .integer(2...256, off: false), help: "probe tokens at most")],
              id: "deer"),
        .init(key: "c", name: "CGRS", enabled: false, available: true, detail: "delta 0.9", id: "cgrs"),
    ]

    @Test("the selected strategy is highlighted, its parameters listed under it with the chosen one marked, then what that one takes")
    func focused() {
        var snap = snapshot(strategies: rows)
        snap.strategyFocus = .init(row: 0, parameter: 1)
        let s = render(StrategyPane(), snap, width: 40, height: 9, area: Rect(x: 0, y: 0, width: 40, height: 9))
        expectLines(s, ["e DEER on  threshold 0.8                ",
                        "   threshold 0.8                        ",
                        " ▸ probe     20                         ",
                        "   a whole number in 2…256 · probe      ",
                        "   tokens at most                       ",
                        "c CGRS off delta 0.9                    ",
                        "                                        ",
                        "                                        ",
                        "                                        "])
        #expect(s[0, 0].style.role == Role.branchSelected && s[0, 0].style.reverse)
        #expect(s[3, 2].style.role == Role.topkSelected)
        // the lines it needs are what the layout is asked for
        #expect(StrategyPane.lineCount(rows, width: 40, glyphs: .unicode, focus: snap.strategyFocus) == 6)
        #expect(StrategyPane.lineCount(rows, width: 40, glyphs: .unicode) == 2)
    }

    @Test("in a short pane, the parameters show as a window around the selected one")
    func windowed() {
        let many = (0..<10).map { WorkbenchSnapshot.ParameterRow(name: "p\($0)", value: "\($0)", kind: .integer(0...99, off: false), help: "h") }
        var snap = snapshot(strategies: [.init(key: "e", name: "DEER", enabled: true, available: true, detail: "", parameters: many, id: "deer"),
                                         rows[1]])
        snap.strategyFocus = .init(row: 0, parameter: 8)
        let s = render(StrategyPane(), snap, width: 30, height: 7, area: Rect(x: 0, y: 0, width: 30, height: 7))
        #expect(s.lines.map { String($0.prefix(8)) } == ["e DEER o", "   p6 6", "   p7 7", " ▸ p8 8", "   p9 9", "   a who", "c CGRS o"].map {
            $0.padding(toLength: 8, withPad: " ", startingAt: 0)
        })
    }

    @Test("a strategy without parameters says so; with too little room the selected one stays in view")
    func noneAndScrolled() {
        var snap = snapshot(strategies: rows)
        snap.strategyFocus = .init(row: 1, parameter: 0)
        let s = render(StrategyPane(), snap, width: 40, height: 2, area: Rect(x: 0, y: 0, width: 40, height: 2))
        #expect(s.lines[0].hasPrefix("c CGRS off delta 0.9"))
        #expect(s.lines[1].hasPrefix("  no parameters"))
    }
}

@Suite("The loading screen")
struct LoadingScreenTests {
    @Test("what loads where, a bar as far as the load is, the percentage, centred")
    func halfway() {
        let s = LoadingScreen.render(what: "m.gguf (241 MiB) on CPU", fraction: 0.5, width: 40, height: 7, glyphs: .ascii)
        expectLines(s, ["                                        ",
                        "                                        ",
                        "    Loading m.gguf (241 MiB) on CPU     ",
                        "                                        ",
                        "    ##############.............. 50%    ",
                        "                                        ",
                        "              Ctrl-C stops              "])
    }
}

@Suite("The command line on a tiny terminal")
struct TinyCommandLineTests {
    @Test("below the minimum size the message shows and a line being typed stays in view under it")
    func tiny() {
        var snap = snapshot()
        snap.commandLine = CommandLineView(text: "q")
        let s = Workbench.render(snap, width: 40, height: 10, glyphs: .unicode)
        #expect(s.lines.contains { $0.contains("thinktop needs at least") })
        #expect(s.lines[8].hasPrefix(":q"))
    }
}

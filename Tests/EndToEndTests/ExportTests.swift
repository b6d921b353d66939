import Core
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport

/// Debian's chromium, headless: the exported page as the browser builds it (its DOM after the
/// page's script ran) and as it draws it (a screenshot).
enum Browser {
    static let path: String? = {
        if let p = ProcessInfo.processInfo.environment["THINKTOP_CHROMIUM"], !p.isEmpty { return p }
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for d in dirs where FileManager.default.isExecutableFile(atPath: "\(d)/\(name)") { return "\(d)/\(name)" }
        }
        return nil
    }()

    static let skipped = "no chromium here: `make test` installs Debian's chromium; without it the browser tests are skipped"

    /// chromium's flags for a run in a test: no sandbox (tests run as root in CI), no GPU, a
    /// profile of its own
    static func flags(_ profile: URL) -> [String] {
        ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--user-data-dir=\(profile.path)", "--virtual-time-budget=5000"]
    }

    static func run(_ args: [String], in dir: URL) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path!)
        p.arguments = flags(dir.appendingPathComponent("profile")) + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    static func dom(_ file: String, fragment: String = "", in dir: URL) throws -> String {
        try run(["--dump-dom", "file://\(file)" + (fragment.isEmpty ? "" : "#" + fragment)], in: dir)
    }

    /// A screenshot of `file` at `width` × `height`; the PNG's size as its header gives it.
    static func screenshot(_ file: String, width: Int, height: Int, in dir: URL) throws -> (Data, Int, Int) {
        let png = dir.appendingPathComponent("shot-\(UUID().uuidString).png")
        _ = try run(["--window-size=\(width),\(height)", "--screenshot=\(png.path)", "file://\(file)"], in: dir)
        let data = try Data(contentsOf: png)
        guard data.count > 24, data.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { return (data, 0, 0) }
        func be32(_ at: Int) -> Int { data[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (data, be32(16), be32(20))
    }
}

/// The part of `html` from the element `<tag … data-branch="N"` on to its section's end.
func section(_ html: String, branch: Int) -> String {
    guard let start = html.range(of: "<section class=\"run\" data-branch=\"\(branch)\"") else { return "" }
    let rest = html[start.lowerBound...]
    return String(rest[..<(rest.range(of: "</section>")?.upperBound ?? rest.endIndex)])
}

/// The opening tag and content of the tooltip element in a dumped DOM.
func tooltip(_ dom: String) -> String {
    guard let start = dom.range(of: "<div id=\"tip\"") else { return "" }
    let rest = dom[start.lowerBound...]
    return String(rest[..<(rest.range(of: "<script type=\"application/json\"")?.lowerBound ?? rest.endIndex)])
}

@Suite("thinktop export: the HTML report in a real browser, the SVG figure, the CSV", .serialized)
struct ExportTests {
    /// A real run with budget forcing (so there are strategy events) and StreamingLLM (so
    /// there are evictions), recorded.
    func record(_ dir: URL, tokens: Int = 90) throws -> String {
        let trace = dir.appendingPathComponent("run.jsonl").path
        let r = try Binary.run(["run", "--max-tokens", "\(tokens)", "--strategy", "budget=40", "--kv", "streaming:sinks=4:recent=64",
                                "--stop", "NEVER-SEEN-STOP", "--trace", trace])
        #expect(r.status == 0, "\(r.stderr)")
        return trace
    }

    @Test("a live run's report: every token in the DOM, a token's tooltip from a link, the charts, a screenshot; the figure and the CSV match the trace",
          .enabled(if: Browser.path != nil, Comment(rawValue: Browser.skipped)))
    func liveRun() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = try record(dir)
        let html = dir.appendingPathComponent("run.html").path, svg = dir.appendingPathComponent("run.svg").path
        let csv = dir.appendingPathComponent("run.csv").path
        let r = try Binary.run(["export", trace, "--html", html, "--svg", svg, "--csv", csv])
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
        #expect(r.stdout == "report → \(html)\nfigure → \(svg)\nsignals → \(csv)\n")
        let records = try TraceReader(path: trace).finalTokens
        #expect(records.count == 90)

        // a token with alternatives, its tooltip opened by the link #step=K
        let k = try #require(records.indices.dropFirst(5).first { records[$0].top.count >= 3 && records[$0].text.allSatisfy { $0.isLetter || $0 == " " } && !records[$0].text.isEmpty })
        let r0 = records[k]
        let dom = try Browser.dom(html, fragment: "step=\(k)", in: dir)
        #expect(dom.contains("data-ready="), "the page's script did not finish:\n\(dom.prefix(2000))")
        let shown = section(dom, branch: 0)
        #expect(count("<span class=\"t ", in: shown) == records.count)
        let tip = tooltip(dom)
        #expect(!tip.hasPrefix("<div id=\"tip\" role=\"status\" aria-live=\"polite\" hidden") && tip.contains("data-step=\"\(k)\""), "\(tip)")
        #expect(tip.contains("#\(k) \"\(r0.text)\""), "\(tip)")
        #expect(tip.contains("p \(ReportFormat.probability(r0.prob)) · H \(ReportFormat.nats(r0.entropy)) nats · top-1 \(ReportFormat.probability(r0.top1)) · margin \(ReportFormat.probability(r0.margin))"), "\(tip)")
        let second = r0.top[1]
        #expect(tip.contains("<td>2</td><td>\"\(second.text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;"))\"</td><td>\(ReportFormat.probability(second.p))</td>"), "\(tip)")
        #expect(shown.contains("class=\"t e\(EntropyBucket.of(r0.entropy))") && shown.contains(" active\">"))
        // the charts, one point per step; the budget's end inline in the text and on the chart
        for id in ["chart-signals-0", "chart-budget-0", "chart-kv-0"] { #expect(dom.contains("<svg id=\"\(id)\""), "\(id)") }
        #expect(dom.contains("⚑ budget-end</span>") && dom.contains("<line data-mark="))
        let drawn = try String(contentsOfFile: html, encoding: .utf8)
        #expect(pointCount(drawn, series: "entropy") == records.count && pointCount(drawn, series: "kv") == records.count)
        let (png, width, height) = try Browser.screenshot(html, width: 1100, height: 1400, in: dir)
        #expect(width == 1100 && height == 1400 && png.count > 20_000, "a blank or missing screenshot (\(png.count) bytes)")

        // the figure: well-formed, one point per step in each line
        let figure = try String(contentsOfFile: svg, encoding: .utf8)
        let xml = try XMLDocument(data: Data(figure.utf8))
        #expect(xml.rootElement()?.name == "svg")
        for s in ["entropy", "mean", "confidence"] { #expect(pointCount(figure, series: s) == records.count, "\(s)") }
        // the CSV: one row per step, the trace's numbers
        let rows = try String(contentsOfFile: csv, encoding: .utf8).components(separatedBy: "\r\n").dropFirst().filter { !$0.isEmpty }
        #expect(rows.count == records.count)
        for (row, rec) in zip(rows, records) where !rec.text.contains(",") && !rec.text.contains("\"") && !rec.text.contains("\n") {
            let f = row.components(separatedBy: ",")
            #expect(Int(f[0]) == rec.index && Double(f[8]) == rec.entropy && Double(f[7]) == rec.prob, "\(row)")
        }
    }

    @Test("the workbench's E writes the report beside the trace and says where",
          .enabled(if: Browser.path != nil, Comment(rawValue: Browser.skipped)))
    func fromTheWorkbench() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("live.jsonl").path
        let t = try TmuxSession([Binary.path, "tui", "--max-tokens", "30", "--trace", trace], width: 150, height: 40)
        #expect(t.wait(timeout: 60) { $0.contains("done") }.contains("done"))
        t.send("E")
        let html = dir.appendingPathComponent("live.html").path
        let said = t.wait { $0.contains("written to") }
        #expect(said.contains("report of branch 0 written to "), "\(said)")
        t.send("q")
        #expect(t.wait { $0.contains("EXITED") }.contains("EXITED 0"))
        let records = try TraceReader(path: trace).finalTokens
        let dom = try Browser.dom(html, in: dir)
        #expect(count("<span class=\"t ", in: section(dom, branch: 0)) == records.count)
    }

    @Test("a branched trace: both branches, the link opens the fork on branch 1, side by side from the fork",
          .enabled(if: Browser.path != nil, Comment(rawValue: Browser.skipped)))
    func branched() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("fork.jsonl").path
        let base = try TraceReader(path: try record(dir, tokens: 40)).finalTokens
        let k = 12, alternative = try #require(base[k].top.dropFirst().first)
        let r = try Binary.run(["compare", "--max-tokens", "40", "--strategy", "budget=40", "--kv", "streaming:sinks=4:recent=64",
                                "--stop", "NEVER-SEEN-STOP", "--fork-at", "\(k)", "--token", "\(alternative.id)", "-o", trace, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let html = dir.appendingPathComponent("fork.html").path
        #expect(try Binary.run(["export", trace, "--html", html]).status == 0)
        let log = BranchLog(lines: try TraceReader(path: trace).lines)
        let one = try #require(log.branch(1))
        let dom = try Browser.dom(html, fragment: "branch=1&step=\(k)", in: dir)
        #expect(dom.contains("<section class=\"run\" data-branch=\"1\">") && dom.contains("<section class=\"run\" data-branch=\"0\" hidden"))
        #expect(count("<span class=\"t ", in: section(dom, branch: 1)) == one.records.count)
        #expect(tooltip(dom).contains("#\(k) \""), "\(tooltip(dom))")
        #expect(tooltip(dom).contains("forced"), "the forked token was forced:\n\(tooltip(dom))")
        // side by side: branch 0 on the left, branch 1 on the right, each from step k
        #expect(dom.contains("<span id=\"shared\">\(k) tokens shared</span>"), "\(dom.suffix(3000))")
        let right = try #require(dom.range(of: "<div class=\"col right\">").map { dom[$0.upperBound...] })
        #expect(count("<span class=\"t ", in: String(right[..<(right.range(of: "</section>")?.lowerBound ?? right.endIndex)])) == one.records.count - k)
        #expect(dom.contains("<table class=\"stats\">"))
    }

    @Test("an answer from llama-server exports as it is: the entropy a band, no KV chart, the bracket in the tooltip",
          .enabled(if: Browser.path != nil, Comment(rawValue: Browser.skipped)))
    func imported() throws {
        let server = try TestServer.llama(model: Binary.model)
        defer { server.kill() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chat = try postJSON(port: server.port, path: "/v1/chat/completions",
                                ["messages": [["role": "user", "content": "What is 12 times 7?"]], "max_tokens": 24, "temperature": 0,
                                 "logprobs": true, "top_logprobs": 5])
        let answer = dir.appendingPathComponent("chat.json")
        try chat.write(to: answer)
        let html = dir.appendingPathComponent("chat.html").path
        let r = try Binary.run(["export", answer.path, "--html", html])
        #expect(r.status == 0, "\(r.stderr)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("data-series=\"band\"") && page.contains("KV cache: no KV cache: imported from a server"))
        let dom = try Browser.dom(html, fragment: "step=3", in: dir)
        #expect(tooltip(dom).contains("nats; ") && tooltip(dom).contains("of the mass outside the top 5"), "\(tooltip(dom))")
        #expect(count("<span class=\"t ", in: section(dom, branch: 0)) == 24)
    }

    @Test("bad input: a file that is no trace, a folder that does not exist — one line each; a cut trace exports with a notice")
    func badInput() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.jsonl")
        try Data("this is not a trace\n".utf8).write(to: junk)
        let r = try Binary.run(["export", junk.path, "--html", dir.appendingPathComponent("x.html").path])
        #expect(r.status != 0 && r.stderrLines.count == 1 && r.stderr.hasPrefix("thinktop: cannot read the trace"), "\(r.stderr)")
        let trace = try record(dir, tokens: 20)
        let nowhere = try Binary.run(["export", trace, "--html", "/nonexistent-\(getpid())/x.html"])
        #expect(nowhere.status != 0 && nowhere.stderr == "thinktop: cannot write /nonexistent-\(getpid())/x.html: the folder /nonexistent-\(getpid()) does not exist\n",
                "\(nowhere.stderr)")
        #expect(try Binary.run(["export", trace]).stderr.contains("say what to write"))
        // cut in the middle of the last token line: exported up to the last whole line, said twice
        var data = try Data(contentsOf: URL(fileURLWithPath: trace))
        let lines = data.split(separator: 0x0A)
        data = Data(lines.dropLast(2).joined(separator: [0x0A])) + Data([0x0A]) + lines[lines.count - 2].prefix(40)
        let cut = dir.appendingPathComponent("cut.jsonl").path
        try data.write(to: URL(fileURLWithPath: cut))
        let html = dir.appendingPathComponent("cut.html").path
        let c = try Binary.run(["export", cut, "--html", html])
        #expect(c.status == 0 && c.stderr == "thinktop: \(cut) was cut off mid-line: exporting it up to its last whole line\n", "\(c.stderr)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("id=\"truncated\"") && count("<span class=\"t ", in: section(page, branch: 0)) == 19)
    }

    @Test("10,000 tokens: a report of a few MB that the browser opens whole",
          .enabled(if: Browser.path != nil, Comment(rawValue: Browser.skipped)))
    func tenThousand() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let real = try TraceReader(path: try record(dir, tokens: 100))
        // the real run's lines again and again, renumbered: real texts and alternatives
        let long = dir.appendingPathComponent("long.jsonl").path
        try LongTrace.write(from: real, tokens: 10_000, to: long)
        let html = dir.appendingPathComponent("long.html").path
        #expect(try Binary.run(["export", long, "--html", html]).status == 0)
        let size = try FileManager.default.attributesOfItem(atPath: html)[.size] as? Int ?? 0
        #expect(size < 5_000_000, "the report of 10,000 tokens is \(size) bytes")
        let dom = try Browser.dom(html, fragment: "step=9999", in: dir)
        #expect(count("<span class=\"t ", in: section(dom, branch: 0)) == 10_000)
        #expect(tooltip(dom).contains("data-step=\"9999\""))
    }
}

/// A long trace made of a real one's records repeated (steps and positions renumbered), for
/// measuring exports and pages at scale.
enum LongTrace {
    static func write(from reader: TraceReader, tokens: Int, to path: String) throws {
        guard var header = reader.header else { return }
        header.settings.maxTokens = tokens
        header.settings.contextSize = max(header.settings.contextSize, header.promptTokens + tokens)
        let source = reader.finalTokens
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var data = try encoder.encode(header) + Data([0x0A])
        for i in 0..<tokens {
            var r = source[i % source.count]
            r.index = i
            r.position = header.promptTokens + i
            r.kvPosition = nil
            data += try encoder.encode(r) + Data([0x0A])
        }
        try data.write(to: URL(fileURLWithPath: path))
    }
}

func count(_ needle: String, in haystack: String) -> Int { haystack.components(separatedBy: needle).count - 1 }

/// How many points the polyline of `series` has.
func pointCount(_ svg: String, series: String) -> Int? {
    guard let start = svg.range(of: "data-series=\"\(series)\" points=\"") else { return nil }
    let rest = svg[start.upperBound...]
    return rest[..<rest.firstIndex(of: "\"")!].split(separator: " ").count
}

/// The report's entropy buckets (0.5 nat wide, the last open), as the page classes them.
enum EntropyBucket {
    static func of(_ h: Double) -> Int { h.isFinite && h > 0 ? min(7, Int(h / 0.5)) : 0 }
}

/// The tooltip's number formats (the page's), so a test can say what a tooltip must read.
enum ReportFormat {
    static func probability(_ p: Double) -> String {
        p >= 0.001 || p == 0 ? String(format: "%.3f", p) : String(format: "%.1e", p)
    }
    static func nats(_ h: Double) -> String { String(format: "%.2f", h) }
}

import Core
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Report
import Testing
import Views

@Suite("HTML report")
struct HTMLReportTests {
    let body: [TraceLine] = [
        .token(step(0, "Two", H: 0.1)),
        .token(step(1, " plus", H: 1.7)),
        .event(TraceEvent(step: 2, kind: .budgetEnd, strategy: "budget", detail: "thinking ended at the budget")),
        .token(step(2, " two", H: 3.9, input: .forced)),
        .token(step(3, "</script><b>", H: 0.6, input: .latent, effects: [Effect("nowait", .suppress, "banned Wait")])),
        .event(TraceEvent(step: 4, kind: .pause)),
        .token(step(4, " four", H: 0.2, phase: .answer)),
    ]

    func page(_ l: [TraceLine], branch: Int? = nil) throws -> String {
        HTMLReport.render(try ReportInput(reader: try reader(l), name: "t.jsonl", branch: branch), palette: palette)
    }

    @Test("each token is a span in its entropy bucket on the workbench's scale, with its marks")
    func tokens() throws {
        let html = try page(lines(header(), body))
        let text = try #require(html.range(of: "<div class=\"text\"").map { html[$0.lowerBound...] })
        #expect(count("<span class=\"t ", in: String(text[..<text.range(of: "</div>")!.lowerBound])) == 5)
        #expect(html.contains("<span class=\"t e0\">Two</span>"))
        #expect(html.contains("<span class=\"t e3\"> plus</span>"))                  // 1.7 nats: bucket 3
        #expect(html.contains("<span class=\"t e7 f\"> two</span>"))                 // ≥ 3.5: the last bucket; forced
        #expect(html.contains("<span class=\"t e1 l s\">&lt;/script&gt;&lt;b&gt;</span>"))   // latent, suppressed, escaped
        #expect(html.contains("<span class=\"phase-mark\">answer ▸</span><span class=\"t e0 a\"> four</span>"))
        // the strategy's event sits before the token of its step; the workbench's pause is left out
        #expect(html.contains("title=\"step 2: budget-end (budget) thinking ended at the budget\">⚑ budget-end</span><span class=\"t e7 f\">"))
        #expect(!html.contains("⚑ pause"))
    }

    @Test("the page is self-contained: no external script, style, font or image, and no text can end the data script")
    func selfContained() throws {
        let html = try page(lines(header(), body))
        for external in ["src=", "href=\"http", "@import", "url(", "<link"] { #expect(!html.contains(external), "\(external)") }
        // the data holds the token's text escaped; the only </script> closes the two scripts
        #expect(count("</script>", in: html) == 2)
        #expect(html.contains("\"\\u003c/script\\u003e\\u003cb\\u003e\""))
    }

    @Test("the header gives model, settings, seed, strategies; colours come from the light and dark themes")
    func facts() throws {
        let html = try page(lines(Self.headerWithBudget, body))
        #expect(html.contains("<dt>model</dt><dd>tiny.gguf · tiny Q4_K · gemma3</dd>"))
        #expect(html.contains("<dt>sampling</dt><dd>temperature 0.6 · top-k 20 · top-p 0.95 · min-p 0.0</dd>"))
        #expect(html.contains("<dt>seed</dt><dd>7</dd>"))
        #expect(html.contains("<dt>strategies</dt><dd>budget:budget=3</dd>"))
        // entropy bucket 7 of the light theme (xterm 124) and of the dark one (xterm 203)
        #expect(html.contains("--e7: #af0000;") && html.contains("--e7: #ff5f5f;"))
        #expect(html.contains("prefers-color-scheme: dark"))
    }

    static let headerWithBudget = header(strategies: ["budget:budget=3"])

    @Test("tooltip data: one record per token with its alternatives, numbers as the tooltip writes them")
    func data() throws {
        let input = try ReportInput(reader: try reader(lines(header(), body)), name: "t.jsonl")
        let json = HTMLReport.data(input)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let branches = try #require(object["branches"] as? [[String: Any]])
        let records = try #require(branches.first?["records"] as? [[Any]])
        #expect(records.count == 5)
        let second = records[1]
        #expect(second[0] as? Int == 1 && second[1] as? String == " plus" && second[4] as? String == "0.600")
        #expect(second[5] as? String == "1.70" && second[7] as? String == "0.300")
        let top = try #require(second[11] as? [[Any]])
        #expect(top.count == 2 && top[0][0] as? String == " plus" && top[0][2] as? Int == 1 && top[1][1] as? String == "0.300")
        let effects = try #require(records[3][12] as? [String])
        #expect(effects == ["nowait: banned Wait"])
    }

    @Test("the charts: entropy with its window mean and confidence, thinking against the budget, the KV cache")
    func charts() throws {
        let html = try page(lines(Self.headerWithBudget, body))
        for id in ["chart-signals-0", "chart-budget-0", "chart-kv-0"] { #expect(html.contains("<svg id=\"\(id)\"")) }
        #expect(points(html, series: "entropy")?.count == 5 && points(html, series: "confidence")?.count == 5)
        #expect(points(html, series: "mean")?.count == 5 && points(html, series: "budget")?.count == 5)
        #expect(html.contains("budget forcing ended thinking at step 2"))
        // the event's mark on the chart, with its label
        #expect(html.contains("<line data-mark=\"2\""))
        #expect(html.contains("<title>step 2: budget-end (budget) thinking ended at the budget</title>"))
    }

    @Test("a truncated trace: the page says so; a trace without a header is refused in one line")
    func truncated() throws {
        let html = try page(lines(header(), body), branch: nil)
        #expect(!html.contains("id=\"truncated\""))
        let cut = try reader(lines(header(), body), cutLastLine: true)
        #expect(cut.truncated)
        let page = HTMLReport.render(try ReportInput(reader: cut, name: "t.jsonl"), palette: palette)
        #expect(page.contains("id=\"truncated\"") && page.contains("up to its last whole line"))
        // a file without a header is not read as a trace at all
        #expect(throws: ThinktopError.self) { try reader(Array(lines(header(), body).dropFirst())) }
    }

    @Test("an imported trace: the entropy is a band from the bracket's lower to its upper end, and no KV chart")
    func imported() throws {
        let h = header(source: ImportSource(file: "answer.json", format: "OpenAI chat completion", run: "chatcmpl-1"))
        let partial: [TraceLine] = (0..<4).map { .token(step($0, "x\($0)", H: 0.5, range: [0.5, 1.5 + Double($0)])) }
        let html = try page(lines(h, partial))
        #expect(html.contains("<dt>imported</dt><dd>answer.json (OpenAI chat completion), chatcmpl-1</dd>"))
        let band = try #require(html.range(of: "data-series=\"band\" points=\"").map { html[$0.upperBound...] })
        let pts = band[..<band.firstIndex(of: "\"")!].split(separator: " ")
        #expect(pts.count == 8)                 // upper edge forth, lower edge back
        #expect(html.contains("KV cache: no KV cache: imported from a server&#39;s answer."))
        #expect(!html.contains("<svg id=\"chart-kv-0\""))
        #expect(html.contains("\"0.50–1.50\",\"0.100\""))           // the bracket and the missing mass in the tooltip data
    }
}

@Suite("Branched report")
struct BranchedReportTests {
    /// branch 0: five tokens; branch 1 forks at step 2 taking " or" (rank 2)
    static let trace: [TraceLine] = [
        .token(step(0, "a", H: 0.1)), .token(step(1, "b", H: 0.1)), .token(step(2, "c", H: 0.1)),
        .token(step(3, "d", H: 0.1)), .token(step(4, "e", H: 0.1)),
        .event(TraceEvent(step: 2, kind: .branch, branch: 1, parent: 0,
                          cause: BranchCause(kind: .token, token: 7, text: " or", rank: 2))),
        .token(step(2, " or", H: 2.2)), .token(step(3, " so", H: 0.1)),
    ]

    @Test("every branch in its own section, the current one shown; a picker, the tree, the summary, side by side")
    func sections() throws {
        let input = try ReportInput(reader: try reader(lines(header(), Self.trace, summary: false)), name: "b.jsonl")
        #expect(input.shown == 1)
        let html = HTMLReport.render(input, palette: palette)
        #expect(html.contains("<section class=\"run\" data-branch=\"0\" hidden>"))
        #expect(html.contains("<section class=\"run\" data-branch=\"1\">"))
        #expect(html.contains("<option value=\"1\" selected>branch 1: token &quot; or&quot; (#2)</option>"))
        // branch 0's text marks the fork; branch 1 has its parent's first two tokens, then its own
        #expect(html.contains("<span class=\"fork\" title=\"branch 1 forks off here\">↳1</span><span class=\"t e0\">c</span>"))
        let one = html[html.range(of: "data-branch=\"1\">")!.upperBound...]
        #expect(one.contains("<span class=\"t e0\">a</span><span class=\"t e0\">b</span><span class=\"ev mark-branch\" title=\"step 2: branch 1 starts here (from branch 0): token &quot; or&quot; (#2)\">⚑ branch</span><span class=\"t e4\"> or</span><span class=\"t e0\"> so</span></div>"))
        // the summary table: branch 1's totals differ from branch 0's
        #expect(html.contains("<tr><th scope=\"row\">total tokens</th><td>5</td><td class=\"differs\">4</td></tr>"))
        // side by side: the shown branch on the right, its parent on the left, parting at step 2
        #expect(html.contains("<select id=\"left\"><option value=\"0\" selected>"))
        #expect(html.contains("\"divergence\":{\"0-1\":2}"))
        let pick = try ReportInput(reader: try reader(lines(header(), Self.trace, summary: false)), name: "b.jsonl", branch: 0)
        #expect(HTMLReport.render(pick, palette: palette).contains("<section class=\"run\" data-branch=\"0\">"))
        #expect(throws: ThinktopError.invalidArgument("b.jsonl has no branch 5 (its branches: 0, 1)")) {
            try ReportInput(reader: try reader(lines(header(), Self.trace)), name: "b.jsonl", branch: 5)
        }
    }
}

@Suite("SVG figure and CSV")
struct FigureTests {
    static let body: [TraceLine] = (0..<12).map { i in
        .token(step(i, "w\(i)", H: Double(i) / 4, phase: i < 9 ? .thinking : .answer))
    } + [.event(TraceEvent(step: 5, kind: .evict, strategy: "streaming", removed: [20, 21, 22])),
         .event(TraceEvent(step: 7, kind: .suppress, strategy: "nowait", position: 27, detail: "Wait"))]

    func input() throws -> ReportInput {
        try ReportInput(reader: try reader(lines(header(strategies: ["budget:budget=6"], contextSize: 64), Self.body)), name: "f.jsonl")
    }

    @Test("a figure is well-formed XML with one point per step in each signal's line, explicit colours, no style sheet")
    func figure() throws {
        let svg = Figures.svg(try input(), options: FigureOptions(), palette: palette)
        let document = try XMLDocument(data: Data(svg.utf8))
        let root = try #require(document.rootElement())
        #expect(root.name == "svg" && svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"720\" height=\"360\""))
        #expect(points(svg, series: "entropy")?.count == 12 && points(svg, series: "confidence")?.count == 12)
        #expect(points(svg, series: "mean")?.count == 12)
        #expect(!svg.contains("class=") && !svg.contains("<style"))
        #expect(svg.contains("stroke=\"#d75f00\""))                   // the light theme's sparkline.entropy (166)
        // the strategy's event marked on both panels; the eviction is the KV chart's alone
        #expect(count("data-mark=\"7\"", in: svg) == 2 && !svg.contains("data-mark=\"5\""))
        var kv = FigureOptions()
        kv.signals = [.kv]
        let cache = Figures.svg(try input(), options: kv, palette: palette)
        #expect(count("data-mark=\"5\"", in: cache) == 1 && !cache.contains("data-mark=\"7\""))
    }

    @Test("signals, step range, size and font: the points fall inside the width, the last step at the right edge")
    func options() throws {
        var o = FigureOptions()
        o.signals = try FigureOptions.signals("confidence,varentropy,thinking,kv")
        o.steps = try FigureOptions.steps("3-8")
        o.width = 400; o.height = 500; o.fontSize = 10; o.events = false
        let svg = Figures.svg(try input(), options: o, palette: palette)
        _ = try XMLDocument(data: Data(svg.utf8))
        #expect(points(svg, series: "entropy") == nil)
        for s in ["confidence", "varentropy", "thinking", "budget", "kv"] { #expect(points(svg, series: s)?.count == 6, "\(s)") }
        let xs = try #require(points(svg, series: "confidence")).map(\.0)
        #expect(xs.first == 42 && xs.last == 388)                     // left margin 4.2 em, right 1.2 em
        #expect(!svg.contains("data-mark"))
        // the KV cells: 20 prompt + steps fed − 3 evicted from step 5
        let kv = try #require(points(svg, series: "kv"))
        #expect(kv.count == 6)
        #expect(throws: ThinktopError.self) { try FigureOptions.signals("entropy,loudness") }
        #expect(throws: ThinktopError.self) { try FigureOptions.steps("9-3") }
        #expect(try FigureOptions.steps("-40") == 0...40 && FigureOptions.steps("7-") == 7...Int.max)
    }

    @Test("the series: thinking tokens, the budget in force, KV cells after evictions")
    func series() throws {
        let input = try input()
        let s = StepSeries(input.shownRun, header: input.header, local: true)
        #expect(s.thinking == [1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9])
        #expect(s.budget == Array(repeating: 6, count: 12))
        #expect(s.kvHeld == [21, 22, 23, 24, 25, 23, 24, 25, 26, 27, 28, 29])
        #expect(s.kvCapacity == 64)
    }

    @Test("a change of the budget mid-run moves the budget line from that step")
    func budgetChange() throws {
        let body: [TraceLine] = [.token(step(0, "a", H: 0.1)), .token(step(1, "b", H: 0.1)),
                                 .event(TraceEvent(step: 2, kind: .parameter, strategy: "budget", detail: "budget:budget=40")),
                                 .token(step(2, "c", H: 0.1)),
                                 .event(TraceEvent(step: 3, kind: .disable, strategy: "budget")),
                                 .token(step(3, "d", H: 0.1))]
        let input = try ReportInput(reader: try reader(lines(header(strategies: ["budget:budget=6"]), body)), name: "b.jsonl")
        #expect(StepSeries(input.shownRun, header: input.header, local: true).budget == [6, 6, 40, nil])
    }

    @Test("the CSV has a row per step with the trace's numbers exactly")
    func csv() throws {
        let input = try input()
        let text = CSVExport.csv(input)
        let rows = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }.map { $0.components(separatedBy: ",") }
        #expect(rows.count == 13 && rows[0] == CSVExport.columns)
        for (row, r) in zip(rows.dropFirst(), input.shownRun.records) {
            #expect(Int(row[0]) == r.index && row[3] == r.text && Double(row[8]) == r.entropy && Double(row[6]) == r.logprob)
            #expect(Double(row[12]) == r.top1 && Double(row[14]) == r.windowMean && row[4] == r.phase.rawValue)
        }
        #expect(rows[6][21] == "23" && rows[1][20] == "6")
        #expect(CSVExport.field("a,\"b\"\nc") == "\"a,\"\"b\"\"\nc\"")
    }
}

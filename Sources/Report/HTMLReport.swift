import Core
import Foundation
import Views

/// How the report and its tests write numbers for people: probabilities with three decimals
/// (small ones in scientific notation), entropies in nats with two.
public enum ReportFormat {
    public static func probability(_ p: Double) -> String {
        guard p.isFinite else { return "?" }
        return p >= 0.001 || p == 0 ? String(format: "%.3f", p) : String(format: "%.1e", p)
    }

    public static func nats(_ h: Double) -> String { h.isFinite ? String(format: "%.2f", h) : "?" }

    /// A token's text as the tooltip shows it: quoted, with line breaks and tabs visible.
    public static func token(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\n", with: "⏎").replacingOccurrences(of: "\t", with: "⇥") + "\""
    }
}

/// The self-contained HTML report of a trace: one file, no network, no external script or
/// font. The text with every token coloured by its entropy bucket (the workbench's scale),
/// phases, latent, forced and suppressed tokens and strategy events marked; a tooltip with a
/// token's alternatives on hover or keyboard focus; charts as inline SVG (drawn here, so they
/// print and show without script); every branch, a branch picker, the branches' summary and a
/// side-by-side view of two. The script only moves the tooltip and switches what is shown.
public enum HTMLReport {
    /// The page for `input`.
    public static func render(_ input: ReportInput, palette: ReportPalette) -> String {
        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        out += "<meta name=\"generator\" content=\"\(e(input.header?.tool ?? "thinktop"))\">\n"
        out += "<title>\(e(title(input)))</title>\n<style>\n" + palette.css + style + "</style>\n</head>\n<body>\n"
        out += header(input)
        if input.truncated {
            out += "<p class=\"notice\" role=\"alert\" id=\"truncated\">This trace was cut off mid-line (a run that did not finish writing it): the report shows it up to its last whole line.</p>\n"
        }
        out += legend(input)
        let branches = input.log.branches
        if branches.count > 1 { out += branchSection(input) }
        out += "<main>\n"
        for run in branches {
            out += runSection(input, run)
        }
        out += "</main>\n"
        out += "<div id=\"tip\" role=\"status\" aria-live=\"polite\" hidden></div>\n"
        out += "<script type=\"application/json\" id=\"data\">" + data(input) + "</script>\n"
        out += "<script>\n" + script + "</script>\n</body>\n</html>\n"
        return out
    }

    static func title(_ input: ReportInput) -> String {
        "thinktop report — " + (input.header?.model.file ?? "trace") + " — " + input.name
    }

    static func e(_ s: String) -> String { Chart.escape(s) }

    // MARK: - header

    static func header(_ input: ReportInput) -> String {
        var facts: [(String, String)] = []
        if let h = input.header {
            let m = h.model
            var model = m.file
            if !m.description.isEmpty { model += " · " + m.description }
            if m.architecture != "unknown (served)", !m.architecture.isEmpty { model += " · " + m.architecture }
            facts.append(("model", model))
            if let s = h.source { facts.append(("imported", "\(s.file) (\(s.format)), \(s.run)")) }
            if let s = h.server { facts.append(("server", "\(s.url) · \(s.model) · build \(s.build)")) }
            facts.append(("recorded", "\(h.created) by \(h.tool)"))
            if let s = h.settings.sampling {
                facts.append(("sampling", "temperature \(s.temperature) · top-k \(s.topK) · top-p \(s.topP) · min-p \(s.minP)"))
            }
            if let seed = h.seed { facts.append(("seed", "\(seed)")) }
            facts.append(("strategies", h.settings.strategies.isEmpty ? "none" : h.settings.strategies.joined(separator: " · ")))
            facts.append(("KV policy", h.settings.kvPolicy ?? "none"))
            var limits = "max tokens \(h.settings.maxTokens)"
            if h.settings.contextSize > 0 { limits += " · n_ctx \(h.settings.contextSize)" }
            if h.settings.threads > 0 { limits += " · \(h.settings.threads) threads" }
            facts.append(("limits", limits))
            facts.append(("prompt", "\(h.promptTokens) tokens"))
        }
        if let s = input.summary {
            var line = "\(s.tokens) tokens (\(s.thinkingTokens) thinking, \(s.answerTokens) answer) · stopped: \(s.stopReason)"
            if s.seconds > 0 { line += String(format: " · %.1f s, %.1f tok/s", s.seconds, s.tokensPerSecond) }
            facts.append(("run", line))
        } else {
            facts.append(("run", "no summary line: the run did not finish writing its trace"))
        }
        var out = "<header>\n<h1>\(e(input.header?.model.file ?? input.name))</h1>\n<p class=\"sub\">\(e(input.name))</p>\n<dl class=\"facts\">\n"
        for (k, v) in facts { out += "<dt>\(e(k))</dt><dd>\(e(v))</dd>\n" }
        out += "</dl>\n"
        if let problem = input.header?.problem ?? input.header?.prompt, !problem.isEmpty {
            out += "<details class=\"problem\" open><summary>Problem</summary><pre>\(e(problem))</pre></details>\n"
        }
        return out + "</header>\n"
    }

    static func legend(_ input: ReportInput) -> String {
        var out = "<section id=\"legend\" aria-label=\"Legend\"><span class=\"label\">entropy (nats)</span>"
        for b in 0..<Role.entropyBuckets {
            let lo = Double(b) * EntropyScale.step
            let range = b == Role.entropyBuckets - 1 ? "≥ \(lo)" : "\(lo)–\(lo + EntropyScale.step)"
            out += "<span class=\"swatch e\(b)\">\(range)</span>"
        }
        out += "<span class=\"label\">marks</span><span class=\"t l\">latent</span><span class=\"t f\">forced</span>"
        out += "<span class=\"t s\">suppressed</span><span class=\"t a\">answer</span>"
        out += "<span class=\"ev mark-strategy\">⚑ strategy</span><span class=\"ev mark-command\">⚑ command</span>"
        if input.log.branches.count > 1 { out += "<span class=\"fork\">↳ fork</span>" }
        if input.partial { out += "<span class=\"label\">a server's top k: entropy known as a bracket, coloured by its lower end</span>" }
        out += "<span class=\"label hint\">hover a token, or focus the text and use ← → Home End</span></section>\n"
        return out
    }

    // MARK: - branches

    static func branchSection(_ input: ReportInput) -> String {
        let branches = input.log.branches
        var out = "<section id=\"branches\" aria-label=\"Branches\">\n<h2>Branches</h2>\n"
        out += "<p><label>Shown: <select id=\"branch\">"
        for b in branches {
            out += "<option value=\"\(b.id)\"\(b.id == input.shown ? " selected" : "")>\(e(input.title(b)))</option>"
        }
        out += "</select></label></p>\n<ul class=\"tree\">\n"
        func depth(_ run: BranchRun) -> Int {
            var d = 0, p = run.info.parent
            while let id = p, let r = input.log.branch(id), d < branches.count { d += 1; p = r.info.parent }
            return d
        }
        for b in branches {
            let fork = b.info.parent.map { " · from branch \($0) at step \(b.info.forkStep)" } ?? ""
            out += "<li style=\"margin-left: \(Double(depth(b)) * 1.5)em\">\(e(input.title(b)))\(e(fork)) · \(b.records.count) tokens · \(e(b.stopReason ?? "running"))</li>\n"
        }
        out += "</ul>\n"
        // the summary, one column per branch, cells that differ from the first marked
        let columns = branches.map {
            BranchComparison.Column(title: "branch \($0.id)", stats: BranchStatistics($0, close: input.header?.settings.thinkClose ?? "</think>"))
        }
        out += "<table class=\"stats\"><thead><tr><th scope=\"col\">measure</th>"
        for c in columns { out += "<th scope=\"col\">\(e(c.title))</th>" }
        out += "</tr></thead><tbody>\n"
        for (name, values) in BranchComparison.rows(columns) {
            out += "<tr><th scope=\"row\">\(e(name))</th>"
            for (i, v) in values.enumerated() {
                out += i > 0 && v != values[0] ? "<td class=\"differs\">\(e(v))</td>" : "<td>\(e(v))</td>"
            }
            out += "</tr>\n"
        }
        out += "</tbody></table>\n"
        // two branches side by side from where they part
        let right = input.shown, left = input.log.branch(right)?.info.parent ?? branches.first { $0.id != right }?.id ?? 0
        out += "<h3>Side by side</h3>\n<p><label>Left <select id=\"left\">"
        for b in branches { out += "<option value=\"\(b.id)\"\(b.id == left ? " selected" : "")>branch \(b.id)</option>" }
        out += "</select></label> <label>Right <select id=\"right\">"
        for b in branches { out += "<option value=\"\(b.id)\"\(b.id == right ? " selected" : "")>branch \(b.id)</option>" }
        out += "</select></label> <span id=\"shared\"></span></p>\n"
        out += "<div id=\"compare\" class=\"compare\"><div class=\"col left\"></div><div class=\"col right\"></div></div>\n</section>\n"
        return out
    }

    // MARK: - a branch: text and charts

    static func runSection(_ input: ReportInput, _ run: BranchRun) -> String {
        let many = input.log.branches.count > 1
        var out = "<section class=\"run\" data-branch=\"\(run.id)\"\(run.id == input.shown ? "" : " hidden")>\n"
        out += "<h2>Text\(many ? " — " + e(input.title(run)) : "")</h2>\n"
        out += "<div class=\"text\" tabindex=\"0\" role=\"group\" aria-label=\"generated text of branch \(run.id), \(run.records.count) tokens: arrow keys move between tokens\">"
        out += text(input, run)
        out += "</div>\n"
        out += charts(input, run)
        return out + "</section>\n"
    }

    /// The tokens of `run`, each a span with its entropy bucket and marks, the events inline.
    static func text(_ input: ReportInput, _ run: BranchRun) -> String {
        var out = ""
        out.reserveCapacity(run.records.count * 40)
        var events: [Int: [EventMark]] = [:]
        // the KV policy's evictions (every step, once a window is full) are the KV chart's
        for m in EventMark.marks(run.events) where m.kind != .evict { events[m.step, default: []].append(m) }
        let forks = input.log.branches.count > 1 ? input.log.forkSteps(on: run.id) : [:]
        var answer = false
        for r in run.records {
            for m in events[r.index] ?? [] {
                out += "<span class=\"ev mark-\(m.family)\" title=\"step \(m.step): \(e(m.label))\">⚑ \(e(m.kind.rawValue))</span>"
            }
            if let ids = forks[r.index] {
                let names = ids.map { "branch \($0)" }.joined(separator: ", ")
                let verb = ids.count == 1 ? "forks" : "fork"
                out += "<span class=\"fork\" title=\"\(e(names)) \(verb) off here\">↳\(ids.map(String.init).joined(separator: ","))</span>"
            }
            if (r.phase == .answer || r.phase == .done), !answer { out += "<span class=\"phase-mark\">answer ▸</span>"; answer = true }
            var cls = "t e\(EntropyScale.bucket(r.entropy))"
            if (r.phase == .answer || r.phase == .done) { cls += " a" }
            if r.input == .latent { cls += " l" }
            if r.input == .forced { cls += " f" }
            if r.effects.contains(where: { $0.kind == .suppress }) { cls += " s" }
            out += "<span class=\"\(cls)\">\(e(r.text))</span>"
        }
        if let end = events[run.records.count] {
            for m in end { out += "<span class=\"ev mark-\(m.family)\" title=\"step \(m.step): \(e(m.label))\">⚑ \(e(m.kind.rawValue))</span>" }
        }
        return out
    }

    static func charts(_ input: ReportInput, _ run: BranchRun) -> String {
        let series = StepSeries(run, header: input.header, local: input.kvAbsence == nil)
        guard series.count > 0 else { return "<p class=\"dim\">no tokens yet: nothing to chart</p>\n" }
        var out = "<h2>Charts</h2>\n"
        var signals = FigureOptions()
        signals.width = 900; signals.height = 300; signals.fontSize = 12
        let entropyCaption = series.partial
            ? "Entropy over the steps: a band from the bracket's lower to its upper end (the server's top k), the dashed line its window mean; confidence (top-1 probability) below; events as dotted lines."
            : "Entropy over the steps, the dashed line its mean over the last 32 tokens; confidence (top-1 probability) below; events as dotted lines."
        out += figure(id: "chart-signals-\(run.id)", caption: entropyCaption,
                      chart: Figures.chart(series, options: signals, paint: .classes))
        var budget = FigureOptions()
        budget.width = 900; budget.height = 180; budget.fontSize = 12; budget.signals = [.thinking]
        let budgets = Set(series.budget.compactMap { $0 })
        let budgetCaption = budgets.isEmpty
            ? "Thinking tokens over the steps (no thinking budget was set)."
            : "Thinking tokens over the steps against the budget (dashed)" + (series.budgetEnds.isEmpty ? "." : "; budget forcing ended thinking at step \(series.budgetEnds.map(String.init).joined(separator: ", ")).")
        out += figure(id: "chart-budget-\(run.id)", caption: budgetCaption, chart: Figures.chart(series, options: budget, paint: .classes))
        if let absence = input.kvAbsence {
            out += "<p class=\"dim\" id=\"chart-kv-\(run.id)\">KV cache: \(e(absence)).</p>\n"
        } else {
            var kv = FigureOptions()
            kv.width = 900; kv.height = 180; kv.fontSize = 12; kv.signals = [.kv]
            let removed = series.evictions.reduce(0) { $0 + $1.removed }
            let most = series.kvHeld.max() ?? 0
            let kvCaption = "KV-cache cells in use over the steps, prompt included, "
                + (series.kvCapacity <= most * 2 ? "against the context (dashed, n_ctx \(series.kvCapacity))" : "of a context of \(series.kvCapacity)")
                + (series.evictions.isEmpty ? "; nothing was evicted."
                    : "; \(series.evictions.count) evictions removed \(removed) cells" + (series.evictions.count > 40 ? " (too many to mark each)." : ", each a dotted line."))
            out += figure(id: "chart-kv-\(run.id)", caption: kvCaption, chart: Figures.chart(series, options: kv, paint: .classes))
        }
        return out
    }

    static func figure(id: String, caption: String, chart: Chart) -> String {
        "<figure>\(chart.inline(id: id, label: caption))<figcaption>\(e(caption))</figcaption></figure>\n"
    }

    // MARK: - the data behind the tooltips

    /// JSON: the branches (id, parent, fork step, records) and the step
    /// where each pair parts. Written by hand: compact, and `<` escaped so no text can end the
    /// script element.
    static func data(_ input: ReportInput) -> String {
        var out = "{\"shown\":\(input.shown),\"branches\":["
        out.reserveCapacity(input.log.branches.reduce(0) { $0 + $1.records.count } * 220)
        for (n, b) in input.log.branches.enumerated() {
            if n > 0 { out += "," }
            out += "{\"id\":\(b.id),\"parent\":\(b.info.parent.map(String.init) ?? "null"),\"fork\":\(b.info.forkStep),"
            out += "\"title\":" + json(input.title(b)) + ",\"records\":["
            // every record, not only those after the fork: a parent may have been rewound
            // past the fork since, so its records no longer give the child's prefix
            var first = true
            for r in b.records {
                if !first { out += "," }
                first = false
                out += "[\(r.index),\(json(r.text)),\"\(r.phase.rawValue)\",\"\(r.input.rawValue)\","
                out += "\"\(ReportFormat.probability(r.prob))\",\"\(ReportFormat.nats(r.entropy))\",\"\(ReportFormat.probability(r.top1))\","
                out += "\"\(ReportFormat.probability(r.margin))\",\"\(ReportFormat.nats(r.varentropy))\","
                if r.isExact {
                    out += "null,null,"
                } else {
                    let b = r.entropyBounds
                    out += "\"\(ReportFormat.nats(b.lowerBound))–\(ReportFormat.nats(b.upperBound))\",\"\(ReportFormat.probability(r.missingMass ?? 0))\","
                }
                out += "["
                for (k, a) in r.top.enumerated() {
                    if k > 0 { out += "," }
                    out += "[\(json(a.text)),\"\(ReportFormat.probability(a.p))\",\(a.id == r.token ? 1 : 0)]"
                }
                out += "],["
                out += r.effects.map { json($0.line) }.joined(separator: ",")
                out += "]]"
            }
            out += "]}"
        }
        out += "],\"divergence\":{"
        let ids = input.log.branches.map(\.id)
        var pairs: [String] = []
        for a in ids { for b in ids where a < b { pairs.append("\"\(a)-\(b)\":\(input.log.divergence(a, b))") } }
        out += pairs.joined(separator: ",") + "}}"
        return out
    }

    /// A JSON string literal; `<`, `>` and `&` as escapes, so the text is inert inside HTML.
    static func json(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }

    // MARK: - style and script

    static let style = """
    body { background: var(--background); color: var(--text); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em 1.5em 4em; }
    h1 { margin: 0; font-size: 1.5em; } h2 { font-size: 1.15em; margin: 1.5em 0 .5em; } .sub { margin: 0 0 .8em; color: var(--dim); }
    dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1em; margin: 0; }
    dl.facts dt { color: var(--title); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
    details.problem pre { white-space: pre-wrap; background: var(--panel); padding: .6em .8em; border-radius: 4px; }
    .notice { border: 2px solid var(--budget); padding: .5em .8em; border-radius: 4px; }
    #legend { display: flex; flex-wrap: wrap; gap: .3em .6em; align-items: center; margin: 1em 0; font-size: .9em; }
    #legend .label { color: var(--dim); } .swatch { padding: 0 .4em; border-radius: 3px; background: var(--panel); }
    .text { white-space: pre-wrap; overflow-wrap: anywhere; font: 14px/1.6 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; background: var(--panel); padding: .8em 1em; border-radius: 4px; }
    .text:focus { outline: 2px solid var(--confidence); outline-offset: 2px; }
    .e0 { color: var(--e0); } .e1 { color: var(--e1); } .e2 { color: var(--e2); } .e3 { color: var(--e3); }
    .e4 { color: var(--e4); } .e5 { color: var(--e5); } .e6 { color: var(--e6); } .e7 { color: var(--e7); }
    .t.a { font-weight: bold; } .t.l { text-decoration: underline dotted var(--latent) 2px; }
    .t.f { outline: 1px solid var(--forced); border-radius: 2px; } .t.s { text-decoration: underline wavy var(--suppressed); }
    .t.active { background: var(--confidence); color: var(--background); border-radius: 2px; }
    .ev { font: 11px/1 system-ui, sans-serif; padding: 1px 4px; margin: 0 2px; border-radius: 3px; border: 1px solid currentColor; white-space: nowrap; }
    .mark-strategy { color: var(--mark-strategy); } .mark-kv { color: var(--mark-kv); } .mark-branch { color: var(--mark-branch); } .mark-command { color: var(--mark-command); }
    .fork { color: var(--fork); font-weight: bold; margin: 0 2px; } .phase-mark { color: var(--answer); font: bold 11px system-ui, sans-serif; margin-right: 4px; }
    figure { margin: 1em 0; } figcaption { font-size: .85em; color: var(--dim); }
    svg.chart { width: 100%; height: auto; display: block; }
    svg.chart .grid { stroke: var(--grid); } svg.chart .axis { stroke: var(--axis); } svg.chart .axis-text { fill: var(--text); }
    svg.chart .entropy { stroke: var(--entropy); } svg.chart .band { fill: var(--band); } svg.chart .mean { stroke: var(--mean); }
    svg.chart .confidence { stroke: var(--confidence); } svg.chart .margin { stroke: var(--margin); } svg.chart .varentropy { stroke: var(--varentropy); }
    svg.chart .thinking { stroke: var(--thinking); } svg.chart .budget { stroke: var(--budget); } svg.chart text.budget { fill: var(--budget); stroke: none; }
    svg.chart .kv { stroke: var(--kv); } svg.chart .capacity { stroke: var(--capacity); } svg.chart text.capacity { fill: var(--capacity); stroke: none; }
    svg.chart .mark-strategy { stroke: var(--mark-strategy); } svg.chart .mark-kv { stroke: var(--mark-kv); } svg.chart .mark-branch { stroke: var(--mark-branch); } svg.chart .mark-command { stroke: var(--mark-command); }
    table.stats { border-collapse: collapse; margin: .8em 0; font-size: .9em; } table.stats th, table.stats td { border: 1px solid var(--grid); padding: .2em .6em; text-align: left; vertical-align: top; }
    table.stats td.differs { color: var(--differs); font-weight: bold; }
    ul.tree { list-style: none; padding: 0; } ul.tree li::before { content: "↳ "; color: var(--fork); }
    .compare { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; } .compare .col { white-space: pre-wrap; overflow-wrap: anywhere; font: 13px/1.5 ui-monospace, "DejaVu Sans Mono", monospace; background: var(--panel); padding: .6em .8em; border-radius: 4px; }
    .compare .col.left { border-top: 3px solid var(--left); } .compare .col.right { border-top: 3px solid var(--right); }
    #tip { position: absolute; z-index: 10; max-width: 26em; background: var(--background); color: var(--text); border: 1px solid var(--border); border-radius: 6px; padding: .5em .7em; font-size: 13px; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
    #tip table { border-collapse: collapse; width: 100%; } #tip td { padding: 0 .4em; font-family: ui-monospace, monospace; } #tip tr.chosen td { font-weight: bold; color: var(--confidence); }
    #tip .head { font-weight: bold; } #tip .nums { color: var(--dim); } #tip ul { margin: .3em 0 0; padding-left: 1.2em; }
    .dim { color: var(--dim); }
    @media print {
      body { max-width: none; padding: 0; background: #fff; color: #000; } #tip, #legend .hint, select, label { display: none; }
      section.run[hidden] { display: block; } section.run { break-before: page; } figure, tr { break-inside: avoid; }
      * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
    }

    """

    static let script = #"""
    (function () {
      "use strict";
      const data = JSON.parse(document.getElementById("data").textContent);
      const byId = new Map(data.branches.map(b => [b.id, b]));
      function records(id) { return byId.get(id).records; }
      const tip = document.getElementById("tip");
      let shown = data.shown, active = null;

      function section(id) { return document.querySelector('section.run[data-branch="' + id + '"]'); }
      function tokens(id) { return section(id).querySelectorAll(".text .t"); }
      function text(s) { const d = document.createElement("span"); d.textContent = s; return d.innerHTML; }
      function quote(s) { return '"' + s.replace(/\n/g, "⏎").replace(/\t/g, "⇥") + '"'; }

      function describe(r) {
        let h = '<div class="head">#' + r[0] + " " + text(quote(r[1])) + '</div><div class="nums">' + r[2] + " · " + r[3] + "</div>";
        h += "<div>p " + r[4] + " · H " + r[5] + " nats · top-1 " + r[6] + " · margin " + r[7] + " · varH " + r[8] + "</div>";
        if (r[9] !== null) h += '<div class="nums">H in ' + r[9] + " nats; " + r[10] + " of the mass outside the top " + r[11].length + "</div>";
        if (r[11].length) {
          h += "<table>";
          r[11].forEach((a, k) => { h += (a[2] ? '<tr class="chosen">' : "<tr>") + "<td>" + (k + 1) + "</td><td>" + text(quote(a[0])) + "</td><td>" + a[1] + "</td></tr>"; });
          h += "</table>";
        }
        if (r[12].length) h += "<ul>" + r[12].map(x => "<li>" + text(x) + "</li>").join("") + "</ul>";
        return h;
      }

      function show(i, node) {
        const r = records(shown)[i];
        if (!r) return;
        tip.innerHTML = describe(r);
        tip.dataset.step = r[0];
        tip.hidden = false;
        const box = node.getBoundingClientRect();
        const left = Math.min(window.scrollX + box.left, window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8);
        tip.style.left = Math.max(4, left) + "px";
        tip.style.top = (window.scrollY + box.bottom + 6) + "px";
      }
      function hide() { tip.hidden = true; }

      function activate(i) {
        const list = tokens(shown);
        if (!list.length) return;
        i = Math.max(0, Math.min(list.length - 1, i));
        if (active !== null && list[active]) list[active].classList.remove("active");
        active = i;
        list[i].classList.add("active");
        list[i].scrollIntoView({ block: "nearest" });
        show(i, list[i]);
      }

      function indexOf(node) { return Array.prototype.indexOf.call(tokens(shown), node); }

      document.querySelectorAll("section.run .text").forEach(el => {
        el.addEventListener("mouseover", ev => { if (ev.target.classList.contains("t")) show(indexOf(ev.target), ev.target); });
        el.addEventListener("mouseleave", () => { if (active === null) hide(); });
        el.addEventListener("click", ev => { if (ev.target.classList.contains("t")) activate(indexOf(ev.target)); });
        el.addEventListener("focus", () => activate(active === null ? 0 : active));
        el.addEventListener("blur", () => hide());
        el.addEventListener("keydown", ev => {
          const n = tokens(shown).length;
          const moves = { ArrowRight: 1, ArrowLeft: -1, PageDown: 20, PageUp: -20 };
          if (ev.key in moves) activate((active === null ? 0 : active) + moves[ev.key]);
          else if (ev.key === "Home") activate(0);
          else if (ev.key === "End") activate(n - 1);
          else if (ev.key === "Escape") hide();
          else return;
          ev.preventDefault();
        });
      });

      function pick(id) {
        if (!byId.has(id)) return;
        if (active !== null && tokens(shown)[active]) tokens(shown)[active].classList.remove("active");
        active = null; hide();
        document.querySelectorAll("section.run").forEach(s => { s.hidden = Number(s.dataset.branch) !== id; });
        shown = id;
        const select = document.getElementById("branch");
        if (select) select.value = String(id);
      }

      // side by side: each branch's text from the step where the two part
      function compare() {
        const l = document.getElementById("left"), r = document.getElementById("right");
        if (!l || !r) return;
        const a = Number(l.value), b = Number(r.value);
        const key = Math.min(a, b) + "-" + Math.max(a, b);
        const from = a === b ? 0 : data.divergence[key];
        document.getElementById("shared").textContent = from + " tokens shared";
        [[a, ".compare .left"], [b, ".compare .right"]].forEach(([id, where]) => {
          const col = document.querySelector(where);
          col.textContent = "";
          const head = document.createElement("div");
          head.className = "head";
          head.textContent = byId.get(id).title;
          col.appendChild(head);
          const recs = records(id), list = section(id).querySelectorAll(".text .t");
          const start = recs.findIndex(x => x[0] >= from);
          if (start < 0) return;
          let node = list[start];
          while (node) { col.appendChild(node.cloneNode(true)); node = node.nextSibling; }
          col.querySelectorAll(".active").forEach(x => x.classList.remove("active"));
        });
      }

      const select = document.getElementById("branch");
      if (select) select.addEventListener("change", () => pick(Number(select.value)));
      ["left", "right"].forEach(id => { const s = document.getElementById(id); if (s) s.addEventListener("change", compare); });
      compare();

      // #branch=1&step=12 shows branch 1 with step 12's tooltip (a link to a token)
      function fromHash() {
        const q = new URLSearchParams(location.hash.slice(1));
        if (q.has("branch")) pick(Number(q.get("branch")));
        if (q.has("step")) {
          const i = records(shown).findIndex(r => r[0] === Number(q.get("step")));
          if (i >= 0) activate(i);
        }
      }
      window.addEventListener("hashchange", fromHash);
      fromHash();
      document.documentElement.dataset.ready = String(Math.round(performance.now()));
    })();

    """#
}

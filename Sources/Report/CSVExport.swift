import Core
import Foundation

/// The per-step signals of the shown branch as CSV (RFC 4180: a header row, fields with a
/// comma, quote or line break quoted), for people who plot themselves. Numbers are written as
/// the trace has them (the shortest text that reads back to the same double).
enum CSVExport {
    static let columns = ["step", "pos", "id", "text", "phase", "input", "logprob", "p", "H", "H_lo", "H_hi", "varH",
                          "top1", "margin", "H_win", "H_trend", "rstep", "H_rstep", "ms", "thinking_tokens", "budget",
                          "kv_cells", "effects"]

    static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func number(_ v: Double) -> String { v.isFinite ? "\(v)" : "" }

    static func csv(_ input: ReportInput) -> String {
        let run = input.shownRun
        let series = StepSeries(run, header: input.header, local: input.kvAbsence == nil)
        var out = columns.joined(separator: ",") + "\r\n"
        for (i, r) in run.records.enumerated() {
            let bounds = r.entropyBounds
            let row: [String] = [
                "\(r.index)", "\(r.position)", "\(r.token)", field(r.text), r.phase.rawValue, r.input.rawValue,
                number(r.logprob), number(r.prob), number(r.entropy), number(bounds.lowerBound), number(bounds.upperBound),
                number(r.varentropy), number(r.top1), number(r.margin), number(r.windowMean), number(r.trend),
                "\(r.reasoningStep)", number(r.stepMean), number(r.ms), "\(series.thinking[i])",
                series.budget[i].map(String.init) ?? "", series.kvHeld.isEmpty ? "" : "\(series.kvHeld[i])",
                field(r.effects.map(\.line).joined(separator: "; ")),
            ]
            out += row.joined(separator: ",") + "\r\n"
        }
        return out
    }
}

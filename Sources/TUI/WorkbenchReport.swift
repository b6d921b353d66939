import Core
import Foundation
import Report

extension WorkbenchApp {
    /// `E`: the HTML report of the run as it stands — every branch, the shown one first —
    /// beside the trace (`run.jsonl` → `run.html`), else in the current folder; the status
    /// line says where, or why not.
    func exportReport(to chosen: String? = nil) {
        let header: TraceHeader, summary: TraceSummary?, truncated: Bool, log: BranchLog
        switch source {
        case .live(let run): (header, summary, truncated, log) = (run.header, self.summary, false, self.log)
        case .replay(let timeline):
            // the whole trace, every branch (a replay without forks keeps no branch log of its own)
            (header, summary, truncated, log) = (timeline.header, timeline.summary, timeline.truncated, timeline.branches)
        }
        let path = chosen ?? Self.reportPath(trace: tracePath, model: header.model.file, date: Date())
        let input = ReportInput(header: header, summary: summary, log: log, shown: snapshot.currentBranch, truncated: truncated,
                                name: tracePath.map { ($0 as NSString).lastPathComponent } ?? "live run")
        do {
            let palette = try ReportPalette.load(directories: ThemeFiles.directories)
            try Export.write(Export.html(input, palette: palette), to: path)
            flash("report of branch \(snapshot.currentBranch) written to \(path)", seconds: 8)
        } catch {
            flash("no report: \(error)", seconds: 8)
        }
    }

    /// `DIR/run.jsonl` → `DIR/run.html`; without a trace, `thinktop-MODEL-YYYYMMDD-HHMMSS.html`.
    static func reportPath(trace: String?, model: String, date: Date) -> String {
        if let trace {
            let base = trace.hasSuffix(".jsonl") ? String(trace.dropLast(6)) : trace
            return base + ".html"
        }
        let stem = (model as NSString).deletingPathExtension
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return "thinktop-\(stem.isEmpty ? "run" : stem)-\(f.string(from: date)).html"
    }
}

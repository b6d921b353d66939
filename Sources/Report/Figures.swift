import Core
import Foundation

/// What a figure shows and how big it is (`thinktop export --svg`, and the report's charts).
public struct FigureOptions: Sendable, Equatable {
    /// the signals a figure can plot, one panel each except where they share a unit: the
    /// window mean is drawn over the entropy, the margin over the confidence
    public enum Signal: String, CaseIterable, Sendable {
        case entropy, mean, confidence, margin, varentropy, thinking, kv
    }

    public var width = 720.0
    public var height = 360.0
    public var fontSize = 11.0
    public var signals: [Signal] = [.entropy, .mean, .confidence]
    /// the steps shown (nil: all)
    public var steps: ClosedRange<Int>?
    public var events = true

    public init() {}

    /// "entropy,confidence" → the signals; one line naming the unknown one otherwise.
    public static func signals(_ text: String) throws -> [Signal] {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ThinktopError.invalidArgument("--signals is empty: name at least one of \(allNames)") }
        return try names.map { name in
            guard let s = Signal(rawValue: name) else {
                throw ThinktopError.invalidArgument("no signal \"\(name)\": --signals takes \(allNames)")
            }
            return s
        }
    }

    static var allNames: String { Signal.allCases.map(\.rawValue).joined(separator: ", ") }

    /// "100-400", "100-" or "-400" → a step range.
    public static func steps(_ text: String) throws -> ClosedRange<Int> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let lo = parts[0].isEmpty ? 0 : Int(parts[0]), let hi = parts[1].isEmpty ? Int.max : Int(parts[1]),
              lo >= 0, lo <= hi else {
            throw ThinktopError.invalidArgument("--steps \"\(text)\" is not a step range: write FROM-TO, FROM- or -TO (e.g. 100-400)")
        }
        return lo...hi
    }
}

/// The charts: signals over the steps, the thinking budget, the KV cache.
enum Figures {
    /// `series` restricted to the steps in `range`: the indices kept.
    static func indices(_ series: StepSeries, range: ClosedRange<Int>?) -> [Int] {
        guard let r = range else { return Array(series.steps.indices) }
        return series.steps.indices.filter { r.contains(series.steps[$0]) }
    }

    static func pick<T>(_ values: [T], _ at: [Int]) -> [T] { at.map { values[$0] } }

    /// The upper end of an axis for `values`: at least `floor`, rounded up to a half.
    static func top(_ values: [Double], floor: Double) -> Double {
        let m = values.filter(\.isFinite).max() ?? 0
        return max(floor, (m * 2).rounded(.up) / 2)
    }

    static func chart(_ series: StepSeries, options o: FigureOptions, paint: Paint) -> Chart {
        let at = indices(series, range: o.steps)
        let steps = pick(series.steps, at)
        var panels: [Chart.Panel] = []
        let wanted = Set(o.signals)
        for signal in o.signals {
            switch signal {
            case .entropy:
                var layers: [Chart.Layer] = []
                let low = pick(series.entropyLow, at), high = pick(series.entropyHigh, at)
                if series.partial { layers.append(.band(low: low, high: high, role: "band")) }
                layers.append(.line(pick(series.entropy, at), role: "entropy", label: series.partial ? "lower end" : "entropy"))
                if wanted.contains(.mean) {
                    layers.append(.line(pick(series.windowMean, at), role: "mean", width: 1, dash: "5 3", label: "mean of 32"))
                }
                panels.append(.init(title: series.partial ? "entropy (bracket)" : "entropy", unit: "nats",
                                    maximum: top(high + pick(series.windowMean, at), floor: 1), layers: layers))
            case .mean where !wanted.contains(.entropy):
                let mean = pick(series.windowMean, at)
                panels.append(.init(title: "mean entropy", unit: "nats", maximum: top(mean, floor: 1),
                                    layers: [.line(mean, role: "mean")]))
            case .confidence:
                var layers: [Chart.Layer] = [.line(pick(series.confidence, at), role: "confidence", label: "top-1")]
                if wanted.contains(.margin) { layers.append(.line(pick(series.margin, at), role: "margin", width: 1, dash: "5 3", label: "margin")) }
                panels.append(.init(title: "confidence", unit: "", maximum: 1, layers: layers))
            case .margin where !wanted.contains(.confidence):
                panels.append(.init(title: "margin", unit: "", maximum: 1, layers: [.line(pick(series.margin, at), role: "margin")]))
            case .varentropy:
                let v = pick(series.varentropy, at)
                panels.append(.init(title: "varentropy", unit: "nats²", maximum: top(v, floor: 1), layers: [.line(v, role: "varentropy")]))
            case .thinking:
                let used = pick(series.thinking, at).map(Double.init)
                let budgets = pick(series.budget, at)
                var layers: [Chart.Layer] = [.line(used, role: "thinking", label: "used")]
                var maximum = used.max() ?? 1
                if budgets.contains(where: { $0 != nil }) {
                    // the budget in force at each step (0 where budget forcing was off)
                    let b = budgets.map { Double($0 ?? 0) }
                    layers.append(.line(b, role: "budget", width: 1, dash: "4 3", label: "budget"))
                    maximum = max(maximum, b.max() ?? 0)
                }
                panels.append(.init(title: "thinking tokens", unit: "", maximum: max(1, maximum * 1.05), layers: layers))
            case .kv:
                guard !series.kvHeld.isEmpty else { continue }
                let held = pick(series.kvHeld, at).map(Double.init)
                let capacity = Double(series.kvCapacity), most = held.max() ?? 0
                // the context as a rule when the cells come near it; a window far below it
                // gets the scale of its own (the caption gives n_ctx)
                var layers: [Chart.Layer] = [.line(held, role: "kv")]
                if capacity <= most * 2 { layers.append(.rule(capacity, role: "capacity", label: "n_ctx \(series.kvCapacity)")) }
                panels.append(.init(title: "KV cells", unit: "", maximum: max(1, capacity <= most * 2 ? max(capacity, most) * 1.05 : most * 1.25),
                                    layers: layers))
            default:
                continue
            }
        }
        var marks: [(step: Int, role: String, label: String)] = []
        if o.events {
            // evictions on the KV panel's chart only: a sliding window evicts at every step
            let kvOnly = o.signals == [.kv]
            // a sliding window evicts at every step: so many lines would hide the curve
            let evictions = series.marks.filter { $0.kind == .evict }.count
            marks = series.marks
                .filter { !(kvOnly && $0.kind == .evict && evictions > 40) }
                .filter { (o.steps?.contains($0.step) ?? true) && (kvOnly ? $0.family == "kv" : $0.kind != .evict) }
                .map { ($0.step, "mark-" + $0.family, $0.label) }
        }
        return Chart(steps: steps, panels: panels, marks: marks, width: o.width, height: o.height, fontSize: o.fontSize, paint: paint)
    }

    /// A standalone SVG figure of the shown branch.
    static func svg(_ input: ReportInput, options: FigureOptions, palette: ReportPalette) -> String {
        let series = StepSeries(input.shownRun, header: input.header, local: input.kvAbsence == nil)
        let chart = chart(series, options: options, paint: Paint(colours: palette.figure))
        let model = input.header?.model.file ?? input.name
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + chart.document(title: "\(model): \(options.signals.map(\.rawValue).joined(separator: ", ")) over the steps")
    }
}

import ArgumentParser
import Core
import Foundation
import Report

/// `thinktop export`: a trace as a self-contained HTML report, a publication figure (SVG) or
/// the per-step signals as CSV.
struct ExportTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Turn a trace into a self-contained HTML report, an SVG figure or a CSV of the per-step signals.",
        discussion: """
        The report is one file (no network, no external script or font): the run's settings; the \
        text coloured by entropy on the workbench's scale with phases, latent, forced and \
        suppressed tokens and strategy events marked (hover or focus a token for its \
        alternatives); charts of entropy and confidence, the thinking budget and the KV cache; \
        every branch, with a side-by-side view of two. A link ending #branch=1&step=40 opens \
        at that token. The figure is plain SVG for papers and slides; the CSV has one row per \
        step of the shown branch. A trace cut off mid-line is exported up to its last whole \
        line, and the page says so.
        """)

    @Argument(help: "A trace written with --trace, by `compare -o` or by `thinktop import` (or a server response with log-probabilities).")
    var trace: String

    @Option(name: .long, help: "Write the HTML report here.")
    var html: String?

    @Option(name: .long, help: "Write the SVG figure here.")
    var svg: String?

    @Option(name: .long, help: "Write the per-step signals here as CSV.")
    var csv: String?

    @Option(name: .customLong("run"), help: "Which run of a file that holds several: its name or its number (default: the first).")
    var runName: String?

    @Option(name: .long, help: "The branch shown first, and the one the figure and the CSV draw (default: the one current at the trace's end).")
    var branch: Int?

    @Option(name: .long, help: "Figure width in pixels.")
    var width: Double = FigureOptions().width

    @Option(name: .long, help: "Figure height in pixels.")
    var height: Double = FigureOptions().height

    @Option(name: .customLong("font-size"), help: "Figure font size in pixels.")
    var fontSize: Double = FigureOptions().fontSize

    @Option(name: .long, help: "The figure's signals, comma-separated: entropy, mean (window mean, over the entropy), confidence, margin (over the confidence), varentropy, thinking (tokens and budget), kv (cache cells).")
    var signals = "entropy,mean,confidence"

    @Option(name: .long, help: "The figure's steps: FROM-TO, FROM- or -TO (default: all).")
    var steps: String?

    @Flag(name: .customLong("no-events"), help: "Leave the events' marks out of the figure.")
    var noEvents = false

    func validate() throws {
        guard html != nil || svg != nil || csv != nil else {
            throw ValidationError("say what to write: --html OUT.html, --svg OUT.svg and/or --csv OUT.csv")
        }
        guard width >= 120, height >= 80 else { throw ValidationError("the figure needs at least 120×80 pixels (--width, --height)") }
        guard fontSize >= 4, fontSize <= 72 else { throw ValidationError("--font-size must be between 4 and 72") }
        _ = try FigureOptions.signals(signals)
        if let s = steps { _ = try FigureOptions.steps(s) }
    }

    func run() throws {
        let reader = try Replay.read(trace, run: runName)
        let input = try ReportInput(reader: reader, name: (trace as NSString).lastPathComponent, branch: branch)
        let palette = try ReportPalette.load(directories: ThemeFiles.directories)
        if reader.truncated {
            printError("thinktop: \(trace) was cut off mid-line: exporting it up to its last whole line\n")
        }
        if let path = html {
            try Export.write(Export.html(input, palette: palette), to: path)
            print("report → \(path)")
        }
        if let path = svg {
            var options = FigureOptions()
            options.width = width; options.height = height; options.fontSize = fontSize
            options.signals = try FigureOptions.signals(signals)
            options.steps = try steps.map(FigureOptions.steps)
            options.events = !noEvents
            try Export.write(Export.svg(input, options: options, palette: palette), to: path)
            print("figure → \(path)")
        }
        if let path = csv {
            try Export.write(Export.csv(input), to: path)
            print("signals → \(path)")
        }
    }
}

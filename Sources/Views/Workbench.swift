/// The whole screen: the entry point the terminal layer calls each frame.
public enum Workbench {
    /// Draws every pane of `snapshot` into a fresh `width` × `height` surface following
    /// `WorkbenchLayout`, with the branch list on top when `showBranches` is set and the help
    /// overlay on top of all when `showHelp` is. With `compare` set, the compare view
    /// (`ComparePane`) takes every row below the status bar instead of the panes. Below the
    /// minimum size the surface holds only a centred message saying how big it must be.
    public static func render(_ s: WorkbenchSnapshot, width: Int, height: Int, glyphs: Glyphs) -> Surface {
        var surface = Surface(width: width, height: height)
        guard var layout = WorkbenchLayout(width: width, height: height, strategyRows: s.strategies.count) else {
            tooSmall(into: &surface, glyphs: glyphs)
            // a line being typed stays in view (`q` still quits from it)
            commandLine(s, into: &surface, glyphs: glyphs)
            return surface
        }
        // details wrapped onto more lines ask for a taller strategy panel (the column's width
        // does not depend on its height)
        let strategyLines = StrategyPane.lineCount(s.strategies, width: Box.inner(layout.strategies).width, glyphs: glyphs,
                                                   focus: s.strategyFocus)
        if strategyLines > s.strategies.count,
           let taller = WorkbenchLayout(width: width, height: height, strategyRows: strategyLines) {
            layout = taller
        }
        StatusBar().render(s, into: &surface, area: layout.statusBar, glyphs: glyphs)
        if s.compare != nil {
            ComparePane().render(s, into: &surface, area: compareArea(width: width, height: height), glyphs: glyphs)
            overlays(s, into: &surface, glyphs: glyphs)
            return surface
        }
        let cursor = s.clampedCursor
        let boxed: [(pane: any Pane, area: Rect, title: String)] = [
            (DecodingPane(), layout.decoding,
             "Decoding" + (cursor.map { glyphs.separator + "cursor #\($0) of \(s.records.count)" } ?? "")),
            (SignalsPane(), layout.signals, "Signals"),
            (KVMapPane(), layout.kvMap, "KV cache"),
            (StrategyPane(), layout.strategies, "Strategies"),
            (BudgetPane(), layout.budget, "Budget"),
            (TopKPane(), layout.topK, cursor == nil ? "Top-k" : "Top-k at cursor"),
        ]
        for (pane, area, title) in boxed {
            let inner = Box(title: title).render(into: &surface, area: area, glyphs: glyphs)
            pane.render(s, into: &surface, area: inner, glyphs: glyphs)
        }
        KeyBar().render(s, into: &surface, area: layout.keyBar, glyphs: glyphs)
        overlays(s, into: &surface, glyphs: glyphs)
        return surface
    }

    /// The command line over the bottom two rows, when it is open (above the panes and the
    /// overlays: it has the keys).
    static func commandLine(_ s: WorkbenchSnapshot, into surface: inout Surface, glyphs: Glyphs) {
        guard let line = s.commandLine else { return }
        CommandLinePane().render(line, into: &surface, area: surface.area, glyphs: glyphs)
    }

    /// The branch list, then the help, each when it is open.
    static func overlays(_ s: WorkbenchSnapshot, into surface: inout Surface, glyphs: Glyphs) {
        if s.showBranches { BranchOverlay().render(s, into: &surface, area: surface.area, glyphs: glyphs) }
        if s.showHelp { HelpOverlay().render(s, into: &surface, area: surface.area, glyphs: glyphs) }
        commandLine(s, into: &surface, glyphs: glyphs)
    }

    /// Where the compare view goes on a `width` × `height` screen: every row below the status bar.
    static func compareArea(width: Int, height: Int) -> Rect { Rect(x: 0, y: 1, width: width, height: height - 1) }

    /// "thinktop needs at least 60×16 (now 40×10)", word-wrapped and centred.
    static func tooSmall(into surface: inout Surface, glyphs: Glyphs) {
        let message = "thinktop needs at least \(WorkbenchLayout.minimumWidth)\(glyphs.times)\(WorkbenchLayout.minimumHeight)"
            + " (now \(surface.width)\(glyphs.times)\(surface.height))"
        let lines = wrap(message, width: surface.width)
        let top = max(0, (surface.height - lines.count) / 2)
        for (i, line) in lines.enumerated() {
            let w = DisplayWidth.of(line)
            surface.put(line, x: max(0, (surface.width - w) / 2), y: top + i, style: Style(Role.notice, bold: true))
        }
    }

    /// Greedy word wrap; a word longer than the width is cut.
    static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [] }
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ").map(String.init) {
            if line.isEmpty { line = word }
            else if DisplayWidth.of(line) + 1 + DisplayWidth.of(word) <= width { line += " " + word }
            else { lines.append(line); line = word }
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }
}

import Core

/// What a KV-cache position holds, as the map shows it.
enum KVKind: Int, CaseIterable {
    case prompt, thinking, latent, answer, evicted, free

    /// when held kinds tie for a cell, the rarer, more telling one wins (evicted shows only
    /// where nothing is held)
    static let tiePriority: [KVKind] = [.latent, .evicted, .answer, .thinking, .prompt]

    var role: String {
        switch self {
        case .prompt: Role.kvPrompt
        case .thinking: Role.kvThinking
        case .latent: Role.kvLatent
        case .answer: Role.kvAnswer
        case .evicted: Role.kvEvicted
        case .free: Role.kvFree
        }
    }

    var label: String {
        switch self {
        case .prompt: "prompt"
        case .thinking: "think"
        case .latent: "latent"
        case .answer: "answer"
        case .evicted: "evicted"
        case .free: "free"
        }
    }

    func glyph(_ g: Glyphs) -> Character {
        switch self {
        case .prompt: g.kvPrompt
        case .thinking: g.kvThinking
        case .latent: g.kvLatent
        case .answer: g.kvAnswer
        case .evicted: g.kvEvicted
        case .free: g.kvFree
        }
    }
}

/// Which kind sits at each KV position, from a snapshot: the prompt at 0..<promptTokens,
/// each record at its position (latent input, else by phase), evicted positions, free
/// elsewhere.
struct KVOccupancy {
    let contextSize: Int
    let promptTokens: Int
    let evicted: Set<Int>
    /// the kind of each live (not evicted) record's position, indexed by position (nil: no
    /// record there); an array, not a dictionary: a long run's frame fills it in one pass
    let records: [KVKind?]
    /// positions held in the cache
    let held: Int
    /// the newest held position, nil when nothing is held
    let newest: Int?

    /// the first position the sliding-window layers attend to, when the ledger says
    let slidingFrom: Int?
    /// positions 0..<span are drawn: the context, or every position fed when evictions let
    /// a run go past it
    let span: Int

    init(_ s: WorkbenchSnapshot) {
        let prompt = max(0, s.promptTokens)
        contextSize = max(0, s.contextSize)
        span = contextSize > 0 ? max(contextSize, prompt + s.records.count) : 0
        slidingFrom = s.slidingFrom
        promptTokens = prompt
        evicted = s.evicted
        // fields read through a pointer: `s.records[i].position` copies the whole record
        let top = s.records.withUnsafeBufferPointer { rs in rs.reduce(-1) { max($0, $1.position) } }
        var records = [KVKind?](repeating: nil, count: top + 1)
        var live = 0, newestRecord: Int?
        s.records.withUnsafeBufferPointer { rs in
            for i in rs.indices {
                let r = rs.baseAddress!.advanced(by: i)
                let p = r.pointee.position
                guard p >= 0, !s.evicted.contains(p) else { continue }
                if records[p] == nil, p >= prompt { live += 1 }
                let phase = r.pointee.phase
                records[p] = r.pointee.input == .latent ? .latent : (phase == .answer || phase == .done ? .answer : .thinking)
                newestRecord = max(newestRecord ?? p, p)
            }
        }
        self.records = records
        let promptHeld = prompt - s.evicted.filter { $0 >= 0 && $0 < prompt }.count
        held = s.kvHeld ?? (promptHeld + live)
        let newestPrompt = promptHeld > 0 ? (0..<prompt).last { !s.evicted.contains($0) } : nil
        newest = [newestRecord, newestPrompt].compactMap { $0 }.max()
    }

    func kind(at position: Int) -> KVKind {
        if evicted.contains(position) { return .evicted }
        if position >= 0, position < records.count, let k = records[position] { return k }
        return position < promptTokens ? .prompt : .free
    }

    /// positions 0..<span scaled into `width` cells, each the dominant held kind of the
    /// positions it covers: a cell is free only when all its positions are, so that 30 tokens
    /// in a 128k context still show, and evicted only when none of its positions is held (the
    /// usage figure gives the exact amount). Every cell shows one position when the span is
    /// narrower.
    func cells(width: Int) -> [KVKind] {
        guard width > 0 else { return [] }
        let n = span
        guard n > 0 else { return Array(repeating: .free, count: width) }
        if n < width { return (0..<width).map { kind(at: $0 * n / width) } }

        var counts = Array(repeating: Array(repeating: 0, count: KVKind.allCases.count), count: width)
        func cell(_ p: Int) -> Int { ((p + 1) * width - 1) / n }
        let prompt = min(promptTokens, n)
        for c in 0..<width {
            let lo = c * n / width, hi = (c + 1) * n / width
            counts[c][KVKind.prompt.rawValue] = max(0, min(hi, prompt) - lo)
        }
        for (p, k) in records.enumerated() where p < n {
            guard let k else { continue }
            counts[cell(p)][k.rawValue] += 1
            if p < prompt { counts[cell(p)][KVKind.prompt.rawValue] -= 1 }
        }
        for p in evicted where p >= 0 && p < n {
            counts[cell(p)][KVKind.evicted.rawValue] += 1
            if p < prompt { counts[cell(p)][KVKind.prompt.rawValue] -= 1 }
        }
        // what the cache holds wins over what it dropped: a cell is evicted only when none of
        // its positions is held, so StreamingLLM's sinks and H2O's scattered heavy hitters show
        return (0..<width).map { c in
            var best = KVKind.free, bestCount = 0
            for kind in KVKind.tiePriority where kind != .evicted && counts[c][kind.rawValue] > bestCount {
                best = kind; bestCount = counts[c][kind.rawValue]
            }
            if bestCount == 0 && counts[c][KVKind.evicted.rawValue] > 0 { return .evicted }
            return best
        }
    }

    /// The attention band: for each cell, the most attention any held position in it has
    /// received, on a scale of 0…7 relative to the most-attended position (sinks draw a lot;
    /// a square root keeps the rest visible); −1 where no held position is.
    func attentionLevels(_ attention: [Float], width: Int) -> [Int] {
        guard width > 0, span > 0 else { return [] }
        var best = [Float](repeating: -1, count: width)
        for (p, a) in attention.enumerated() where p < span && !evicted.contains(p) && a > 0 {
            let c = span < width ? p * width / span : ((p + 1) * width - 1) / span
            best[c] = max(best[c], a)
        }
        let top = attention.max() ?? 0
        guard top > 0 else { return best.map { $0 < 0 ? -1 : 0 } }
        return best.map { $0 < 0 ? -1 : Int((($0 / top).squareRoot() * 7).rounded()) }
    }

    /// the cells (of `width`) that show positions within the sliding window: the
    /// `window` positions ending at the newest held one, which is what SWA layers attend to
    func windowCells(width: Int, window: Int) -> Range<Int>? {
        guard width > 0, window > 0, span > 0, let last = newest, last < span else { return nil }
        let first = slidingFrom.map { max(0, min($0, last)) } ?? max(0, last - window + 1)
        let n = span
        if n < width {
            let cs = (0..<width).filter { let p = $0 * n / width; return p >= first && p <= last }
            guard let lo = cs.first, let hi = cs.last else { return nil }
            return lo..<(hi + 1)
        }
        return (((first + 1) * width - 1) / n)..<(((last + 1) * width - 1) / n + 1)
    }
}

/// The KV cache: a `global` band with positions 0..<contextSize scaled into the width (each
/// cell the dominant kind of the positions it covers) and the memory held, e.g.
/// `18.2 / 64.0 MiB` (live positions × `kvBytesPerToken`, or positions when the size per
/// token is unknown); a `swa<N>` band for the sliding-window layers when the model has
/// them, showing which positions they still hold; then a legend.
public struct KVMapPane: Pane {
    public init() {}

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        surface.fill(area)
        guard !area.isEmpty else { return }
        if snapshot.contextSize <= 0 {
            // no cache to map (an imported answer): say why
            surface.put(snapshot.kvNote ?? "no KV cache", x: area.x, y: area.y, style: Style(Role.dim, dim: true), limit: area.width)
            return
        }
        if let note = snapshot.kvNote, area.height > 1 {
            surface.put(note, x: area.x, y: area.maxY - 1, style: Style(Role.dim, dim: true), limit: area.width)
            return render(snapshot, into: &surface, area: Rect(x: area.x, y: area.y, width: area.width, height: area.height - 1),
                          glyphs: glyphs, note: ())
        }
        render(snapshot, into: &surface, area: area, glyphs: glyphs, note: ())
    }

    private func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs, note: Void) {
        let occupancy = KVOccupancy(snapshot)
        let swaLabel = "swa\(snapshot.slidingWindow)"
        var labelWidth = (snapshot.slidingWindow > 0 ? max(6, swaLabel.count) : 6) + 1
        let capacity = max(0, snapshot.contextSize)
        var usage = snapshot.kvBytesPerToken > 0
            ? Format.bytes(occupancy.held * snapshot.kvBytesPerToken, of: capacity * snapshot.kvBytesPerToken)
            : "\(occupancy.held)/\(capacity)"
        if area.width - labelWidth - usage.count - 1 < 8 { usage = "" }
        if area.width - labelWidth < 4 { labelWidth = 0 }
        let bandWidth = area.width - labelWidth - (usage.isEmpty ? 0 : usage.count + 1)
        let cells = occupancy.cells(width: bandWidth)

        var y = area.y
        if labelWidth > 0 { surface.put("global", x: area.x, y: y, limit: labelWidth - 1) }
        for (i, kind) in cells.enumerated() {
            surface[area.x + labelWidth + i, y] = Cell(kind.glyph(glyphs), style: Style(kind.role))
        }
        if !usage.isEmpty { surface.put(usage, x: area.maxX - usage.count, y: y, limit: usage.count) }
        y += 1

        if snapshot.slidingWindow > 0, y < area.maxY {
            if labelWidth > 0 { surface.put(swaLabel, x: area.x, y: y, style: Style(Role.kvSWA), limit: labelWidth - 1) }
            let window = occupancy.windowCells(width: bandWidth, window: snapshot.slidingWindow) ?? 0..<0
            for i in 0..<bandWidth {
                let cell = window.contains(i) ? Cell(cells[i].glyph(glyphs), style: Style(Role.kvSWA))
                                              : Cell(glyphs.kvFree, style: Style(Role.kvFree))
                surface[area.x + labelWidth + i, y] = cell
            }
            y += 1
        }

        if !snapshot.attention.isEmpty, y < area.maxY {
            if labelWidth > 0 { surface.put("attn", x: area.x, y: y, style: Style(Role.dim), limit: labelWidth - 1) }
            for (i, level) in occupancy.attentionLevels(snapshot.attention, width: bandWidth).enumerated() {
                surface[area.x + labelWidth + i, y] = level < 0 ? Cell(glyphs.kvFree, style: Style(Role.kvFree))
                    : Cell(glyphs.bars[min(8, level + 1)], style: Style(Role.kvAttention))
            }
            y += 1
        }

        if y < area.maxY { legend(x: area.x, y: y, width: area.width, surface: &surface, glyphs: glyphs) }
    }

    /// `prompt █  think ▓  latent ▒  answer ░  evicted ·`, as many entries as fit whole.
    private func legend(x: Int, y: Int, width: Int, surface: inout Surface, glyphs: Glyphs) {
        var col = 0
        for kind in [KVKind.prompt, .thinking, .latent, .answer, .evicted] {
            let gap = col == 0 ? 0 : 2
            let entry = kind.label.count + 2
            guard col + gap + entry <= width else { break }
            col += gap
            col += surface.put(kind.label + " ", x: x + col, y: y, style: Style(Role.dim), limit: width - col)
            surface[x + col, y] = Cell(kind.glyph(glyphs), style: Style(kind.role))
            col += 1
        }
    }
}

/// The top row: `thinktop ─ gemma-3-270m Q4_K_M ─ ctx 812/4096 ─ 71 tok/s ─ ▶ running` (with
/// where the run comes from after the model when it is served or imported), then
/// the alert and the notice when there are. With more than one branch, `branch 2/3 · shared`
/// (the shown branch's id, how many there are, how the others keep their cache) comes before
/// the run state. When the row is too narrow, the throughput goes first, then the context
/// use, then the model, then the name and the branch; the run state and the alert always
/// stay, and the notice is cut last.
public struct StatusBar: Pane {
    public init() {}

    public func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs) {
        let bar = Style(Role.statusBar)
        surface.fill(area, style: bar)
        guard !area.isEmpty else { return }

        let model = [snapshot.modelName, snapshot.modelDetail].filter { !$0.isEmpty }.joined(separator: " ")
        let held = snapshot.kvHeld ?? KVOccupancy(snapshot).held
        // (span, the order it is dropped in when the row is too narrow; nil: never)
        // an imported trace has no context and may have no timings: those segments go
        let replay = if case .replay = snapshot.status { true } else { false }
        var segments: [(span: Span, drop: Int?)] = [
            (Span("thinktop", Style(Role.statusBar, bold: true)), 3),
            (Span(model, bar), 2),
            (Span(snapshot.origin ?? "", bar), 2),
            (Span(snapshot.contextSize > 0 ? "ctx \(held)/\(snapshot.contextSize)" : "", bar), 1),
            (Span(replay && snapshot.tokensPerSecond <= 0 ? "" : "\(Format.rate(snapshot.tokensPerSecond)) tok/s", bar), 0),
            (Span(Self.branch(snapshot, glyphs), bar), 3),
            (state(snapshot.status, glyphs), nil),
        ].filter { !$0.0.text.isEmpty }
        if let alert = snapshot.alert, !alert.isEmpty {
            segments.append((Span(alert, Style(Role.notice, bold: true)), nil))
        }
        if let notice = snapshot.notice, !notice.isEmpty {
            segments.append((Span(notice, Style(Role.notice, bold: true)), nil))
        }
        let room = area.width - 1
        func width(_ s: [(span: Span, drop: Int?)]) -> Int {
            s.reduce(0) { $0 + $1.span.width } + max(0, s.count - 1) * DisplayWidth.of(glyphs.separator)
        }
        for rank in 0...3 where width(segments) > room {
            segments.removeAll { $0.drop == rank }
        }

        var spans: [Span] = []
        for (i, segment) in segments.enumerated() {
            if i > 0 { spans.append(Span(glyphs.separator, bar)) }
            spans.append(segment.span)
        }
        surface.put(spans, x: area.x + 1, y: area.y, limit: room)
    }

    /// "branch 2/3 · shared": the shown branch's id of how many, and how the others keep
    /// their cache; "" with one branch or none.
    static func branch(_ snapshot: WorkbenchSnapshot, _ glyphs: Glyphs) -> String {
        guard snapshot.branches.count > 1 else { return "" }
        let cache = snapshot.branchCache.map { $0.isEmpty ? "" : " \(glyphs.dot) \($0)" } ?? ""
        return "branch \(snapshot.currentBranch)/\(snapshot.branches.count)" + cache
    }

    private func state(_ status: WorkbenchSnapshot.Status, _ glyphs: Glyphs) -> Span {
        switch status {
        case .loading(let what):
            return Span(what.isEmpty ? "loading" + glyphs.ellipsis : what, Style(Role.statusPaused))
        case .running:
            return Span(glyphs.running + " running", Style(Role.statusRunning, bold: true))
        case .paused:
            return Span(glyphs.paused + " paused", Style(Role.statusPaused, bold: true))
        case .done(let reason):
            return Span(glyphs.stopped + " done" + (reason.isEmpty ? "" : ": " + reason), Style(Role.statusDone, bold: true))
        case .replay(let playing, let speed):
            return Span("replay " + (playing ? glyphs.running : glyphs.paused) + " " + Format.fixed(speed, 1) + glyphs.times,
                        Style(playing ? Role.statusRunning : Role.statusPaused, bold: true))
        }
    }
}

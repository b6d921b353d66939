import Core

/// Questions the panes ask of a snapshot and its records, answered the same way everywhere.
extension WorkbenchSnapshot {
    /// The cursor clamped into `records` (nil without a cursor or without records).
    var clampedCursor: Int? {
        guard let c = cursor, !records.isEmpty else { return nil }
        return min(max(0, c), records.count - 1)
    }

    /// The record the inspector and sparklines centre on, clamped; nil without records.
    var focusRecordIndex: Int? {
        guard let f = focusIndex, !records.isEmpty else { return nil }
        return min(max(0, f), records.count - 1)
    }

    var focusRecord: StepRecord? { focusRecordIndex.map { records[$0] } }
}

extension StepRecord {
    /// Answer tokens are drawn apart from thinking ones; `done` counts as answer.
    var isAnswer: Bool { phase == .answer || phase == .done }

    /// Whether a strategy suppressed tokens at this step where it mattered (NoWait masking the
    /// favourite, CGRS banning its triggers).
    var isSuppressed: Bool { effects.contains { $0.kind == .suppress } }
}

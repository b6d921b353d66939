import Core

/// The records the decoding pane draws: those before the snapshot's hidden tail, and the one
/// the tail starts in, cut to its visible bytes. Indices are the run's, from 0, so a cursor
/// or a layout start names the same record here as in `records`; nothing is copied but that
/// one record, so a frame costs the same at any length of run.
struct VisibleRecords: RandomAccessCollection {
    private let records: [StepRecord]
    /// the record the hidden tail starts in, its text cut (at `endIndex - 1`)
    private let cut: StepRecord?
    let endIndex: Int
    var startIndex: Int { 0 }

    init(_ records: [StepRecord], hiddenFrom tail: WorkbenchSnapshot.HiddenTail?) {
        self.records = records
        guard let tail else {
            endIndex = records.count
            cut = nil
            return
        }
        // positions grow along the run, and the stop string is a few records from its end
        var end = records.count
        while end > 0, records[end - 1].position >= tail.position { end -= 1 }
        if end < records.count, records[end].position == tail.position {
            var record = records[end]
            record.text = Self.prefix(record.text, utf8Bytes: tail.visibleBytes)
            cut = record
            endIndex = end + 1
        } else {
            cut = nil
            endIndex = end
        }
    }

    subscript(i: Int) -> StepRecord {
        if let cut, i == endIndex - 1 { return cut }
        return records[i]
    }

    /// The longest start of `text` within `bytes` UTF-8 bytes that does not split a character.
    static func prefix(_ text: String, utf8Bytes bytes: Int) -> String {
        guard bytes < text.utf8.count else { return text }
        var out = "", used = 0
        for ch in text {
            used += ch.utf8.count
            if used > bytes { break }
            out.append(ch)
        }
        return out
    }
}

extension WorkbenchSnapshot {
    /// The records shown as the run's output: all of them but the hidden tail.
    var visibleRecords: VisibleRecords { VisibleRecords(records, hiddenFrom: hiddenFrom) }
}

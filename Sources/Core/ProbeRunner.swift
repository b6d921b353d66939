import Foundation

/// The main sequence's next-token logits, copied into a buffer the session owns whenever
/// something else is about to use the context before the next step reads them (a probe's
/// decodes, the embedding-scale calibration, the prefill's eviction).
final class LogitsStash {
    private var buffer: UnsafeMutableBufferPointer<Float>?
    /// whether the buffer holds logits the next step has not read yet
    private(set) var isHeld = false

    deinit { buffer?.deallocate() }

    /// Copies `logits` aside unless something is already held.
    func keep(_ logits: UnsafeBufferPointer<Float>) {
        guard !isHeld else { return }
        if buffer?.count != logits.count {
            buffer?.deallocate()
            buffer = .allocate(capacity: logits.count)
        }
        _ = buffer!.initialize(from: logits)
        isHeld = true
    }

    /// The held logits, handed to the step that reads them (valid until the next `keep`).
    func take() -> UnsafeBufferPointer<Float>? {
        guard isHeld, let b = buffer else { return nil }
        isHeld = false
        return UnsafeBufferPointer(b)
    }

    /// Forgets what is held (a decode on the main sequence made newer logits).
    func drop() { isHeld = false }
}

/// What every prober checks first.
enum ProbeRequest {
    /// The appended text's tokens, once the text and the cut are known to make a probe.
    static func tokens(of text: String, cutAt: Int?, fedPositions: Int, kv: LedgerBackend) throws -> [Int32] {
        let appended = try kv.tokenize(text, addSpecial: false)
        guard !appended.isEmpty else {
            throw ThinktopError.invalidArgument("a probe needs text to append before it can read a distribution")
        }
        if let cut = cutAt, !(cut > 0 && cut <= fedPositions) {
            throw ThinktopError.invalidArgument("a probe cut at \(cut) needs a position in 1…\(fedPositions)")
        }
        return appended
    }
}

/// Probes on a fork of the main sequence (`SequenceID.probe`), made for one `afterToken`
/// round: the token was fed, so the context holds the next step's logits, which are kept
/// aside before the fork's first decode. The fork is removed after every probe.
struct ForkProber: Prober {
    let kv: LedgerBackend
    let stash: LogitsStash
    let analyzer: DistributionAnalyzer
    /// inputs fed so far (the next input's sequence index)
    let fedPositions: Int
    /// the KV position the next main input takes
    let nextKVPosition: Int

    var freeCells: Int { kv.contextSize - kv.ledger.cellsInUse }

    func probe(appending text: String, maxTokens: Int, stop: ProbeStop, cutAt: Int?,
               scoring: [Int32]) throws -> ProbeResult {
        let started = DispatchTime.now().uptimeNanoseconds
        let appended = try ProbeRequest.tokens(of: text, cutAt: cutAt, fedPositions: fedPositions, kv: kv)
        var pos = nextKVPosition
        var cutKV: Int?
        if let cut = cutAt {
            // the cut is a sequence index; the fork keeps the KV positions of the indices below it
            cutKV = kv.ledger.entries(sequence: .main).first { $0.entry.index >= cut }?.position ?? nextKVPosition
            pos = cutKV!
        }
        var free = freeCells
        guard free > appended.count else { throw ThinktopError.contextFull(kv.contextSize) }
        stash.keep(kv.logits())
        try kv.removeCells(sequence: .probe, from: 0, to: nil)
        kv.copySequence(from: .main, to: .probe, from: 0, to: nil)
        defer { try? kv.removeCells(sequence: .probe, from: 0, to: nil) }
        if let cutKV { try kv.removeCells(sequence: .probe, from: cutKV, to: nil) }
        var start = 0
        while start < appended.count {
            let end = min(start + kv.batchSize, appended.count)
            try kv.decode(tokens: appended[start..<end], at: pos, sequence: .probe)
            pos += end - start
            start = end
        }
        var result = ProbeResult()
        var bytes = UTF8Stream()
        for i in 0..<maxTokens {
            let l = kv.logits()
            let s = analyzer.analyze(l)
            if i == 0 {
                result.scores = scoring.map { Int($0) < l.count && $0 >= 0 ? Double(l[Int($0)]) - s.logSumExp : .nan }
            }
            let t = s.top[0].id
            result.tokens.append(t)
            result.entropies.append(s.entropy)
            result.probabilities.append(s.top1)
            result.text += bytes.append(kv.piece(t))
            if case .anyOf(let stops) = stop, stops.contains(where: { result.text.contains($0) }) { break }
            if kv.isEndOfGeneration(t) || i == maxTokens - 1 || free - appended.count <= 1 { break }
            try kv.decode(tokens: [t][...], at: pos, sequence: .probe)
            pos += 1
            free -= 1
        }
        result.text += bytes.flush()
        result.ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        return result
    }
}

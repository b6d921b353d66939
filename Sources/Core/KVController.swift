import Foundation

/// The KV policy in force over the main sequence, and the record of what it did: it asks the
/// policy what to evict before inputs come in, carries the plan out through the ledger backend
/// (removals, then StreamingLLM's shifts), logs every operation, and on a rewind either cuts the
/// cache back or — when an eviction happened after the point rewound to — rebuilds it by
/// replaying the same operations, since what was evicted cannot come back any other way.
final class KVController {
    /// The cache operations of one eviction, kept to replay them in a rebuild.
    struct Eviction {
        /// index of the last input fed before it (prompt − 1 for the prefill's)
        var afterInput: Int
        /// made by the prefill (the prompt's), not by a step
        var prefill: Bool
        var removed: [(from: Int, to: Int)]
        var shifts: [(from: Int, to: Int, delta: Int)]
        /// the sequence indices removed
        var indices: [Int]
        var nextKVPosition: Int
    }

    /// How a rebuild feeds an input again: the input of sequence index `index` at KV position `at`.
    typealias Feed = (_ index: Int, _ at: Int) throws -> Void

    let kv: LedgerBackend
    let prompt: [Int32]
    var promptCount: Int { prompt.count }
    private(set) var policy: any KVPolicy = NoEviction()
    private(set) var log: [Eviction] = []
    /// the KV position the next input takes (below the sequence index once StreamingLLM shifted)
    var nextPosition = 0
    /// number of ledger contributions (attention vectors) after each input, by input index
    private var contributionsAfter: [Int: Int] = [:]
    /// prompt tokens the last prefill copied from a shared prefix rather than evaluated
    private(set) var sharedPrefix = 0
    /// the prompt rows the attention tap counted at the prefill (a rebuild counts them again)
    private var prefillQueries: Range<Int>?

    /// Called before positions of the main sequence are moved: a cell shared with a parked
    /// branch would move for it too (llama.cpp keeps one position per cell).
    var beforeShift: (() throws -> Void)?

    /// What a parked branch keeps of the controller.
    struct Memory {
        var policy: any KVPolicy
        var log: [Eviction]
        var nextPosition: Int
        var contributionsAfter: [Int: Int]
        var prefillQueries: Range<Int>?
    }

    var memory: Memory {
        get { Memory(policy: policy, log: log, nextPosition: nextPosition, contributionsAfter: contributionsAfter,
                     prefillQueries: prefillQueries) }
        set {
            policy = newValue.policy; log = newValue.log; nextPosition = newValue.nextPosition
            contributionsAfter = newValue.contributionsAfter; prefillQueries = newValue.prefillQueries
        }
    }

    init(kv: LedgerBackend, prompt: [Int32]) {
        self.kv = kv
        self.prompt = prompt
    }

    var ledger: KVLedger { kv.ledger }

    /// Sets the policy, refusing one the cache or the context cannot serve.
    func setPolicy(_ p: any KVPolicy) throws {
        let missing = Capability.missing(type(of: p).info.needs, offered: kv.capabilities).filter { $0 != .attention }
        if let why = Capability.reason(missing, backend: kv.backendName, hints: kv.capabilityHints) {
            throw ThinktopError.invalidArgument("the KV policy \(p.name) cannot run here: it \(why)")
        }
        if p.needsAttention && kv.attention == nil {
            throw ThinktopError.invalidArgument("the KV policy \(p.name) needs the attention tap: start with --attention (it cannot be turned on mid-run)")
        }
        if p.shiftsPositions && !ledger.shape.canShift {
            throw ThinktopError.invalidArgument("\(p.name) moves positions down after evicting, and this model's KV cache cannot shift positions: choose h2o or none")
        }
        policy = p
    }

    /// whether the policy keeps the cache under a budget as generation goes on
    var evictsDuringGeneration: Bool { policy.budget(promptTokens: promptCount) != nil }

    // MARK: the prompt

    /// Evaluates the prompt in batches of the backend's batch size, counting the attention
    /// of the rows the policy asks for.
    private func decodePrompt() throws {
        let tokens = prompt
        kv.attentionQueries = prefillQueries
        defer { kv.attentionQueries = nil }
        var start = 0
        // a shared prefix already evaluated is copied in (not with the attention tap: the
        // policies that read it count the prompt rows' attention as they are evaluated)
        if kv.attention == nil, let shared = kv.base as? PrefixSharing {
            start = try shared.placeSharedPrefix(of: tokens, in: .main)
            if start > 0 {
                ledger.nextIndex = 0
                ledger.nextPhase = .prompt
                ledger.decoded(sequence: .main, at: 0, tokens: tokens[0..<start])
            }
            sharedPrefix = start
        }
        while start < tokens.count {
            let end = min(start + kv.batchSize, tokens.count)
            ledger.nextIndex = start
            ledger.nextPhase = .prompt
            try kv.decode(tokens: tokens[start..<end], at: start, sequence: .main)
            start = end
        }
    }

    /// The prefill: the prompt, then the policy's eviction over it (SnapKV, H2O).
    func prefill(stash: () -> Void) throws -> TraceEvent? {
        prefillQueries = policy.prefillQueries(promptTokens: promptCount)
        try decodePrompt()
        nextPosition = promptCount
        contributionsAfter = [promptCount - 1: ledger.contributions.count]
        return try evict(.prefill, fedPositions: promptCount, step: 0, stash: stash)
    }

    /// Notes that input `index` was fed (the attention it paid is the last contribution).
    func fed(index: Int, at position: Int) {
        nextPosition = position + 1
        contributionsAfter[index] = ledger.contributions.count
    }

    // MARK: evictions

    /// Asks the policy what to evict and carries it out: removals, then for StreamingLLM the
    /// shifts that make the positions after the sinks contiguous again. Returns the `evict`
    /// event listing the positions (sequence indices) removed, or nil when nothing was.
    func evict(_ moment: EvictionMoment, fedPositions: Int, step: Int, stash: () -> Void) throws -> TraceEvent? {
        // most steps need no eviction: skip building the sorted entries for them
        if case .generation(let incoming) = moment {
            guard let budget = policy.budget(promptTokens: promptCount),
                  ledger.count(sequence: .main) + incoming > min(budget, kv.contextSize - 1) else { return nil }
        }
        guard let plan = policy.plan(ledger.entries(), moment: moment, capacity: kv.contextSize - 1, promptTokens: promptCount),
              !plan.positions.isEmpty else { return nil }
        if case .prefill = moment { stash() }   // step 0 still needs the prompt's logits
        var record = Eviction(afterInput: fedPositions - 1, prefill: moment == .prefill, removed: [], shifts: [],
                              indices: [], nextKVPosition: nextPosition)
        let started = DispatchTime.now().uptimeNanoseconds
        for run in Self.runs(plan.positions).reversed() {
            record.indices += try kv.evictCells(sequence: .main, from: run.lowerBound, to: run.upperBound + 1)
            record.removed.append((run.lowerBound, run.upperBound + 1))
        }
        if let base = plan.compactFrom {
            try beforeShift?()
            record.shifts = Self.compaction(ledger.entries().map(\.position), from: base)
            for sh in record.shifts { try kv.shiftCells(sequence: .main, from: sh.from, to: sh.to, delta: sh.delta) }
            nextPosition = (ledger.range(sequence: .main)?.upperBound ?? -1) + 1
        }
        record.nextKVPosition = nextPosition
        record.indices.sort()
        log.append(record)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        let shifted = record.shifts.isEmpty ? "" : String(format: ", later positions moved down by %d", -(record.shifts.first?.delta ?? 0))
        return TraceEvent(step: step, kind: .evict, strategy: policy.id, position: moment == .prefill ? nil : fedPositions,
                          detail: "\(policy.spec): removed \(record.indices.count) positions \(Self.describe(record.indices))\(shifted)",
                          removed: record.indices, ms: ms)
    }

    // MARK: rewinds

    /// Makes the cache hold the inputs up to `redo` and evaluates `redo` again (its logits are
    /// the next step's). Returns the number of inputs a rebuild evaluated, or nil when
    /// cutting the cache back sufficed.
    func rewind(redo: Int, feed: Feed, kvPosition: (Int) -> Int, stash: () -> Void, forceRebuild: Bool = false) throws -> Int? {
        let rebuild = forceRebuild || log.contains { $0.afterInput >= redo }
            || (kv.attention != nil && (redo < promptCount || ledger.contributionsDropped))
        log.removeAll { !$0.prefill && $0.afterInput >= redo }
        var replayed: Int?
        if rebuild {
            replayed = try rebuildCache(through: redo, feed: feed, kvPosition: kvPosition, stash: stash)
        } else {
            guard let at = ledger.position(ofIndex: redo, sequence: .main) else {
                throw ThinktopError.kvEditFailed("position \(redo) is no longer in the cache")
            }
            try kv.removeCells(sequence: .main, from: at, to: nil)
            ledger.keepContributions(contributionsAfter[redo - 1] ?? 0)
            try feed(redo, at)
            nextPosition = at + 1
        }
        ledger.setEvicted(Set(log.flatMap(\.indices)))
        for k in contributionsAfter.keys where k > redo { contributionsAfter[k] = nil }
        contributionsAfter[redo] = ledger.contributions.count
        return replayed
    }

    /// Cuts the cache back to the prompt as the prefill left it, without evaluating anything:
    /// possible when no eviction happened after the prefill and no attention is counted.
    /// Returns false when it is not (the caller rewinds the usual way).
    func rewindToPrompt() throws -> Bool {
        guard kv.attention == nil, !log.contains(where: { !$0.prefill }) else { return false }
        if let lo = ledger.entries().first(where: { $0.entry.index >= promptCount })?.position {
            try kv.removeCells(sequence: .main, from: lo, to: nil)
        }
        nextPosition = log.last(where: \.prefill)?.nextKVPosition ?? promptCount
        ledger.setEvicted(Set(log.flatMap(\.indices)))
        for k in contributionsAfter.keys where k >= promptCount { contributionsAfter[k] = nil }
        return true
    }

    /// Empties the main sequence and evaluates everything up to input `redo` again: the prompt
    /// as the prefill fed it, each later input at the KV position it had, and the policies'
    /// evictions and shifts where they happened. Returns the number of inputs evaluated.
    private func rebuildCache(through redo: Int, feed: Feed, kvPosition: (Int) -> Int, stash: () -> Void) throws -> Int {
        let first = promptCount
        try kv.removeCells(sequence: .probe, from: 0, to: nil)
        try kv.removeCells(sequence: .main, from: 0, to: nil)
        ledger.cleared()
        try decodePrompt()
        func replay(after input: Int) throws {
            for e in log where e.afterInput == input {
                if e.prefill { stash() }
                for r in e.removed { try kv.evictCells(sequence: .main, from: r.from, to: r.to) }
                for sh in e.shifts { try kv.shiftCells(sequence: .main, from: sh.from, to: sh.to, delta: sh.delta) }
                nextPosition = e.nextKVPosition
            }
        }
        nextPosition = first
        try replay(after: first - 1)
        if redo >= first {
            for i in first...redo {
                let at = kvPosition(i)
                try feed(i, at)
                nextPosition = at + 1
                if i < redo { try replay(after: i) }
            }
        }
        return first + max(0, redo - first + 1)
    }

    // MARK: plans as cache operations

    /// Sorted positions as maximal runs of consecutive ones.
    static func runs(_ positions: [Int]) -> [ClosedRange<Int>] {
        var out: [ClosedRange<Int>] = []
        for p in positions.sorted() {
            if let last = out.last, last.upperBound + 1 == p { out[out.count - 1] = last.lowerBound...p } else { out.append(p...p) }
        }
        return out
    }

    /// The shifts that move the held positions ≥ `base` down to base, base + 1, … in order.
    static func compaction(_ held: [Int], from base: Int) -> [(from: Int, to: Int, delta: Int)] {
        var out: [(from: Int, to: Int, delta: Int)] = []
        var target = base
        for p in held.sorted() where p >= base {
            let delta = target - p
            if delta != 0 {
                if let last = out.last, last.delta == delta, last.to == p { out[out.count - 1].to = p + 1 }
                else { out.append((p, p + 1, delta)) }
            }
            target += 1
        }
        return out
    }

    /// "4–130, 140" for a sorted list of positions.
    static func describe(_ positions: [Int]) -> String {
        runs(positions).map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)–\($0.upperBound)" }.joined(separator: ", ")
    }
}

import CLlama
import Core
import Foundation

/// Several decoding sessions on one llama.cpp context, their steps decoded together: each
/// session runs on its own thread against a `BatchLane`, and a lane's single-input decode
/// waits until every lane taking part has one ready, then all go into one `llama_decode`
/// (one row per lane). CPU decoding of one sequence leaves most of the arithmetic idle; a
/// batch of N rows reads the weights once for all of them.
///
/// Results do not depend on how many lanes there are. The context is made so that a row's
/// arithmetic is the same whatever else is in the batch (`batchInvariant`): every sequence
/// has a stream of its own (`unifiedCache` off, so its cells lie as they would alone and its
/// attention sums in the same order), flash attention is off (its CPU kernel splits a single
/// query's cache across threads, a batch's by rows), and the two CPU matmul paths whose
/// rounding depends on the number of rows stay off: repacked weights (`ModelPlacement.repack`
/// false) and the tiled k-quant kernel (GGML_CPU_TILED_MM=0, set before the first decode).
/// Everything other than a single input — a prompt, a probe's appended text, a cache edit —
/// runs alone, as it would with one lane.
///
/// Lane `i` owns sequences 1 + i (its run) and 1 + N + i (its probes' fork); sequence 0 holds
/// the shared prefix, and the last `promptSlots` sequences whole prompts other runs ask again
/// (an evaluation asks every problem under each strategy set: a run of a problem asked before
/// copies its prompt's cells and logits instead of evaluating it). The runs' ids are consecutive
/// because llama.cpp puts sequences of a split cache into one micro-batch only while their ids
/// follow each other (a round's inputs go in by sequence id).
///
/// Unchecked Sendable: its state is read and written under `condition` only, and the context
/// is used by one thread at a time (`busy`).
public final class DecodeBatcher: @unchecked Sendable {
    public let context: LlamaContext
    public let laneCount: Int
    /// the sequence holding the shared prefix
    public static let prefixSequence: SequenceID = 0

    private let condition = NSCondition()
    let mixtureLock = NSLock()
    /// lanes in the current generation of rounds (joined at their first single decode, gone
    /// when their run ends)
    private var active = 0
    private var pending: [Request] = []
    /// the context is in use (a round or a lane's own operation)
    private var busy = false
    private var running = false
    /// rounds decoded, and the rows they held (for the bench)
    public private(set) var rounds = 0
    public private(set) var rows = 0
    /// llama.cpp's micro-batches those rounds made (more than rounds when the rows' sequence
    /// ids were not consecutive: a probe's fork, a lane between runs)
    public private(set) var microBatches = 0
    /// seconds the context spent in rounds, and in lanes' own multi-token decodes (prompts,
    /// probes' appended text), with those decodes' count and tokens (for the bench)
    public private(set) var roundSeconds = 0.0
    public private(set) var aloneSeconds = 0.0
    public private(set) var aloneDecodes = 0
    public private(set) var aloneTokens = 0

    final class Request {
        let lane: BatchLane
        var input: LlamaContext.BatchInput
        var done = false
        var error: Error?
        init(lane: BatchLane, input: LlamaContext.BatchInput) { self.lane = lane; self.input = input }
    }

    /// Sequences a context for `lanes` lanes needs: the prefix's, then a run and a fork per
    /// lane, then the held prompts'.
    public static func sequences(lanes: Int, promptSlots: Int = 0) -> Int { 1 + 2 * lanes + promptSlots }

    /// The context options that make rows independent of the batch: a stream per sequence,
    /// flash attention off. `cellsPerSequence` is what one run may hold (prompt, generation,
    /// a probe's appended tokens).
    public static func contextOptions(lanes: Int, promptSlots: Int = 0, cellsPerSequence: Int, threads: Int,
                                      cacheType: KVCacheType = .f16) throws -> ContextOptions {
        let n = sequences(lanes: lanes, promptSlots: promptSlots)
        var o = try ContextOptions(contextSize: n * cellsPerSequence, threads: threads, cacheType: cacheType,
                                   sequences: n, flashAttention: false)
        o.unifiedCache = false
        return o
    }

    /// Turns the tiled k-quant matmul off for this process (its result for a row depends on
    /// how many rows the batch has): call before the model's first decode.
    public static func makeMatmulsBatchInvariant() {
        setenv("GGML_CPU_TILED_MM", "0", 1)
    }

    /// - Parameter embeddings: get the input-embedding scale ready now (latent strategies),
    ///   while sequence 0 is still free to calibrate on
    /// - Parameter promptSlots: whole prompts to hold for the runs that ask them again (0: each
    ///   run evaluates its prompt after the shared prefix)
    /// - Parameter promptUses: how many runs ask each prompt (a prompt all of them had is the
    ///   first to give its slot up)
    public init(context: LlamaContext, lanes: Int, promptSlots: Int = 0, promptUses: Int = 1, embeddings: Bool) throws {
        precondition(!context.options.unifiedCache && !context.options.attentionTap)
        let needed = Self.sequences(lanes: lanes, promptSlots: promptSlots)
        guard context.sequenceCount >= needed else {
            throw ThinktopError.invalidArgument("a context for \(lanes) lanes and \(promptSlots) held prompts needs \(needed) sequences")
        }
        self.context = context
        laneCount = lanes
        self.promptUses = promptUses
        slots = (0..<promptSlots).map {
            PromptSlot(sequence: SequenceID(rawValue: Int32(1 + 2 * lanes + $0)), vocabulary: context.vocabularySize)
        }
        if embeddings, context.capabilities.contains(.embeddingInput) {
            try context.calibrateInputScale(scratch: Self.prefixSequence)
        }
    }

    /// Evaluates the prefix every run shares into sequence 0; seconds.
    @discardableResult
    public func holdPrefix(_ tokens: [Int32]) throws -> Double {
        try exclusive { try context.holdPrefix(tokens, in: Self.prefixSequence) }
    }

    // MARK: held prompts

    /// A prompt held whole, with its last token's logits (a run's first distribution), for
    /// the other runs of the same problem.
    final class PromptSlot {
        let sequence: SequenceID
        var tokens: [Int32] = []
        var used = 0
        /// runs still to ask it
        var remaining = 0
        let logits: UnsafeMutableBufferPointer<Float>
        init(sequence: SequenceID, vocabulary: Int) {
            self.sequence = sequence
            logits = .allocate(capacity: vocabulary)
        }
        deinit { logits.deallocate() }
    }
    private var slots: [PromptSlot]
    private let promptUses: Int
    private var clock = 0
    /// prompts copied from a held one, not evaluated again (for the bench)
    public private(set) var promptsReused = 0

    /// With the context held (`exclusive`): places `prompt` in the empty `target`, whole —
    /// copied from a held prompt when one matches, else the shared prefix copied and the rest
    /// evaluated as it would be without slots, then held (in a slot whose prompt every run
    /// asking it has had, else the least recently used) —
    /// its last token's logits in the lane's buffer. Returns the tokens placed. Without slots,
    /// the shared prefix only (the run evaluates the rest).
    func placePrompt(_ prompt: [Int32], in target: SequenceID, for lane: BatchLane) throws -> Int {
        guard !slots.isEmpty, prompt.count > 1 else { return try context.placeSharedPrefix(of: prompt, in: target) }
        clock += 1
        if let slot = slots.first(where: { $0.tokens == prompt }) {
            slot.used = clock
            slot.remaining -= 1
            context.copySequence(from: slot.sequence, to: target, from: 0, to: nil)
            lane.keep(UnsafeBufferPointer(slot.logits))
            promptsReused += 1
            return prompt.count
        }
        var at = try context.placeSharedPrefix(of: prompt, in: target)
        while at < prompt.count {
            let end = min(at + context.batchSize, prompt.count)
            try alone(end - at) { try context.decode(tokens: prompt[at..<end], at: at, sequence: target, logits: end == prompt.count) }
            at = end
        }
        let logits = context.logits()
        lane.keep(logits)
        // a prompt every run has had goes first, else the one least recently used
        let slot = slots.min { ($0.remaining > 0 ? 1 : 0, $0.used) < ($1.remaining > 0 ? 1 : 0, $1.used) }!
        context.copySequence(from: target, to: slot.sequence, from: 0, to: nil)
        _ = slot.logits.initialize(from: logits)
        slot.tokens = prompt
        slot.used = clock
        slot.remaining = promptUses - 1
        return prompt.count
    }

    /// Lane `i`'s backend.
    public func lane(_ i: Int) -> BatchLane {
        precondition(i >= 0 && i < laneCount)
        return BatchLane(batcher: self, index: i)
    }

    // MARK: rounds

    /// Runs `body` with the context to itself (no round and no other lane's operation).
    func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        while busy { condition.wait() }
        busy = true
        condition.unlock()
        defer {
            condition.lock()
            busy = false
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }

    /// A lane's single input: waits for the round that decodes it (run by whichever lane
    /// completes it), its logits copied into the lane's buffer by then.
    func submit(_ input: LlamaContext.BatchInput, from lane: BatchLane) throws {
        let r = Request(lane: lane, input: input)
        condition.lock()
        if !lane.joined { lane.joined = true; active += 1 }
        pending.append(r)
        runIfComplete()
        while !r.done { condition.wait() }
        condition.unlock()
        if let e = r.error { throw e }
    }

    /// Sequence ids no run holds: those of lanes between runs or taking no more. A round moves
    /// the runs with the highest ids down into them, and a lane starting a run takes the
    /// highest, so the runs going on keep consecutive ids (one micro-batch per round, not one
    /// per gap) while lanes come and go.
    private var free: [SequenceID] = []

    /// A lane whose run ended: the others no longer wait for it, and its sequences are free
    /// (the next run it takes gets the highest free ones, `seat`).
    func leave(_ lane: BatchLane) {
        condition.lock()
        if lane.joined { lane.joined = false; active -= 1 }
        if lane.seated { lane.seated = false; free.append(lane.main) }
        runIfComplete()
        condition.unlock()
    }

    /// A lane's run touching the context for the first time (its prompt, before anything
    /// else): it takes the highest free sequences (none taken while it still holds its own),
    /// and the rounds wait for it from now on. Without that wait, the rounds decoded while it
    /// reads its prompt would leave its id out — a gap, and llama.cpp splits the round into
    /// two micro-batches there; with it, they wait only for its first step (its prompt runs
    /// alone either way). Not sooner: a run's set-up (its session, its strategies' scans of
    /// the vocabulary) goes on while the rounds do.
    func seat(_ lane: BatchLane) {
        condition.lock()
        defer { condition.unlock() }
        if !lane.joined { lane.joined = true; active += 1 }
        guard !lane.seated, let top = free.max() else { return }
        free.removeAll { $0 == top }
        lane.main = top
        lane.probe = SequenceID(rawValue: top.rawValue + Int32(laneCount))
        lane.seated = true
    }

    /// With the lock held and the context ours, every active lane waiting in this round:
    /// moves the lanes with the highest run ids into lower free ids (the run's stream copied
    /// whole, cell for cell, so its attention sums as before — a probe's fork kept in it moves
    /// with it; a fork in a stream of its own must be empty).
    private func compact(_ round: [Request]) {
        free.sort()
        while let lowest = free.first {
            guard let k = round.indices.filter({ round[$0].input.sequence == round[$0].lane.main })
                    .max(by: { round[$0].lane.main < round[$1].lane.main }),
                  round[k].lane.main > lowest,
                  context.positionRange(sequence: round[k].lane.probe) == nil else { return }
            let lane = round[k].lane
            free.removeFirst()
            try? context.removeCells(sequence: SequenceID(rawValue: lowest.rawValue + Int32(laneCount)), from: 0, to: nil)
            context.copySequence(from: lane.main, to: lowest, from: 0, to: nil)
            try? context.removeCells(sequence: lane.main, from: 0, to: nil)
            free.append(lane.main)
            free.sort()
            lane.main = lowest
            lane.probe = SequenceID(rawValue: lowest.rawValue + Int32(laneCount))
            for r in round where r.lane === lane { r.input.sequence = lowest }
            moves += 1
        }
    }

    /// With the context held by `exclusive`: one multi-token decode, timed and counted.
    func alone<T>(_ tokens: Int, _ decode: () throws -> T) rethrows -> T {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer {
            aloneSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            aloneDecodes += 1
            aloneTokens += tokens
        }
        return try decode()
    }

    /// runs moved into a free lane's sequences
    public private(set) var moves = 0

    /// With the lock held: when every active lane has an input pending, decodes them all.
    private func runIfComplete() {
        while !running, !pending.isEmpty, pending.count >= active {
            running = true
            while busy { condition.wait() }
            busy = true
            var round = pending
            pending = []
            if !free.isEmpty { compact(round) }
            round.sort { $0.input.sequence < $1.input.sequence }
            condition.unlock()
            var failure: Error?
            let t0 = DispatchTime.now().uptimeNanoseconds
            do {
                try context.decodeBatch(round.map(\.input)) { i, row in
                    round[i].lane.keep(row)
                }
            } catch { failure = error }
            condition.lock()
            roundSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            rounds += 1
            rows += round.count
            // llama.cpp's micro-batches: a new one wherever the next sequence id is not the
            // previous one's successor (or a row's kind changes, when they were not merged)
            microBatches += 1 + zip(round, round.dropFirst()).filter { a, b in
                b.input.sequence.rawValue != a.input.sequence.rawValue + 1
            }.count
            for r in round { r.error = failure; r.done = true }
            busy = false
            running = false
            condition.broadcast()
        }
    }
}

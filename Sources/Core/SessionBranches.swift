import Foundation

/// A branch the session is not on: everything that makes its run, kept so that switching
/// back continues exactly as if it had never been left. Its cache is a sequence of its own
/// (`sequence`), a copy of the main one when it was parked: llama.cpp's copies share cells,
/// so the common prefix is stored once. When the cache needs the room, the copy is dropped
/// and the branch's cache is rebuilt on demand (evaluated again from its inputs).
struct ParkedBranch {
    var records: [StepRecord]
    var checkpoints: [Checkpoint]
    var state: SessionState
    var strategies: [StrategyMemento]
    /// each strategy's parameter values, and the ids of those on
    var parameters: [String: [ParameterValue]]
    var enabled: Set<String>
    var specHistory: [(step: Int, specs: [String])]
    var output: String
    var fullText: String
    var latentInputs: [Int: [Float]]
    var stopReason: StopReason?
    var lastError: Error?
    var fedPositions: Int
    var kvc: KVController.Memory
    var ledger: KVLedger.MainMemory
    var standingRequest: ServedRequest
    /// where its cache is kept; nil: to be rebuilt when switched to
    var sequence: SequenceID?
    /// its cells copied to host memory (the `exact` way), with the ledger's entries for them
    var host: (data: [UInt8], cells: [Int: KVLedger.Entry])?
    /// when it was parked (the oldest parked copy is dropped first for room)
    var parkedAt: Int
}

/// The session's branch tree: every branch's place in it, the parked ones' runs, and which
/// strategies each branch had on from which step (to tell what a fork changed).
struct BranchTree {
    var infos: [BranchInfo] = [.root]
    var current = 0
    var parked: [Int: ParkedBranch] = [:]
    /// the current branch's strategies, by the step from which they held
    var specHistory: [(step: Int, specs: [String])] = []
    var clock = 0
    /// After cells came back from host memory: the first position the sliding-window layers
    /// still hold (llama.cpp saves only the positions their window still sees).
    var slidingFloor: Int?

    func specs(at step: Int, in history: [(step: Int, specs: [String])]) -> [String] {
        history.last { $0.step <= step }?.specs ?? []
    }
}

/// How a branch's cache is kept, for the status bar.
public enum BranchCacheState: String, Sendable {
    /// the run's own sequence
    case current
    /// a sequence of its own sharing the common prefix with the others
    case shared
    /// its cells copied to host memory
    case host = "kept on host"
    /// no copy (no room): switching to it evaluates its inputs again
    case rebuild = "rebuilt on demand"
}

/// How parked branches keep their cache (`--branch-cache`).
public enum BranchCacheMode: String, Sendable, CaseIterable {
    /// Each parked branch's cells go to host memory and leave the cache, so the current
    /// branch's cells sit where a straight run's would: a continuation is bit for bit the
    /// straight run's, whatever the threads. Costs host memory (the branch's tokens × the
    /// KV bytes per token), up to `hostLimit`; past it the oldest are rebuilt on demand.
    case exact
    /// Parked branches stay in the cache as sequences that share the common prefix's cells
    /// (`llama_memory_seq_cp`): no copy, instant switches. But the current branch's new
    /// cells then sit after the parked ones, and multi-threaded attention on the CPU sums in
    /// an order that depends on where cells sit, so a continuation can part from the
    /// straight run at a near-tie (bit-exact with one thread).
    case shared
}

extension DecodingSession {
    /// every branch so far, the first the run as started
    public var branches: [BranchInfo] { tree.infos }
    /// the branch being generated
    public var currentBranch: Int { tree.current }

    /// How the cache of branch `id` is kept.
    public func cacheState(of id: Int) -> BranchCacheState {
        if id == tree.current { return .current }
        if tree.parked[id]?.sequence != nil { return .shared }
        return tree.parked[id]?.host != nil ? .host : .rebuild
    }

    /// Notes the strategies now on as those of the current branch from the current step.
    func noteStrategies() {
        let entry = (step: records.count, specs: enabledSpecs)
        if let last = tree.specHistory.last, last.step == entry.step { tree.specHistory[tree.specHistory.count - 1] = entry }
        else if tree.specHistory.last?.specs != entry.specs { tree.specHistory.append(entry) }
    }

    /// Starts a new branch at `step` (a step generated on the current branch, or the next
    /// one): the current branch is parked whole and the new one goes on from the state
    /// before `step`, with the strategies now on. With `token`, that token is taken at the
    /// fork (fed as forced; the strategies see what was sampled, as on any forced step);
    /// with `seed`, the generators restart from it at the fork. Returns the new branch's id,
    /// or nil when nothing would be kept apart (a plain rewind to the end).
    @discardableResult
    public func fork(atStep step: Int, token: Int32? = nil, seed: UInt64? = nil) throws -> Int? {
        guard step >= 0, step <= records.count else {
            throw ThinktopError.invalidArgument("cannot fork at step \(step): the branch has steps 0…\(max(0, records.count - 1))")
        }
        if step == records.count, token == nil, seed == nil, !isDone { return nil }
        if let token, token < 0 || Int(token) >= backend.vocabularySize {
            throw ThinktopError.invalidArgument("token \(token) is not in the vocabulary (0…\(backend.vocabularySize - 1))")
        }
        if tree.specHistory.isEmpty { noteStrategies() }
        let parentSpecs = tree.specs(at: step, in: tree.specHistory)
        let nowSpecs = enabledSpecs
        var cause = BranchCause(kind: .rewind)
        if nowSpecs != parentSpecs {
            cause.kind = .strategies
            cause.strategies = nowSpecs
            cause.parentStrategies = parentSpecs
        }
        if let seed { cause.kind = .seed; cause.seed = seed }
        if let token {
            cause.kind = .token
            cause.token = token
            cause.text = pieceText(token)
            if step < records.count, let r = records[step].top.firstIndex(where: { $0.id == token }) { cause.rank = r + 1 }
        }
        let parent = tree.current
        let id = (tree.infos.map(\.id).max() ?? 0) + 1
        let history = tree.specHistory.filter { $0.step < step } + [(step: step, specs: nowSpecs)]
        park()
        tree.infos.append(BranchInfo(id: id, parent: parent, forkStep: step, cause: cause))
        tree.current = id
        emit(TraceEvent(step: step, kind: .branch, detail: cause.description, branch: id, parent: parent, cause: cause))
        try cut(toPosition: promptTokens.count + step, event: false)
        tree.specHistory = history
        if let seed { state.reseed(seed) }
        if let token { state.forced = [token] }
        return id
    }

    /// Makes branch `id` current, exactly as it was left: its records, text, generators,
    /// strategies (which are on, their parameters and states), KV policy and cache.
    public func switchBranch(to id: Int) throws {
        guard id != tree.current else { return }
        guard var target = tree.parked[id] else {
            throw ThinktopError.invalidArgument("no branch \(id) (branches: \(tree.infos.map { "\($0.id)" }.joined(separator: ", ")))")
        }
        // room first: the copies to drop may include ones that would otherwise be kept
        park()
        tree.parked[id] = nil
        tree.current = id
        tree.slidingFloor = nil
        stash.drop()
        records = target.records
        checkpoints = target.checkpoints
        state = target.state
        output = target.output
        fullText = target.fullText
        latentInputs = target.latentInputs
        stopReason = target.stopReason
        lastError = target.lastError
        fedPositions = target.fedPositions
        standingRequest = target.standingRequest
        servedDraw = nil
        served?.closeStream()
        tree.specHistory = target.specHistory
        try restoreStrategies(parameters: target.parameters, enabled: target.enabled)
        for m in target.strategies { m.restore() }
        emit(TraceEvent(step: records.count, kind: .switchBranch, detail: "to branch \(id)", branch: id))
        // the cache: the parked copy becomes the main sequence, or the inputs are evaluated again
        let first = promptTokens.count
        try kv.removeCells(sequence: .main, from: 0, to: nil)
        kvc.memory = target.kvc
        ledger.mainMemory = target.ledger
        if target.sequence == nil { makeRoom(fedPositions + 1) }
        if let seq = target.sequence {
            kv.copySequence(from: seq, to: .main, from: 0, to: nil)
            try kv.removeCells(sequence: seq, from: 0, to: nil)
            target.sequence = nil
        } else if let host = target.host {
            do {
                try kv.setSequenceState(host.data, .main, cells: host.cells)
                if let theirs = kv.positionRange(sequence: .main)?.lowerBound, let mine = ledger.range(sequence: .main)?.lowerBound,
                   theirs > mine { tree.slidingFloor = theirs }
            } catch {
                try? kv.removeCells(sequence: .main, from: 0, to: nil)
            }
            target.host = nil
        }
        let redo = fedPositions - 1
        if redo == first - 1, ledger.count(sequence: .main) > 0, let saved = prefillLogits, try kvc.rewindToPrompt() {
            saved.withUnsafeBufferPointer { stash.keep($0) }
            return
        }
        let replayed = try kvc.rewind(redo: redo, feed: { [self] index, at in try feedAgain(index, at: at) },
                                      kvPosition: { [self] i in i < first ? i : (records[i - first].kvPosition ?? records[i - first].position) },
                                      stash: { [self] in stash.keep(kv.logits()) },
                                      forceRebuild: ledger.count(sequence: .main) == 0 || slidingLayersLack(before: fedPositions))
        if replayed != nil { tree.slidingFloor = nil }
        if let replayed {
            emit(TraceEvent(step: records.count, kind: .rebuild, position: fedPositions,
                            detail: "branch \(id)'s cache was evaluated again: \(replayed) inputs"))
        }
    }

    /// Whether a rewind to `position` needs positions the sliding-window layers no longer
    /// hold (after a restore from host memory): then the cache is rebuilt.
    func slidingLayersLack(before position: Int) -> Bool {
        guard let floor = tree.slidingFloor, let w = ledger.shape.slidingWindow else { return false }
        return position - w < floor
    }

    /// Parks the current branch: its run kept aside, its cache copied to a sequence of its
    /// own when one is free (the oldest parked copy gives its sequence up otherwise).
    private func park() {
        tree.clock += 1
        var parked = ParkedBranch(
            records: records, checkpoints: checkpoints, state: state, strategies: roster.mementos(),
            parameters: Dictionary(uniqueKeysWithValues: strategies.map { ($0.id, $0.allParameterValues) }),
            enabled: enabled, specHistory: tree.specHistory, output: output, fullText: fullText,
            latentInputs: latentInputs, stopReason: stopReason, lastError: lastError, fedPositions: fedPositions,
            kvc: kvc.memory, ledger: ledger.mainMemory, standingRequest: standingRequest, sequence: nil,
            parkedAt: tree.clock)
        if prefilled, branchCache == .shared, let seq = freeParkingSequence() {
            kv.copySequence(from: .main, to: seq, from: 0, to: nil)
            parked.sequence = seq
        } else if prefilled, branchCache == .exact, let data = kv.sequenceState(.main) {
            parked.host = (data, ledger.cells[.main] ?? [:])
        }
        tree.parked[tree.current] = parked
        // within the budget of host memory: the oldest copies go first
        var hostBytes = tree.parked.values.reduce(0) { $0 + ($1.host?.data.count ?? 0) }
        while hostBytes > hostLimit,
              let oldest = tree.parked.filter({ $0.value.host != nil }).min(by: { $0.value.parkedAt < $1.value.parkedAt })?.key {
            hostBytes -= tree.parked[oldest]!.host!.data.count
            tree.parked[oldest]!.host = nil
        }
    }

    /// A sequence for a parked copy: a free one, else the oldest copy's (that branch is then
    /// rebuilt on demand). Nil when the cache has no sequence beyond main and probe.
    private func freeParkingSequence() -> SequenceID? {
        let slots = (2..<max(2, kv.sequenceCount)).map { SequenceID(rawValue: Int32($0)) }
        guard !slots.isEmpty else { return nil }
        let taken = Set(tree.parked.values.compactMap(\.sequence))
        if let free = slots.first(where: { !taken.contains($0) }) { return free }
        guard let oldest = tree.parked.filter({ $0.value.sequence != nil }).min(by: { $0.value.parkedAt < $1.value.parkedAt })?.key else { return nil }
        let seq = tree.parked[oldest]!.sequence!
        dropParkedCopy(of: oldest)
        return seq
    }

    private func dropParkedCopy(of id: Int, keepLogits: Bool = false) {
        guard let seq = tree.parked[id]?.sequence else { return }
        // a removal makes llama.cpp's logits unreadable: the next step's are kept aside first
        if keepLogits, !stash.isHeld { stash.keep(kv.logits()) }
        try? kv.removeCells(sequence: seq, from: 0, to: nil)
        tree.parked[id]?.sequence = nil
    }

    /// Drops the oldest parked copies until `needed` more cells fit beside everything held
    /// (plus a margin for probes). `keepLogits`: between steps, the next step's logits are kept.
    func makeRoom(_ needed: Int, keepLogits: Bool = false) {
        guard tree.parked.values.contains(where: { $0.sequence != nil }) else { return }
        let margin = min(64, backend.contextSize / 8)
        while kv.ledger.cellsInUse(below: backend.contextSize - needed - margin) + needed + margin > backend.contextSize,
              let oldest = tree.parked.filter({ $0.value.sequence != nil }).min(by: { $0.value.parkedAt < $1.value.parkedAt })?.key {
            dropParkedCopy(of: oldest, keepLogits: keepLogits)
        }
    }

    /// Before the main sequence's positions move: parked copies sharing its cells are dropped.
    func dropCopiesSharingMain() {
        for (id, p) in tree.parked {
            if let seq = p.sequence, ledger.shareCells(.main, seq) { dropParkedCopy(of: id) }
        }
    }

    /// Sets each strategy's parameters and on/off state to a parked branch's.
    private func restoreStrategies(parameters: [String: [ParameterValue]], enabled on: Set<String>) throws {
        for s in strategies {
            let wanted = parameters[s.id] ?? []
            for (have, want) in zip(s.allParameterValues, wanted) where have.value != want.value {
                try roster.set(s.id, want.name, want.value, prepare: prepare)
            }
            if on.contains(s.id) != enabled.contains(s.id) { try roster.enable(s.id, on.contains(s.id), prepare: prepare) }
        }
    }

    /// The tree as the summary line lists it.
    public func branchSummaries() -> [TraceSummary.Branch] {
        tree.infos.map { info in
            let run: (records: [StepRecord], stop: StopReason?) = info.id == tree.current
                ? (records, stopReason) : (tree.parked[info.id]?.records ?? [], tree.parked[info.id]?.stopReason)
            return TraceSummary.Branch(id: info.id, parent: info.parent, forkStep: info.forkStep, tokens: run.records.count,
                                       thinkingTokens: run.records.filter { $0.phase == .thinking }.count,
                                       stopReason: run.stop?.rawValue, cause: info.cause.description)
        }
    }
}

extension DecodingSession {
    /// Turns on exactly the strategies `specs` name (`--strategy` grammar), with their
    /// parameters; the others go off with their defaults. Each change is an event, as from
    /// the workbench's keys.
    public func configureStrategies(_ specs: [String]) throws {
        let (wanted, on) = try StrategyRegistry.configure(specs)
        for s in strategies {
            guard let w = wanted.first(where: { $0.id == s.id }) else { continue }
            var changed = false
            for (have, want) in zip(s.allParameterValues, w.allParameterValues) where have.value != want.value {
                try roster.set(s.id, want.name, want.value, prepare: prepare)
                changed = true
            }
            if changed { emit(TraceEvent(step: records.count, kind: .parameter, strategy: s.id, detail: s.spec)) }
            if on.contains(s.id) != enabled.contains(s.id) {
                try roster.enable(s.id, on.contains(s.id), prepare: prepare)
                emit(TraceEvent(step: records.count, kind: on.contains(s.id) ? .enable : .disable, strategy: s.id, detail: s.spec))
            }
        }
        noteStrategies()
    }
}

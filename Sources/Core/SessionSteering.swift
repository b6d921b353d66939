import Foundation

// The session's steering beyond one step: sampling with the strategies' edits, the end of a
// run, rewinds, forced text, events and the summary.
extension DecodingSession {
    /// 3. Samples with the merged bans, biases and sampling override applied to a copy of the
    /// logits the session owns; the raw summary is left as it was. The adjusted
    /// distribution's entropy and confidence go into the effects when it differs.
    func sample(_ logits: UnsafeBufferPointer<Float>, _ summary: DistributionSummary,
                _ merged: inout StrategyPipeline.Merged, _ effects: inout [Effect]) -> Int32 {
        var params = merged.sampling ?? config.sampling
        if merged.sampling != nil { params.seed = config.sampling.seed }
        var stepSampler = merged.sampling == nil ? sampler : Sampler(parameters: params)
        let needK = params.isGreedy ? 1 : params.topK
        if !merged.editsLogits {
            if needK <= summary.top.count || needK == 0 {
                return stepSampler.sample(summary: summary, logits: logits, rng: &state.rng)
            }
            adjustedAnalyzer.setTopCount(needK)
            return stepSampler.sample(summary: adjustedAnalyzer.analyze(logits), logits: logits, rng: &state.rng)
        }
        if edited.count != logits.count { edited = [Float](repeating: 0, count: logits.count) }
        return edited.withUnsafeMutableBufferPointer { copy in
            _ = copy.initialize(from: logits)
            StrategyPipeline.apply(merged, to: copy)
            let view = UnsafeBufferPointer(copy)
            if adjustedAnalyzer.topCount < max(needK, 10) { adjustedAnalyzer.setTopCount(max(needK, 10)) }
            let adjusted = adjustedAnalyzer.analyze(view)
            effects.append(Effect(nil, .adjusted, String(format: "H %.3f p1 %.3f", adjusted.entropy, adjusted.top1)))
            return stepSampler.sample(summary: adjusted, logits: view, rng: &state.rng)
        }
    }

    /// 3, served. The server drew this step's token under the standing request; when the
    /// strategies' merged decision asks something else (other bans, biases or sampling), the
    /// token is drawn again under it — a resubmission of the same prefix, served from the
    /// server's cache — except for a greedy draw with bans only, which the known top decides
    /// exactly (the first token of the raw top the bans leave).
    func draw(_ view: StepView, _ merged: StrategyPipeline.Merged, _ effects: inout [Effect]) throws -> Int32 {
        guard let served, let (drawn, asked) = servedDraw else {
            throw ThinktopError.invalidArgument("no served token to draw from")
        }
        var sampling = merged.sampling ?? config.sampling
        sampling.seed = config.sampling.seed
        let wanted = ServedRequest(sampling: sampling, banned: merged.banned, bias: merged.bias)
        guard !wanted.draws(as: asked) else { return drawn.token }
        if sampling.isGreedy, asked.sampling.isGreedy, wanted.bias.isEmpty, asked.bias.isEmpty,
           let best = drawn.top.sorted(by: { $0.logit > $1.logit }).first(where: { !wanted.banned.contains($0.id) }) {
            // every unseen token is below the server's whole top, so the first one left is the argmax
            if best.id != drawn.token {
                effects.append(Effect(nil, .adjusted, "greedy under the bans: \(pieceText(best.id).debugDescription) from the known top instead of the server's \(pieceText(drawn.token).debugDescription)"))
            }
            return best.id
        }
        guard let again = try served.next(request: wanted, limit: config.maxTokens - records.count) else {
            throw ThinktopError.invalidArgument("the server ended generation when asked again under the strategies' request")
        }
        standingRequest = wanted
        servedDraw = (again, wanted)
        effects.append(Effect(nil, .adjusted, "drawn again by the server under the strategies' request"
                              + (again.token == drawn.token ? " (the same token)" : ": \(again.token) instead of \(drawn.token)")))
        return again.token
    }

    /// Why the run ends at this token, if it does.
    func finishReason(token: Int32, stop: String?) -> StopReason? {
        if !config.ignoreEndOfGeneration && backend.isEndOfGeneration(token) { return .endOfGeneration }
        if stop != nil { return .stopString }
        if records.count + 1 >= config.maxTokens { return .maxTokens }
        if !policyEvictsDuringGeneration && ledger.count(sequence: .main) + 1 >= backend.contextSize { return .contextFull }
        return nil
    }

    func finish(_ reason: StopReason) {
        guard stopReason == nil else { return }
        stopReason = reason
        state.forced.removeAll()
        served?.closeStream()
        defer { onFinish?(reason) }
        let rest = state.stopMatcher.flush() + state.utf8.flush()
        if !rest.isEmpty, reason != .stopString {
            output += rest
            state.outputBytes = output.utf8.count
            onText?(rest)
        }
    }

    /// Drops every generated position ≥ `position` and makes the session ready to generate
    /// there again. The generator, phase, text and strategy states return to what they were
    /// at that step, so continuing with the same settings reproduces the same tokens.
    public func rewind(toPosition position: Int) throws {
        try cut(toPosition: position, event: true)
    }

    /// The rewind itself; a fork writes its `branch` event instead of a `rewind` one.
    func cut(toPosition position: Int, event: Bool) throws {
        let first = promptTokens.count
        guard position >= first, position <= first + records.count else {
            throw ThinktopError.invalidArgument("cannot rewind to position \(position): generated positions are \(first)…\(first + records.count - 1)")
        }
        let keep = position - first
        if keep == records.count, !isDone { return }
        // the input at position − 1 is evaluated again to get the logits for `position`; at
        // the prompt's end the prefill's are taken again instead
        stash.drop()
        var atPrompt = false
        if position == first, prefillLogits != nil, !slidingLayersLack(before: position) { atPrompt = try kvc.rewindToPrompt() }
        if atPrompt { prefillLogits!.withUnsafeBufferPointer { stash.keep($0) } }
        let replayed = atPrompt ? nil : try kvc.rewind(redo: position - 1, feed: { [self] index, at in try feedAgain(index, at: at) },
                                      kvPosition: { [self] i in records[i - first].kvPosition ?? records[i - first].position },
                                      stash: { [self] in stash.keep(kv.logits()) },
                                      forceRebuild: slidingLayersLack(before: position))
        if replayed != nil { tree.slidingFloor = nil }
        if let replayed {
            emit(TraceEvent(step: keep, kind: .rebuild, position: position,
                            detail: "the cache was rebuilt to undo evictions: \(replayed) inputs evaluated again"))
        }
        for p in latentInputs.keys where p >= position { latentInputs[p] = nil }
        fedPositions = position
        if keep < checkpoints.count {
            let c = checkpoints[keep]
            state = c.state
            for m in c.strategies { m.restore() }
            output.truncate(toUTF8: state.outputBytes)
            fullText.truncate(toUTF8: state.fullTextBytes)
        }
        let removed = records.count - keep
        state.forced.removeAll()
        records.removeLast(removed)
        checkpoints.removeLast(checkpoints.count - keep)
        stopReason = nil
        lastError = nil   // a run that ended on an error goes on from here (a server back up)
        if event { emit(TraceEvent(step: keep, kind: .rewind, position: position, detail: "removed \(removed) tokens")) }
    }

    /// Feeds the input of sequence index `index` (a generated token, its latent embedding, or
    /// a prompt token) at KV position `at` (rewinds and rebuilds).
    func feedAgain(_ index: Int, at: Int) throws {
        let first = promptTokens.count
        ledger.nextIndex = index
        ledger.nextPhase = index < first ? .prompt : records[index - first].phase
        stash.drop()
        if let latent = latentInputs[index] {
            try latent.withUnsafeBufferPointer { try backend.decode(embedding: $0, at: at, sequence: .main) }
        } else {
            let token = index < first ? promptTokens[index] : records[index - first].token
            try backend.decode(tokens: [token][...], at: at, sequence: .main)
        }
    }

    /// Queues tokens to be fed in place of the next sampled ones (marked `forced`).
    public func force(text: String, reason: String) throws {
        let tokens = try backend.tokenize(text, addSpecial: false)
        guard !tokens.isEmpty else { return }
        state.forced.append(contentsOf: tokens)
        emit(TraceEvent(step: records.count, kind: .force, detail: "\(reason): \(tokens.count) tokens \(String(reflecting: text))"))
    }

    /// Ends thinking now: the think-close marker, after a newline when the text does not
    /// end with one. Does nothing outside thinking.
    public func endThinking() throws {
        guard !isDone, state.tracker.phase == .thinking, state.forced.isEmpty else { return }
        var tokens: [Int32] = []
        if !fullText.hasSuffix("\n") { tokens += try backend.tokenize("\n", addSpecial: false) }
        if let close = config.markers.closeToken {
            tokens.append(close)
        } else {
            tokens += try backend.tokenize(config.markers.close + "\n", addSpecial: false)
        }
        state.forced += tokens
        emit(TraceEvent(step: records.count, kind: .force, detail: "end thinking: \(tokens.count) tokens"))
    }

    func emit(_ event: TraceEvent) {
        events.append(event)
        onEvent?(event)
    }

    /// A strategy's event, in its name, at the current step.
    func emitStrategyEvent(_ kind: EventKind, _ detail: String, ms: Double?) {
        emit(TraceEvent(step: records.count, kind: kind, strategy: currentStrategy, detail: detail, ms: ms))
    }

    /// A token's text, cached (alternatives and strategies ask for the same few often).
    func pieceText(_ id: Int32) -> String {
        if let s = pieceCache[id] { return s }
        let s = String(decoding: backend.piece(id), as: UTF8.self)
        pieceCache[id] = s
        return s
    }

    /// Summary of the run so far. O(1): the thinking count is kept in the state (every other
    /// record is an answer token), so it can be taken after every step.
    public func summary() -> TraceSummary {
        let thinking = state.thinkingTokens
        var s = TraceSummary(tokens: records.count, thinkingTokens: thinking, answerTokens: records.count - thinking,
                             stopReason: stopReason?.rawValue ?? "running", seconds: generationSeconds,
                             tokensPerSecond: generationSeconds > 0 ? Double(stepsGenerated) / generationSeconds : 0,
                             events: events.count, output: output)
        s.served = served?.statistics
        if tree.infos.count > 1 { s.branches = branchSummaries() }
        return s
    }
}

import Foundation

extension TraceImport {
    /// A response as trace lines: a header saying where it came from, one token line per
    /// step with the partial distribution's signals (the entropy bracket, the missing mass),
    /// and a summary.
    /// A token's bytes as text: UTF-8 when they are, else byte by byte as llama.cpp names
    /// byte tokens (`<0xA9>`): a piece of a character split over tokens.
    static func readable(_ bytes: [UInt8]) -> String {
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        return bytes.map { String(format: "<0x%02X>", $0) }.joined()
    }

    static func trace(_ r: Response, file: String, options: Options) -> Run {
        var ids: [String: Int32] = [:]
        // tokens without ids (OpenAI's) get ids local to this trace, one per distinct text
        var nextLocal = Int32(1_000_000_000)
        func id(_ given: Int32?, _ text: String, _ bytes: [UInt8]?) -> Int32 {
            if let given { return given }
            // one token, one key: its bytes, given or spelled by its text (a top entry may lack
            // the bytes its chosen twin has)
            let key = (bytes ?? Array(text.utf8)).map(String.init).joined(separator: ",")
            if let known = ids[key] { return known }
            ids[key] = nextLocal
            nextLocal += 1
            return nextLocal - 1
        }
        let markers = options.markers
        // Phases: a token's own (a reasoning chunk or array), else the think markers in the
        // text; a reasoning text given apart, without markers, covers the tokens it spells
        // (when the tokens spell it at all: some servers give log-probabilities for the answer only).
        let joined = r.tokens.map { $0.bytes.map { String(decoding: $0, as: UTF8.self) } ?? $0.text }.joined()
        let reasoning = (r.reasoning ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let markerInText = joined.contains(markers.close)
        let spelled = !reasoning.isEmpty && !markerInText && r.tokens.allSatisfy { $0.phase == nil }
            && joined.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix(reasoning)
        let opensThinking = markerInText && !joined.contains(markers.open)
        var tracker = PhaseTracker(markers: markers, initial: opensThinking || (markerInText && !reasoning.isEmpty) ? .thinking : .answer)
        var reasoningBytesLeft = spelled ? joined.utf8.count - joined.drop { $0.isWhitespace }.utf8.count + reasoning.utf8.count : 0
        var utf8 = UTF8Stream()
        var blocks = BlockStatistics(window: 32)
        let prompt = r.promptTokens ?? 0
        let ms = r.seconds.map { $0 * 1000 / Double(max(1, r.tokens.count)) } ?? 0
        var records: [StepRecord] = []
        var thinking = 0, output = ""
        for (i, t) in r.tokens.enumerated() {
            let chosen = id(t.id, t.text, t.bytes)
            var candidates = t.top.map { Candidate(id: id($0.id, $0.text, $0.bytes), logit: Float($0.logprob)) }
            var texts: [Int32: String] = [:]
            for (c, a) in zip(candidates, t.top) { texts[c.id] = a.bytes.map(Self.readable) ?? a.text }
            if !candidates.contains(where: { $0.id == chosen }), t.logprob.isFinite {
                candidates.append(Candidate(id: chosen, logit: Float(t.logprob)))
            }
            texts[chosen] = t.bytes.map { String(decoding: $0, as: UTF8.self) } ?? t.text
            let summary = PartialDistribution(top: candidates, vocabularySize: options.vocabularySize, topCount: t.top.count).summary
            let text = t.bytes.map { utf8.append($0) } ?? (utf8.flush() + t.text)
            let phase: Phase
            if let p = t.phase {
                phase = p
            } else if reasoningBytesLeft > 0 {
                phase = .thinking
                reasoningBytesLeft -= max(1, (t.bytes?.count ?? t.text.utf8.count))
                if reasoningBytesLeft <= 0 { tracker = PhaseTracker(markers: markers, initial: .answer) }
            } else {
                phase = tracker.observe(token: chosen, text: text)
            }
            blocks.add(entropy: summary.entropy, text: text)
            let lp = t.logprob.isFinite ? t.logprob : Double(summary.top.first(where: { $0.id == chosen })?.logit ?? -.infinity)
            var record = StepRecord(
                index: i, position: prompt + i, token: chosen, text: text, phase: phase, input: .explicit,
                logprob: lp, prob: Foundation.exp(lp), entropy: summary.entropy, varentropy: summary.varentropy,
                top1: summary.top1, margin: summary.margin,
                top: summary.top.prefix(20).map { Alternative(id: $0.id, p: Foundation.exp(Double($0.logit)), text: texts[$0.id] ?? "") },
                windowMean: blocks.windowMean, trend: blocks.trend, reasoningStep: blocks.reasoningStep,
                stepMean: blocks.stepMean, effects: [], ms: ms)
            if let b = summary.entropyBracket { record.entropyRange = [b.lowerBound, b.upperBound] }
            record.missingMass = summary.missingMass
            if phase == .thinking { thinking += 1 }
            output += text
            records.append(record)
        }
        output += utf8.flush()
        let facts = ModelFacts(file: r.model ?? "unknown model", sha256: nil, architecture: "unknown",
                               description: "", layers: 0, embeddingSize: 0, heads: 0, kvHeads: 0,
                               slidingWindow: 0, vocabularySize: options.vocabularySize, trainedContext: 0, parameters: 0,
                               sizeBytes: 0, thinkOpenToken: nil, thinkCloseToken: nil, hasChatTemplate: false)
        let settings = RunSettings(sampling: nil, maxTokens: records.count, contextSize: 0, threads: 0, stops: [],
                                   chatTemplate: false, topAlternatives: records.map(\.top.count).max() ?? 0,
                                   thinkOpen: markers.open, thinkClose: markers.close, strategies: [])
        var header = TraceHeader(tool: "thinktop import", created: ISO8601DateFormatter().string(from: Date()), model: facts,
                                 prompt: "", promptTokens: prompt, settings: settings)
        header.source = ImportSource(file: (file as NSString).lastPathComponent, format: r.format, run: r.name)
        let stop: String
        switch r.finish {
        case "length": stop = StopReason.maxTokens.rawValue
        case "stop", "eos": stop = StopReason.endOfGeneration.rawValue
        case nil: stop = r.problem == nil ? "unknown" : StopReason.error.rawValue
        case let other?: stop = other
        }
        let summary = TraceSummary(tokens: records.count, thinkingTokens: thinking, answerTokens: records.count - thinking,
                                   stopReason: stop, seconds: r.seconds ?? 0,
                                   tokensPerSecond: (r.seconds ?? 0) > 0 ? Double(records.count) / r.seconds! : 0,
                                   events: 0, output: output)
        return Run(name: r.name, lines: [.header(header)] + records.map { .token($0) } + [.summary(summary)], problem: r.problem)
    }
}

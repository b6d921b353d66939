import Foundation
import Testing
@testable import Core

/// The probing strategies on the scripted model. The main sequence (0) follows a script;
/// probes (sequence 1) get distributions the test writes, so every number is hand-computed.
///
/// Vocabulary: 0 <eos>, 1 <think>, 2 </think>, 3 \n, 4 Wait, 5 " ok", 6 "Answer: 9",
/// 7 "\nProblem:", 8 " so", 9 " 9", 10…14 bytes, then the extra pieces below from 15 on.
@Suite("Probing strategies: CGRS, DEER, ThinkBrake")
struct ProbeStrategyTests {
    static let extra = ["\n\n", "}", ".\n\n", ".\n", " But", "Hmm", " wait", "Waiter", " button", "."]
    static let blank: Int32 = 15, brace: Int32 = 16, stop: Int32 = 17, dotNewline: Int32 = 18
    static let but: Int32 = 19, hmm: Int32 = 20, lowWait: Int32 = 21, waiter: Int32 = 22, button: Int32 = 23
    static let dot: Int32 = 24
    static let wait: Int32 = 4, so: Int32 = 8, nine: Int32 = 9, close: Int32 = 2, newline: Int32 = 3
    static let V = ScriptedBackend.pieces.count + 5 + extra.count   // 25

    let prompt: [Int32] = [5, 5, 1, 3]
    var V: Int { Self.V }

    /// logit `x` for `token`, 0 for every other token
    static func peaked(_ token: Int32, _ x: Float) -> [Float] {
        var l = [Float](repeating: 0, count: V)
        l[Int(token)] = x
        return l
    }

    /// Entropy (nats) and top probability of `peaked(_, x)`, in Double from the Float logit.
    static func peakedStats(_ x: Float) -> (entropy: Double, top: Double) {
        let a = Double(x)
        let z = exp(a) + Double(V - 1)
        return (log(z) - a * exp(a) / z, exp(a) / z)
    }

    /// the logit that gives the peaked token probability `p`
    static func logit(forProbability p: Double) -> Float {
        Float(log(p * Double(V - 1) / (1 - p)))
    }

    func make(script: [Int32], specs: [String], maxTokens: Int = 1000, context: Int = 160,
              sampling: SamplingParameters = .greedy,
              probe: @escaping (ScriptedBackend.Decoded) -> [Float]) throws -> (DecodingSession, ScriptedBackend) {
        let main = ScriptedBackend.following(script, promptLength: prompt.count, vocabulary: V)
        let backend = ScriptedBackend(contextSize: context, extraPieces: Self.extra, sequenceRule: { d in
            d.sequence == 0 ? main(d.token, d.position) : probe(d)
        })
        let config = try SessionConfig(sampling: sampling, maxTokens: maxTokens, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
        try s.install(specs: specs)
        return (s, backend)
    }

    /// A probe answering " 9" (logit `a`), "}" (logit `b`), then "\n" (logit `b`): DEER's probe
    /// stops there ("}\n" is on the reference's stop list, a lone "}" is not), CGRS's at "}".
    static func answer(_ a: Float, _ b: Float) -> (ScriptedBackend.Decoded) -> [Float] {
        { d in d.token == nine ? peaked(brace, b) : d.token == brace ? peaked(newline, b) : peaked(nine, a) }
    }

    // MARK: CGRS

    @Test("CGRS: p = 0 when C ≤ δ, 1 at C = 1, (C − δ)/(1 − δ) between; C from the entropies")
    func cgrsFormula() {
        #expect(CGRS.suppressionProbability(certainty: 0.9, delta: 0.9) == 0)
        #expect(CGRS.suppressionProbability(certainty: 0.5, delta: 0.9) == 0)
        #expect(CGRS.suppressionProbability(certainty: 1, delta: 0.9) == 1)
        #expect(abs(CGRS.suppressionProbability(certainty: 0.93, delta: 0.9) - 0.3) < 1e-12)
        #expect(abs(CGRS.suppressionProbability(certainty: 0.8, delta: 0.5) - 0.6) < 1e-12)
        #expect(CGRS.suppressionProbability(certainty: 1, delta: 1) == 0)   // δ = 1 never suppresses
        let lnV = log(1000.0)
        #expect(CGRS.certainty(entropies: [lnV, lnV], vocabularySize: 1000) == 0)
        #expect(CGRS.certainty(entropies: [0, 0, 0], vocabularySize: 1000) == 1)
        #expect(abs(CGRS.certainty(entropies: [0.2, 0.4], vocabularySize: 1000) - (1 - 0.3 / lnV)) < 1e-12)
    }

    @Test("CGRS: every variant of a trigger word, no false friends")
    func cgrsTriggers() throws {
        let words = CGRS.defaultTriggers
        for t in ["Wait", " wait", "WAIT", " But", "but", ",But", "\nHmm", "Hmm", " Alternatively", "Alternative",
                  "Wait,", " wait.", "(But", "...Hmm"] {
            #expect(CGRS.isVariant(t, of: words), "\(String(reflecting: t)) should be a trigger")
        }
        // other words that start with a trigger, or contain one, are not
        for t in ["Waiter", " waiting", " button", "Butter", " butane", "Hmmm", " await", " however", " about",
                  "Alternatives", " so", "", " ", "."] {
            #expect(!CGRS.isVariant(t, of: words), "\(String(reflecting: t)) should not be a trigger")
        }
        let (s, _) = try make(script: [8, 0], specs: ["cgrs"], probe: Self.answer(1, 1))
        let cgrs = try #require(s.strategy("cgrs") as? CGRS)
        #expect(cgrs.triggerIds == [Self.wait, Self.but, Self.hmm, Self.lowWait])
    }

    @Test("CGRS: a blank line is a checkpoint with exactly one probe; C and p from its entropies")
    func cgrsCheckpoint() throws {
        let (a, b): (Float, Float) = (6, 9)
        let (s, backend) = try make(script: [8, Self.blank, 8, 8, 2, 6, 0], specs: ["cgrs"], probe: Self.answer(a, b))
        while try s.step() != nil {}
        let probes = s.events.filter { $0.kind == .probe }
        #expect(probes.count == 1)
        #expect(probes.first?.step == 1)
        #expect(backend.copyCalls.count == 1)
        let cgrs = try #require(s.strategy("cgrs") as? CGRS)
        let expected = 1 - (Self.peakedStats(a).entropy + Self.peakedStats(b).entropy) / 2 / log(Double(V))
        let c = try #require(cgrs.certainty)
        #expect(abs(c - expected) < 1e-5)
        #expect(abs(cgrs.probability - max(0, (expected - 0.9) / 0.1)) < 1e-4)
        #expect(cgrs.probesRun == 1)
        #expect(cgrs.liveState == "C \(String(format: "%.2f", c)) p \(String(format: "%.2f", cgrs.probability))")
        #expect(s.records[1].effects.contains { $0.line.hasPrefix("cgrs: checkpoint C ") })
        #expect(probes[0].detail?.contains("\" 9}\"") == true)   // the probe's text
        // the probe's fork is gone; the main sequence holds exactly the fed positions
        #expect(backend.positionRange(sequence: 1) == nil)
        #expect(backend.positionRange(sequence: 0) == 0...(prompt.count + s.records.count - 2))
    }

    @Test("CGRS: over 2000 seeded thinking steps the suppression frequency is p (±0.03)")
    func cgrsFrequency() throws {
        let x: Float = 10
        let c = 1 - Self.peakedStats(x).entropy / log(Double(V))
        let target = 0.3
        let delta = (c - target) / (1 - target)   // p = (C − δ)/(1 − δ) = 0.3
        let n = 2000
        let (s, _) = try make(script: [Self.blank] + Array(repeating: 8, count: n), specs: ["cgrs=\(delta)"],
                              maxTokens: n + 1, context: n + 80, probe: Self.answer(x, x))
        while try s.step() != nil {}
        let cgrs = try #require(s.strategy("cgrs") as? CGRS)
        #expect(abs(cgrs.probability - target) < 1e-4)
        let suppressed = s.records.dropFirst().filter { $0.effects.contains { $0.line.hasPrefix("cgrs: suppressed") } }.count
        #expect(s.records.count == n + 1)
        #expect(abs(Double(suppressed) / Double(n) - cgrs.probability) <= 0.03)
        #expect(cgrs.suppressedSteps == suppressed)
        // nothing before the first checkpoint
        #expect(!s.records[0].effects.contains { $0.line.hasPrefix("cgrs: suppressed") })
    }

    @Test("CGRS per=segment: one draw per checkpoint holds for the whole segment")
    func cgrsSegment() throws {
        let x: Float = 10
        let c = 1 - Self.peakedStats(x).entropy / log(Double(V))
        let delta = (c - 0.5) / 0.5
        let segment: [Int32] = [Self.blank, 8, 8, 8, 8]
        let script = Array(Array(repeating: segment, count: 40).joined())
        let (s, _) = try make(script: script, specs: ["cgrs=\(delta):per=segment"], maxTokens: script.count,
                              context: script.count + 80, probe: Self.answer(x, x))
        while try s.step() != nil {}
        var outcomes: [Bool] = []
        for start in stride(from: 0, to: script.count - 5, by: 5) {
            let hits = s.records[(start + 1)...(start + 5)].map { r in r.effects.contains { $0.line.hasPrefix("cgrs: suppressed") } }
            #expect(Set(hits).count == 1, "segment at \(start) mixes suppressed and free steps")
            outcomes.append(hits[0])
        }
        #expect(outcomes.contains(true) && outcomes.contains(false))
        #expect(s.events.filter { $0.kind == .probe }.count == 40)
    }

    @Test("CGRS: probes leave the main sequence alone: δ = 1 gives the same run as no strategy")
    func cgrsProbeIsInvisible() throws {
        let script: [Int32] = [8, Self.blank, 8, 9, Self.blank, 8, 5, Self.blank, 8, 2, 6, 0]
        let sampling = try SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 7)
        // the probe's favourites differ from the main sequence's: any leak would show
        let (withCGRS, b1) = try make(script: script, specs: ["cgrs=1"], sampling: sampling, probe: Self.answer(12, 12))
        let (plain, b2) = try make(script: script, specs: [], sampling: sampling, probe: Self.answer(12, 12))
        while true {
            let r1 = try withCGRS.step()
            let r2 = try plain.step()
            #expect(r1?.token == r2?.token)
            #expect(b1.positionRange(sequence: 0) == b2.positionRange(sequence: 0))
            #expect(b1.positionRange(sequence: 1) == nil)
            if r1 == nil || r2 == nil { break }
        }
        #expect(withCGRS.records.map(\.token) == plain.records.map(\.token))
        #expect(withCGRS.records.map(\.entropy) == plain.records.map(\.entropy))
        #expect(withCGRS.records.map(\.top) == plain.records.map(\.top))
        let probes = withCGRS.events.filter { $0.kind == .probe }.count
        #expect(probes >= 1 && probes == withCGRS.records.filter { $0.effects.contains { $0.line.hasPrefix("cgrs: checkpoint") } }.count)
        #expect(!withCGRS.records.contains { $0.effects.contains { $0.line.hasPrefix("cgrs: suppressed") } })
        #expect(b1.copyCalls.count == probes && b2.copyCalls.isEmpty)
    }

    @Test("CGRS: a rewind restores C, p and the draws exactly")
    func cgrsRewind() throws {
        let x: Float = 10
        let c = 1 - Self.peakedStats(x).entropy / log(Double(V))
        let delta = (c - 0.5) / 0.5
        let script = [Self.blank] + Array(repeating: Self.so, count: 30) + [Self.blank] + Array(repeating: Self.so, count: 30)
        let (s, _) = try make(script: script, specs: ["cgrs=\(delta)"], maxTokens: script.count, context: 200,
                              probe: Self.answer(x, x))
        while try s.step() != nil {}
        let tokens = s.records.map(\.token), effects = s.records.map(\.effects)
        #expect(effects.joined().contains { $0.line.hasPrefix("cgrs: suppressed") })
        try s.rewind(toPosition: prompt.count + 40)   // after the second checkpoint
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == tokens && s.records.map(\.effects) == effects)
        try s.rewind(toPosition: prompt.count + 20)   // before it
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == tokens && s.records.map(\.effects) == effects)
        #expect(s.events.filter { $0.kind == .probe }.count == 2 + 1)   // only the rerun past step 31 probes again
    }

    // MARK: DEER

    @Test("DEER: confidence is the mean from the second probe token; geometric on request")
    func deerConfidence() {
        #expect(abs(DEER.confidence([0.1, 0.9, 0.8]) - 0.85) < 1e-12)
        #expect(abs(DEER.confidence([0.1, 0.9, 0.8], mean: .geometric) - sqrt(0.72)) < 1e-12)
        #expect(DEER.confidence([0.99]) == 0)
        #expect(DEER.confidence([]) == 0)
        let d = DEER()
        #expect(d.isTriggerToken("Wait") && d.isTriggerToken(" wait") && d.isTriggerToken("WAIT\n"))
        #expect(!d.isTriggerToken("Waiter") && !d.isTriggerToken(" Alternatively"))
    }

    @Test("DEER: by default a transition is the text \"Wait\" in the generated text, case-sensitive, across tokens")
    func deerTextTrigger() {
        let d = DEER()
        // where the word starts, counted back from the end of the new text
        #expect(d.triggerStart(before: "so ", text: "Wait") == 4)
        #expect(d.triggerStart(before: "so\n", text: "Wait,") == 5)
        #expect(d.triggerStart(before: "so W", text: "ait") == 4)        // split over two tokens
        #expect(d.triggerStart(before: "so", text: " Waiting") == 7)     // a substring, as vLLM's stop string
        #expect(d.triggerStart(before: "so", text: " wait") == nil)      // case-sensitive
        #expect(d.triggerStart(before: "Wait", text: " so") == nil)      // found once, where it completed
        #expect(d.triggerStart(before: "so", text: "") == nil)
        d.triggers = ["Alternatively"]
        #expect(d.triggerStart(before: "x", text: " Alternatively") == 13)
        #expect(d.triggerStart(before: "x", text: " Wait") == nil)
    }

    @Test("DEER: the reference's thinking limit, ratio × max tokens − 50 at a transition, ratio × max outright")
    func deerReferenceLimit() throws {
        let d = DEER()
        #expect(d.exitLimit(maxTokens: 512) == 410 && d.hardLimit(maxTokens: 512) == 460)
        #expect(d.exitLimit(maxTokens: 16_384) == 14_695)
        try d.set("limit", "100")
        #expect(d.exitLimit(maxTokens: 512) == 100)
        try d.set("limit", "auto")
        try d.set("ratio", "0")
        #expect(d.exitLimit(maxTokens: 512) == nil && d.hardLimit(maxTokens: 512) == nil)
    }

    /// " so", Wait, then " so" to the end: the probe after Wait decides.
    static let deerScript: [Int32] = [8, 4, 8, 8, 8, 8, 8, 8, 6, 0]

    @Test("DEER: exits iff the confidence is above the threshold", arguments: [0.9501, 0.9499])
    func deerThreshold(p: Double) throws {
        // the first probe token is unlikely (it does not count), the second has probability ≈ p
        let a: Float = 0.5, b = Self.logit(forProbability: p)
        let (s, _) = try make(script: Self.deerScript, specs: ["deer"], probe: Self.answer(a, b))
        while try s.step() != nil {}
        let deer = try #require(s.strategy("deer") as? DEER)
        let conf = try #require(deer.lastConfidence)
        #expect(abs(conf - Self.peakedStats(b).top) < 1e-6)   // the brace and the newline, not the first token
        #expect(deer.probesRun == 1)
        #expect(s.events.filter { $0.kind == .probe }.count == 1)
        if p > 0.95 {
            #expect(deer.exited)
            #expect(s.records[2...4].map(\.token) == [Self.newline, Self.close, Self.blank])
            #expect(s.records[2...4].allSatisfy { $0.input == .forced })
            #expect(s.records[3].phase == .thinking && s.records[4].phase == .answer)
            #expect(s.events.filter { $0.kind == .earlyExit }.count == 1)
            #expect(s.events.first { $0.kind == .earlyExit }?.step == 2)
            #expect(s.records[2].effects.contains { $0.line.hasPrefix("deer: early exit: confidence 0.950") })
        } else {
            #expect(!deer.exited)
            #expect(s.records[2].token == Self.so && s.records[2].input == .explicit)
            #expect(!s.events.contains { $0.kind == .earlyExit })
            #expect(s.records.allSatisfy { $0.phase == .thinking })
        }
        #expect(deer.liveState == "last conf \(String(format: "%.2f", conf)) · probes 1/10" + (p > 0.95 ? " · exited" : ""))
    }

    @Test("DEER: the probe stops on the reference's stop list, not on any closing brace")
    func deerProbeStops() throws {
        // " 9" "}" " 9" "}" "\n": the first brace closes an inner group (as in \frac{1}{2}) and
        // the probe goes on; "}\n" ends it
        let probe: (ScriptedBackend.Decoded) -> [Float] = { d in
            if d.token == Self.nine { return Self.peaked(Self.brace, 5) }
            if d.token == Self.brace {
                return d.history.filter { $0 == Self.brace }.count == 1 ? Self.peaked(Self.nine, 5) : Self.peaked(Self.newline, 5)
            }
            return Self.peaked(Self.nine, 5)
        }
        let (s, _) = try make(script: Self.deerScript, specs: ["deer"], probe: probe)
        while try s.step() != nil {}
        let e = try #require(s.events.first { $0.kind == .probe })
        #expect(e.strategy == "deer" && e.ms != nil)
        #expect(e.detail?.hasSuffix("(arithmetic mean of 4 tokens) \" 9} 9}\\n\" · probe 1/10") == true, "\(e.detail ?? "")")
        let (t, _) = try make(script: Self.deerScript, specs: ["deer:stops=}"], probe: probe)
        while try t.step() != nil {}
        #expect(t.events.first { $0.kind == .probe }?.detail?.contains("mean of 1 tokens) \" 9}\"") == true)
    }

    @Test("DEER: the probe continues the thinking before the Wait (context=after: with it)")
    func deerContext() throws {
        // confident only when the probe does not see the Wait token
        let high = Self.logit(forProbability: 0.99)
        let probe: (ScriptedBackend.Decoded) -> [Float] = { d in
            let sure = d.history.contains(Self.wait) ? 0.5 : high
            return d.token == Self.nine ? Self.peaked(Self.brace, sure)
                : d.token == Self.brace ? Self.peaked(Self.newline, sure) : Self.peaked(Self.nine, 3)
        }
        let (before, backend) = try make(script: Self.deerScript, specs: ["deer"], probe: probe)
        while try before.step() != nil {}
        #expect((before.strategy("deer") as? DEER)?.exited == true)
        #expect(backend.positionRange(sequence: 1) == nil)
        let (after, _) = try make(script: Self.deerScript, specs: ["deer:context=after"], probe: probe)
        while try after.step() != nil {}
        #expect((after.strategy("deer") as? DEER)?.exited == false)
        #expect(after.events.filter { $0.kind == .probe }.count == 1)
    }

    @Test("DEER: at most maxProbes probes in a run", arguments: [(nil as Int?, 10), (3, 3)])
    func deerMaxProbes(limit: Int?, expected: Int) throws {
        let script = Array(Array(repeating: [Self.wait, Self.so], count: 15).joined()) + [6, 0]
        let specs = ["deer" + (limit.map { ":maxProbes=\($0)" } ?? "")]
        let (s, _) = try make(script: script, specs: specs, probe: Self.answer(1, 1))
        while try s.step() != nil {}
        let deer = try #require(s.strategy("deer") as? DEER)
        #expect(s.events.filter { $0.kind == .probe }.count == expected)
        #expect(deer.probesRun == expected && !deer.exited)
        #expect(deer.liveState.hasSuffix("probes \(expected)/\(expected)"))
    }

    @Test("DEER: a transition after the thinking limit exits without probing")
    func deerLimit() throws {
        let (s, _) = try make(script: [8, 4, 8, 4, 8, 8, 6, 0], specs: ["deer:limit=3"], probe: Self.answer(1, 1))
        while try s.step() != nil {}
        // the first Wait (2 thinking tokens) probes; the second (4 ≥ 3) exits
        #expect(s.events.filter { $0.kind == .probe }.count == 1)
        #expect(s.events.filter { $0.kind == .earlyExit }.count == 1)
        #expect(s.records[4...6].map(\.token) == [Self.newline, Self.close, Self.blank])
    }

    // MARK: ThinkBrake

    /// ln p of the main sequence's favourite after the boundary (logit 8, runner-up 1, others 0)
    var mainTop1: Double { 8 - log(exp(8.0) + exp(1.0) + Double(V - 2)) }

    /// the close logit that puts the margin top-1 − close at `margin`
    func closeLogit(margin: Double) -> Float {
        let l = mainTop1 - margin
        return Float(log(Double(V - 1) * exp(l) / (1 - exp(l))))
    }

    func closeLogprob(_ c: Float) -> Double { Double(c) - log(exp(Double(c)) + Double(V - 1)) }

    @Test("ThinkBrake: closes iff top-1 − close ≤ threshold", arguments: [0.99, 1.01])
    func thinkBrakeThreshold(margin: Double) throws {
        let c = closeLogit(margin: margin)
        var forks: [[Int32]] = []
        let probe: (ScriptedBackend.Decoded) -> [Float] = { d in
            if d.token == Self.dotNewline { forks.append(d.history); return Self.peaked(Self.close, c) }
            return Self.peaked(Self.nine, 1)
        }
        let script: [Int32] = [8, Self.stop, 8, 8, 8, 8, 6, 0]
        let (s, backend) = try make(script: script, specs: ["thinkbrake"], probe: probe)
        while try s.step() != nil {}
        let tb = try #require(s.strategy("thinkbrake") as? ThinkBrake)
        let m = try #require(tb.lastMargin)
        #expect(abs(m - (mainTop1 - closeLogprob(c))) < 1e-5)
        #expect(abs(m - margin) < 1e-4)
        // the fork: the sentence with ".\n" where the main sequence has ".\n\n"
        #expect(forks == [prompt + [8, Self.dotNewline]])
        #expect(tb.boundaries == 1)
        #expect(s.records[2].effects.contains { $0.line.hasPrefix("thinkbrake: margin \(String(format: "%.3f", m))") })
        if margin <= 1 {
            #expect(tb.closed)
            #expect(s.records[2...3].map(\.token) == [Self.close, Self.blank])
            #expect(s.records[2...3].allSatisfy { $0.input == .forced })
            #expect(s.records[3].phase == .answer)
            #expect(s.events.filter { $0.kind == .brake }.count == 1)
        } else {
            #expect(!tb.closed)
            #expect(s.records[2].token == Self.so && s.records[2].input == .explicit)
            #expect(!s.events.contains { $0.kind == .brake })
        }
        #expect(backend.positionRange(sequence: 1) == nil)
        #expect(tb.liveState.hasPrefix("margin \(String(format: "%.2f", m)) · boundaries 1"))
    }

    @Test("ThinkBrake: a boundary over two tokens is cut where its '.' starts")
    func thinkBrakeSplitBoundary() throws {
        var forks: [[Int32]] = []
        let probe: (ScriptedBackend.Decoded) -> [Float] = { d in
            if d.token == Self.dotNewline { forks.append(d.history); return Self.peaked(Self.close, 12) }
            return Self.peaked(Self.nine, 1)
        }
        // " so" "." "\n\n": the fork keeps " so" and feeds ".\n" where "." was
        let (s, _) = try make(script: [8, Self.dot, Self.blank, 8, 8, 6, 0], specs: ["thinkbrake"], probe: probe)
        while try s.step() != nil {}
        #expect(forks == [prompt + [8, Self.dotNewline]])
        #expect((s.strategy("thinkbrake") as? ThinkBrake)?.closed == true)
        #expect(s.records[3].token == Self.close && s.records[3].input == .forced)
    }

    // MARK: specs

    @Test("specs: main values, parameters, one-line errors")
    func specs() throws {
        #expect(CGRS().spec == "cgrs:delta=0.9")
        #expect(DEER().spec == "deer:threshold=0.95")
        #expect(ThinkBrake().spec == "thinkbrake:threshold=1.0")
        let (list, on) = try StrategyRegistry.configure(["cgrs=0.8:per=segment", "deer=0.9:mean=geometric:cue=\\nA:maxProbes=4",
                                                         "thinkbrake=2.5"])
        #expect(on == ["cgrs", "deer", "thinkbrake"])
        #expect(list.first { $0.id == "cgrs" }?.spec == "cgrs:delta=0.8:per=segment")
        let deer = try #require(list.first { $0.id == "deer" } as? DEER)
        #expect(deer.cue == "\nA" && deer.mean == .geometric && deer.maxProbes == 4)
        #expect(deer.spec == "deer:threshold=0.9:cue=\\nA:mean=geometric:maxProbes=4")
        #expect((list.first { $0.id == "thinkbrake" } as? ThinkBrake)?.threshold == 2.5)
        // composition order: stopping rules first
        let ids = StrategyRegistry.ids
        #expect(ids.firstIndex(of: "budget")! < ids.firstIndex(of: "deer")!)
        #expect(ids.firstIndex(of: "deer")! < ids.firstIndex(of: "thinkbrake")!)
        #expect(ids.firstIndex(of: "cgrs")! < ids.firstIndex(of: "nowait")!)
        for bad in ["cgrs=2", "cgrs:per=token", "cgrs:triggers=", "deer=1.5", "deer:mean=median", "deer:context=middle",
                    "thinkbrake=x", "thinkbrake:delta=1"] {
            #expect(throws: ThinktopError.self, "\(bad)") { try StrategyRegistry.configure([bad]) }
        }
    }
}

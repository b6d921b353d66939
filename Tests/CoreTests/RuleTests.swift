import Foundation
import Testing
@testable import Core

/// One test (at least) per rule of STRATEGIES.md that a small slip in the sources would break
/// without any other test noticing: exact tokens, exact texts, exact sets, margins equal to the
/// threshold in floating point. `make mutants` (scripts/mutants.sh) breaks each of these rules
/// in a scratch copy and expects a test here to fail.
///
/// Vocabulary: ScriptedBackend's pieces (0 <eos>, 1 <think>, 2 </think>, 3 \n, 4 Wait, 5 " ok",
/// 6 "Answer: 9", 7 "\nProblem:", 8 " so", 9 " 9"), five byte tokens (10…14), then `extra`
/// from 15 on: the pieces the probing tests use, then single characters, so that the answer
/// cues tokenize character by character and decode back to exactly what was appended.
@Suite("Rules pinned exactly (each mutant of `make mutants` fails here)")
struct RuleTests {
    static let extra = ["\n\n", "}", ".\n\n", ".\n", " But", "Hmm", " wait", "."]
        + ["*", "F", "i", "n", "a", "l", " ", "A", "s", "w", "e", "r", "\\", "b", "o", "x", "d", "{", ":"]
    static let eos: Int32 = 0, close: Int32 = 2, newline: Int32 = 3, wait: Int32 = 4, ok: Int32 = 5
    static let answer: Int32 = 6, so: Int32 = 8, nine: Int32 = 9
    static let blank: Int32 = 15, brace: Int32 = 16, stop: Int32 = 17, dotNewline: Int32 = 18
    static let but: Int32 = 19, hmm: Int32 = 20, lowWait: Int32 = 21
    static let V = ScriptedBackend.pieces.count + 5 + extra.count   // 42

    let prompt: [Int32] = [5, 5, 1, 3]

    /// `pairs` at their logits, every other token at `rest`
    static func logits(_ pairs: [(Int32, Float)], rest: Float = 0) -> [Float] {
        var l = [Float](repeating: rest, count: V)
        for (t, x) in pairs { l[Int(t)] = x }
        return l
    }

    /// `token` the clear favourite (8) with the next id as runner-up (1), as
    /// `ScriptedBackend.following` writes them
    static func favourite(_ token: Int32) -> [Float] {
        logits([(token, 8), ((token + 1) % Int32(V), 1)])
    }

    /// A distribution of entropy exactly 0 and top probability exactly 1: every other logit is
    /// 1000 below, where e^d is 0 in both the vector and the scalar pass.
    static func certain(_ token: Int32) -> [Float] { logits([(token, 1000)]) }

    /// The four trigger words of the vocabulary on top (Wait 8, " wait" 7, " But" 6, "Hmm" 5),
    /// then " so" (4): greedy sampling takes " so" only when all four are banned.
    static let triggersOnTop = logits([(wait, 8), (lowWait, 7), (but, 6), (hmm, 5), (so, 4)])

    /// A session on the scripted model: the main sequence's logits are `main(step)`, the probe
    /// sequence's `probe(decoded)`; greedy sampling.
    func make(main: @escaping (Int) -> [Float], specs: [String], maxTokens: Int = 100, context: Int = 200,
              probe: @escaping (ScriptedBackend.Decoded) -> [Float] = { _ in RuleTests.certain(RuleTests.eos) })
        throws -> (DecodingSession, ScriptedBackend) {
        let promptLength = prompt.count
        let backend = ScriptedBackend(contextSize: context, extraPieces: Self.extra, sequenceRule: { d in
            d.sequence == .main ? main(d.position + 1 - promptLength) : probe(d)
        })
        let config = try SessionConfig(sampling: .greedy, maxTokens: maxTokens, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
        try s.install(specs: specs)
        return (s, backend)
    }

    /// step → logits from a list (end of generation after it)
    static func steps(_ list: [[Float]]) -> (Int) -> [Float] {
        { step in step >= 0 && step < list.count ? list[step] : favourite(eos) }
    }

    /// step → the favourite of a token script (end of generation after it)
    static func script(_ tokens: [Int32]) -> (Int) -> [Float] { steps(tokens.map(favourite)) }

    func text(_ tokens: some Sequence<Int32>, _ backend: ScriptedBackend) -> String {
        String(decoding: tokens.flatMap { backend.piece($0) }, as: UTF8.self)
    }

    /// A scripted backend and the services for calling a strategy's hooks directly.
    func environment() -> (ScriptedBackend, SwirTestEnvironment, ThinkMarkers) {
        let backend = ScriptedBackend(extraPieces: Self.extra, rule: { _, _ in Self.favourite(Self.eos) })
        return (backend, SwirTestEnvironment(backend), ThinkMarkers.resolve(backend: backend))
    }

    // MARK: CGRS

    /// A blank line (checkpoint; the probe is certain: C = 1, p = 1), three thinking steps whose
    /// favourites are triggers, the close, then two answer steps whose favourites are triggers.
    func cgrsRun() throws -> (DecodingSession, CGRS) {
        let main = Self.steps([Self.favourite(Self.blank), Self.triggersOnTop, Self.triggersOnTop, Self.triggersOnTop,
                               Self.favourite(Self.close), Self.triggersOnTop, Self.triggersOnTop])
        let (s, _) = try make(main: main, specs: ["cgrs"])
        while try s.step() != nil {}
        return (s, try #require(s.strategy("cgrs") as? CGRS))
    }

    @Test("CGRS: when suppression fires, every trigger id is banned at that thinking step (p = 1: never a trigger)")
    func cgrsBansEveryTrigger() throws {
        let (s, cgrs) = try cgrsRun()
        #expect(cgrs.triggerIds == [Self.wait, Self.but, Self.hmm, Self.lowWait])
        #expect(cgrs.certainty == 1 && cgrs.probability == 1)
        // thinking: all four triggers banned at each step, so " so", though "Wait" is the favourite
        #expect(s.records[0...3].map(\.token) == [Self.blank, Self.so, Self.so, Self.so])
        for r in s.records[1...3] {
            #expect(r.top.first?.id == Self.wait && r.input == .explicit && r.phase == .thinking)
            #expect(r.effects.contains { $0.line.hasPrefix("cgrs: suppressed 4 trigger tokens (p 1.00): the favourite \"Wait\"") })
        }
        #expect(cgrs.suppressedSteps == 4)   // the three above and the step of the close

        // the hook itself: the banned set is exactly the trigger ids
        let (_, env, markers) = environment()
        let direct = CGRS()
        try direct.prepare(env)
        direct.state.p = 1
        try Self.triggersOnTop.withUnsafeBufferPointer { buf in
            var d = StepDecision()
            try direct.beforeSampling(SwirTestEnvironment.view(phase: .thinking, logits: buf, markers: markers), &d, env)
            #expect(d.banned == direct.triggerIds)
            #expect(d.banned == [Self.wait, Self.but, Self.hmm, Self.lowWait])
        }
    }

    @Test("CGRS: nothing is banned in the answer, even at p = 1: a trigger favourite is sampled there")
    func cgrsAnswerFree() throws {
        let (s, cgrs) = try cgrsRun()
        #expect(cgrs.probability == 1)
        #expect(s.records.map(\.token) == [Self.blank, Self.so, Self.so, Self.so, Self.close, Self.wait, Self.wait, Self.eos])
        #expect(s.records[5...].allSatisfy { $0.phase == .answer && $0.input == .explicit })
        #expect(!s.records[5...].contains { $0.effects.contains { $0.kind == .suppress } })

        let (_, env, markers) = environment()
        let direct = CGRS()
        try direct.prepare(env)
        direct.state.p = 1
        try Self.triggersOnTop.withUnsafeBufferPointer { buf in
            var d = StepDecision()
            try direct.beforeSampling(SwirTestEnvironment.view(phase: .answer, logits: buf, markers: markers), &d, env)
            #expect(d.banned.isEmpty && d.effects.isEmpty)
        }
    }

    @Test("CGRS: the probe appends exactly \"**Final Answer**\\n\\\\boxed{\" to the whole sequence")
    func cgrsCue() throws {
        var forks: [[Int32]] = []
        let (s, backend) = try make(main: Self.script([Self.so, Self.blank, Self.so, Self.close, Self.answer]), specs: ["cgrs"],
                                    probe: { d in forks.append(d.history); return Self.certain(Self.eos) })
        while try s.step() != nil {}
        #expect(backend.copyCalls.count == 1)
        let fork = try #require(forks.last)
        let head = prompt + [Self.so, Self.blank]   // everything fed up to the checkpoint
        #expect(Array(fork.prefix(head.count)) == head)
        let appended = fork.dropFirst(head.count)
        #expect(text(appended, backend) == "**Final Answer**\n\\boxed{")
        #expect(Array(appended) == (try backend.tokenize("**Final Answer**\n\\boxed{", addSpecial: false)))
        #expect(appended.count == 24)   // one token per character: the seven of \boxed{ included
        #expect(CGRS().cue == "**Final Answer**\n\\boxed{")
    }

    // MARK: DEER

    @Test("DEER: the probe appends exactly \"\\n**Final Answer**\\n\\\\boxed\" to the thinking before the Wait")
    func deerCue() throws {
        var forks: [[Int32]] = []
        let (s, backend) = try make(main: Self.script([Self.so, Self.so, Self.wait, Self.so, Self.so, Self.close, Self.answer]),
                                    specs: ["deer"], probe: { d in forks.append(d.history); return Self.certain(Self.eos) })
        while try s.step() != nil {}
        #expect(backend.copyCalls.count == 1)
        let fork = try #require(forks.last)
        let head = prompt + [Self.so, Self.so]   // cut where the "Wait" starts
        #expect(Array(fork.prefix(head.count)) == head)
        let appended = fork.dropFirst(head.count)
        #expect(text(appended, backend) == "\n**Final Answer**\n\\boxed")
        #expect(Array(appended) == (try backend.tokenize("\n**Final Answer**\n\\boxed", addSpecial: false)))
        #expect(appended.count == 24)
        // one probe token: confidence 0, no exit
        let deer = try #require(s.strategy("deer") as? DEER)
        #expect(deer.probesRun == 1 && deer.lastConfidence == 0 && !deer.exited)
    }

    // MARK: budget forcing

    @Test("budget forcing extend=1: the first early think-close becomes exactly \"Wait\", the second goes through")
    func budgetExtension() throws {
        let (s, backend) = try make(main: Self.script([Self.so, Self.close, Self.so, Self.close, Self.answer]),
                                    specs: ["budget=100:extend=1"])
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == [Self.so, Self.wait, Self.so, Self.close, Self.answer, Self.eos])
        #expect(s.records.map(\.input) == [.explicit, .forced, .explicit, .explicit, .explicit, .explicit])
        #expect(s.records[1].text == "Wait" && s.records[1].phase == .thinking)
        #expect(try backend.tokenize(BudgetForcing().ignore, addSpecial: false) == [Self.wait])
        #expect(s.records[1].effects.contains { $0 == Effect("budget", .replace, "replaced sampled 2") })
        #expect(s.events.filter { $0.kind == .budgetExtend }.map(\.detail) == ["extension 1/1: think-close replaced by \"Wait\""])
        #expect(s.records[4].phase == .answer)
    }

    /// The tokens forced at the budget, and the text they write.
    func budgetEnd(script: [Int32], budget: Int, cue: String) throws -> (tokens: [Int32], text: String, next: StepRecord) {
        let (s, backend) = try make(main: Self.script(script + Array(repeating: Self.so, count: 30)), specs: ["budget=\(budget)"])
        let forcing = try #require(s.strategy("budget") as? BudgetForcing)
        forcing.cue = cue
        while try s.step() != nil {}
        #expect(s.records.prefix(budget).allSatisfy { $0.input == .explicit && $0.phase == .thinking })
        let forced = s.records.dropFirst(budget).prefix { $0.input == .forced }
        #expect(s.events.filter { $0.kind == .budgetEnd }.map(\.step) == [budget])
        let next = try #require(s.records.dropFirst(budget + forced.count).first)
        return (forced.map(\.token), text(forced.map(\.token), backend), next)
    }

    @Test("budget forcing: at the budget, newline (if needed) + close + \"\\n\" + cue, exactly", arguments: ["", "Final Answer:"])
    func budgetForcedEnd(cue: String) throws {
        let (_, env, _) = environment()
        let cueTokens = try env.tokenize("\n" + cue)
        #expect(cue.isEmpty ? cueTokens == [Self.newline] : cueTokens.count == 14)   // one token per character
        let end = try budgetEnd(script: [Self.so, Self.so, Self.so], budget: 3, cue: cue)
        #expect(end.tokens == [Self.newline, Self.close] + cueTokens)
        #expect(end.text == "\n</think>\n" + cue)
        #expect(end.next.input == .explicit && end.next.phase == .answer)
        // the text already ends with a newline: none is added
        let after = try budgetEnd(script: [Self.so, Self.so, Self.newline], budget: 3, cue: cue)
        #expect(after.tokens == [Self.close] + cueTokens)
        #expect(after.text == "</think>\n" + cue)
        #expect(after.next.input == .explicit && after.next.phase == .answer)
    }

    // MARK: NoWait

    @Test("NoWait: keywords masked in thinking only; words that merely contain one are not masked")
    func noWaitPhases() throws {
        let n = NoWait()
        for t in ["Wait", " wait", "However", "check"] { #expect(n.masks(t), "\(String(reflecting: t)) should be masked") }
        for t in ["checkout", "checksum", "alcohol", "coherent", "against", " checkout", " Against", " distribution",
                  " contribution", " attribution", " await", "Doha", " Abraham"] {
            #expect(!n.masks(t), "\(String(reflecting: t)) should not be masked")
        }
        // thinking: "Wait" (favourite) is masked, the runner-up " ok" is sampled; answer: "Wait" is sampled
        let (s, _) = try make(main: Self.script([Self.wait, Self.so, Self.close, Self.wait, Self.wait]), specs: ["nowait"])
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == [Self.ok, Self.so, Self.close, Self.wait, Self.wait, Self.eos])
        #expect(s.records.map(\.phase) == [.thinking, .thinking, .thinking, .answer, .answer, .answer])
        #expect(s.records[0].effects.contains { $0.line.hasPrefix("nowait: suppressed \"Wait\"") })
        #expect(!s.records[3...].contains { $0.effects.contains { $0.kind == .suppress } })

        // the hook: exactly the masked set while thinking, nothing in the answer
        let (_, env, markers) = environment()
        let direct = NoWait()
        try direct.prepare(env)
        #expect(Set(direct.masked) == [Self.wait, Self.but, Self.hmm, Self.lowWait])
        try Self.favourite(Self.wait).withUnsafeBufferPointer { buf in
            var thinking = StepDecision(), answer = StepDecision()
            try direct.beforeSampling(SwirTestEnvironment.view(phase: .thinking, logits: buf, markers: markers), &thinking, env)
            try direct.beforeSampling(SwirTestEnvironment.view(phase: .answer, logits: buf, markers: markers), &answer, env)
            #expect(thinking.banned == Set(direct.masked))
            #expect(answer.banned.isEmpty && answer.effects.isEmpty)
        }
    }

    // MARK: SwiReasoning

    @Test("SwiReasoning: a sampled think-close locks and voids the switch to latent planned at that step (forced step or not); no switch to latent while locked",
          arguments: [true, false])
    func swirLock(forcedStep: Bool) throws {
        let backend = SwirBackend(promptLength: 4) { _ in SwirBackend.peaked(0, 1) }
        let env = SwirTestEnvironment(backend)
        let markers = ThinkMarkers.resolve(backend: backend)
        let swir = SwiReasoning()
        swir.window = 1
        try swir.prepare(env)
        // sharpness per step (a larger one is a lower entropy)
        let sharp: [Float] = [2, 3, 1, 0.5]
        func at(_ step: Int, _ body: (StepView) throws -> Void) throws {
            try SwirBackend.peaked(4, sharp[step]).withUnsafeBufferPointer { buf in
                try body(SwirTestEnvironment.view(step: step, logits: buf, markers: markers))
            }
        }
        func before(_ view: StepView) throws {
            var d = StepDecision()
            try swir.beforeSampling(view, &d, env)
        }
        var effects: [Effect] = []
        // 0: ref = H(2), latent; 1: H(3) < ref → explicit, ref = H(3)
        try at(0) { v in try before(v); _ = try swir.input(for: 4, view: v, env: env, effects: &effects) }
        try at(1) { v in try before(v); _ = try swir.input(for: 4, view: v, env: env, effects: &effects) }
        #expect(!swir.isLatent && !swir.locked && swir.state.steps == 0)
        let ref = swir.referenceEntropy
        // 2: H(1) > ref after 1 step ≥ window: a switch to latent is planned …
        try at(2) { v in
            try before(v)
            #expect(swir.isLatent && swir.state.steps == 0 && swir.referenceEntropy == swir.state.entropy)
            #expect(swir.referenceEntropy > ref)
            // … and the sampled token is the think-close: locked, the switch void
            effects = []
            if forcedStep {
                try swir.observeForced(sampled: 2, view: v, env: env, effects: &effects)
            } else {
                #expect(try swir.input(for: 2, view: v, env: env, effects: &effects) == nil)
            }
        }
        #expect(swir.locked)
        #expect(!swir.isLatent && swir.state.steps == 1 && swir.referenceEntropy == ref)
        #expect(effects.contains { $0.line == "swir: think-close sampled: locked, the switch to latent is void" })
        // 3: H(0.5) > ref after 2 steps ≥ window, but locked: stays explicit
        try at(3) { v in
            try before(v)
            #expect(!swir.isLatent && swir.state.steps == 2 && swir.referenceEntropy == ref)
            #expect(try swir.input(for: 4, view: v, env: env, effects: &effects) == nil)
        }
        #expect(swir.switches == 1)
    }

    @Test("SwiReasoning in a session: budget forcing feeds the close while the sampler drew it; locked, the switch void, explicit to the end")
    func swirLockInSession() throws {
        // 0 ref; 1 → explicit; 2 no switch; 3 (budget: "\n" forced, "</think>" sampled) a switch
        // to latent planned and voided; 4 ("</think>" forced) higher entropy, but locked
        let sharp: [Float] = [2, 3, 3]
        let backend = SwirBackend(promptLength: prompt.count) { step in
            step < 3 ? SwirBackend.peaked(4, sharp[step]) : step == 3 ? SwirBackend.peaked(2, 1)
                : step == 4 ? SwirBackend.peaked(4, 0.5) : SwirBackend.peaked(0, 9)
        }
        let config = try SessionConfig(sampling: .greedy, maxTokens: 20, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
        try s.install(specs: ["budget=3", "swir:window=1"])
        let swir = try #require(s.strategy("swir") as? SwiReasoning)
        for _ in 0..<3 { try s.step() }
        #expect(!swir.isLatent && !swir.locked)
        let ref = swir.referenceEntropy
        try s.step()
        #expect(s.records[3].token == 3 && s.records[3].input == .forced)
        #expect(s.records[3].effects.contains { $0.line == "forced instead of sampled 2" })
        #expect(s.records[3].effects.contains { $0.line == "swir: think-close sampled: locked, the switch to latent is void" })
        #expect(swir.locked && !swir.isLatent && swir.referenceEntropy == ref)
        while try s.step() != nil {}
        #expect(s.records.map(\.token) == [4, 4, 4, 3, 2, 3, 0])
        #expect(s.records.map(\.input) == [.latent, .latent, .explicit, .forced, .forced, .forced, .explicit])
        #expect(swir.locked && !swir.isLatent && swir.referenceEntropy == ref && swir.switches == 1)
        // the trace tells only the switches that stood: the voided one to latent is not there
        #expect(s.events.filter { $0.kind == .swirSwitch }.map { $0.detail?.hasPrefix("latent → explicit") } == [true])
    }

    @Test("SwiReasoning: a sampled think-close that another strategy replaced still locks")
    func swirLockOnReplacement() throws {
        // budget forcing (extend=1) replaces the sampled close at step 2 by " so"
        let backend = SwirBackend(promptLength: prompt.count) { step in
            step < 2 ? SwirBackend.peaked(4, 2) : step == 2 ? SwirBackend.peaked(2, 6) : SwirBackend.peaked(0, 9)
        }
        let config = try SessionConfig(sampling: .greedy, maxTokens: 20, markers: ThinkMarkers.resolve(backend: backend))
        let s = try DecodingSession(backend: backend, config: config, promptTokens: prompt, initialPhase: .thinking)
        try s.install(specs: ["budget=100:extend=1:ignore= so", "swir"])
        let swir = try #require(s.strategy("swir") as? SwiReasoning)
        for _ in 0..<3 { try s.step() }
        #expect(s.records[2].token == 4 && s.records[2].input == .forced)
        #expect(s.records[2].effects.contains(Effect("budget", .replace, "replaced sampled 2")))
        #expect(swir.locked)
    }

    @Test("a strategy's forcing waits while forced tokens are still being fed, instead of being lost")
    func forcingWaitsForTheQueue() throws {
        // the early close at step 1 is replaced by two tokens ("Hmm", " so"); the budget of 2 is
        // reached at step 2, while " so" is still queued: the end comes right after it
        let (s, _) = try make(main: Self.script([Self.so, Self.close, Self.ok, Self.ok, Self.ok, Self.ok, Self.ok, Self.answer]),
                              specs: ["budget=2:extend=1:ignore=Hmm so"])
        while try s.step() != nil {}
        #expect(Array(s.records.prefix(7).map(\.token)) == [Self.so, Self.hmm, Self.so, Self.newline, Self.close, Self.newline, Self.ok])
        #expect(Array(s.records.prefix(6).map(\.input)) == [.explicit, .forced, .forced, .forced, .forced, .forced])
        #expect(s.records[4].phase == .thinking && s.records[5].phase == .answer)
        #expect(s.events.filter { $0.kind == .budgetEnd }.count == 1)
        #expect(!s.records.contains { $0.effects.contains { $0.kind == .overridden } })
    }

    // MARK: ThinkBrake

    /// After " so" and ".\n\n", the main distribution has " so" at 2 and " ok" at 1, the probe's
    /// (after ".\n") " 9" at 2 and the close at 1, everything else 1000 below: the same
    /// log-sum-exp, so next − close is 2 − 1 = 1 exactly.
    static let afterBoundary = logits([(so, 2), (ok, 1)], rest: -1000)
    static let closeProbe = logits([(nine, 2), (close, 1)], rest: -1000)

    @Test("ThinkBrake: brakes at margin == threshold exactly, not one ulp above it (read=top1 and read=sampled)",
          arguments: ["top1", "sampled"], [true, false])
    func thinkBrakeEquality(read: String, atThreshold: Bool) throws {
        let analyzer = DistributionAnalyzer(topCount: 4)
        let main = Self.afterBoundary.withUnsafeBufferPointer { analyzer.analyze($0) }
        let probe = Self.closeProbe.withUnsafeBufferPointer { analyzer.analyze($0) }
        #expect(main.logSumExp == probe.logSumExp)
        let margin = ThinkBrake.margin(top1: main.logProbability(ofLogit: 2), close: Double(Float(1)) - probe.logSumExp)
        #expect(margin == 1.0)

        var forks: [[Int32]] = []
        let list = [Self.favourite(Self.so), Self.favourite(Self.stop), Self.afterBoundary,
                    Self.favourite(Self.so), Self.favourite(Self.answer)]
        let (s, _) = try make(main: Self.steps(list), specs: ["thinkbrake:read=\(read)"], probe: { d in
            if d.token == Self.dotNewline { forks.append(d.history); return Self.closeProbe }
            return Self.certain(Self.eos)
        })
        let tb = try #require(s.strategy("thinkbrake") as? ThinkBrake)
        #expect(tb.threshold == 1.0)
        if !atThreshold { tb.threshold = 1.0.nextDown }
        while try s.step() != nil {}
        #expect(forks == [prompt + [Self.so, Self.dotNewline]])
        #expect(tb.lastMargin == 1.0 && tb.boundaries == 1)
        if atThreshold {
            #expect(tb.closed)
            #expect(s.records.map(\.token) == [Self.so, Self.stop, Self.close, Self.blank, Self.answer, Self.eos])
            #expect(s.records[2...3].allSatisfy { $0.input == .forced })
            #expect(s.records[4].phase == .answer)
            #expect(s.events.filter { $0.kind == .brake }.count == 1)
        } else {
            #expect(!tb.closed)
            #expect(s.records.map(\.token) == [Self.so, Self.stop, Self.so, Self.so, Self.answer, Self.eos])
            #expect(s.records.allSatisfy { $0.input == .explicit && $0.phase == .thinking })
            #expect(!s.events.contains { $0.kind == .brake })
        }
    }

    // MARK: H2O

    func entries(_ scores: [Float], from first: Int = 0) -> [(position: Int, entry: KVLedger.Entry)] {
        scores.enumerated().map { (first + $0.offset, KVLedger.Entry(token: 5, index: first + $0.offset, score: $0.element)) }
    }

    @Test("H2O: the recent window holds the incoming token: 8 held + 1 incoming keep 3 heavy hitters + the last old position")
    func h2oWindow() throws {
        let p = try KVPolicyRegistry.parse("h2o:heavy=3:recent=2")
        //                      0    1    2    3    4    5    6    7
        let scores: [Float] = [9, 0.5, 4, 0.1, 7, 0.2, 0.3, 0]
        let plan = try #require(p.plan(entries(scores), moment: .generation(incoming: 1), capacity: 100, promptTokens: 7))
        #expect(plan.positions == [1, 3, 5, 6])
        #expect(plan.compactFrom == nil)
        let kept = Set(0..<8).subtracting(plan.positions)
        #expect(kept == [0, 2, 4, 7])   // heavy 0, 2, 4; 7 and the incoming token are the window
        #expect(kept.count + 1 == 3 + 2)

        // the next step: 7 drew little attention, the newest (8) much; only 7 may go, and goes
        var held = entries(scores).filter { kept.contains($0.position) } + entries([0], from: 8)
        held[3].entry.score += 0.05
        held[4].entry.score += 1
        let next = try #require(p.plan(held, moment: .generation(incoming: 1), capacity: 100, promptTokens: 7))
        #expect(next.positions == [7])
    }

    @Test("H2O steady state: after every plan, held + incoming == heavy + recent, the kept old ones are the heaviest 3")
    func h2oSteadyState() throws {
        let p = try KVPolicyRegistry.parse("h2o:heavy=3:recent=2")
        var held = entries([9, 0.5, 4, 0.1, 7, 0.2, 0.3, 0])
        var position = held.count
        for _ in 0..<24 {
            let scores = held.map(\.entry.score)
            try #require(Set(scores).count == scores.count, "distinct scores keep the expectation free of ties")
            let candidates = held.dropLast()   // the last old position is in the window with the incoming one
            let heaviest = Set(candidates.sorted { $0.entry.score > $1.entry.score }.prefix(3).map(\.position))
            if let plan = p.plan(held, moment: .generation(incoming: 1), capacity: 100, promptTokens: 7) {
                held.removeAll { plan.positions.contains($0.position) }
            }
            #expect(held.count + 1 == 3 + 2)
            #expect(Set(held.dropLast().map(\.position)) == heaviest)
            #expect(held.last?.position == position - 1)
            // the incoming token arrives; every held position draws attention, by position
            held += entries([0], from: position)
            position += 1
            for i in held.indices { held[i].entry.score += Float((held[i].position * 7) % 11) + 0.5 }
        }
    }
}

import Foundation
import Kernels

/// SwiReasoning (Shi et al., arXiv 2510.05069; rule read from sdc17/SwiReasoning,
/// `generation_utils.py::generate_swir`): thinking alternates between explicit steps (the
/// sampled token is fed back) and latent steps (the model is fed pᵀE, the probability-weighted
/// sum of every token's input embedding), switching on the raw entropy.
///
/// Per thinking step t, with p = softmax(raw logits) and H_t = −Σ p ln p (nats, untouched by
/// temperature or filters; the sampled token still comes from the run's sampler):
/// - the first thinking step the strategy sees is t = 0: `ref` = H_0, mode latent;
/// - otherwise `steps` += 1, then latent → explicit when H_t < ref (no minimum stay), or
///   explicit → latent when H_t > ref, `steps` ≥ `window` and not `locked`; a switch flips
///   the mode and sets steps = 0, ref = H_t; latent → explicit switches are counted;
/// - `locked` is set once the sampled token is the think-close marker;
/// - the input fed after the step:
///     on a latent → explicit switch: β·pᵀE + (1−β)·E[think-close], β = β0 + (1−β0)·t/max_new_tokens
///       (a blend, not the sampled token; recorded `latent`);
///     explicit mode, locked, or a math token: the sampled token;
///     latent mode: pᵀE, except 0.9·pᵀE + 0.1·E[marker] at t = 0 and
///       α·pᵀE + (1−α)·E[think-open], α = α0 + (1−α0)·t/max_new_tokens, on an explicit → latent switch;
/// - switch cap (`cap`, off by default): on a latent → explicit switch with cap ≤ count ≤ 2·cap
///   the convergence text is queued (forced from the next step); with count > 2·cap the
///   termination text is queued and the answer gets `answer` (32) more tokens.
///
/// Choices where the reference cannot be followed literally (each documented at its place):
/// - t in the α/β formulas is the run's generation step and max_new_tokens the run's
///   `--max-tokens`, as in the reference; "t = 0" (ref and the marker blend) is the first
///   thinking step this strategy sees (the first step of the run when the prompt opens
///   thinking, or the step after it is switched on mid-run).
/// - the convergence text: the reference uses the close marker alone for Qwen models (its
///   marker is one token) and "\n\n</think>\n\n" for the others; here the close token alone
///   where the model has a single close token, the text form otherwise (`converge` sets it).
/// - the newline marker: the reference looks up the vocabulary entry "\n" written as two
///   characters (backslash, n); here that two-character text is tokenized and its first
///   token taken (parameter `marker`).
/// - a think marker that is text over several tokens (models without think tokens, such as
///   Gemma 3 270M): its embedding is the mean of its tokens' embeddings (a stand-in; the
///   reference has single marker tokens), and `locked` is set on the token that completes it.
/// - the strategy acts only during thinking. The reference has no phases and keeps switching
///   (and may inject its texts again) after an injected think-close; here the convergence
///   text ends thinking and with it the switching, so the termination text is reached only
///   when thinking goes on (the model reopens it, or another strategy's forcing won).
/// - forced tokens (the cap's queue, other strategies, the user) are always fed as tokens;
///   the reference feeds an injected token as pᵀE when its mode is latent. As in the
///   reference, `locked` and the voiding of a planned switch to latent follow the sampled
///   token on a forced step too (`observeForced`).
/// - "32 more tokens": the reference stops a sequence when the allowance, set at the switch
///   step, runs out (its last token is the one of step t + 31); here an end-of-generation
///   token is forced at step t + `answer`, which ends the run after the same 32 tokens.
/// - the exact mixture over the whole vocabulary is the default; `mix=top` feeds the
///   smallest top set reaching probability `mass` (and/or the `topk` most likely tokens),
///   renormalised; each latent step's effects say which one was fed.
/// The authors sample with temperature 0.6, top-p 0.95, top-k 20; the strategy leaves the
/// run's sampling settings as they are.
///
/// Cost on Gemma 3 270M (Q8_0 embedding table, 2 threads, release build, 200 steps): an
/// explicit step 10.8 ms; a latent step with the exact mixture 17.7 ms (1.65×: 0.3 ms for the
/// softmax, 7 ms for pᵀE over 262,144 rows); with `mix=top` (mass 0.999, a median of 807
/// tokens) 11.7 ms (1.08×); with `mix=top:topk=64` 11.4 ms. The first latent step also
/// calibrates the input scale (about 60 ms, once per context).
public final class SwiReasoning: DecodingStrategy {
    public static let info = StrategyInfo(
        id: "swir", name: "SwiReasoning", source: "sdc17/SwiReasoning", needs: [.fullDistribution, .embeddingInput],
        fidelity: "faithful; exact pᵀE over the whole vocabulary by default, `mix=top` (mass / top-k truncation) as an option; convergence text: the close token alone where the model has one (the reference's Qwen setting), else \"\\n\\n</think>\\n\\n\"; a text think-marker's embedding is the mean of its tokens' (stand-in where the vocabulary has no marker token, as in Gemma 3); forced tokens are fed as tokens",
        primary: "cap")

    public static var parameters: [Parameter<SwiReasoning>] {
        [.integer("window", \.window, 0...10_000_000, always: true, help: "explicit steps before a switch back to latent is allowed"),
         .number("alpha", \.alpha0, 0...1, always: true, help: "α0 of the blend with E[think-open] on switching to latent (1: pure pᵀE)"),
         .number("beta", \.beta0, 0...1, always: true, help: "β0 of the blend with E[think-close] on switching to explicit"),
         .optionalInteger("cap", \.cap, 1...1_000_000, help: "switch cap (the authors' chat demo: 2); off by default"),
         .choice("mix", \.mix, help: "exact: pᵀE over the whole vocabulary; top: a truncated mixture (mass / topk), renormalised"),
         .number("mass", \.mass, 0...1, lowerOpen: true, help: "mix=top: the smallest top set reaching this probability"),
         .integer("topk", \.topK, 0...10_000_000, help: "mix=top: at most this many tokens (0: no limit)"),
         .optionalText("converge", \.converge, help: "text queued at cap ≤ switches ≤ 2·cap (default: the close token alone, or \"\\n\\n</think>\\n\\n\" for a text marker)"),
         .optionalText("terminate", \.terminate, help: "text queued at switches > 2·cap (default: close + \"\\n\\nThe final answer is\")"),
         .integer("answer", \.answerTokens, 0...1_000_000, help: "answer tokens allowed after the termination text"),
         .text("marker", \.marker, nonEmpty: true, help: "the text whose first token is blended in at t = 0 (two characters: backslash, n)"),
         .flag("math", \.keepMath, help: "feed math tokens (digits, letters, operators, LaTeX) explicitly")]
    }

    public enum Mixture: String, Sendable, CaseIterable { case exact, top }

    public static let defaultWindow = 512
    public static let defaultAlpha = 1.0
    public static let defaultBeta = 0.7
    public static let defaultMass = 0.999
    public static let defaultAnswerTokens = 32
    public static let defaultMarker = "\\n"
    public static let finalAnswerCue = "\n\nThe final answer is"

    /// steps an explicit stretch lasts at least before it may switch back to latent
    public var window = SwiReasoning.defaultWindow
    /// α0 of the blend with think-open on switching to latent (1: pure pᵀE)
    public var alpha0 = SwiReasoning.defaultAlpha
    /// β0 of the blend with think-close on switching to explicit
    public var beta0 = SwiReasoning.defaultBeta
    /// switch cap (nil: none)
    public var cap: Int?
    public var mix = Mixture.exact
    /// `mix=top`: smallest top set reaching this probability
    public var mass = SwiReasoning.defaultMass
    /// `mix=top`: at most this many tokens (0: no limit)
    public var topK = 0
    /// queued at cap ≤ count ≤ 2·cap; nil: "\n\n" + close + "\n\n"
    public var converge: String?
    /// queued at count > 2·cap; nil: close + "\n\nThe final answer is"
    public var terminate: String?
    /// tokens the answer gets after the termination switch
    public var answerTokens = SwiReasoning.defaultAnswerTokens
    /// the text whose first token is blended in at t = 0 (two characters: backslash, n)
    public var marker = SwiReasoning.defaultMarker
    /// math tokens are always fed explicitly
    public var keepMath = true

    /// The plan of the current step, made before sampling and carried out by `input`.
    struct Plan: Sendable {
        var step: Int
        var first = false
        var toExplicit = false
        var toLatent = false
        /// mode, steps and ref before a switch (a switch to latent is undone when the sampled
        /// token turns out to be the think-close: `locked` blocks it in the reference)
        var before: (latent: Bool, steps: Int, ref: Double)?
        /// the trace event of a switch to latent, written once the sampled token let it stand
        var event: String?
    }

    public struct State: Sendable {
        var started = false
        var latent = true
        var steps = 0
        var ref = 0.0
        var locked = false
        var switches = 0
        var entropy = 0.0
        /// tokens to force from the next step (the cap's texts)
        var queue: [Int32] = []
        var queueLabel = ""
        /// generation step at which the answer allowance is used up
        var endAt: Int?
        var ended = false
        var latentInputs = 0
        var plan: Plan?
    }
    public var state = State()

    /// token ids fed explicitly whatever the mode (built by `prepare`)
    public private(set) var mathTokens: Set<Int32> = []
    /// the marker's first token (built by `prepare`)
    public private(set) var markerToken: Int32?

    // scratch for the per-step distribution and the mixture
    private var probs: [Float] = []
    private var allIds: [Int32] = []
    private var selectIds: [Int32] = []
    private var selectWeights: [Float] = []
    private var binMass: [Double] = []
    private var topAnalyzer: DistributionAnalyzer?
    private var embeddingCache: [String: [Float]] = [:]
    private var endToken: Int32?

    public init() {}

    public var liveState: String {
        var s = "\(state.latent ? "latent" : "explicit") · ref \(String(format: "%.2f", state.ref)) · switches \(state.switches)"
        if let cap { s += "/\(cap)" }
        if state.locked { s += " · locked" }
        if state.endAt != nil { s += " · answer allowance" }
        return s
    }

    public var isLatent: Bool { state.latent }
    public var switches: Int { state.switches }
    public var referenceEntropy: Double { state.ref }
    public var locked: Bool { state.locked }

    /// The reference's math symbols: operators, brackets, digits, letters, and the LaTeX
    /// commands it lists. Every token of each symbol's tokenization counts as a math token.
    public static let mathSymbols: [String] = {
        var s = ["+", "-", "*", "/", "^", "=", "<", ">", "(", ")", "[", "]", "{", "}", "_", "|"]
        s += ["\\leq", "\\geq", "\\neq", "\\approx", "\\sim", "\\equiv", "\\to", "\\implies", "\\iff",
              "\\left(", "\\right)", "\\left[", "\\right]", "\\left\\{", "\\right\\}", "\\begin{pmatrix}", "\\end{pmatrix}",
              "\\frac", "\\dfrac", "\\sqrt", "\\sqrt[]", "\\in", "\\notin", "\\subset", "\\supset", "\\subseteq",
              "\\supseteq", "\\cup", "\\cap", "\\emptyset", "\\varnothing", "\\pi", "\\theta", "\\alpha", "\\beta",
              "\\gamma", "\\delta", "\\epsilon", "\\zeta", "\\lambda", "\\mu", "\\nu", "\\sin", "\\cos", "\\tan",
              "\\arcsin", "\\arccos", "\\arctan", "\\log", "\\ln", "\\exp", "\\binom", "\\choose", "\\cdot",
              "\\dots", "\\ldots", "\\cdots", "\\vdots", "\\ddots", "\\mathbb", "\\mathbf", "\\mathrm", "\\text",
              "\\mbox", "\\infty", "\\circ", "\\prime", "\\ast", "\\star", "\\triangle", "\\triangleleft",
              "\\triangleright", "\\perp", "\\parallel", "\\angle", "\\boxed", "\\overline", "\\underline",
              "\\lceil", "\\rceil", "\\lfloor", "\\rfloor", "\\left", "\\right", "\\mid", "\\vert", "\\Vert",
              "\\because", "\\therefore", "\\forall", "\\exists", "\\wedge", "\\vee", "\\neg", "\\sum", "\\prod",
              "\\int", "\\lim", "\\min", "\\max", "\\arg", "\\deg", "\\gcd", "\\operatorname", "\\cot", "\\cotg",
              "\\sec", "\\csc"]
        for c in UInt8(ascii: "0")...UInt8(ascii: "9") { s.append(String(UnicodeScalar(c))) }
        for c in UInt8(ascii: "a")...UInt8(ascii: "z") { s.append(String(UnicodeScalar(c))) }
        for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { s.append(String(UnicodeScalar(c))) }
        return s
    }()

    public func prepare(_ env: StrategyEnvironment) throws {
        var ids = Set<Int32>()
        if keepMath { for s in Self.mathSymbols { ids.formUnion(try env.tokenize(s)) } }
        mathTokens = ids
        markerToken = try env.tokenize(marker).first
        embeddingCache = [:]
        endToken = nil
    }

    // MARK: before sampling: entropy, switches, queued texts

    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        state.plan = nil
        if let end = state.endAt, view.step >= end, view.queuedForced == 0 {
            state.endAt = nil
            state.ended = true
            decision.force = [try endOfGeneration(env)]
            decision.effect(.force, "answer allowance of \(answerTokens) tokens used: ending generation")
            env.event(.swirEnd, "the answer had \(answerTokens) tokens after the termination switch")
            return
        }
        if !state.queue.isEmpty, view.queuedForced == 0 {
            decision.force = state.queue
            decision.effect(.force, "queued \(state.queueLabel) text: \(state.queue.count) tokens")
            state.queue = []
        }
        guard view.phase == .thinking else { return }
        let h = view.summary.entropy
        state.entropy = h
        var plan = Plan(step: view.step)
        if !state.started {
            state.started = true
            state.ref = h
            state.steps = 0
            plan.first = true
            decision.effect(.modeSwitch, String(format: "t = 0: ref %.3f, %@", h, state.latent ? "latent" : "explicit"))
        } else {
            state.steps += 1
            if state.latent && h < state.ref {
                plan.before = (state.latent, state.steps, state.ref)
                plan.toExplicit = true
                decision.effect(.modeSwitch, String(format: "latent → explicit: H %.3f < ref %.3f", h, state.ref))
                env.event(.swirSwitch, String(format: "latent → explicit (H %.3f < ref %.3f), switch %d", h, state.ref, state.switches + 1))
                state.latent = false
                state.steps = 0
                state.ref = h
                state.switches += 1
                try applyCap(view, decision: &decision, env)
            } else if !state.latent && h > state.ref && state.steps >= window && !state.locked {
                plan.before = (state.latent, state.steps, state.ref)
                plan.toLatent = true
                decision.effect(.modeSwitch, String(format: "explicit → latent: H %.3f > ref %.3f after %d steps", h, state.ref, state.steps))
                plan.event = String(format: "explicit → latent (H %.3f > ref %.3f after %d steps)", h, state.ref, state.steps)
                state.latent = true
                state.steps = 0
                state.ref = h
            }
        }
        state.plan = plan
    }

    /// The switch cap, on a latent → explicit switch (the count already includes it).
    private func applyCap(_ view: StepView, decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        guard let cap else { return }
        let count = state.switches
        if count >= cap && count <= 2 * cap {
            let text = converge ?? Self.convergence(view.markers)
            state.queue = try tokens(of: text, view.markers, env)
            state.queueLabel = "convergence"
            decision.effect(.force, "switch \(count) of cap \(cap): convergence text \(String(reflecting: text)) from the next step")
            env.event(.swirCap, "switch \(count) (cap \(cap)): convergence \(String(reflecting: text))")
        } else if count > 2 * cap {
            let text = terminate ?? view.markers.close + Self.finalAnswerCue
            state.queue = try tokens(of: text, view.markers, env)
            state.queueLabel = "termination"
            state.endAt = view.step + answerTokens
            decision.effect(.force, "switch \(count) > 2·cap \(cap): termination text \(String(reflecting: text)), \(answerTokens) answer tokens")
            env.event(.swirCap, "switch \(count) (cap \(cap)): termination \(String(reflecting: text)), generation ends at step \(view.step + answerTokens)")
        }
    }

    /// The reference's convergence text: the close marker alone where it is one token (its
    /// Qwen setting), "\n\n" + close + "\n\n" otherwise (its setting for other models).
    static func convergence(_ markers: ThinkMarkers) -> String {
        markers.closeToken != nil ? markers.close : "\n\n" + markers.close + "\n\n"
    }

    /// Tokens of a text, with the think-close marker as its own token where the model has one.
    private func tokens(of text: String, _ markers: ThinkMarkers, _ env: StrategyEnvironment) throws -> [Int32] {
        guard let close = markers.closeToken, !markers.close.isEmpty else { return try env.tokenize(text) }
        var out: [Int32] = []
        var parts = text.components(separatedBy: markers.close)
        let last = parts.removeLast()
        for part in parts {
            if !part.isEmpty { out += try env.tokenize(part) }
            out.append(close)
        }
        if !last.isEmpty { out += try env.tokenize(last) }
        return out
    }

    private func endOfGeneration(_ env: StrategyEnvironment) throws -> Int32 {
        if let t = endToken { return t }
        for i in 0..<env.vocabularySize where env.isEndOfGeneration(Int32(i)) {
            endToken = Int32(i)
            return Int32(i)
        }
        throw ThinktopError.invalidArgument("strategy swir: the model has no end-of-generation token to end the answer with")
    }

    // MARK: the input

    /// `locked` follows the sampled token (reference L303), also when a forced token is fed
    /// instead: sampling the think-close locks explicit mode and voids a switch to latent
    /// planned at this step (the reference's `to_soft` requires `~locked`, updated first).
    /// A switch to latent that stands is written to the trace here, once.
    private func lock(on sampled: Int32, _ view: StepView, _ env: StrategyEnvironment, _ effects: inout [Effect]) {
        guard var plan = state.plan, plan.step == view.step, view.phase == .thinking else { return }
        if isClose(sampled, view, env) {
            state.locked = true
            if plan.toLatent, let b = plan.before {
                (state.latent, state.steps, state.ref) = b
                plan.toLatent = false
                effects.append(Effect(id, .modeSwitch, "think-close sampled: locked, the switch to latent is void"))
            }
        }
        if plan.toLatent, let event = plan.event { env.event(.swirSwitch, event) }
        plan.event = nil
        state.plan = plan
    }

    public func observeForced(sampled: Int32, view: StepView, env: StrategyEnvironment, effects: inout [Effect]) throws {
        lock(on: sampled, view, env, &effects)
    }

    public func input(for token: Int32, view: StepView, env: StrategyEnvironment, effects: inout [Effect]) throws -> [Float]? {
        lock(on: token, view, env, &effects)
        guard let plan = state.plan, plan.step == view.step, view.phase == .thinking else { return nil }
        let t = Double(view.step) / Double(max(1, view.maxTokens))
        if plan.toExplicit {
            let beta = Float(beta0 + (1 - beta0) * t)
            let soft = try latentMixture(view, env, &effects)
            let close = try markerEmbedding(view.markers.close, token: view.markers.closeToken, env)
            effects.append(Effect(id, .latent, String(format: "input β·pᵀE + (1−β)·E[think-close], β %.4f", beta)))
            state.latentInputs += 1
            return Self.blend(soft, beta, close)
        }
        if !state.latent || state.locked { return nil }
        if keepMath && mathTokens.contains(token) {
            effects.append(Effect(id, .note, "math token \(String(reflecting: env.text(of: token))) fed explicitly"))
            return nil
        }
        let soft = try latentMixture(view, env, &effects)
        state.latentInputs += 1
        if plan.first {
            guard let m = markerToken else { return soft }
            effects.append(Effect(id, .latent, "input 0.9·pᵀE + 0.1·E[\(String(reflecting: env.text(of: m)))]"))
            return Self.blend(soft, 0.9, try env.embedding(of: m))
        }
        if plan.toLatent {
            let alpha = Float(alpha0 + (1 - alpha0) * t)
            effects.append(Effect(id, .latent, String(format: "input α·pᵀE + (1−α)·E[think-open], α %.4f", alpha)))
            if alpha >= 1 { return soft }
            return Self.blend(soft, alpha, try markerEmbedding(view.markers.open, token: view.markers.openToken, env))
        }
        return soft
    }

    /// Whether `token` is (or completes) the think-close marker.
    private func isClose(_ token: Int32, _ view: StepView, _ env: StrategyEnvironment) -> Bool {
        if let c = view.markers.closeToken { return token == c }
        let close = view.markers.close
        guard !close.isEmpty else { return false }
        let tail = String(view.text.suffix(close.count))
        return !tail.contains(close) && (tail + env.text(of: token)).contains(close)
    }

    /// E of a marker: its token's embedding, or the mean of its tokens' embeddings when it is
    /// text over several tokens (a stand-in for models without think tokens).
    private func markerEmbedding(_ text: String, token: Int32?, _ env: StrategyEnvironment) throws -> [Float] {
        if let e = embeddingCache[text] { return e }
        let ids = try token.map { [$0] } ?? env.tokenize(text)
        guard !ids.isEmpty else { throw ThinktopError.invalidArgument("strategy swir: marker \(String(reflecting: text)) has no tokens") }
        let e: [Float]
        if ids.count == 1 {
            e = try env.embedding(of: ids[0])
        } else {
            let w = [Float](repeating: 1 / Float(ids.count), count: ids.count)
            e = try ids.withUnsafeBufferPointer { i in try w.withUnsafeBufferPointer { try env.mixture(ids: i, weights: $0) } }
        }
        embeddingCache[text] = e
        return e
    }

    static func blend(_ a: [Float], _ wa: Float, _ b: [Float]) -> [Float] {
        precondition(a.count == b.count)
        let wb = 1 - wa
        var out = a
        for i in out.indices { out[i] = wa * a[i] + wb * b[i] }
        return out
    }

    // MARK: the mixture

    /// pᵀE for this step's raw distribution: exact over the whole vocabulary, or the
    /// truncated mixture of `mix=top`.
    private func latentMixture(_ view: StepView, _ env: StrategyEnvironment, _ effects: inout [Effect]) throws -> [Float] {
        let n = view.logits.count
        if probs.count != n {
            probs = [Float](repeating: 0, count: n)
            allIds = (0..<n).map { Int32($0) }
        }
        probs.withUnsafeMutableBufferPointer { Softmax.compute(view.logits, max: view.summary.maxLogit, into: $0) }
        switch mix {
        case .exact:
            effects.append(Effect(id, .latent, "latent pᵀE over all \(n) tokens"))
            return try allIds.withUnsafeBufferPointer { i in try probs.withUnsafeBufferPointer { try env.mixture(ids: i, weights: $0) } }
        case .top:
            let kept = selectTop(view.logits)
            effects.append(Effect(id, .latent, String(format: "latent pᵀE over the top %d tokens (mass %.4f, renormalised)", selectIds.count, kept)))
            return try selectIds.withUnsafeBufferPointer { i in try selectWeights.withUnsafeBufferPointer { try env.mixture(ids: i, weights: $0) } }
        }
    }

    /// Fills `selectIds`/`selectWeights` with the smallest top set whose probability reaches
    /// `mass` (at most `topK` tokens when set), renormalised; returns the mass kept.
    private func selectTop(_ logits: UnsafeBufferPointer<Float>) -> Double {
        selectIds.removeAll(keepingCapacity: true)
        selectWeights.removeAll(keepingCapacity: true)
        if topK > 0 {
            // the top-k by logit is the top-k by probability, in order
            let k = min(topK, logits.count)
            if topAnalyzer?.topCount != k { topAnalyzer = DistributionAnalyzer(topCount: k) }
            for c in topAnalyzer!.analyze(logits).top { selectIds.append(c.id) }
        } else {
            return selectByMass()
        }
        var cum = 0.0
        var count = 0
        for id in selectIds {
            cum += Double(probs[Int(id)])
            count += 1
            if cum >= mass { break }
        }
        selectIds.removeLast(selectIds.count - count)
        let inv = Float(1 / cum)
        for id in selectIds { selectWeights.append(probs[Int(id)] * inv) }
        return cum
    }

    /// The smallest top set reaching `mass` without sorting the vocabulary: a histogram of
    /// probability mass over 2,048 bins of the Float bit pattern (exponent and 3 mantissa bits,
    /// monotone in p) finds the bin where the cumulative mass from the top crosses `mass`;
    /// the bins above are taken whole, and only the crossing bin is sorted (by p, then id).
    private func selectByMass() -> Double {
        if binMass.isEmpty { binMass = [Double](repeating: 0, count: 2048) }
        for b in binMass.indices { binMass[b] = 0 }
        let shift: UInt32 = 20
        probs.withUnsafeBufferPointer { p in
            binMass.withUnsafeMutableBufferPointer { bins in
                for x in p where x > 0 { bins[Int(x.bitPattern >> shift)] += Double(x) }
            }
        }
        var above = 0.0
        var cross = -1
        for b in stride(from: binMass.count - 1, through: 1, by: -1) where binMass[b] > 0 {
            if above + binMass[b] >= mass { cross = b; break }
            above += binMass[b]
        }
        var side: [Int32] = []
        probs.withUnsafeBufferPointer { p in
            for i in 0..<p.count where p[i] > 0 {
                let b = Int(p[i].bitPattern >> shift)
                if b > cross { selectIds.append(Int32(i)) } else if b == cross { side.append(Int32(i)) }
            }
        }
        var cum = above
        if cross >= 0 {
            side.sort { probs[Int($0)] > probs[Int($1)] || (probs[Int($0)] == probs[Int($1)] && $0 < $1) }
            for id in side {
                selectIds.append(id)
                cum += Double(probs[Int(id)])
                if cum >= mass { break }
            }
        }
        let inv = Float(1 / cum)
        for id in selectIds { selectWeights.append(probs[Int(id)] * inv) }
        return cum
    }
}

import Foundation

/// Answer-candidate early stop, a heuristic stand-in for the trained detector and controller
/// of "First Try Matters" (Kang et al., arXiv 2510.08308): thinking is split into lines, and
/// each completed line (ended by a newline) is searched for a candidate answer —
/// `\boxed{…}`, "the answer is …", or "= N" at the end of the line (N a number), tried in
/// that order, at most one candidate per line. Once `k` candidates have appeared (default 1),
/// or, with `same=k`, once one answer has been stated k times, thinking is ended as budget
/// forcing ends it: a newline if the text does not end with one, the think-close marker, and
/// a newline. Answers are compared after removing spaces, `$`, trailing dots and thousands
/// separators, lower-cased.
public final class AnswerStop: DecodingStrategy {
    public static let info = StrategyInfo(
        id: "answerstop", name: "Answer stop", source: "after Kang et al. 2510.08308", needs: [.topK],
        fidelity: "**heuristic stand-in** for the paper's trained detector and controller", primary: "k")

    public static var parameters: [Parameter<AnswerStop>] {
        [.integer("k", \.k, 1...10_000, always: true, help: "candidate answers (\\boxed{…}, \"the answer is …\", \"= N\" at line end) that end thinking"),
         .optionalInteger("same", \.same, 1...10_000, help: "instead: end once one answer was stated this many times")]
    }

    /// candidates that end thinking
    public var k = 1
    /// nil: count every candidate; n: end once one answer was stated n times
    public var same: Int?

    public struct State: Sendable {
        var line = ""
        var candidates: [String] = []
        var counts: [String: Int] = [:]
        var triggered = false
        var ended = false
    }
    public var state = State()

    public init() {}

    public var liveState: String {
        let last = state.candidates.last.map { " · last \(String(reflecting: $0))" } ?? ""
        let progress: String
        if let same {
            let best = state.counts.values.max() ?? 0
            progress = "same answer \(best)/\(same)"
        } else {
            progress = "candidates \(state.candidates.count)/\(k)"
        }
        return progress + last + (state.ended ? " · ended" : "")
    }

    public var candidates: [String] { state.candidates }
    public var ended: Bool { state.ended }

    // MARK: detection

    /// The candidate answer stated on a line, if any.
    public static func candidate(in line: String) -> String? {
        if let boxed = boxed(in: line) { return boxed }
        if let stated = stated(in: line) { return stated }
        return equation(in: line)
    }

    /// The content of the last `\boxed{…}` on the line with balanced braces.
    static func boxed(in line: String) -> String? {
        var found: String?
        var rest = line[...]
        while let r = rest.range(of: "\\boxed{") {
            var depth = 1
            var i = r.upperBound
            while i < rest.endIndex {
                let c = rest[i]
                if c == "{" { depth += 1 } else if c == "}" {
                    depth -= 1
                    if depth == 0 { break }
                }
                i = rest.index(after: i)
            }
            guard i < rest.endIndex else { break }   // unbalanced: not a candidate
            let content = rest[r.upperBound..<i].trimmingCharacters(in: .whitespaces)
            if !content.isEmpty { found = content }
            rest = rest[rest.index(after: i)...]
        }
        return found
    }

    /// The rest of the line after "the answer is" (also "the final answer is", "answer is:").
    static func stated(in line: String) -> String? {
        let lower = line.lowercased()
        guard let r = lower.range(of: "answer is", options: .backwards) else { return nil }
        // keep the original case of the answer text
        let offset = lower.distance(from: lower.startIndex, to: r.upperBound)
        guard offset <= line.count else { return nil }
        var answer = String(line[line.index(line.startIndex, offsetBy: offset)...])
        answer = answer.trimmingCharacters(in: CharacterSet(charactersIn: " :\t*$"))
        answer = trimEnd(answer)
        return answer.isEmpty ? nil : answer
    }

    /// N in "… = N" at the end of the line (trailing punctuation, `$`, `**`, `\)` and `\]` allowed).
    static func equation(in line: String) -> String? {
        let s = trimEnd(line)
        guard let eq = s.lastIndex(of: "=") else { return nil }
        let rhs = s[s.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        guard !rhs.isEmpty else { return nil }
        var sawDigit = false
        for (i, c) in rhs.enumerated() {
            if c.isASCII && c.isNumber { sawDigit = true; continue }
            if (c == "-" || c == "+") && i == 0 { continue }
            if c == "." || c == "," || c == "/" { continue }
            return nil
        }
        guard sawDigit, rhs.last?.isNumber == true else { return nil }
        return rhs
    }

    /// Removes trailing spaces, dots, `$`, `*`, and LaTeX `\)` / `\]` closers.
    static func trimEnd(_ s: String) -> String {
        var t = s
        while true {
            let before = t
            t = t.trimmingCharacters(in: .whitespaces)
            while let c = t.last, ".$*".contains(c) { t.removeLast() }
            if t.hasSuffix("\\)") || t.hasSuffix("\\]") { t.removeLast(2) }
            if t == before { return t }
        }
    }

    /// The form answers are compared in.
    public static func normalize(_ answer: String) -> String {
        var s = answer.lowercased().filter { !$0.isWhitespace && $0 != "$" }
        while s.hasSuffix(".") { s.removeLast() }
        // thousands separators: a comma between digits with three digits after it
        let chars = Array(s)
        var out = ""
        for (i, c) in chars.enumerated() {
            let separator = c == "," && i > 0 && chars[i - 1].isNumber && i + 3 < chars.count
                && chars[(i + 1)...(i + 3)].allSatisfy(\.isNumber) && (i + 4 == chars.count || !chars[i + 4].isNumber)
            if !separator { out.append(c) }
        }
        return out
    }

    // MARK: hooks

    public func afterToken(_ record: StepRecord, view: TokenView, prober: Prober?, env: StrategyEnvironment,
                           effects: inout [Effect]) throws {
        guard record.phase == .thinking, !state.ended else { return }
        state.line += record.text
        while let nl = state.line.firstIndex(of: "\n") {
            let line = String(state.line[..<nl])
            state.line = String(state.line[state.line.index(after: nl)...])
            guard let answer = Self.candidate(in: line) else { continue }
            state.candidates.append(answer)
            let key = Self.normalize(answer)
            state.counts[key, default: 0] += 1
            let reached: Bool
            if let same {
                reached = state.counts[key]! >= same
                effects.append(Effect(id, .note, "candidate \(String(reflecting: answer)) stated \(state.counts[key]!)/\(same) times"))
            } else {
                reached = state.candidates.count >= k
                effects.append(Effect(id, .note, "candidate \(state.candidates.count)/\(k): \(String(reflecting: answer))"))
            }
            if reached { state.triggered = true }
        }
    }

    public func beforeSampling(_ view: StepView, _ decision: inout StepDecision, _ env: StrategyEnvironment) throws {
        guard state.triggered, !state.ended, view.phase == .thinking, view.queuedForced == 0 else { return }
        var tokens: [Int32] = []
        if !view.text.hasSuffix("\n") { tokens += try env.tokenize("\n") }
        if let close = view.markers.closeToken { tokens.append(close) } else { tokens += try env.tokenize(view.markers.close) }
        tokens += try env.tokenize("\n")
        decision.force = tokens
        state.ended = true
        let why = same.map { "the same answer stated \($0) times" } ?? "\(state.candidates.count) candidate\(state.candidates.count == 1 ? "" : "s")"
        decision.effect(.force, "\(why): ending thinking")
        env.event(.answerstopEnd, "\(why), last \(String(reflecting: state.candidates.last ?? ""))")
    }
}

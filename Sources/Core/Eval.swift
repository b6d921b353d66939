import Foundation

/// A problem with its reference answer. Problem files are JSON lines in any of the shapes
/// problem sets are published in, told apart line by line:
///
/// - thinktop's own: `{"id": "sheep", "question": "…", "answer": "9"}` (`id` optional);
/// - GSM8K: `{"question": "…", "answer": "…reasoning…\n#### 72"}`: the reference is what
///   follows the last `####`;
/// - MATH: `{"problem": "…", "solution": "… \\boxed{\\frac{1}{2}}"}`: the reference is the last
///   `\boxed{…}` of the solution (an `answer` field, as MATH-500 has, takes precedence);
/// - AIME-style: `{"problem": "…", "answer": 204}` (a number or a string).
///
/// Keys are matched without regard to case (`Problem`, `Answer`, `ID`); an id is read from
/// `id`, `unique_id`, `problem_id` or `idx` when there is one.
public struct Problem: Codable, Sendable, Equatable {
    public var id: String?
    public var question: String
    public var answer: String
    /// the shape the line had: `thinktop`, `GSM8K`, `MATH` or `AIME`
    public var source: String?

    public init(id: String?, question: String, answer: String, source: String? = nil) {
        self.id = id; self.question = question; self.answer = answer; self.source = source
    }

    /// Reads a problems file; a line in none of the shapes is an error naming the file and line.
    public static func load(path: String) throws -> [Problem] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ThinktopError.invalidArgument("cannot read the problems file \(path)")
        }
        var out: [Problem] = []
        for (n, raw) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let line = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let place = "problems \(path) line \(n + 1)"
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw ThinktopError.invalidArgument("\(place): not a JSON object: \(line.prefix(60))")
            }
            out.append(try parse(object, where: place))
        }
        guard !out.isEmpty else { throw ThinktopError.invalidArgument("problems \(path): no problems in the file") }
        return out
    }

    /// One problem from a decoded line.
    public static func parse(_ object: [String: Any], where place: String = "problem") throws -> Problem {
        var fields: [String: Any] = [:]
        for (k, v) in object { fields[k.lowercased()] = v }
        func text(_ key: String) -> String? {
            switch fields[key] {
            case let s as String: return s
            case let n as NSNumber: return n.stringValue
            default: return nil
            }
        }
        let id = ["id", "unique_id", "problem_id", "idx"].lazy.compactMap { text($0) }.first
        var problem: Problem
        if let q = text("question"), let a = text("answer") {
            if let r = a.range(of: "####", options: .backwards) {
                problem = Problem(id: id, question: q, answer: String(a[r.upperBound...]), source: "GSM8K")
            } else {
                problem = Problem(id: id, question: q, answer: a, source: "thinktop")
            }
        } else if let q = text("problem") {
            if let a = text("answer") {
                problem = Problem(id: id, question: q, answer: a, source: fields["solution"] != nil ? "MATH" : "AIME")
            } else if let solution = text("solution") {
                guard let boxed = AnswerExtractor.lastBoxed(solution) else {
                    throw ThinktopError.invalidArgument("\(place): a MATH solution without \\boxed{…}: no reference answer")
                }
                problem = Problem(id: id, question: q, answer: boxed, source: "MATH")
            } else {
                throw ThinktopError.invalidArgument("\(place): a \"problem\" needs an \"answer\" (AIME) or a \"solution\" (MATH)")
            }
        } else {
            throw ThinktopError.invalidArgument("\(place): expected {\"question\", \"answer\"} (thinktop, GSM8K) or {\"problem\", \"solution\" or \"answer\"} (MATH, AIME); it has \(object.keys.sorted().joined(separator: ", "))")
        }
        problem.answer = problem.answer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !problem.question.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, !problem.answer.isEmpty else {
            throw ThinktopError.invalidArgument("\(place): question and answer must not be empty")
        }
        return problem
    }
}

/// An exact fraction, for comparing answers written as integers, decimals or fractions
/// (`0.5`, `1/2` and `\frac{1}{2}` are the same answer).
public struct Rational: Equatable, Sendable {
    public var numerator: Int
    public var denominator: Int

    public init?(_ numerator: Int, _ denominator: Int) {
        guard denominator != 0 else { return nil }
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? abs(a) : gcd(b, a % b) }
        let g = max(1, gcd(numerator, denominator)), sign = denominator < 0 ? -1 : 1
        self.numerator = sign * numerator / g
        self.denominator = sign * denominator / g
    }

    /// "12", "-3", "4.50", "1,000", "3/4", "-1/2", "0.5/2" → the fraction; nil for anything else
    /// (and for numbers of more than 17 digits, which would not fit).
    public init?(text: String) {
        let t = text.replacingOccurrences(of: ",", with: "")
        let parts = t.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return nil }
        func decimal(_ s: Substring) -> (Int, Int)? {
            let negative = s.hasPrefix("-")
            let body = negative ? s.dropFirst() : s
            let pieces = body.split(separator: ".", omittingEmptySubsequences: false)
            guard (1...2).contains(pieces.count), !(pieces[0].isEmpty && pieces.count == 1),
                  pieces.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
                  pieces.map(\.count).reduce(0, +) <= 17 else { return nil }
            let whole = Int(pieces[0]) ?? 0
            let frac = pieces.count == 2 ? String(pieces[1]) : ""
            var scale = 1
            for _ in frac { scale *= 10 }
            let value = whole * scale + (Int(frac) ?? 0)
            return (negative ? -value : value, scale)
        }
        guard let (a, sa) = decimal(parts[0]) else { return nil }
        if parts.count == 1 { self.init(a, sa); return }
        guard let (b, sb) = decimal(parts[1]), b != 0 else { return nil }
        let (n, o1) = a.multipliedReportingOverflow(by: sb), (d, o2) = sa.multipliedReportingOverflow(by: b)
        guard !o1, !o2 else { return nil }
        self.init(n, d)
    }
}

/// Finds the final answer in generated text and compares it with a reference.
public enum AnswerExtractor {
    /// The answer the text commits to: the last "Answer: …" (after the think-close when there
    /// is one), else the last `\boxed{…}` (braces balanced), else "the final answer is …";
    /// `normalize`d.
    public static func extract(_ text: String, close: String = "</think>") -> String? {
        let afterThinking = text.range(of: close, options: .backwards).map { String(text[$0.upperBound...]) } ?? text
        for source in [afterThinking, text] {
            if let r = source.range(of: "Answer:", options: .backwards) {
                let line = source[r.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
                if let v = normalize(line) { return v }
            }
        }
        if let boxed = lastBoxed(text), let v = normalize(boxed) { return v }
        if let r = text.range(of: "final answer is", options: [.backwards, .caseInsensitive]) {
            let line = text[r.upperBound...].split(separator: "\n").first.map(String.init) ?? ""
            if let v = normalize(line) { return v }
        }
        return nil
    }

    /// The content of the last `\boxed{…}` (or `\fbox{…}`) in `text`, nested braces kept.
    public static func lastBoxed(_ text: String) -> String? {
        let starts = ["\\boxed{", "\\fbox{"].compactMap { text.range(of: $0, options: .backwards) }
        guard let start = starts.max(by: { $0.lowerBound < $1.lowerBound }),
              let inner = balanced(text, from: start.upperBound) else { return nil }
        return String(text[inner])
    }

    /// The range from `from` (just after a `{`) up to its matching `}`.
    static func balanced(_ t: String, from: String.Index) -> Range<String.Index>? {
        var depth = 1
        var i = from
        while i < t.endIndex {
            if t[i] == "{" { depth += 1 } else if t[i] == "}" { depth -= 1; if depth == 0 { return from..<i } }
            i = t.index(after: i)
        }
        return nil
    }

    /// LaTeX and formatting taken off an answer: `\boxed{}`, `\text{}` and the like (their
    /// content kept), `$`, `\left`/`\right`, thin spaces, degrees and percent signs; and
    /// `\frac{a}{b}` (also `\dfrac`, `\tfrac`, `\frac12`) written `a/b`.
    static func plain(_ s: String) -> String {
        var t = lastBoxed(s) ?? s
        for wrapper in ["\\text{", "\\textbf{", "\\mathrm{", "\\mathbf{"] {
            while let r = t.range(of: wrapper), let inner = balanced(t, from: r.upperBound) {
                t.replaceSubrange(r.lowerBound..<t.index(after: inner.upperBound), with: String(t[inner]))
            }
        }
        for f in ["\\dfrac", "\\tfrac", "\\frac"] {
            while let r = t.range(of: f) {
                var at = r.upperBound
                while at < t.endIndex, t[at] == " " { at = t.index(after: at) }
                // an argument: {…}, or a single character
                func argument(_ i: String.Index) -> (String, String.Index)? {
                    guard i < t.endIndex else { return nil }
                    if t[i] == "{", let inner = balanced(t, from: t.index(after: i)) {
                        return (String(t[inner]), t.index(after: inner.upperBound))
                    }
                    return (String(t[i]), t.index(after: i))
                }
                guard let (a, afterA) = argument(at), let (b, afterB) = argument(afterA) else { break }
                t.replaceSubrange(r.lowerBound..<afterB, with: "\(a)/\(b)")
            }
        }
        for mark in ["\\$", "$", "\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "^{\\circ}", "^\\circ", "\\circ", "\\%", "%"] {
            t = t.replacingOccurrences(of: mark, with: "")
        }
        return t
    }

    /// An answer in a canonical form: its first number (a thousands separator taken out,
    /// trailing decimal zeros dropped, a fraction `3/4` or `\frac{3}{4}` kept as `3/4`, a time
    /// like 8:50 kept whole), else its plain text lowercased, without spaces or a final period.
    /// An answer that is still LaTeX once the formatting is off (`\sqrt{3}/2`, `2^{10}`) is
    /// compared as that text: its first number would say nothing.
    public static func normalize(_ s: String) -> String? {
        let t = plain(s)
        let words = t.lowercased().filter { !$0.isWhitespace }
        let text = words.hasSuffix(".") ? String(words.dropLast()) : words
        // still LaTeX (\sqrt{3}, 2^{10}, \pi): compared as written, not by its first number
        if t.contains("\\") || t.contains("^") || t.contains("{") { return text.isEmpty ? nil : text }
        let number = #"-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?::\d\d|(?:\.\d+)?(?:\s*/\s*-?\d+(?:\.\d+)?)?)"#
        if let r = t.range(of: number, options: .regularExpression) {
            var v = t[r].replacingOccurrences(of: " ", with: "").replacingOccurrences(of: ",", with: "")
            if v.contains("."), !v.contains(":"), !v.contains("/") {
                while v.hasSuffix("0") { v.removeLast() }
                if v.hasSuffix(".") { v.removeLast() }
            }
            return v
        }
        return text.isEmpty ? nil : text
    }

    /// Whether an extracted answer is the reference: the same number (0.5, 1/2 and
    /// `\frac{1}{2}` are), else the same canonical text.
    public static func matches(_ extracted: String?, reference: String) -> Bool {
        guard let e = extracted.flatMap(normalize), let r = normalize(reference) else { return false }
        if let a = Rational(text: e), let b = Rational(text: r) { return a == b }
        return e == r
    }
}

/// One problem run under one strategy set.
public struct EvalRun: Codable, Sendable {
    public var set: String
    public var problem: String
    public var reference: String
    public var extracted: String?
    public var correct: Bool
    public var thinkingTokens: Int
    public var totalTokens: Int
    public var seconds: Double
    public var interventions: Int
    public var stopReason: String
    /// the tokens the run took, in order (the JSON report's; a run is reproduced by them)
    public var tokens: [Int32]?

    public init(set: String, problem: String, reference: String, extracted: String?, correct: Bool, thinkingTokens: Int,
                totalTokens: Int, seconds: Double, interventions: Int, stopReason: String, tokens: [Int32]? = nil) {
        self.set = set; self.problem = problem; self.reference = reference; self.extracted = extracted
        self.correct = correct; self.thinkingTokens = thinkingTokens; self.totalTokens = totalTokens
        self.seconds = seconds; self.interventions = interventions; self.stopReason = stopReason; self.tokens = tokens
    }
}

/// The table row of one strategy set.
public struct EvalRow: Codable, Sendable {
    public var set: String
    public var problems: Int
    /// problems answered correctly
    public var correct: Int
    public var accuracy: Double
    /// the pass rate's 95 % Wilson score interval, [low, high]
    public var interval: [Double]
    /// all tokens the set generated divided by its correct answers (nil with none correct)
    public var tokensPerCorrect: Double?
    public var meanThinkingTokens: Double
    public var meanTotalTokens: Double
    /// relative change of mean total tokens against the `none` set (nil without one)
    public var tokenChange: Double?
    public var tokensPerSecond: Double
    public var interventionsPerProblem: Double

    public static func rows(_ runs: [EvalRun], sets: [String]) -> [EvalRow] {
        var rows: [EvalRow] = sets.map { set in
            let rs = runs.filter { $0.set == set }
            let n = Double(max(rs.count, 1))
            let tokens = rs.reduce(0) { $0 + $1.totalTokens }
            let secs = rs.reduce(0.0) { $0 + $1.seconds }
            let correct = rs.filter(\.correct).count
            return EvalRow(set: set, problems: rs.count, correct: correct, accuracy: Double(correct) / n,
                           interval: wilson(correct, rs.count), tokensPerCorrect: correct > 0 ? Double(tokens) / Double(correct) : nil,
                           meanThinkingTokens: Double(rs.reduce(0) { $0 + $1.thinkingTokens }) / n,
                           meanTotalTokens: Double(tokens) / n, tokenChange: nil,
                           tokensPerSecond: secs > 0 ? Double(tokens) / secs : 0,
                           interventionsPerProblem: Double(rs.reduce(0) { $0 + $1.interventions }) / n)
        }
        if let base = rows.first(where: { $0.set == "none" }), base.meanTotalTokens > 0 {
            for i in rows.indices { rows[i].tokenChange = rows[i].meanTotalTokens / base.meanTotalTokens - 1 }
        }
        return rows
    }

    /// The 95 % Wilson score interval of `k` successes in `n` trials (z = 1.959964), [low, high];
    /// [0, 1] for no trials.
    public static func wilson(_ k: Int, _ n: Int) -> [Double] {
        guard n > 0 else { return [0, 1] }
        let z = 1.959963984540054, nn = Double(n), p = Double(k) / nn
        let denominator = 1 + z * z / nn
        let centre = (p + z * z / (2 * nn)) / denominator
        let half = z * (p * (1 - p) / nn + z * z / (4 * nn * nn)).squareRoot() / denominator
        return [max(0, centre - half), min(1, centre + half)]
    }

    public static func markdown(_ rows: [EvalRow]) -> String {
        var s = "| strategy set | problems | pass rate (95 % CI) | mean thinking tokens | mean total tokens | tokens vs none | tokens per correct answer | tok/s | interventions / problem |\n"
        s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in rows {
            let change = r.tokenChange.map { String(format: "%+.1f %%", $0 * 100) } ?? "—"
            let perCorrect = r.tokensPerCorrect.map { String(format: "%.1f", $0) } ?? "—"
            let rate = String(format: "%.1f %% [%.1f, %.1f]", r.accuracy * 100, r.interval[0] * 100, r.interval[1] * 100)
            s += String(format: "| %@ | %d | %@ | %.1f | %.1f | %@ | %@ | %.1f | %.2f |\n", r.set, r.problems, rate,
                        r.meanThinkingTokens, r.meanTotalTokens, change, perCorrect, r.tokensPerSecond,
                        r.interventionsPerProblem)
        }
        return s
    }

    public static func csv(_ runs: [EvalRun]) -> String {
        func q(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        var s = "set,problem,reference,extracted,correct,thinking_tokens,total_tokens,seconds,interventions,stop_reason\n"
        for r in runs {
            s += [q(r.set), q(r.problem), q(r.reference), q(r.extracted ?? ""), r.correct ? "1" : "0",
                  "\(r.thinkingTokens)", "\(r.totalTokens)", String(format: "%.3f", r.seconds), "\(r.interventions)",
                  q(r.stopReason)].joined(separator: ",") + "\n"
        }
        return s
    }
}

extension DecodingSession {
    /// Interventions so far: strategy events (forcing, replacing, suppressions, probes,
    /// early exits …); latent steps and the user's own commands are not counted.
    public var interventionCount: Int { events.filter(\.kind.isIntervention).count }
}

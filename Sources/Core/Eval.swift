import Foundation

/// A problem with its reference answer, one JSON object per line of a problems file:
/// `{"id": "sheep", "question": "…", "answer": "9"}` (`id` optional).
public struct Problem: Codable, Sendable, Equatable {
    public var id: String?
    public var question: String
    public var answer: String

    /// Reads a problems file; a malformed line is an error naming the file and line.
    public static func load(path: String) throws -> [Problem] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ThinktopError.invalidArgument("cannot read the problems file \(path)")
        }
        var out: [Problem] = []
        let decoder = JSONDecoder()
        for (n, raw) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let line = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let p = try? decoder.decode(Problem.self, from: Data(line.utf8)) else {
                throw ThinktopError.invalidArgument("problems \(path) line \(n + 1): expected {\"question\": \"…\", \"answer\": \"…\"}, got \(line.prefix(60))")
            }
            guard !p.question.isEmpty, !p.answer.isEmpty else {
                throw ThinktopError.invalidArgument("problems \(path) line \(n + 1): question and answer must not be empty")
            }
            out.append(p)
        }
        guard !out.isEmpty else { throw ThinktopError.invalidArgument("problems \(path): no problems in the file") }
        return out
    }
}

/// Finds the final answer in generated text and compares it with a reference.
public enum AnswerExtractor {
    /// The answer the text commits to: the last "Answer: …" (after the think-close when there
    /// is one), else the last `\boxed{…}`, else "the final answer is …". Returns the first
    /// number (times like 8:50 kept whole) of that answer, or its trimmed text.
    public static func extract(_ text: String, close: String = "</think>") -> String? {
        let afterThinking = text.range(of: close, options: .backwards).map { String(text[$0.upperBound...]) } ?? text
        for source in [afterThinking, text] {
            if let r = source.range(of: "Answer:", options: .backwards) {
                let line = source[r.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
                if let v = normalize(line) { return v }
            }
        }
        if let r = text.range(of: "\\boxed{", options: .backwards) {
            let rest = text[r.upperBound...]
            if let end = rest.firstIndex(of: "}") , let v = normalize(String(rest[..<end])) { return v }
        }
        if let r = text.range(of: "final answer is", options: [.backwards, .caseInsensitive]) {
            let line = text[r.upperBound...].split(separator: "\n").first.map(String.init) ?? ""
            if let v = normalize(line) { return v }
        }
        return nil
    }

    /// The first number in `s` (12, -3, 4.5, 8:50), else its trimmed text without a final period.
    public static func normalize(_ s: String) -> String? {
        if let r = s.range(of: #"-?\d+(?::\d\d)?(?:\.\d+)?"#, options: .regularExpression) {
            var v = String(s[r])
            if v.contains("."), !v.contains(":") {
                while v.hasSuffix("0") { v.removeLast() }
                if v.hasSuffix(".") { v.removeLast() }
            }
            return v
        }
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: ".")))
        return t.isEmpty ? nil : t.lowercased()
    }

    public static func matches(_ extracted: String?, reference: String) -> Bool {
        guard let e = extracted, let r = normalize(reference) else { return false }
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

    public init(set: String, problem: String, reference: String, extracted: String?, correct: Bool, thinkingTokens: Int,
                totalTokens: Int, seconds: Double, interventions: Int, stopReason: String) {
        self.set = set; self.problem = problem; self.reference = reference; self.extracted = extracted
        self.correct = correct; self.thinkingTokens = thinkingTokens; self.totalTokens = totalTokens
        self.seconds = seconds; self.interventions = interventions; self.stopReason = stopReason
    }
}

/// The table row of one strategy set.
public struct EvalRow: Codable, Sendable {
    public var set: String
    public var problems: Int
    public var accuracy: Double
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
            return EvalRow(set: set, problems: rs.count, accuracy: Double(rs.filter(\.correct).count) / n,
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

    public static func markdown(_ rows: [EvalRow]) -> String {
        var s = "| strategy set | problems | accuracy | mean thinking tokens | mean total tokens | tokens vs none | tok/s | interventions / problem |\n"
        s += "|---|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in rows {
            let change = r.tokenChange.map { String(format: "%+.1f %%", $0 * 100) } ?? "—"
            s += String(format: "| %@ | %d | %.1f %% | %.1f | %.1f | %@ | %.1f | %.2f |\n", r.set, r.problems,
                        r.accuracy * 100, r.meanThinkingTokens, r.meanTotalTokens, change, r.tokensPerSecond,
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

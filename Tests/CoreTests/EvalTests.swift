import Foundation
import Testing
@testable import Core

@Suite("Evaluation: answers, problem files, the table")
struct EvalTests {
    @Test("the final answer is found after thinking, as a number or a time")
    func extraction() {
        #expect(AnswerExtractor.extract("<think>\nAnswer: 3 is wrong\n</think>\nAnswer: 9 sheep\n") == "9")
        #expect(AnswerExtractor.extract("so it is 8:50.\n</think>\nAnswer: 8:50\n") == "8:50")
        #expect(AnswerExtractor.extract("</think>\n**Final Answer**\n\\boxed{42}") == "42")
        #expect(AnswerExtractor.extract("The final answer is 12.50 dollars") == "12.5")
        #expect(AnswerExtractor.extract("no answer here") == nil)
        #expect(AnswerExtractor.matches("9", reference: "9"))
        #expect(!AnswerExtractor.matches("19", reference: "9"))
        #expect(!AnswerExtractor.matches(nil, reference: "9"))
    }

    @Test("problem sets as published: GSM8K, MATH (with and without an answer field), AIME, thinktop's own, in one file")
    func publishedShapes() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sets-\(UUID()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lines = [
            #"{"question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?", "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"}"#,
            #"{"problem": "What is $\\frac{1}{4}+\\frac{1}{4}$?", "level": "Level 1", "type": "Prealgebra", "solution": "We add: $\\frac14+\\frac14=\\boxed{\\frac{1}{2}}$."}"#,
            #"{"problem": "Simplify $\\sqrt{12}/4$.", "solution": "It is $\\boxed{\\frac{\\sqrt{3}}{2}}$.", "answer": "\\frac{\\sqrt{3}}{2}", "unique_id": "test/algebra/1.json"}"#,
            #"{"ID": "2024-I-1", "Problem": "Find the remainder when 1000 is divided by 796.", "Answer": 204}"#,
            #"{"id": "sheep", "question": "How many sheep are left?", "answer": "9"}"#,
        ]
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let problems = try Problem.load(path: path)
        #expect(problems.map(\.source) == ["GSM8K", "MATH", "MATH", "AIME", "thinktop"])
        #expect(problems.map(\.answer) == ["72", #"\frac{1}{2}"#, #"\frac{\sqrt{3}}{2}"#, "204", "9"])
        #expect(problems.map(\.id) == [nil, nil, "test/algebra/1.json", "2024-I-1", "sheep"])
        #expect(problems[1].question == #"What is $\frac{1}{4}+\frac{1}{4}$?"#)
        // what a model writes, read back against each reference
        #expect(AnswerExtractor.matches(AnswerExtractor.extract("</think>\nAnswer: 72 clips"), reference: problems[0].answer))
        #expect(AnswerExtractor.matches(AnswerExtractor.extract(#"so the sum is $\boxed{\dfrac{1}{2}}$"#), reference: problems[1].answer))
        #expect(AnswerExtractor.matches(AnswerExtractor.extract("Answer: 0.5"), reference: problems[1].answer))
        #expect(AnswerExtractor.matches(AnswerExtractor.extract(#"\boxed{\frac{\sqrt{3}}{2}}"#), reference: problems[2].answer))
        #expect(!AnswerExtractor.matches(AnswerExtractor.extract(#"\boxed{\sqrt{3}}"#), reference: problems[2].answer))
        #expect(!AnswerExtractor.matches(AnswerExtractor.extract(#"\boxed{3}"#), reference: problems[2].answer))
        #expect(AnswerExtractor.matches(AnswerExtractor.extract("**Final Answer**\n\\boxed{204}"), reference: problems[3].answer))
        #expect(!AnswerExtractor.matches(AnswerExtractor.extract("Answer: 240"), reference: problems[3].answer))
    }

    @Test("answers compared after normalisation: numbers, thousands, fractions, \\frac, \\boxed{}, units and signs")
    func normalisation() {
        let same: [(String, String)] = [
            ("1,000", "1000"), ("$18.00", "18"), (#"\$18"#, "18"), ("12.50", "12.5"), ("-3", "−3".replacingOccurrences(of: "−", with: "-")),
            ("3/4", #"\frac{3}{4}"#), ("0.75", #"\dfrac34"#), (#"\frac12"#, "1/2"), ("6/8", "3/4"), (#"90^\circ"#, "90"),
            (#"50\%"#, "50"), (#"\text{(B)}"#, "(B)"), (#"\boxed{\text{Evelyn}}"#, "evelyn"), ("8:50", "8:50"),
            (#"\left( 3, \frac{\pi}{2} \right)"#, #"(3,\frac{\pi}{2})"#), ("9 sheep.", "9"),
        ]
        for (a, b) in same { #expect(AnswerExtractor.matches(a, reference: b), "\(a) = \(b)") }
        let different: [(String, String)] = [
            ("1,000", "1"), ("3/4", "4/3"), ("0.7", "3/4"), (#"\sqrt{3}"#, "3"), (#"2^{10}"#, "2"), ("(A)", "(B)"), ("8:50", "8:05"),
        ]
        for (a, b) in different { #expect(!AnswerExtractor.matches(a, reference: b), "\(a) ≠ \(b)") }
        #expect(Rational(text: "0.5") == Rational(1, 2) && Rational(text: "-1,200/8") == Rational(-150, 1) && Rational(text: "1/0") == nil)
        #expect(AnswerExtractor.lastBoxed(#"a \boxed{1} then \boxed{\frac{a}{b}} end"#) == #"\frac{a}{b}"#)
    }

    @Test("a malformed problems line is an error naming the line")
    func malformed() throws {
        let dir = FileManager.default.temporaryDirectory
        let path = dir.appendingPathComponent("problems-\(UUID()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "{\"question\": \"1+1?\", \"answer\": \"2\"}\n\n{\"question\": \"oops\"}\n".write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try Problem.load(path: path)
            Issue.record("a malformed file loaded")
        } catch {
            #expect("\(error)".contains("line 3"))
        }
    }

    @Test("the shipped problem set: 32 problems, each with an id, a question and a numeric or time answer")
    func shippedSet() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("problems/arithmetic-and-logic.jsonl").path
        let problems = try Problem.load(path: path)
        #expect(problems.count == 32)
        #expect(Set(problems.compactMap(\.id)).count == problems.count)
        for p in problems {
            #expect(p.question.hasSuffix("?"), "\(p.question)")
            #expect(p.answer.allSatisfy { $0.isNumber || $0 == ":" || $0 == "." || $0 == "-" }, "\(p.id ?? "") answer \(p.answer)")
            // the extractor reads the reference back from an answer line as the model would write it
            #expect(AnswerExtractor.matches(AnswerExtractor.extract("</think>\nAnswer: \(p.answer)", close: "</think>"), reference: p.answer))
        }
    }

    @Test("rows: accuracy, means and the change against none")
    func rows() {
        func run(_ set: String, _ ok: Bool, _ think: Int, _ total: Int) -> EvalRun {
            EvalRun(set: set, problem: "p", reference: "1", extracted: ok ? "1" : "2", correct: ok, thinkingTokens: think,
                    totalTokens: total, seconds: Double(total) / 100, interventions: set == "none" ? 0 : 2, stopReason: "stop string")
        }
        let rows = EvalRow.rows([run("none", true, 90, 100), run("none", false, 190, 200),
                                 run("budget=64", true, 60, 75), run("budget=64", true, 60, 75)], sets: ["none", "budget=64"])
        #expect(rows[0].accuracy == 0.5 && rows[0].meanTotalTokens == 150 && rows[0].tokenChange == 0)
        // tokens per correct answer: all the set's tokens over its correct answers
        #expect(rows[0].tokensPerCorrect == 300 && rows[1].tokensPerCorrect == 75)
        #expect(rows[0].correct == 1 && rows[1].correct == 2)
        #expect(rows[1].accuracy == 1 && rows[1].meanThinkingTokens == 60)
        #expect(abs(rows[1].tokenChange! - (-0.5)) < 1e-12)
        #expect(rows[1].interventionsPerProblem == 2)
        #expect(abs(rows[0].tokensPerSecond - 100) < 1e-9)
        #expect(EvalRow.markdown(rows).contains("| budget=64 | 2 | 100.0 % [34.2, 100.0] | 60.0 | 75.0 | -50.0 % | 75.0 |"))
        // the Wilson score interval: textbook values
        let half = EvalRow.wilson(5, 10), none = EvalRow.wilson(0, 10)
        #expect(abs(half[0] - 0.236593) < 1e-6 && abs(half[1] - 0.763407) < 1e-6)
        #expect(none[0] == 0 && abs(none[1] - 0.277533) < 1e-6)
    }
}

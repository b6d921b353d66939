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
        #expect(rows[1].accuracy == 1 && rows[1].meanThinkingTokens == 60)
        #expect(abs(rows[1].tokenChange! - (-0.5)) < 1e-12)
        #expect(rows[1].interventionsPerProblem == 2)
        #expect(abs(rows[0].tokensPerSecond - 100) < 1e-9)
        #expect(EvalRow.markdown(rows).contains("| budget=64 | 2 | 100.0 % | 60.0 | 75.0 | -50.0 % |"))
    }
}

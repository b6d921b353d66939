/// The built-in demo problem: a few-shot prompt written for thinktop. Its worked examples
/// think inside <think>…</think>, reflect ("Wait, let me check…", "Alternatively…"), and
/// then answer "Answer: N". It ends with a new problem and an open <think>, so a base model
/// continues by thinking the same way — reflections included, which is what the strategies
/// act on. After its answer the model tends to start another "Problem:", hence the stop.
public enum DemoProblem {
    public static let stop = "\nProblem:"

    /// The demo's question (the last problem of `prompt`).
    public static let question = "A farmer has 17 sheep. All but 9 run away. How many sheep does the farmer have left?"

    /// The worked examples, for asking another question in the same format (`thinktop eval`).
    public static var fewShot: String {
        let marker = "Problem: " + question
        return String(prompt[..<prompt.range(of: marker)!.lowerBound])
    }

    /// The few-shot prompt with `question` as the open problem.
    public static func prompt(for question: String) -> String {
        fewShot + "Problem: " + question + "\n<think>\n"
    }

    public static let prompt = """
    Each problem is solved by thinking step by step inside <think> and </think>, checking the reasoning, and then giving the answer.

    Problem: A baker makes 4 trays of muffins with 6 muffins on each tray. She sells 15 muffins. How many muffins are left?
    <think>
    There are 4 trays with 6 muffins each, so 4 × 6 = 24 muffins.

    She sells 15, so 24 − 15 = 9 muffins are left.

    Wait, let me check the multiplication. 6 + 6 + 6 + 6 = 24. Yes, 24 is right, and 24 − 15 = 9.
    </think>
    Answer: 9

    Problem: Tom is 3 years older than Ana. Ana is twice as old as Ben. Ben is 5. How old is Tom?
    <think>
    Ben is 5, and Ana is twice as old as Ben, so Ana is 2 × 5 = 10.

    Tom is 3 years older than Ana, so Tom is 10 + 3 = 13.

    Wait, let me check: "twice as old as Ben" means Ana = 2 × 5 = 10, not 5 + 2. So Tom is 13.

    Alternatively, add it up from Ben: 5, doubled is 10, plus 3 is 13. The same answer.
    </think>
    Answer: 13

    Problem: A train leaves at 9:40 and the trip takes 85 minutes. At what time does it arrive?
    <think>
    85 minutes is 1 hour and 25 minutes.

    9:40 plus 1 hour is 10:40, plus 25 minutes is 11:05.

    Hmm, wait. 40 + 25 = 65 minutes, which is 1 hour and 5 minutes, so 10:40 becomes 11:05. Yes.
    </think>
    Answer: 11:05

    Problem: A farmer has 17 sheep. All but 9 run away. How many sheep does the farmer have left?
    <think>

    """
}

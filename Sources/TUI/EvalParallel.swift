import Core
import Engine
import Foundation

/// Runs an evaluation's jobs on `lanes` threads, each taking the next job when its last one
/// ends (so the batch stays full while problems of different lengths finish), and keeps the
/// results in job order whatever order they finish in. Unchecked Sendable: its counters are
/// read and written under `lock` only, and the closures it is given touch what is made for
/// several threads (the batcher), one lane per thread, or the caller's results under `lock`.
final class EvalPool: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var order: [Int] = []
    private var finished = 0
    private var failure: Error?
    let jobs: Int
    let progress: (Int, String) -> Void

    init(jobs: Int, progress: @escaping (Int, String) -> Void) {
        self.jobs = jobs
        self.progress = progress
    }

    /// Runs `body(lane, job)` for every job; `store(job, result)` and the progress line are
    /// called under the pool's lock. The first error stops the others taking new jobs, and is
    /// thrown once every lane has stopped.
    /// - Parameter order: the jobs in the order they are taken (default: by index)
    func run(lanes: Int, order: [Int]? = nil, describe: @escaping (Int) -> String, body: @escaping (Int, Int) throws -> EvalRun,
             store: @escaping (Int, EvalRun) -> Void) throws {
        self.order = order ?? Array(0..<jobs)
        precondition(self.order.count == jobs)
        struct Work: @unchecked Sendable {
            let describe: (Int) -> String
            let body: (Int, Int) throws -> EvalRun
            let store: (Int, EvalRun) -> Void
        }
        let work = Work(describe: describe, body: body, store: store)
        let group = DispatchGroup()
        for lane in 0..<lanes {
            group.enter()
            let thread = Thread { [self] in
                let (describe, body, store) = (work.describe, work.body, work.store)
                defer { group.leave() }
                while let job = take() {
                    do {
                        let result = try body(lane, job)
                        lock.lock()
                        store(job, result)
                        finished += 1
                        progress(finished, describe(job))
                        lock.unlock()
                    } catch {
                        lock.lock()
                        if failure == nil { failure = error }
                        lock.unlock()
                    }
                }
            }
            thread.stackSize = 8 << 20
            thread.name = "thinktop eval lane \(lane)"
            thread.start()
        }
        group.wait()
        if let failure { throw failure }
    }

    private func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard failure == nil, next < jobs else { return nil }
        next += 1
        return order[next - 1]
    }
}

extension Eval {
    /// Cells one sequence needs: the longest prompt, the generation, and room for a probe's
    /// appended text and continuation.
    func cellsPerSequence(_ prompts: [[Int32]]) -> Int {
        (prompts.map(\.count).max() ?? 0) + maxTokens + 128
    }

    /// llama.cpp's limit on sequences in one context, and the lanes it leaves room for (a run
    /// and a probe's fork each, beside the shared prefix)
    static let maxSequences = 256
    static let maxLanes = (maxSequences - 1) / 2

    /// Prompts to hold when every problem is asked under `sets` sets: the problems whose runs
    /// can be starting at once (taken problem by problem), two more for the lanes finishing
    /// out of step, within llama.cpp's sequences.
    static func promptSlots(lanes: Int, sets: Int, problems: Int) -> Int {
        max(0, min(problems, (lanes + sets - 1) / sets + 2, maxSequences - 1 - 2 * lanes))
    }

    /// How many problems to decode together when --parallel is not given: 32 per core, at
    /// most 64 (the shipped evaluation on 2 cores, batched: 16 lanes 177–197 s, 32 lanes
    /// 169 s, 64 lanes 155–162 s), no more than there are runs, and no more than the cache
    /// fits in a quarter of the memory (at most 4 GiB).
    static func automaticLanes(jobs: Int, cellsPerSequence: Int, model: LlamaModel) -> Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let budget = min(Double(ProcessInfo.processInfo.physicalMemory) / 4, Double(4 << 30))
        let perLane = Double(2 * cellsPerSequence * model.kvBytesPerToken(keyBytesPerElement: 2, valueBytesPerElement: 2))
        let byMemory = perLane > 0 ? Int(budget / perLane) : jobs
        return max(1, min(jobs, min(32 * cores, 64), byMemory))
    }
}

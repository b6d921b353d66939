import Dispatch
import Foundation
import Synchronization

/// What a session is asked to do between two steps.
public enum SessionCommand: Sendable, Equatable {
    case pause
    case resume
    /// exactly one more step, then paused again
    case step
    /// drop every generated position ≥ the given one and continue from there
    case rewind(toPosition: Int)
    /// end thinking now: feed the think-close marker (after a newline if the text does not
    /// end with one), as budget forcing does at its budget
    case endThinking
    /// turn a strategy (by id) on or off
    case enableStrategy(String, Bool)
    /// set a strategy's parameter (id, name, value)
    case setParameter(String, String, String)
    /// switch the KV-cache policy (a `--kv` spec such as "streaming:recent=256")
    case setKVPolicy(String)
    /// sample with these parameters from the next step on (a new seed restarts the generators)
    case setSampling(SamplingParameters)
    /// stop after this many generated tokens (a run that stopped at the old limit goes on)
    case setMaxTokens(Int)
    /// run some work on the session's thread between two steps (the workbench's `trace FILE`)
    case perform(SessionTask)
    /// start a new branch at a step (keeping the current one), taking `token` there if given,
    /// the generators restarting from `seed` there if given
    case fork(step: Int, token: Int32?, seed: UInt64? = nil)
    /// make another branch current, as it was left
    case switchBranch(Int)
    case stop
}

/// Work handed to the session's thread, run between two steps. Equal only to itself.
public final class SessionTask: Sendable, Equatable {
    let body: @Sendable (DecodingSession) -> Void

    public init(_ body: @escaping @Sendable (DecodingSession) -> Void) { self.body = body }

    public static func == (a: SessionTask, b: SessionTask) -> Bool { a === b }
}

/// Commands from any thread to the session's: appended under a lock, taken between steps.
/// The semaphore wakes a session that waits while paused or done.
public final class CommandQueue: Sendable {
    private let pending = Mutex<[SessionCommand]>([])
    private let wake = DispatchSemaphore(value: 0)

    public init() {}

    /// Queues a command; it is applied before the next step. Safe from any thread.
    public func send(_ command: SessionCommand) {
        pending.withLock { $0.append(command) }
        wake.signal()
    }

    /// Everything queued so far, in order.
    func take() -> [SessionCommand] {
        pending.withLock { p in
            defer { p.removeAll() }
            return p
        }
    }

    /// Blocks until a command is sent (returns at once when one was sent since the last wait).
    func waitForCommand() { wake.wait() }
}

extension DecodingSession {
    /// Queues a command (same as `commands.send`).
    public func send(_ command: SessionCommand) { commands.send(command) }

    /// Applies the queued commands now (for drivers that step the session themselves).
    public func applyCommands() {
        for c in commands.take() { apply(c) }
    }

    /// Runs until done (or until `.stop` when `stayAfterDone`, so a rewind can continue a
    /// finished run). Call on the session's own thread.
    public func run(stayAfterDone: Bool = false) {
        do {
            try prefill()
        } catch {
            lastError = error
            finish(.error)
            return
        }
        var stopRequested = false
        var stepCredit = 0
        while true {
            var pending = commands.take()
            while pending.isEmpty && !stopRequested && ((isPaused && stepCredit == 0) || (isDone && stayAfterDone)) {
                served?.closeStream()   // a server does not generate for a paused run
                commands.waitForCommand()
                pending = commands.take()
            }
            for c in pending {
                switch c {
                case .stop:
                    stopRequested = true
                    emit(TraceEvent(step: records.count, kind: .stop))
                case .step:
                    isPaused = true
                    stepCredit += 1
                    emit(TraceEvent(step: records.count, kind: .step))
                case .resume:
                    if isPaused { stepCredit = 0 }
                    apply(c)
                default:
                    apply(c)
                }
            }
            if stopRequested { finish(.stopped); return }
            if isDone {
                if stayAfterDone { continue }
                return
            }
            if isPaused {
                guard stepCredit > 0 else { continue }
                stepCredit -= 1
            }
            do {
                try step()
            } catch {
                lastError = error
                emit(TraceEvent(step: records.count, kind: .error, detail: "\(error)"))
                finish(.error)
                if !stayAfterDone { return }
            }
        }
    }

    /// Applies one command between steps; a failure is an `error` event, never a crash.
    func apply(_ c: SessionCommand) {
        do {
            switch c {
            case .pause:
                if !isPaused { isPaused = true; emit(TraceEvent(step: records.count, kind: .pause)) }
            case .resume:
                if isPaused { isPaused = false; emit(TraceEvent(step: records.count, kind: .resume)) }
            case .step:
                isPaused = true
                emit(TraceEvent(step: records.count, kind: .step))
            case .rewind(let p):
                try rewind(toPosition: p)
            case .endThinking:
                try endThinking()
            case .enableStrategy(let id, let on):
                try roster.enable(id, on, prepare: prepare)
                emit(TraceEvent(step: records.count, kind: on ? .enable : .disable, strategy: id,
                                detail: strategy(id)?.spec ?? id))
                noteStrategies()
            case .setParameter(let id, let name, let value):
                try roster.set(id, name, value, prepare: prepare)
                emit(TraceEvent(step: records.count, kind: .parameter, strategy: id, detail: strategy(id)?.spec ?? id))
                noteStrategies()
            case .fork(let step, let token, let seed):
                try fork(atStep: step, token: token, seed: seed)
            case .switchBranch(let id):
                try switchBranch(to: id)
            case .setKVPolicy(let spec):
                try setKVPolicy(KVPolicyRegistry.parse(spec))
                // a run that stopped at a full context goes on once a policy can make room:
                // its last token (sampled but not fed) is drawn again, the same way
                if stopReason == .contextFull, policyEvictsDuringGeneration, !records.isEmpty {
                    try rewind(toPosition: promptTokens.count + records.count - 1)
                }
            case .setSampling(let p):
                try setSampling(p)
            case .setMaxTokens(let n):
                try setMaxTokens(n)
            case .perform(let task):
                task.body(self)
            case .stop:
                finish(.stopped)
            }
        } catch {
            var position: Int?
            if case .rewind(let p) = c { position = p }
            emit(TraceEvent(step: records.count, kind: .error, position: position, detail: "\(error)"))
        }
    }
}

/// A session running on a thread of its own. Everything the thread works on is handed over
/// in `work` (`sending`: the caller keeps no reference to it), so from then on only that
/// thread touches the session; the rest of the program reaches it through `commands` and
/// the Sendable sinks (mailboxes) its callbacks were given.
public final class SessionThread: Sendable {
    public let commands: CommandQueue
    private let done = DispatchSemaphore(value: 0)

    /// Starts `work` (typically `session.run(…)`, then writing the trace's summary) on a new
    /// thread; `commands` is the session's queue.
    public init(commands: CommandQueue, work: sending @escaping () -> Void) {
        self.commands = commands
        let parcel = Handoff(work)
        let done = self.done
        let thread = Thread {
            parcel.value()
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.name = "thinktop-decode"
        thread.start()
    }

    public func send(_ command: SessionCommand) { commands.send(command) }

    /// Waits until `work` has finished.
    public func join() { done.wait() }
}

/// Carries a value to exactly one other thread. Sound because the value was `sending` (no
/// other reference to its region remains with the sender) and the box is immutable: the
/// receiving thread is the only one that reads it.
private final class Handoff<T>: @unchecked Sendable {
    let value: T
    init(_ value: sending T) { self.value = value }
}

import Core
import Foundation
import Synchronization

/// The workbench's session thread: it runs the live session, tells the UI everything through
/// the mailbox, and does what the workbench asks of that thread — a new run on another problem
/// (over the same model, its lines appended to the same trace as a run of their own), and
/// recording a trace from a moment on.
///
/// Only the session's thread touches `current` and `pending`: the UI reaches them through
/// tasks queued on the session (`SessionCommand.perform`), which that thread runs between two
/// steps. That is what makes the unchecked Sendable sound.
final class LiveDriver: @unchecked Sendable {
    private var current: PreparedRun
    /// the next problem, checked, waiting for the current run to stop (a session over the
    /// context is made only then: making one empties the cache)
    private var pending: ProblemInput?
    private let mailbox: Mailbox
    /// set by the UI before it stops the session for good (no next run then)
    let quitting = Atomic<Bool>(false)
    /// the last run's error, if it ended on one
    let failure = Mutex<String?>(nil)
    /// where the trace is written, once it is
    let tracePath = Mutex<String?>(nil)

    init(_ prepared: PreparedRun, mailbox: Mailbox) {
        current = prepared
        self.mailbox = mailbox
        tracePath.withLock { $0 = prepared.recorder.path }
        wire(prepared)
    }

    /// The first run's facts (before the thread starts).
    var info: LiveRunInfo { LiveRunInfo(current) }

    /// Runs each problem until the UI quits. Call on the session's thread.
    func loop() {
        while true {
            current.session.run(stayAfterDone: true)
            failure.withLock { $0 = current.session.lastError.map { "\($0)" } }
            mailbox.push(.summary(current.finish()))
            guard !quitting.load(ordering: .sequentiallyConsistent), let input = pending else { return }
            pending = nil
            current.clearCache()
            do {
                current = try current.next(input)
            } catch {
                mailbox.push(.notice("no new run: \(error)"))
                return
            }
            current.recorder.write(.header(current.header))
            wire(current)
            mailbox.push(.newRun(LiveRunInfo(current)))
        }
    }

    /// A task for the session's thread: checks the prompt for `choice` (it must fit the
    /// context); then the current run stops and a run on it takes over. A refusal (a prompt too
    /// long, a file that cannot be read) is said on the status line and the current run goes on.
    func nextProblem(_ choice: ProblemChoice) -> SessionTask {
        SessionTask { [self] _ in
            do {
                let input = try input(choice)
                try current.check(input)
                // a second request before the run stopped replaces the first (one stop only:
                // another would stop the new run as it starts)
                let first = pending == nil
                pending = input
                if first { current.session.send(.stop) }
            } catch {
                mailbox.push(.notice("no new run: \(error)"))
            }
        }
    }

    /// The prompt for a new problem, made the way this run's was: a question goes into the
    /// demo's worked examples when this run is the demo's (as `eval` asks), else it is a
    /// prompt as `--prompt` takes it; a file is read as `--prompt-file`.
    private func input(_ choice: ProblemChoice) throws -> ProblemInput {
        let g = current.generation
        switch choice {
        case .demo: return .demo(g)
        case .text(let t): return current.input.demoFramed ? .demoQuestion(t, g) : .prompt(t, g)
        case .file(let path):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ThinktopError.invalidArgument("cannot read the prompt file \(path) as UTF-8 text")
            }
            return .prompt(text, g)
        }
    }

    /// A task for the session's thread: the trace is written to `path` from now on, with every
    /// line of the runs so far first.
    func record(to path: String) -> SessionTask {
        SessionTask { [self] _ in
            do {
                try current.recorder.start(path: path)
                current.fatal.recording(to: path)
                tracePath.withLock { $0 = path }
                mailbox.push(.tracing(path))
            } catch {
                mailbox.push(.notice("no trace: \(error)"))
            }
        }
    }

    /// The session's callbacks: each line to the trace, and what the UI shows to the mailbox.
    private func wire(_ prepared: PreparedRun) {
        let session = prepared.session
        let recorder = prepared.recorder
        let fatal = prepared.fatal
        let mailbox = self.mailbox
        session.onStep = { [unowned session] r in
            recorder.write(.token(r))
            fatal.note(session.summary())
            mailbox.push(.record(r))
            if !session.enabled.isEmpty { mailbox.push(.strategies(session.strategyStatus())) }
            mailbox.push(.kv(KVView(session)))
            if session.branches.count > 1 { mailbox.push(.branchCaches(BranchCaches.of(session))) }
        }
        session.onEvent = { [unowned session] e in
            recorder.write(.event(e))
            switch e.kind {
            case .enable, .disable, .parameter: mailbox.push(.strategies(session.strategyStatus()))
            case .kvPolicy:
                mailbox.push(.strategies(session.strategyStatus()))
                mailbox.push(.kv(KVView(session)))
            case .rewind:
                mailbox.push(.rewind(position: e.position ?? 0))
                mailbox.push(.kv(KVView(session)))
            case .branch, .switchBranch:
                mailbox.push(.strategies(session.strategyStatus()))
                mailbox.push(.kv(KVView(session)))
                mailbox.push(.branchCaches(BranchCaches.of(session)))
            case .pause, .step: mailbox.push(.paused(true))
            case .resume: mailbox.push(.paused(false))
            default: break
            }
            mailbox.push(.event(e))
        }
        session.onFinish = { reason in mailbox.push(.finished(reason.rawValue)) }
        recorder.onFailure = { why in mailbox.push(.traceFailed(why)) }
    }
}

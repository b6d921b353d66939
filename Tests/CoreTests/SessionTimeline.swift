import Dispatch
import Synchronization
@testable import Core

/// What a session running on its own thread published, in order: the test's only view of it.
/// Tests wait on this timeline (a condition over what arrived), never on the clock.
final class SessionTimeline: Sendable {
    enum Entry: Sendable, Equatable {
        case record(StepRecord)
        case event(TraceEvent)
        case finished(StopReason)
    }
    private let entries = Mutex<[Entry]>([])
    private let arrived = DispatchSemaphore(value: 0)

    /// Sets the session's callbacks to publish here.
    func watch(_ session: DecodingSession) {
        session.onStep = { [self] in push(.record($0)) }
        session.onEvent = { [self] in push(.event($0)) }
        session.onFinish = { [self] in push(.finished($0)) }
    }

    private func push(_ e: Entry) {
        entries.withLock { $0.append(e) }
        arrived.signal()
    }

    var all: [Entry] { entries.withLock { $0 } }
    var records: [StepRecord] { all.compactMap { if case .record(let r) = $0 { return r } else { return nil } } }
    var events: [TraceEvent] { all.compactMap { if case .event(let e) = $0 { return e } else { return nil } } }

    /// Waits until `condition` holds for what arrived; false after `seconds` without it (a
    /// session that hangs fails the test instead of hanging it).
    @discardableResult
    func wait(seconds: Double = 10, until condition: ([Entry]) -> Bool) -> Bool {
        let deadline = DispatchTime.now() + seconds
        while !condition(all) {
            if arrived.wait(timeout: deadline) == .timedOut { return condition(all) }
        }
        return true
    }

    /// Waits for an event of `kind`.
    @discardableResult
    func wait(for kind: EventKind, seconds: Double = 10) -> Bool {
        wait(seconds: seconds) { $0.contains { if case .event(let e) = $0 { return e.kind == kind } else { return false } } }
    }

    /// The timeline as short labels: "r7" for the record at position 7, event kinds, "done: …".
    var labels: [String] {
        all.map {
            switch $0 {
            case .record(let r): return "r\(r.position)"
            case .event(let e): return e.kind.rawValue
            case .finished(let reason): return "done: \(reason.rawValue)"
            }
        }
    }
}

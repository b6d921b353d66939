import Core
import Foundation
import Synchronization
import Views

// What the workbench's loop works from: the mailbox from the session's thread, the live
// run's facts, and the strategy panel's rows.

/// What the decoding thread tells the UI, in order. The session's callbacks push on the
/// session's thread; the UI drains once per frame, so the two threads share nothing else.
final class Mailbox: Sendable {
    enum Item: Sendable {
        case record(StepRecord)
        case rewind(position: Int)
        case paused(Bool)
        case finished(String)
        case event(TraceEvent)
        case strategies([StrategyStatus])
        case kv(KVView)
        /// the trace could not be written: recording stopped
        case traceFailed(String)
        /// the run's summary, once the session's thread is done with it
        case summary(TraceSummary)
        /// how each parked branch keeps its cache (branch id → "shared", "kept on host", …)
        case branchCaches([Int: String])
        /// a new run on another problem took over (the workbench starts over on it)
        case newRun(LiveRunInfo)
        /// the trace is now written there (`trace FILE`)
        case tracing(String)
        /// a line for the status bar (what the session's thread did for a command, or why not)
        case notice(String)
    }
    private let items = Mutex<[Item]>([])

    func push(_ item: Item) { items.withLock { $0.append(item) } }

    func drain() -> [Item] {
        items.withLock { i in
            defer { i.removeAll(keepingCapacity: true) }
            return i
        }
    }
}

/// What the KV map shows of the ledger, copied on the session's thread.
struct KVView: Sendable {
    var evicted: Set<Int>
    var held: Int
    /// the policy's spec, its id, and its name and parameters for the panel
    var policy: String
    var policyID: String
    var policyRow: String
    var slidingFrom: Int?
    var attention: [Float]

    init(_ session: DecodingSession) {
        evicted = session.ledger.evicted[.main] ?? []
        held = session.ledger.count(sequence: .main)
        policy = session.kvPolicy.spec
        policyID = session.kvPolicy.id
        policyRow = ([session.kvPolicy.id] + session.kvPolicy.parameterValues.map { "\($0.name)\u{00A0}\($0.value)" })
            .joined(separator: " ")
        slidingFrom = session.ledger.slidingWindowIndices()?.lowerBound
        attention = session.attentionByPosition()
    }
}

/// The workbench's keys. Core knows strategies by id; which key toggles which is the TUI's
/// business (the README's table reads it from here too).
enum StrategyKeys {
    static let byID: [String: Character] = [
        "budget": "b", "deer": "e", "thinkbrake": "x", "answerstop": "a", "stoppressure": "p", "cgrs": "c",
        "nowait": "w", "entropix": "n", "swir": "s",
    ]
    /// cycles the KV policies
    static let kvPolicy: Character = "k"

    static func key(_ id: String) -> Character { byID[id] ?? " " }
    static func id(for key: Character) -> String? { byID.first { $0.value == key }?.key }
}

/// The declarations, read once (the rows are made again at every step a strategy is on).
private let strategyCatalog = ParameterCatalog.strategies
private let kvPolicyCatalog = ParameterCatalog.kvPolicies

/// The KV policy's row (`k` cycles the policies): its name and parameters; `spec` gives the
/// editor every parameter of the policy in force.
func kvRow(_ row: String?, spec: String? = nil) -> WorkbenchSnapshot.StrategyRow {
    let none = row == nil || row == "none"
    var parameters: [WorkbenchSnapshot.ParameterRow] = []
    if let spec, let policy = try? KVPolicyRegistry.parse(spec) {
        let info = kvPolicyCatalog.first { $0.id == policy.id }
        parameters = policy.allParameterValues.compactMap { v in
            info?.parameter(v.name).map { .init(name: v.name, value: v.value, kind: $0.kind, help: $0.help) }
        }
    }
    return .init(key: StrategyKeys.kvPolicy, name: "KV policy", enabled: !none, available: true,
                 detail: none ? "none (stops when full)" : row!, parameters: parameters, id: "kv")
}

/// The policies `k` steps through mid-run: SnapKV acts at the prefill only, and H2O needs
/// the attention tap, which is chosen when the context is made.
func nextKVPolicy(after current: String, attention: Bool) -> String {
    let cycle = attention ? ["none", "streaming", "h2o"] : ["none", "streaming"]
    let i = cycle.firstIndex(of: current) ?? -1
    return cycle[(i + 1) % cycle.count]
}

/// The panel's rows for the strategies' published status, and the KV policy's row; each with
/// every parameter, its kind and help from the declarations (the pane's editor lists them).
func strategyRows(_ statuses: [StrategyStatus], kvRow row: String?, kvSpec: String? = nil) -> [WorkbenchSnapshot.StrategyRow] {
    return statuses.map { st in
        // a parameter's name and value are joined by a no-break space, so wrapping keeps them together
        let params = st.shown.map { "\($0.name)\u{00A0}\($0.value)" }.joined(separator: " ")
        let detail = st.enabled ? (st.liveState.isEmpty ? params : st.liveState) : params
        let info = strategyCatalog.first { $0.id == st.id }
        let parameters: [WorkbenchSnapshot.ParameterRow] = st.parameters.compactMap { v in
            info?.parameter(v.name).map { .init(name: v.name, value: v.value, kind: $0.kind, help: $0.help) }
        }
        return .init(key: StrategyKeys.key(st.id), name: st.name, enabled: st.enabled, available: st.unavailable == nil,
                     detail: detail, reason: st.unavailable, parameters: parameters, id: st.id)
    } + [kvRow(row, spec: kvSpec)]
}

/// What the workbench knows of a live run besides what the mailbox brings.
struct LiveRunInfo: Sendable {
    let header: TraceHeader
    /// the problem as the user gave it (before any chat template)
    let problem: String
    /// whether the attention tap is on (H2O can be cycled to)
    let attention: Bool
    let strategies: [StrategyStatus]
    /// the KV policy as the panel shows it (`KVView.policyRow`), and its id
    let kvRow: String
    let kvPolicyID: String
    /// the demo's worked examples frame the problem (`problem TEXT` asks in them too)
    let demoFramed: Bool

    /// Read on the session's thread, before the run starts.
    init(_ prepared: PreparedRun) {
        let session = prepared.session
        let kv = KVView(session)
        header = prepared.header
        problem = prepared.problem
        attention = session.capturesAttention
        strategies = session.strategyStatus()
        kvRow = kv.policyRow
        kvPolicyID = kv.policyID
        demoFramed = prepared.input.demoFramed
    }
}

/// A live run: what is known of it, the thread that decodes it, and what runs on that thread
/// for the workbench (the next problem, a trace started late).
struct LiveRun: Sendable {
    var info: LiveRunInfo
    let thread: SessionThread
    let driver: LiveDriver
    var header: TraceHeader { info.header }
}

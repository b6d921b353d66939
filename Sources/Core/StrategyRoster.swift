/// A strategy's row as the panel shows it, published by the session (a value: it crosses
/// to the UI thread).
public struct StrategyStatus: Sendable, Equatable {
    public var id: String
    public var name: String
    public var enabled: Bool
    /// why the backend cannot serve it (nil: available)
    public var unavailable: String?
    /// every parameter with its current value, in declaration order
    public var parameters: [ParameterValue]
    /// the parameters its spec shows (the main ones and those off their default)
    public var shown: [ParameterValue]
    public var liveState: String
    public var spec: String

    public init(id: String, name: String, enabled: Bool, unavailable: String?, parameters: [ParameterValue],
                shown: [ParameterValue], liveState: String, spec: String) {
        self.id = id; self.name = name; self.enabled = enabled; self.unavailable = unavailable
        self.parameters = parameters; self.shown = shown; self.liveState = liveState; self.spec = spec
    }

    /// A parameter's current value.
    public func value(_ name: String) -> String? { parameters.first { $0.name == name }?.value }
}

public struct ParameterValue: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) { self.name = name; self.value = value }
}

/// The strategies a session knows, in composition order: which are on, which are prepared,
/// and which the backend can serve (a strategy needing a capability the backend lacks is
/// unavailable, with the reason, and cannot be switched on).
final class StrategyRoster {
    private(set) var all: [any DecodingStrategy] = []
    private(set) var enabled: Set<String> = []
    private var prepared: Set<String> = []
    /// what the backend offers
    let offered: Set<Capability>
    /// how refusals name the backend, and what would give what it lacks
    let backend: String
    let hints: [Capability: String]
    /// the strategies on, in composition order (recomputed when the set changes)
    private(set) var active: [any DecodingStrategy] = []

    init(offered: Set<Capability>, backend: String = "this backend", hints: [Capability: String] = [:]) {
        self.offered = offered; self.backend = backend; self.hints = hints
    }

    func strategy(_ id: String) -> (any DecodingStrategy)? { all.first { $0.id == id } }

    /// Why `s` cannot run on this backend, or nil.
    func unavailableReason(_ s: any DecodingStrategy) -> String? {
        Capability.reason(Capability.missing(type(of: s).info.needs, offered: offered), backend: backend, hints: hints)
    }

    /// Installs the strategies, turning on those in `on`; refuses (one line) a strategy the
    /// backend cannot serve.
    func install(_ list: [any DecodingStrategy], enabled on: Set<String>, prepare: (any DecodingStrategy) throws -> Void) throws {
        all = list
        enabled = []
        prepared = []
        for s in list where on.contains(s.id) { try enable(s.id, true, prepare: prepare) }
        refresh()
    }

    /// Switches a strategy on or off, preparing it first when it is turned on.
    func enable(_ id: String, _ on: Bool, prepare: (any DecodingStrategy) throws -> Void) throws {
        guard let s = strategy(id) else {
            throw ThinktopError.invalidArgument("no strategy \(id) (known: \(all.map(\.id).joined(separator: ", ")))")
        }
        if on {
            if let why = unavailableReason(s) {
                throw ThinktopError.invalidArgument("strategy \(id) cannot run here: it \(why)")
            }
            if !prepared.contains(id) {
                try prepare(s)
                prepared.insert(id)
            }
            enabled.insert(id)
        } else {
            enabled.remove(id)
        }
        refresh()
    }

    /// Sets a parameter; an enabled strategy is prepared again for it.
    func set(_ id: String, _ name: String, _ value: String, prepare: (any DecodingStrategy) throws -> Void) throws {
        guard let s = strategy(id) else { throw ThinktopError.invalidArgument("no strategy \(id)") }
        try s.set(name, value)
        prepared.remove(id)
        if enabled.contains(id) {
            try prepare(s)
            prepared.insert(id)
        }
    }

    private func refresh() { active = all.filter { enabled.contains($0.id) } }

    /// Every prepared strategy's state, for a checkpoint.
    func mementos() -> [StrategyMemento] { all.filter { prepared.contains($0.id) }.map { $0.memento() } }

    func status() -> [StrategyStatus] {
        all.map { s in
            StrategyStatus(id: s.id, name: s.name, enabled: enabled.contains(s.id), unavailable: unavailableReason(s),
                           parameters: s.allParameterValues, shown: s.parameterValues.map { ParameterValue(name: $0.name, value: $0.value) },
                           liveState: s.liveState, spec: s.spec)
        }
    }

    /// specs of the strategies on
    var enabledSpecs: [String] { active.map(\.spec) }
}

extension Configurable {
    /// every parameter with its value, in declaration order
    public var allParameterValues: [ParameterValue] { Self.parameters.map { ParameterValue(name: $0.name, value: $0.value(of: self)) } }
}

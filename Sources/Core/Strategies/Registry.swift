/// Every strategy thinktop knows, in composition order, and the `--strategy` spec grammar:
///
///     NAME[=VALUE][:PARAM=VALUE]…      e.g.  cgrs   cgrs:delta=0.8   budget=256:extend=2
///
/// `NAME=VALUE` sets the strategy's main parameter (budget's `budget`, CGRS's `delta`, …).
/// Order matters when strategies disagree: an earlier strategy's forced tokens win over a
/// later one's, and the trace records which one won (see Strategy.swift).
public enum StrategyRegistry {
    struct Entry {
        let id: String
        let primary: String?
        let make: () -> DecodingStrategy
    }

    /// Composition order: stopping rules first (they end thinking), then logit edits, then
    /// samplers, then the input choice.
    static var entries: [Entry] { [
        Entry(id: "budget", primary: "budget", make: { BudgetForcing() }),
        Entry(id: "deer", primary: "threshold", make: { DEER() }),
        Entry(id: "thinkbrake", primary: "threshold", make: { ThinkBrake() }),
        Entry(id: "answerstop", primary: "k", make: { AnswerStop() }),
        Entry(id: "stoppressure", primary: "tau", make: { StopPressure() }),
        Entry(id: "cgrs", primary: "delta", make: { CGRS() }),
        Entry(id: "nowait", primary: nil, make: { NoWait() }),
        Entry(id: "entropix", primary: nil, make: { Entropix() }),
        Entry(id: "swir", primary: "cap", make: { SwiReasoning() }),
    ] }

    public static var ids: [String] { entries.map(\.id) }

    /// A default instance of every strategy, in composition order.
    public static func all() -> [DecodingStrategy] { entries.map { $0.make() } }

    /// Parses `--strategy` specs into every known strategy (configured) and the set turned on.
    public static func configure(_ specs: [String]) throws -> (strategies: [DecodingStrategy], enabled: Set<String>) {
        let list = all()
        var on = Set<String>()
        for spec in specs {
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let head = parts[0].split(separator: "=", maxSplits: 1).map(String.init)
            let id = head[0].lowercased().trimmingCharacters(in: .whitespaces)
            guard let entry = entries.first(where: { $0.id == id }), let s = list.first(where: { $0.id == id }) else {
                throw ThinktopError.invalidArgument("--strategy \(spec): unknown strategy \"\(id)\" (known: \(ids.joined(separator: ", ")))")
            }
            if head.count == 2 {
                guard let p = entry.primary else {
                    throw ThinktopError.invalidArgument("--strategy \(spec): \(id) takes no value; use \(id):PARAM=VALUE")
                }
                try s.set(p, head[1])
            }
            for kv in parts.dropFirst() {
                let pair = kv.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2, !pair[0].isEmpty else {
                    throw ThinktopError.invalidArgument("--strategy \(spec): expected PARAM=VALUE, got \"\(kv)\"")
                }
                try s.set(pair[0], pair[1])
            }
            on.insert(id)
        }
        return (list, on)
    }
}

import Foundation

/// Every strategy thinktop knows, in composition order, and the `--strategy` spec grammar:
///
///     NAME[=VALUE][:PARAM=VALUE]…      e.g.  cgrs   cgrs:delta=0.8   budget=256:extend=2
///
/// `NAME=VALUE` sets the strategy's main parameter (budget's `budget`, CGRS's `delta`, …).
/// Order matters when strategies disagree: an earlier strategy's forced tokens win over a
/// later one's, and the trace records which one won (`StrategyPipeline`).
public enum StrategyRegistry {
    /// Composition order: stopping rules first (they end thinking), then logit edits, then
    /// samplers, then the input choice.
    public static var types: [any DecodingStrategy.Type] {
        [BudgetForcing.self, DEER.self, ThinkBrake.self, AnswerStop.self, StopPressure.self, CGRS.self, NoWait.self,
         Entropix.self, SwiReasoning.self]
    }

    public static var ids: [String] { types.map { $0.info.id } }

    /// A default instance of every strategy, in composition order.
    public static func all() -> [any DecodingStrategy] { types.map { $0.init() } }

    /// Parses `--strategy` specs into every known strategy (configured) and the set turned on.
    /// Each error is one line naming the spec.
    public static func configure(_ specs: [String]) throws -> (strategies: [any DecodingStrategy], enabled: Set<String>) {
        let list = all()
        var on = Set<String>()
        for spec in specs {
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let head = parts[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let id = (head.first ?? "").lowercased().trimmingCharacters(in: .whitespaces)
            guard !id.isEmpty else {
                throw ThinktopError.invalidArgument("--strategy \(String(reflecting: spec)): name a strategy first (known: \(ids.joined(separator: ", ")))")
            }
            guard let s = list.first(where: { $0.id == id }) else {
                throw ThinktopError.invalidArgument("--strategy \(spec): unknown strategy \"\(id)\" (known: \(ids.joined(separator: ", ")))")
            }
            if head.count == 2 {
                guard let p = type(of: s).info.primary else {
                    throw ThinktopError.invalidArgument("--strategy \(spec): \(id) takes no value; use \(id):PARAM=VALUE")
                }
                try s.set(p, head[1])
            }
            try s.apply(Array(parts.dropFirst()), spec: "--strategy \(spec)")
            on.insert(id)
        }
        return (list, on)
    }
}

import ArgumentParser
import Core
import Foundation

/// Every strategy and KV policy with its parameters, from their declarations: the one place
/// `--strategy` help, the README's table and the panel's parameters come from.
struct Strategies: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the decoding strategies and KV policies with every parameter, its default and what it does.")

    @Flag(name: .long, help: "Print the README's strategy table (markdown).")
    var markdown = false

    func run() throws {
        print(markdown ? Self.markdownTable() : Self.listing(), terminator: "")
    }

    /// The KV policies' keys: `k` cycles those that can be switched mid-run.
    static func kvKey(_ id: String) -> String { ["streaming", "h2o"].contains(id) ? "`k`" : "—" }

    /// "needs" as the table shows it.
    static func needs(_ set: Set<Capability>) -> String {
        set.sorted().map(\.rawValue).joined(separator: ", ")
    }

    /// `budget` `512`, `extend` `0`, … — every parameter at its default (lists spaced out).
    static func defaults(_ help: [(name: String, kind: String, defaultValue: String, help: String)]) -> String {
        help.isEmpty ? "—" : help.map { p in
            let v = p.kind == ParameterKind.words.summary ? p.defaultValue.replacingOccurrences(of: ",", with: ", ") : p.defaultValue
            return "`\(p.name)` " + (v.isEmpty ? "\"\"" : "`\(v.replacingOccurrences(of: "|", with: "\\|"))`")
        }.joined(separator: ", ")
    }

    /// A default as a reader should see it: texts quoted, escapes kept.
    static func display(_ value: String) -> String {
        value.isEmpty ? "\"\"" : value.replacingOccurrences(of: "|", with: "\\|")
    }

    static func markdownTable() -> String {
        var out = "| key | name | source | needs | fidelity | defaults |\n|---|---|---|---|---|---|\n"
        for t in StrategyRegistry.types {
            let i = t.info
            let key = StrategyKeys.byID[i.id].map { "`\($0)`" } ?? "—"
            out += "| \(key) | \(i.name) (`--strategy \(i.id)`) | \(i.source) | \(needs(i.needs)) | \(i.fidelity) | \(defaults(t.parameterHelp)) |\n"
        }
        for t in KVPolicyRegistry.types where t.info.id != "none" {
            let i = t.info
            out += "| \(kvKey(i.id)) | \(i.name) (`--kv \(i.id)`) | \(i.source) | \(needs(i.needs)) | \(i.fidelity) | \(defaults(t.parameterHelp)) |\n"
        }
        return out
    }

    static func listing() -> String {
        var out = "Strategies (--strategy NAME[=VALUE][:PARAM=VALUE]…; composition order)\n"
        for t in StrategyRegistry.types {
            let i = t.info
            let key = StrategyKeys.byID[i.id].map { " [key \($0)]" } ?? ""
            out += "\n\(i.id) — \(i.name)\(key): \(i.source)\n  needs \(needs(i.needs))"
            if let p = i.primary { out += "; \(i.id)=VALUE sets \(p)" }
            out += "\n"
            for p in t.parameterHelp {
                out += "  \(p.name)=\(display(p.defaultValue))  \(p.help) (\(p.kind))\n"
            }
        }
        out += "\nKV policies (--kv NAME[:PARAM=VALUE]…)\n"
        for t in KVPolicyRegistry.types {
            let i = t.info
            out += "\n\(i.id) — \(i.name)" + (i.source.isEmpty ? "" : ": \(i.source)") + "\n"
            if !i.needs.isEmpty { out += "  needs \(needs(i.needs))\n" }
            for p in t.parameterHelp {
                out += "  \(p.name)=\(display(p.defaultValue))  \(p.help) (\(p.kind))\n"
            }
        }
        return out
    }
}

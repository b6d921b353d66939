import Foundation

/// What values a parameter takes, for validation messages, help and the README table.
public enum ParameterKind: Sendable, Equatable {
    /// a whole number in the range; `off`: also "off"/"none" (no value)
    case integer(ClosedRange<Int>, off: Bool)
    /// a number in the range, the lower bound excluded when `lowerOpen`
    case number(ClosedRange<Double>, lowerOpen: Bool)
    /// a text with C escapes (\n, \t, \\); `optional`: "default" restores the default
    case text(nonEmpty: Bool)
    /// comma-separated words (spaces around them dropped)
    case words
    /// comma-separated texts with C escapes, kept exactly (spaces matter)
    case texts
    /// one of these names
    case choice([String])
    /// on or off
    case flag

    /// "a whole number in 1…512", "one of exact, top", …
    public var summary: String {
        switch self {
        case .integer(let r, let off):
            return "a whole number in \(r.lowerBound)…\(r.upperBound)" + (off ? ", or off" : "")
        case .number(let r, let open):
            return open ? "a number above \(ParameterFormat.number(r.lowerBound)) up to \(ParameterFormat.number(r.upperBound))"
                : "a number in \(ParameterFormat.number(r.lowerBound))…\(ParameterFormat.number(r.upperBound))"
        case .text(let nonEmpty): return nonEmpty ? "a non-empty text (C escapes)" : "a text (C escapes)"
        case .words: return "comma-separated words"
        case .texts: return "comma-separated texts (C escapes)"
        case .choice(let names): return "one of " + names.joined(separator: ", ")
        case .flag: return "on or off"
        }
    }
}

/// A parameter's rejection of a value, named by the code that parses specs (the strategy or
/// KV policy, and the parameter).
struct ParameterRejection: Error {
    let reason: String
}

/// One parameter of a strategy or KV policy, declared once: its name in specs, the values
/// it takes, a help line, and how it is read from and written to its owner. Parsing, error
/// messages, `thinktop strategies`, the README table, the panel and the spec recorded in the
/// trace all come from the declaration; the default is what a fresh owner holds.
public struct Parameter<Owner: AnyObject> {
    public let name: String
    public let help: String
    public let kind: ParameterKind
    /// shown in specs at its default too (the main parameters)
    public let always: Bool
    let read: (Owner) -> String
    let write: (Owner, String) throws -> Void

    init(_ name: String, _ kind: ParameterKind, always: Bool, help: String,
         read: @escaping (Owner) -> String, write: @escaping (Owner, String) throws -> Void) {
        self.name = name; self.kind = kind; self.always = always; self.help = help
        self.read = read; self.write = write
    }

    /// The value as a spec writes it.
    public func value(of owner: Owner) -> String { read(owner) }

    public static func integer(_ name: String, _ path: ReferenceWritableKeyPath<Owner, Int>, _ range: ClosedRange<Int>,
                               always: Bool = false, help: String) -> Parameter {
        Parameter(name, .integer(range, off: false), always: always, help: help, read: { "\($0[keyPath: path])" }) {
            $0[keyPath: path] = try ParameterFormat.integer($1, range)
        }
    }

    /// An integer that can be unset (nil): "off", "none", 0 or `unset` itself unset it; it
    /// reads as `unset` ("off", or "auto" where a rule then decides).
    public static func optionalInteger(_ name: String, _ path: ReferenceWritableKeyPath<Owner, Int?>,
                                       _ range: ClosedRange<Int>, unset: String = "off", always: Bool = false,
                                       help: String) -> Parameter {
        Parameter(name, .integer(range, off: true), always: always, help: help,
                  read: { $0[keyPath: path].map { "\($0)" } ?? unset }) {
            if ["off", "none", "0", unset].contains($1.lowercased()) { $0[keyPath: path] = nil; return }
            $0[keyPath: path] = try ParameterFormat.integer($1, range)
        }
    }

    public static func number(_ name: String, _ path: ReferenceWritableKeyPath<Owner, Double>, _ range: ClosedRange<Double>,
                              lowerOpen: Bool = false, always: Bool = false, help: String,
                              format: @escaping @Sendable (Double) -> String = ParameterFormat.number) -> Parameter {
        Parameter(name, .number(range, lowerOpen: lowerOpen), always: always, help: help,
                  read: { format($0[keyPath: path]) }) {
            let kind = ParameterKind.number(range, lowerOpen: lowerOpen)
            guard let v = Double($1), range.contains(v), !(lowerOpen && v == range.lowerBound) else {
                throw ParameterRejection(reason: "must be \(kind.summary), got \"\($1)\"")
            }
            $0[keyPath: path] = v
        }
    }

    public static func text(_ name: String, _ path: ReferenceWritableKeyPath<Owner, String>, nonEmpty: Bool = false,
                            always: Bool = false, help: String) -> Parameter {
        Parameter(name, .text(nonEmpty: nonEmpty), always: always, help: help,
                  read: { ParameterFormat.escape($0[keyPath: path]) }) {
            let t = ParameterFormat.unescape($1)
            if nonEmpty && t.isEmpty { throw ParameterRejection(reason: "must not be empty") }
            $0[keyPath: path] = t
        }
    }

    /// A text that is nil by default (a rule computes it); "default" puts it back to nil.
    public static func optionalText(_ name: String, _ path: ReferenceWritableKeyPath<Owner, String?>,
                                    help: String) -> Parameter {
        Parameter(name, .text(nonEmpty: false), always: false, help: help,
                  read: { $0[keyPath: path].map(ParameterFormat.escape) ?? "default" }) {
            $0[keyPath: path] = $1 == "default" ? nil : ParameterFormat.unescape($1)
        }
    }

    public static func words(_ name: String, _ path: ReferenceWritableKeyPath<Owner, [String]>, lowercased: Bool = false,
                             nonEmpty: Bool = true, help: String) -> Parameter {
        Parameter(name, .words, always: false, help: help, read: { $0[keyPath: path].joined(separator: ",") }) {
            var list = $1.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if lowercased { list = list.map { $0.lowercased() } }
            if nonEmpty && list.isEmpty { throw ParameterRejection(reason: "must name at least one word, got \"\($1)\"") }
            $0[keyPath: path] = list
        }
    }

    public static func texts(_ name: String, _ path: ReferenceWritableKeyPath<Owner, [String]>, help: String) -> Parameter {
        Parameter(name, .texts, always: false, help: help,
                  read: { $0[keyPath: path].map(ParameterFormat.escape).joined(separator: ",") }) {
            let list = $1.split(separator: ",", omittingEmptySubsequences: true).map { ParameterFormat.unescape(String($0)) }
            if list.isEmpty { throw ParameterRejection(reason: "must list at least one text, got \"\($1)\"") }
            $0[keyPath: path] = list
        }
    }

    public static func choice<E: RawRepresentable & CaseIterable>(_ name: String, _ path: ReferenceWritableKeyPath<Owner, E>,
                                                                  always: Bool = false, help: String) -> Parameter
        where E.RawValue == String {
        let names = E.allCases.map(\.rawValue)
        return Parameter(name, .choice(names), always: always, help: help, read: { $0[keyPath: path].rawValue }) {
            guard let v = E(rawValue: $1.lowercased()) else {
                throw ParameterRejection(reason: "must be \(ParameterKind.choice(names).summary), got \"\($1)\"")
            }
            $0[keyPath: path] = v
        }
    }

    public static func flag(_ name: String, _ path: ReferenceWritableKeyPath<Owner, Bool>, help: String) -> Parameter {
        Parameter(name, .flag, always: false, help: help, read: { $0[keyPath: path] ? "on" : "off" }) {
            switch $1.lowercased() {
            case "1", "true", "on", "yes": $0[keyPath: path] = true
            case "0", "false", "off", "no": $0[keyPath: path] = false
            default: throw ParameterRejection(reason: "must be on or off, got \"\($1)\"")
            }
        }
    }
}

/// Something with declared parameters: a decoding strategy or a KV policy.
public protocol Configurable: AnyObject {
    init()
    /// "strategy" or "KV policy", for messages
    static var kindName: String { get }
    /// the name in specs
    static var specName: String { get }
    static var parameters: [Parameter<Self>] { get }
    /// Checks that hold between parameters, after each change (one-line errors).
    func validate() throws
}

extension Configurable {
    /// Sets one parameter; throws one line naming the owner and the parameter.
    public func set(_ name: String, _ value: String) throws {
        guard let p = Self.parameters.first(where: { $0.name == name }) else {
            let known = Self.parameters.map(\.name)
            throw ThinktopError.invalidArgument("\(Self.kindName) \(Self.specName) has no parameter \"\(name)\""
                + (known.isEmpty ? " (it has none)" : " (it has: \(known.joined(separator: ", ")))"))
        }
        do { try p.write(self, value) } catch let r as ParameterRejection {
            throw ThinktopError.invalidArgument("\(Self.kindName) \(Self.specName): \(name) \(r.reason)")
        }
        try validate()
    }

    /// Checks that hold between parameters (none by default).
    public func validate() throws {}

    /// The parameters a spec shows: the main ones, and the others where they differ from the
    /// default.
    public var parameterValues: [(name: String, value: String)] {
        let fresh = Self()
        return Self.parameters.compactMap { p in
            let v = p.read(self)
            return p.always || v != p.read(fresh) ? (p.name, v) : nil
        }
    }

    /// "cgrs:delta=0.9", the spec that recreates this owner as it is now.
    public var spec: String {
        ([Self.specName] + parameterValues.map { "\($0.name)=\($0.value)" }).joined(separator: ":")
    }

    /// Every parameter with its help and default, for `thinktop strategies` and the README.
    public static var parameterHelp: [(name: String, kind: String, defaultValue: String, help: String)] {
        let fresh = Self()
        return parameters.map { ($0.name, $0.kind.summary, $0.read(fresh), $0.help) }
    }

    /// Applies `NAME=VALUE` items (the part of a spec after the name).
    public func apply(_ items: [String], spec: String) throws {
        for item in items {
            let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, !pair[0].isEmpty else {
                throw ThinktopError.invalidArgument("\(spec): expected PARAM=VALUE, got \"\(item)\"")
            }
            try set(pair[0], pair[1])
        }
    }
}

/// How parameter values are written in specs and read back.
public enum ParameterFormat {
    /// A number without trailing zeros, with at least one decimal: 0.95, 1.0, 0.125, 512.0.
    @Sendable public static func number(_ v: Double) -> String {
        var s = String(format: "%.6f", v)
        while s.hasSuffix("0") && !s.hasSuffix(".0") { s.removeLast() }
        return s
    }

    /// A fraction below 1, or a count from 1 on (H2O's budgets): 0.1, 300.
    @Sendable public static func fractionOrCount(_ v: Double) -> String {
        v >= 1 && v == v.rounded() ? String(Int(v)) : number(v)
    }

    static func integer(_ value: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let v = Int(value), range.contains(v) else {
            throw ParameterRejection(reason: "must be \(ParameterKind.integer(range, off: false).summary), got \"\(value)\"")
        }
        return v
    }

    /// C escapes in texts given on the command line: \n, \t, \\.
    public static func unescape(_ value: String) -> String {
        var out = ""
        var escape = false
        for c in value {
            if escape {
                switch c {
                case "n": out.append("\n")
                case "t": out.append("\t")
                default: out.append(c)
                }
                escape = false
            } else if c == "\\" {
                escape = true
            } else {
                out.append(c)
            }
        }
        if escape { out.append("\\") }
        return out
    }

    /// The escapes `unescape` reads, so a spec round-trips.
    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
            .replacingOccurrences(of: "\t", with: "\\t")
    }
}

/// A parameter as a person sees it: its name, the values it takes and its help line (the
/// workbench's completion, help and the strategy pane's editor read these).
public struct ParameterInfo: Sendable, Equatable {
    public var name: String
    public var kind: ParameterKind
    public var help: String
}

/// A strategy or KV policy and its declared parameters, by id.
public struct ConfigurableInfo: Sendable, Equatable {
    public var id: String
    public var name: String
    /// the parameter `NAME=VALUE` sets (strategies)
    public var primary: String?
    public var parameters: [ParameterInfo]

    public func parameter(_ name: String) -> ParameterInfo? { parameters.first { $0.name == name } }
}

extension Configurable {
    public static var parameterInfo: [ParameterInfo] { parameters.map { ParameterInfo(name: $0.name, kind: $0.kind, help: $0.help) } }
}

/// Every strategy and KV policy with its parameters, in composition / cycling order.
public enum ParameterCatalog {
    public static var strategies: [ConfigurableInfo] {
        StrategyRegistry.types.map { ConfigurableInfo(id: $0.info.id, name: $0.info.name, primary: $0.info.primary, parameters: $0.parameterInfo) }
    }

    public static var kvPolicies: [ConfigurableInfo] {
        KVPolicyRegistry.types.map { ConfigurableInfo(id: $0.info.id, name: $0.info.name, primary: nil, parameters: $0.parameterInfo) }
    }
}

extension ParameterCatalog {
    /// Whether `value` is one `name` of the owner takes, with the owner's other parameters at
    /// `current` (checks between parameters included); throws the owner's one-line error.
    public static func check(owner id: String, kv: Bool, current: [ParameterValue], name: String, value: String) throws {
        let owner: any Configurable
        if kv {
            guard let t = KVPolicyRegistry.types.first(where: { $0.info.id == id }) else {
                throw ThinktopError.invalidArgument("unknown KV policy \(id)")
            }
            owner = t.init()
        } else {
            guard let t = StrategyRegistry.types.first(where: { $0.info.id == id }) else {
                throw ThinktopError.invalidArgument("unknown strategy \(id)")
            }
            owner = t.init()
        }
        for p in current where p.name != name { try? owner.set(p.name, p.value) }
        try owner.set(name, value)
    }
}

extension ParameterKind {
    /// The value one step up or down from `value` (the strategy pane's `+`/`-`), or nil when
    /// this kind has no steps (texts) or the value is at its end. Numbers move by a round step
    /// (1, 2 or 5 × a power of ten near an eighth of an integer, a tenth of a number; 0.05 for
    /// fractions up to 1)
    /// and land on its multiples; choices go round; flags flip; an integer that can be off
    /// goes off below its lowest value and comes back at it.
    public func step(_ value: String, up: Bool) -> String? {
        switch self {
        case .integer(let range, let off):
            guard let v = Int(value) else {
                // off: back on at the lowest value
                return off && up ? "\(range.lowerBound)" : nil
            }
            let step = max(1, Int(Self.roundStep(Double(abs(v)) / 8)))
            var next = up ? (v / step + 1) * step : (v % step == 0 ? v - step : (v / step) * step)
            if next < range.lowerBound { if off && !up { return "off" }; next = range.lowerBound }
            next = min(range.upperBound, next)
            return next == v ? nil : "\(next)"
        case .number(let range, let lowerOpen):
            guard let v = Double(value) else { return nil }
            let span = range.upperBound - range.lowerBound
            let step = span <= 1 ? (abs(v) >= 0.1 || v == 0 ? 0.05 : Self.roundStep(abs(v) / 5))
                : Self.roundStep(max(abs(v), span / 100) / 10)
            let k = (v / step).rounded(up ? .down : .up)
            var next = ((up ? k + 1 : k - 1) * step * 1e9).rounded() / 1e9
            if abs(next - v) < step / 1e6 { next = ((up ? k + 2 : k - 2) * step * 1e9).rounded() / 1e9 }
            next = min(range.upperBound, max(range.lowerBound, next))
            if lowerOpen && next <= range.lowerBound { next = range.lowerBound + (v - range.lowerBound) / 2 }
            return next == v ? nil : ParameterFormat.number(next)
        case .choice(let names):
            guard !names.isEmpty else { return nil }
            let i = names.firstIndex(of: value.lowercased()) ?? 0
            return names[(i + (up ? 1 : names.count - 1)) % names.count]
        case .flag:
            return value == "on" ? "off" : "on"
        case .text, .words, .texts:
            return nil
        }
    }

    /// The 1, 2 or 5 × a power of ten nearest `x` in ratio (at least 1e-6): 8 → 10, 64 → 50.
    static func roundStep(_ x: Double) -> Double {
        guard x > 1e-6 else { return 1e-6 }
        let p = pow(10, (log10(x)).rounded(.down))
        return [1.0, 2, 5, 10].map { $0 * p }.min { abs(log($0 / x)) < abs(log($1 / x)) }!
    }
}

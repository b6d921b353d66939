import Core
import Foundation

/// A command typed on the workbench's `:` line, parsed and checked. Every change it asks of
/// the run is applied between two steps and recorded in the trace, as a key's would be.
public enum WorkbenchCommand: Equatable, Sendable {
    /// a parameter of a strategy (by id) or of the KV policy in force (`owner == "kv"`)
    case set(owner: String, parameter: String, value: String)
    /// turn a strategy on, with the spec's parameters (`strategy +deer:threshold=0.8`)
    case strategyOn(id: String, spec: String)
    case strategyOff(id: String)
    /// switch the KV policy (a `--kv` spec)
    case kv(spec: String)
    case sampling(SamplingChange)
    case maxTokens(Int)
    /// a new run on another problem (the text as the user gives it), a prompt file, the demo
    case problem(String)
    case promptFile(String)
    case demo
    /// start recording the trace now, from the run's beginning
    case trace(String)
    /// write the HTML report there
    case export(String)
    /// a new branch from this step (the old continuation is kept)
    case rewind(Int)
    /// move the cursor to this step
    case goto(Int)
    case help(String?)
    case quit

    /// One sampling setting, as the command line names it.
    public enum SamplingChange: Equatable, Sendable {
        case temperature(Double), topP(Double), topK(Int), minP(Double), seed(UInt64)

        /// The parameters with this one changed.
        public func applied(to p: SamplingParameters) -> SamplingParameters {
            var q = p
            switch self {
            case .temperature(let t): q.temperature = t
            case .topP(let v): q.topP = v
            case .topK(let k): q.topK = k
            case .minP(let v): q.minP = v
            case .seed(let s): q.seed = s
            }
            return q
        }
    }
}

/// What the parser and completion know of the run: the strategies and KV policies with their
/// parameters, which are on, the values now, and how many steps there are.
public struct CommandContext: Sendable {
    public var strategies: [ConfigurableInfo]
    public var kvPolicies: [ConfigurableInfo]
    /// the KV policy in force (its id)
    public var kvPolicy: String
    /// the strategies on
    public var enabled: Set<String>
    /// the strategies the backend cannot serve, with the reason
    public var unavailable: [String: String]
    /// current values by owner id ("kv" for the KV policy in force)
    public var values: [String: [ParameterValue]]
    /// steps of the branch shown
    public var steps: Int
    /// a replay: nothing may change the run
    public var replay: Bool

    public init(strategies: [ConfigurableInfo] = ParameterCatalog.strategies, kvPolicies: [ConfigurableInfo] = ParameterCatalog.kvPolicies,
                kvPolicy: String = "none", enabled: Set<String> = [], unavailable: [String: String] = [:],
                values: [String: [ParameterValue]] = [:], steps: Int = 0, replay: Bool = false) {
        self.strategies = strategies; self.kvPolicies = kvPolicies; self.kvPolicy = kvPolicy; self.enabled = enabled
        self.unavailable = unavailable; self.values = values; self.steps = steps; self.replay = replay
    }

    /// The owner `set` names: a strategy, or "kv" for the policy in force.
    func owner(_ id: String) -> ConfigurableInfo? {
        id == "kv" ? kvPolicies.first { $0.id == kvPolicy } : strategies.first { $0.id == id }
    }

    func value(_ owner: String, _ name: String) -> String? { values[owner]?.first { $0.name == name }?.value }
}

/// The command line's commands: name, arguments and what each does (help, completion).
public enum CommandTable {
    public struct Entry: Sendable {
        public var name: String
        public var arguments: String
        public var help: String
        /// also accepted
        public var aliases: [String] = []
        /// allowed in a replay
        public var replay = false
    }

    public static let entries: [Entry] = [
        Entry(name: "set", arguments: "STRATEGY.PARAM VALUE", help: "set a parameter (kv.PARAM: the KV policy's), e.g. set deer.threshold 0.8"),
        Entry(name: "strategy", arguments: "+SPEC | -NAME", help: "turn a strategy on (with parameters, as --strategy) or off"),
        Entry(name: "kv", arguments: "SPEC", help: "switch the KV policy, e.g. kv streaming:recent=256"),
        Entry(name: "temp", arguments: "T", help: "sampling temperature (0: greedy)"),
        Entry(name: "top-p", arguments: "P", help: "nucleus: keep the smallest set reaching p (1: off)"),
        Entry(name: "top-k", arguments: "K", help: "keep the k most likely tokens (0: all)"),
        Entry(name: "min-p", arguments: "P", help: "drop tokens under p × the top one's probability (0: off)"),
        Entry(name: "seed", arguments: "N", help: "restart the sampler's generator from this seed"),
        Entry(name: "max-tokens", arguments: "N", help: "stop after N generated tokens"),
        Entry(name: "problem", arguments: "TEXT", help: "a new run on this problem (the current one stays in the trace)"),
        Entry(name: "prompt-file", arguments: "FILE", help: "a new run on the problem in FILE"),
        Entry(name: "demo", arguments: "", help: "a new run on the demo problem"),
        Entry(name: "trace", arguments: "FILE", help: "record the trace to FILE from now (with everything so far)"),
        Entry(name: "export", arguments: "FILE.html", help: "write the HTML report of the run to FILE.html", replay: true),
        Entry(name: "rewind", arguments: "N", help: "a new branch from step N (the old one is kept)"),
        Entry(name: "goto", arguments: "N", help: "move the cursor to step N", replay: true),
        Entry(name: "help", arguments: "[COMMAND]", help: "what a command does (no name: list them)", replay: true),
        Entry(name: "q", arguments: "", help: "quit", aliases: ["quit"], replay: true),
    ]

    public static func entry(_ name: String) -> Entry? {
        entries.first { $0.name == name || $0.aliases.contains(name) }
    }

    /// "set STRATEGY.PARAM VALUE — set a parameter …"
    public static func usage(_ e: Entry) -> String {
        (e.arguments.isEmpty ? e.name : e.name + " " + e.arguments) + " — " + e.help
    }
}

/// A rejected command line: one line saying what is wrong and what would do.
public struct CommandError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Parses and checks a command line against the run (pure: no I/O, no session).
public enum CommandParser {
    public static func parse(_ line: String, context: CommandContext) -> Result<WorkbenchCommand, CommandError> {
        do { return .success(try parseThrowing(line, context: context)) } catch let e as CommandError {
            return .failure(e)
        } catch {
            return .failure(CommandError("\(error)"))
        }
    }

    static func parseThrowing(_ line: String, context c: CommandContext) throws -> WorkbenchCommand {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        let text = trimmed.hasPrefix(":") ? String(trimmed.dropFirst()).trimmingCharacters(in: .whitespaces) : trimmed
        guard !text.isEmpty else { throw CommandError("type a command (help lists them)") }
        let name = String(text.prefix { $0 != " " })
        let rest = String(text.dropFirst(name.count)).trimmingCharacters(in: .whitespaces)
        guard let entry = CommandTable.entry(name.lowercased()) else {
            let near = CommandTable.entries.map(\.name).filter { $0.hasPrefix(String(name.lowercased().prefix(2))) }
            throw CommandError("no command \(String(reflecting: name))" + (near.isEmpty ? " (help lists them)" : " (did you mean \(near.joined(separator: ", "))?)"))
        }
        if c.replay && !entry.replay {
            throw CommandError("\(entry.name): a replay cannot change the run (here: goto, export, help, q)")
        }
        func needArgument() throws -> String {
            guard !rest.isEmpty else { throw CommandError("\(entry.name) needs \(entry.arguments): \(entry.help)") }
            return rest
        }
        func noArgument() throws {
            guard rest.isEmpty else { throw CommandError("\(entry.name) takes nothing, got \(String(reflecting: rest))") }
        }
        switch entry.name {
        case "set": return try parseSet(try needArgument(), c)
        case "strategy": return try parseStrategy(try needArgument(), c)
        case "kv":
            let spec = try needArgument()
            do { _ = try KVPolicyRegistry.parse(spec) } catch { throw CommandError("kv: \(error)") }
            return .kv(spec: spec)
        case "temp":
            let t = try number(try needArgument(), "temp", "a number ≥ 0 (0: greedy)") { $0 >= 0 && $0.isFinite }
            return .sampling(.temperature(t))
        case "top-p":
            return .sampling(.topP(try number(try needArgument(), "top-p", "a number above 0 up to 1") { $0 > 0 && $0 <= 1 }))
        case "min-p":
            return .sampling(.minP(try number(try needArgument(), "min-p", "a number from 0 up to (not including) 1") { $0 >= 0 && $0 < 1 }))
        case "top-k":
            return .sampling(.topK(try integer(try needArgument(), "top-k", "a whole number ≥ 0 (0: the whole vocabulary)") { $0 >= 0 }))
        case "seed":
            let s = try needArgument()
            guard let v = UInt64(s) else { throw CommandError("seed must be a whole number from 0 to \(UInt64.max), got \(String(reflecting: s))") }
            return .sampling(.seed(v))
        case "max-tokens":
            return .maxTokens(try integer(try needArgument(), "max-tokens", "a whole number ≥ 1") { $0 >= 1 })
        case "problem": return .problem(ParameterFormat.unescape(try needArgument()))
        case "prompt-file": return .promptFile(try needArgument())
        case "demo": try noArgument(); return .demo
        case "trace":
            let f = try needArgument()
            guard !f.hasSuffix("/") else { throw CommandError("trace needs a file name, got the folder \(f)") }
            return .trace(f)
        case "export":
            let f = try needArgument()
            guard f.lowercased().hasSuffix(".html") else {
                throw CommandError("export writes an HTML report: name a file ending in .html, got \(String(reflecting: f))")
            }
            return .export(f)
        case "rewind":
            let n = try integer(try needArgument(), "rewind", "a step number") { _ in true }
            guard c.steps > 0 else { throw CommandError("rewind: there is no step yet") }
            guard (0..<c.steps).contains(n) else { throw CommandError("rewind \(n): the branch has steps 0…\(c.steps - 1)") }
            return .rewind(n)
        case "goto":
            let n = try integer(try needArgument(), "goto", "a step number") { _ in true }
            guard c.steps > 0 else { throw CommandError("goto: there is no step yet") }
            guard (0..<c.steps).contains(n) else { throw CommandError("goto \(n): the branch has steps 0…\(c.steps - 1)") }
            return .goto(n)
        case "help":
            if rest.isEmpty { return .help(nil) }
            guard let e = CommandTable.entry(rest.lowercased()) else {
                throw CommandError("help: no command \(String(reflecting: rest)) (help lists them)")
            }
            return .help(e.name)
        default:
            try noArgument()
            return .quit
        }
    }

    static func number(_ s: String, _ name: String, _ what: String, _ ok: (Double) -> Bool) throws -> Double {
        guard let v = Double(s), ok(v) else { throw CommandError("\(name) must be \(what), got \(String(reflecting: s))") }
        return v
    }

    static func integer(_ s: String, _ name: String, _ what: String, _ ok: (Int) -> Bool) throws -> Int {
        guard let v = Int(s), ok(v) else { throw CommandError("\(name) must be \(what), got \(String(reflecting: s))") }
        return v
    }

    /// `set deer.threshold 0.8`, `set deer.threshold=0.8`, `set kv.recent 256`
    static func parseSet(_ rest: String, _ c: CommandContext) throws -> WorkbenchCommand {
        var target = String(rest.prefix { $0 != " " && $0 != "=" })
        var value = String(rest.dropFirst(target.count))
        value = value.hasPrefix("=") ? String(value.dropFirst()) : value.trimmingCharacters(in: .whitespaces)
        target = target.lowercased()
        let parts = target.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            throw CommandError("set needs STRATEGY.PARAM VALUE, e.g. set deer.threshold 0.8 (got \(String(reflecting: target)))")
        }
        let (ownerID, name) = (parts[0], parts[1])
        guard let owner = c.owner(ownerID) else {
            if ownerID == "kv" { throw CommandError("set kv.\(name): the KV policy \(c.kvPolicy) is not known") }
            throw CommandError("set: no strategy \(String(reflecting: ownerID)) (known: \(c.strategies.map(\.id).joined(separator: ", ")), or kv)")
        }
        let what = ownerID == "kv" ? "KV policy \(owner.id)" : "strategy \(owner.id)"
        guard let p = owner.parameter(name) else {
            let known = owner.parameters.map(\.name)
            throw CommandError("\(what) has no parameter \(String(reflecting: name))" + (known.isEmpty ? " (it has none)" : " (it has: \(known.joined(separator: ", ")))"))
        }
        guard !value.isEmpty else {
            let now = c.value(ownerID, name).map { " (now \($0))" } ?? ""
            throw CommandError("set \(ownerID).\(name) needs a value: \(p.kind.summary)\(now)")
        }
        do {
            try ParameterCatalog.check(owner: ownerID == "kv" ? owner.id : ownerID, kv: ownerID == "kv",
                                       current: c.values[ownerID] ?? [], name: name, value: value)
        } catch {
            throw CommandError("\(error)")
        }
        return .set(owner: ownerID, parameter: name, value: value)
    }

    /// `strategy +deer:threshold=0.8`, `strategy deer`, `strategy -deer`
    static func parseStrategy(_ rest: String, _ c: CommandContext) throws -> WorkbenchCommand {
        let off = rest.hasPrefix("-")
        let spec = rest.hasPrefix("-") || rest.hasPrefix("+") ? String(rest.dropFirst()).trimmingCharacters(in: .whitespaces) : rest
        let id = String(spec.prefix { $0 != ":" && $0 != "=" }).lowercased()
        guard let info = c.strategies.first(where: { $0.id == id }) else {
            throw CommandError("strategy: no strategy \(String(reflecting: id)) (known: \(c.strategies.map(\.id).joined(separator: ", ")))")
        }
        if off {
            guard spec.count == id.count else { throw CommandError("strategy -\(id) turns it off: it takes no parameters") }
            guard c.enabled.contains(id) else { throw CommandError("strategy \(info.name) is already off") }
            return .strategyOff(id: id)
        }
        if let why = c.unavailable[id] { throw CommandError("\(info.name) is not available: it \(why)") }
        do { _ = try StrategyRegistry.configure([spec]) } catch {
            throw CommandError("\(error)".replacingOccurrences(of: "--strategy ", with: "strategy "))
        }
        return .strategyOn(id: id, spec: spec)
    }
}

/// What Tab gives: the line completed as far as it is unambiguous, and the choices left
/// (or a hint of what to type) for the line under it.
public struct Completion: Equatable, Sendable {
    public var line: String
    public var candidates: [String]
    public var hint: String?
}

/// Tab on the command line: command names, strategy and KV policy names, parameter names,
/// and for a value, the choices or what kind of value it takes (with the one now).
public enum CommandCompletion {
    public static func complete(_ line: String, context c: CommandContext) -> Completion {
        let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        // the first word: a command
        if words.count == 1 {
            let names = CommandTable.entries.filter { !c.replay || $0.replay }.map(\.name)
            return finish(line: "", word: words[0], names, space: true, hint: nil)
        }
        let command = CommandTable.entry(words[0].lowercased())?.name ?? words[0].lowercased()
        let head = words.dropLast().joined(separator: " ") + " "
        let word = words.last!
        switch (command, words.count) {
        case ("set", 2):
            // STRATEGY. then PARAM
            if let dot = word.firstIndex(of: ".") {
                let ownerID = String(word[..<dot]).lowercased()
                guard let owner = c.owner(ownerID) else { return Completion(line: line, candidates: [], hint: "no strategy \(ownerID)") }
                let names = owner.parameters.map { ownerID + "." + $0.name }
                return finish(line: head, word: word, names, space: true, hint: nil)
            }
            let owners = c.strategies.map(\.id) + ["kv"]
            var done = finish(line: head, word: word, owners, space: false, hint: nil)
            // one owner: go on to its parameters
            if done.candidates.isEmpty, done.line != line, !done.line.hasSuffix(".") { done.line += "." }
            return done
        case ("set", 3):
            let target = words[1].lowercased().split(separator: ".", maxSplits: 1).map(String.init)
            guard target.count == 2, let owner = c.owner(target[0]), let p = owner.parameter(target[1]) else {
                return Completion(line: line, candidates: [], hint: "set needs STRATEGY.PARAM first")
            }
            let now = c.value(target[0], target[1]).map { " (now \($0))" } ?? ""
            let hint = "\(p.name): \(p.kind.summary)\(now) — \(p.help)"
            switch p.kind {
            case .choice(let names): return finish(line: head, word: word, names, space: false, hint: hint)
            case .flag: return finish(line: head, word: word, ["on", "off"], space: false, hint: hint)
            default: return Completion(line: line, candidates: [], hint: hint)
            }
        case ("strategy", 2):
            let sign = word.hasPrefix("-") ? "-" : word.hasPrefix("+") ? "+" : ""
            let ids = sign == "-" ? c.strategies.map(\.id).filter { c.enabled.contains($0) }
                : c.strategies.map(\.id).filter { !c.enabled.contains($0) && c.unavailable[$0] == nil }
            return finish(line: head + sign, word: String(word.dropFirst(sign.count)), ids, space: false,
                          hint: sign == "-" ? "a strategy that is on" : "a strategy, then :PARAM=VALUE if wanted")
        case ("kv", 2):
            if word.contains(":") {
                let id = String(word.prefix { $0 != ":" }).lowercased()
                let params = c.kvPolicies.first { $0.id == id }?.parameters.map { "\($0.name)=" } ?? []
                return Completion(line: line, candidates: params, hint: params.isEmpty ? "\(id) has no parameters" : nil)
            }
            return finish(line: head, word: word, c.kvPolicies.map(\.id), space: false, hint: "a policy, then :PARAM=VALUE if wanted")
        case ("help", 2):
            return finish(line: head, word: word, CommandTable.entries.map(\.name), space: false, hint: nil)
        default:
            guard let e = CommandTable.entry(command) else { return Completion(line: line, candidates: [], hint: "no command \(words[0])") }
            var hint = CommandTable.usage(e)
            let now: String? = switch e.name {
            case "temp", "top-p", "top-k", "min-p", "seed", "max-tokens": c.value("sampling", e.name)
            case "rewind", "goto": c.steps > 0 ? "0…\(c.steps - 1)" : nil
            default: nil
            }
            if let now { hint += " (now \(now))" }
            return Completion(line: line, candidates: [], hint: hint)
        }
    }

    /// `word` completed among `names`: the one name (and a space when `space`), else the
    /// longest common prefix and the names that fit.
    static func finish(line head: String, word: String, _ names: [String], space: Bool, hint: String?) -> Completion {
        let lower = word.lowercased()
        let fits = names.filter { $0.hasPrefix(lower) }
        if fits.count == 1 { return Completion(line: head + fits[0] + (space ? " " : ""), candidates: [], hint: hint) }
        if fits.isEmpty { return Completion(line: head + word, candidates: [], hint: hint ?? "nothing matches \(String(reflecting: word))") }
        var common = fits[0]
        for f in fits.dropFirst() {
            while !f.hasPrefix(common) { common.removeLast() }
        }
        return Completion(line: head + (common.count > word.count ? common : word), candidates: fits, hint: hint)
    }
}

/// The command line's history: ↑ recalls older lines, ↓ newer ones and at last the line
/// being typed. Kept in a file between runs (the newest `limit` lines).
public struct CommandHistory: Equatable, Sendable {
    public private(set) var entries: [String]
    public let limit: Int
    /// where ↑/↓ are (entries.count: the line being typed)
    private var index: Int
    private var draft = ""

    public init(entries: [String] = [], limit: Int = 500) {
        self.entries = Array(entries.suffix(limit))
        self.limit = limit
        index = self.entries.count
    }

    /// Adds a line run (not twice in a row, not an empty one) and goes back to the end.
    public mutating func add(_ line: String) {
        let t = line.trimmingCharacters(in: .whitespaces)
        if !t.isEmpty, entries.last != t {
            entries.append(t)
            if entries.count > limit { entries.removeFirst(entries.count - limit) }
        }
        index = entries.count
        draft = ""
    }

    /// Back at the end, with nothing typed (the line was closed).
    public mutating func reset() {
        index = entries.count
        draft = ""
    }

    /// ↑: the line before, keeping `current` to come back to; nil at the oldest.
    public mutating func older(current: String) -> String? {
        guard index > 0 else { return nil }
        if index == entries.count { draft = current }
        index -= 1
        return entries[index]
    }

    /// ↓: the line after, then the line that was being typed; nil when already there.
    public mutating func newer() -> String? {
        guard index < entries.count else { return nil }
        index += 1
        return index == entries.count ? draft : entries[index]
    }

    /// Where the history lives: $XDG_STATE_HOME/thinktop/history, else ~/.local/state/thinktop/history.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let x = environment["XDG_STATE_HOME"], !x.isEmpty { return x + "/thinktop/history" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.local/state/thinktop/history"
    }

    /// The history in `path` (none when there is no file).
    public static func load(path: String, limit: Int = 500) -> CommandHistory {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return CommandHistory(limit: limit) }
        return CommandHistory(entries: text.split(separator: "\n").map(String.init), limit: limit)
    }

    /// Writes the history to `path`, creating its folder.
    public func save(path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try (entries.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}

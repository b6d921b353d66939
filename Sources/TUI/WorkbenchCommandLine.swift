import Core
import Foundation
import Views

// The workbench's `:` command line and the strategy pane's editor (`S`). Both turn into the
// session commands the keys send, applied between two steps and written to the trace.
extension WorkbenchApp {
    // MARK: the command line

    func openCommandLine(_ text: String = "") {
        snapshot.commandLine = CommandLineView(text: text)
    }

    /// What the parser and Tab know of the run now.
    func commandContext() -> CommandContext {
        var values: [String: [ParameterValue]] = [:]
        for st in statuses { values[st.id] = st.parameters }
        if let spec = snapshot.kvPolicy, let policy = try? KVPolicyRegistry.parse(spec) { values["kv"] = policy.allParameterValues }
        if let p = sampling {
            values["sampling"] = [
                ParameterValue(name: "temp", value: ParameterFormat.number(p.temperature)),
                ParameterValue(name: "top-p", value: ParameterFormat.number(p.topP)),
                ParameterValue(name: "top-k", value: "\(p.topK)"),
                ParameterValue(name: "min-p", value: ParameterFormat.number(p.minP)),
                ParameterValue(name: "seed", value: "\(p.seed)"),
                ParameterValue(name: "max-tokens", value: "\(maxTokens)"),
            ]
        }
        var replay = false
        if case .replay = source { replay = true }
        return CommandContext(kvPolicy: kvPolicyID.isEmpty ? "none" : kvPolicyID,
                              enabled: Set(statuses.filter(\.enabled).map(\.id)),
                              unavailable: Dictionary(uniqueKeysWithValues: statuses.compactMap { s in s.unavailable.map { (s.id, $0) } }),
                              values: values, steps: snapshot.records.count, replay: replay)
    }

    func handleCommandLine(_ key: Key) {
        guard var line = snapshot.commandLine else { return }
        switch key {
        case .resize: terminal.invalidate()
        case .left: line.move(by: -1)
        case .right: line.move(by: 1)
        case .home: line.moveHome()
        case .end: line.moveEnd()
        case .delete: line.deleteForward()
        case .up:
            if let older = history.older(current: line.text) { line.replace(with: older) }
        case .down:
            if let newer = history.newer() { line.replace(with: newer) }
        case .pageUp, .pageDown: break
        case .char(let c):
            switch c {
            case "\u{1B}":
                snapshot.commandLine = nil
                history.reset()
                return
            case "\r", "\n":
                snapshot.commandLine = line
                submit(line.text)
                return
            case "\t":
                let done = CommandCompletion.complete(line.text, context: commandContext())
                line.replace(with: done.line)
                line.candidates = done.candidates
                line.message = done.candidates.isEmpty ? done.hint : nil
                line.isError = false
            case "\u{7F}", "\u{08}": line.deleteBackward()
            case "\u{17}": line.deleteWord()
            case "\u{15}": line.deleteToStart()
            case "\u{01}": line.moveHome()
            case "\u{05}": line.moveEnd()
            default:
                guard !(c.asciiValue.map { $0 < 0x20 } ?? false) else { break }
                line.insert(String(c))
            }
        }
        snapshot.commandLine = line
    }

    /// Enter: runs the line, or says under it what is wrong (the line stays to be fixed).
    private func submit(_ text: String) {
        switch CommandParser.parse(text, context: commandContext()) {
        case .failure(let e):
            snapshot.commandLine?.message = e.message
            snapshot.commandLine?.isError = true
        case .success(let command):
            history.add(text)
            if let path = historyPath { try? history.save(path: path) }
            snapshot.commandLine = nil
            if let why = execute(command) {
                snapshot.commandLine = CommandLineView(text: text, message: why, isError: true)
            }
        }
    }

    /// Carries out a parsed command; returns why not when the run refuses it here.
    private func execute(_ command: WorkbenchCommand) -> String? {
        switch command {
        case .quit: quit = true
        case .help(nil):
            snapshot.showHelp = true
            snapshot.showCommands = true
        case .help(let name?):
            if let e = CommandTable.entry(name) { snapshot.commandLine = CommandLineView(message: CommandTable.usage(e)) }
        case .goto(let n): snapshot.cursor = n
        case .export(let path): exportReport(to: path)
        default:
            guard case .live(let run) = source else { return "a replay cannot change the run" }
            return executeLive(command, run)
        }
        return nil
    }

    private func executeLive(_ command: WorkbenchCommand, _ run: LiveRun) -> String? {
        let session = run.thread
        switch command {
        case .set(let owner, let name, let value):
            if owner == "kv" {
                let spec: String
                do { spec = try kvSpec(setting: name, to: value) } catch { return "\(error)" }
                session.send(.setKVPolicy(spec))
                flash("KV policy \(spec)")
            } else {
                session.send(.setParameter(owner, name, value))
                showParameter(owner, name, value)
                let st = statuses.first { $0.id == owner }
                let off = st?.enabled == false ? " (off: \(StrategyKeys.key(owner)) or `strategy +\(owner)` turns it on)" : ""
                flash("\(st?.name ?? owner) \(name) \(value)\(off)")
            }
        case .strategyOn(let id, let spec):
            guard let (list, _) = try? StrategyRegistry.configure([spec]), let s = list.first(where: { $0.id == id }) else {
                return "strategy: cannot read \(spec)"
            }
            let now = statuses.first { $0.id == id }
            for p in s.allParameterValues where now?.value(p.name) != p.value {
                session.send(.setParameter(id, p.name, p.value))
            }
            if now?.enabled != true { session.send(.enableStrategy(id, true)) }
            flash("\(s.name) on: \(s.spec)")
        case .strategyOff(let id):
            session.send(.enableStrategy(id, false))
            flash("\(statuses.first { $0.id == id }?.name ?? id) off")
        case .kv(let spec):
            guard let policy = try? KVPolicyRegistry.parse(spec) else { return "kv: cannot read \(spec)" }
            if policy.needsAttention && !run.info.attention {
                return "\(policy.name) needs the attention tap, chosen when the context is made: start with --attention (or --kv \(policy.id))"
            }
            session.send(.setKVPolicy(policy.spec))
        case .sampling(let change):
            guard let old = sampling else { return "this run's sampling is not known" }
            let p = change.applied(to: old)
            session.send(.setSampling(p))
            sampling = p
            if case .seed(let seed) = change { seedSet = seed }
            flash("sampling: " + Self.describe(change))
        case .maxTokens(let n):
            session.send(.setMaxTokens(n))
            maxTokens = n
            if case .done(let reason) = snapshot.status, reason == StopReason.maxTokens.rawValue, n > snapshot.records.count {
                snapshot.status = .running
            }
            flash("max-tokens \(n)")
        case .problem(let text):
            session.send(.perform(run.driver.nextProblem(.text(text))))
            flash("starting a new run on: \(text.prefix(60))")
        case .promptFile(let path):
            guard FileManager.default.isReadableFile(atPath: path) else { return "prompt-file: cannot read \(path)" }
            session.send(.perform(run.driver.nextProblem(.file(path))))
            flash("starting a new run on \(path)")
        case .demo:
            session.send(.perform(run.driver.nextProblem(.demo)))
            flash("starting a new run on the demo problem")
        case .trace(let path):
            if let current = tracePath { return "the trace is already being written to \(current)" }
            let dir = (path as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            if !dir.isEmpty && !(FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) && isDir.boolValue) {
                return "trace: the folder \(dir) does not exist"
            }
            session.send(.perform(run.driver.record(to: path)))
        case .rewind(let step):
            // after `seed`, a branch from an earlier step draws from the new seed there (a fork
            // otherwise restores the generators as they were at that step)
            session.send(.fork(step: step, token: nil, seed: seedSet))
            session.send(.resume)
            snapshot.cursor = nil
            flash("branch \(nextBranchID) from step \(step): branch \(snapshot.currentBranch) is kept (v lists branches)")
        case .quit, .help, .goto, .export:
            break
        }
        return nil
    }

    /// The spec of the KV policy in force with one parameter changed.
    private func kvSpec(setting name: String, to value: String) throws -> String {
        let policy = try KVPolicyRegistry.parse(snapshot.kvPolicy ?? "none")
        try policy.set(name, value)
        return policy.spec
    }

    static func describe(_ c: WorkbenchCommand.SamplingChange) -> String {
        switch c {
        case .temperature(let t): return "temp \(ParameterFormat.number(t))"
        case .topP(let p): return "top-p \(ParameterFormat.number(p))"
        case .topK(let k): return "top-k \(k)"
        case .minP(let p): return "min-p \(ParameterFormat.number(p))"
        case .seed(let s): return "seed \(s)"
        }
    }

    // MARK: the strategy pane's editor

    /// Shows a value sent to the session before the session publishes it, so that keys
    /// pressed faster than it answers step on from the last one (it publishes the same value).
    func showParameter(_ id: String, _ name: String, _ value: String) {
        sentParameters["\(id).\(name)"] = (value, Date())
        guard let i = statuses.firstIndex(where: { $0.id == id }),
              let j = statuses[i].parameters.firstIndex(where: { $0.name == name }) else { return }
        statuses[i].parameters[j].value = value
        snapshot.strategies = strategyRows(statuses, kvRow: kvPolicyRow, kvSpec: snapshot.kvPolicy)
    }

    /// The published strategies with each value sent since shown in place of the published
    /// one, until the session publishes that very value (or, for a value it refused, for a
    /// second): a publication answering the first of several quick presses otherwise puts
    /// the first value back, and the next press steps on from there instead of from the last.
    func withSentParameters(_ list: [StrategyStatus]) -> [StrategyStatus] {
        var list = list
        let now = Date()
        for (key, sent) in sentParameters {
            let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
            guard let i = list.firstIndex(where: { $0.id == parts[0] }),
                  let j = list[i].parameters.firstIndex(where: { $0.name == parts[1] }),
                  list[i].parameters[j].value != sent.value, now.timeIntervalSince(sent.at) < 1 else {
                sentParameters[key] = nil
                continue
            }
            list[i].parameters[j].value = sent.value
        }
        return list
    }

    func openStrategyFocus() {
        snapshot.strategyFocus = .init(row: 0, parameter: 0)
        flash("strategy editor: Esc gives the keys back")
    }

    /// Keys while the strategy pane has them; false for the keys it leaves to the workbench.
    func handleStrategyFocus(_ key: Key) -> Bool {
        guard var focus = snapshot.strategyFocus, !snapshot.strategies.isEmpty else { return false }
        let rows = snapshot.strategies
        let row = rows[min(focus.row, rows.count - 1)]
        switch key {
        case .up: focus.row = (focus.row + rows.count - 1) % rows.count; focus.parameter = 0
        case .down: focus.row = (focus.row + 1) % rows.count; focus.parameter = 0
        case .left: focus.parameter = max(0, focus.parameter - 1)
        case .right: focus.parameter = min(max(0, row.parameters.count - 1), focus.parameter + 1)
        case .char(let c):
            switch c {
            case "\u{1B}", "S":
                snapshot.strategyFocus = nil
                return true
            case "+", "=", "-":
                adjust(row, parameter: focus.parameter, up: c != "-")
            case "\r", "\n":
                guard row.parameters.indices.contains(focus.parameter) else { return true }
                openCommandLine("set \(row.id).\(row.parameters[focus.parameter].name) ")
            case " ":
                guard case .live(let run) = source else { return true }
                if row.id == "kv" {
                    run.thread.send(.setKVPolicy(nextKVPolicy(after: kvPolicyID, attention: run.info.attention)))
                } else if let why = row.reason, !row.available {
                    flash("\(row.name) is not available: it \(why)", seconds: 5)
                } else {
                    run.thread.send(.enableStrategy(row.id, !row.enabled))
                    flash("\(row.name) \(row.enabled ? "off" : "on")")
                }
            default:
                // a strategy's key picks its row
                guard let i = rows.firstIndex(where: { $0.key == c }) else { return false }
                focus = .init(row: i, parameter: 0)
            }
        default:
            return false
        }
        snapshot.strategyFocus = focus
        return true
    }

    /// `+`/`-` on the selected parameter: one step of its kind, sent as the command line's `set` would.
    private func adjust(_ row: WorkbenchSnapshot.StrategyRow, parameter i: Int, up: Bool) {
        guard case .live(let run) = source else { flash("a replay cannot change the run"); return }
        guard row.parameters.indices.contains(i) else { flash("\(row.name) has no parameters"); return }
        let p = row.parameters[i]
        guard let next = p.kind.step(p.value, up: up) else {
            flash(p.kind.step(p.value, up: !up) == nil ? "\(p.name) takes \(p.kind.summary): Enter types a value"
                  : "\(p.name) is at its \(up ? "highest" : "lowest") (\(p.kind.summary))")
            return
        }
        if row.id == "kv" {
            do { run.thread.send(.setKVPolicy(try kvSpec(setting: p.name, to: next))) } catch { flash("\(error)", seconds: 5); return }
        } else {
            let current = statuses.first { $0.id == row.id }?.parameters ?? []
            do {
                try ParameterCatalog.check(owner: row.id, kv: false, current: current, name: p.name, value: next)
            } catch {
                flash("\(error)", seconds: 5)
                return
            }
            run.thread.send(.setParameter(row.id, p.name, next))
            showParameter(row.id, p.name, next)
        }
        flash("\(row.name) \(p.name) \(p.value) \u{2192} \(next)" + (row.enabled || row.id == "kv" ? "" : " (off: space turns it on)"))
    }
}

/// What `problem`, `prompt-file` and `demo` ask for; the session's thread makes it a prompt
/// the way the run's own was made (`LiveDriver.input`).
enum ProblemChoice: Sendable {
    case demo
    case text(String)
    case file(String)
}

import ArgumentParser
import CNcurses
import Core
import Foundation
import Synchronization

/// One set of `compare --strategies`: its text as given (the column's title) and its specs.
struct StrategySet: Equatable {
    var title: String
    var specs: [String]

    /// "none;nowait;budget=256,nowait" → the sets: separated by ";", specs within a set by ",",
    /// "none" or nothing the empty set. A list value uses "," too (`cgrs:triggers=Wait,Hmm`),
    /// so a piece that does not begin with a strategy's name goes on the spec before it.
    static func parse(_ text: String) throws -> [StrategySet] {
        try text.split(separator: ";", omittingEmptySubsequences: false).map { raw in
            let set = raw.trimmingCharacters(in: .whitespaces)
            if set.isEmpty || set.lowercased() == "none" { return StrategySet(title: "none", specs: []) }
            var specs: [String] = []
            for piece in set.split(separator: ",").map(String.init) {
                if specs.isEmpty || beginsSpec(piece) { specs.append(piece.trimmingCharacters(in: .whitespaces)) }
                else { specs[specs.count - 1] += "," + piece }
            }
            _ = try StrategyRegistry.configure(specs)
            return StrategySet(title: set, specs: specs)
        }
    }

    /// whether `piece` is NAME[=VALUE][:PARAM=VALUE]… with NAME a strategy's
    static func beginsSpec(_ piece: String) -> Bool {
        let name = piece.prefix { $0 != "=" && $0 != ":" }.trimmingCharacters(in: .whitespaces).lowercased()
        return StrategyRegistry.ids.contains(name)
    }
}

/// The trace's lines as the session writes them, gathered into branches (read after the run).
final class SharedBranchLog: Sendable {
    let value = Mutex(BranchLog())
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one problem under several strategy sets, or a run and its fork at a token, in one session; print them side by side.",
        discussion: """
        Every set starts from the same seed: branch 0 runs the first set to its end, then each \
        further set forks at step 0 and runs to its end. With --fork-at STEP --token TEXT the run \
        (branch 0) is compared with the same run taking that token at STEP. The table is markdown \
        on stdout (a cell that differs from the first column's is marked *); one trace holds every branch.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var generation: GenerationOptions

    @Option(name: .long, help: "Strategy sets to compare, separated by \";\"; specs within a set (the --strategy grammar) by \",\"; \"none\" or nothing is no strategy. E.g. \"none;nowait\".")
    var strategies: String?

    @Option(name: .customLong("fork-at"), help: "Instead of --strategies: compare the run with the same run forked at this step, taking --token there.")
    var forkAt: Int?

    @Option(name: .long, help: ArgumentHelp(TokenArgument.help))
    var token: String?

    @Option(name: .customShort("o"), help: "Write the JSON Lines trace of every branch here (the same as --trace).")
    var output: String?

    @Flag(name: .long, help: "Print no summary on stderr.")
    var quiet = false

    /// The generation options with -o as --trace and, for --strategies, the first set's strategies.
    func generationOptions() throws -> GenerationOptions {
        var g = generation
        if let output { g.trace = output }
        if let strategies { g.strategy = try StrategySet.parse(strategies)[0].specs }
        return g
    }

    func validate() throws {
        if output != nil && generation.trace != nil { throw ValidationError("give -o or --trace, not both") }
        do { try generationOptions().validate() } catch let error as ThinktopError { throw ValidationError("\(error)") }
        switch (strategies, forkAt) {
        case (nil, nil):
            throw ValidationError("name what to compare: --strategies \"none;nowait\", or --fork-at STEP --token TEXT")
        case (_?, _?):
            throw ValidationError("give --strategies or --fork-at, not both")
        case (let text?, nil):
            let sets: [StrategySet]
            do { sets = try StrategySet.parse(text) } catch { throw ValidationError("\(error)") }
            guard sets.count >= 2 else {
                throw ValidationError("--strategies needs at least two sets separated by \";\", got \(String(reflecting: text))")
            }
            if !generation.strategy.isEmpty { throw ValidationError("--strategy goes with --fork-at; with --strategies each set names its strategies") }
        case (nil, _?):
            break
        }
        if strategies == nil || token != nil {
            try TokenArgument.validate(step: forkAt, stepOption: "--fork-at", token: token, maxTokens: generation.maxTokens)
        }
    }

    func run() throws {
        let sets = try strategies.map(StrategySet.parse) ?? []
        var forkToken: Int32?
        let prepared = try PreparedRun.prepare(model: modelOptions, generation: try generationOptions(), quietLoad: quiet) { session in
            session.branchCache = generation.branchCache
            if let token { forkToken = try TokenArgument.resolve(token, backend: session.backend) }
        }
        let tracePath = prepared.recorder.path
        let close = prepared.header.settings.thinkClose
        let log = SharedBranchLog()
        prepared.recorder.observer = { line in log.value.withLock { $0.add(line) } }
        let fork = forkAt.flatMap { step in forkToken.map { (step: step, token: $0) } }
        let result = PreparedRun.headless(prepared) { p in
            let session = p.session
            session.run()
            if let fork {
                guard session.stopReason != .stopped, session.lastError == nil else { return }
                guard fork.step <= session.records.count else {
                    throw ThinktopError.invalidArgument("--fork-at \(fork.step) is past the run's end: it stopped after \(session.records.count) tokens (\(session.stopReason?.rawValue ?? "running"))")
                }
                try session.fork(atStep: fork.step, token: fork.token)
                session.run()
                return
            }
            for set in sets.dropFirst() {
                guard session.stopReason != .stopped, session.lastError == nil else { return }
                // every set forks off the first one's run, from the same state at step 0
                try session.switchBranch(to: 0)
                try session.configureStrategies(set.specs)
                try session.fork(atStep: 0)
                session.run()
            }
        }
        if let why = result.traceFailure { throw ThinktopError.io("\(why): generation was stopped there") }
        if let refusal = result.refusal { throw ThinktopError.invalidArgument(refusal) }
        if let error = result.error { throw ThinktopError.io(error + Run.kept(result.summary?.tokens ?? 0, trace: tracePath)) }
        let branches = log.value.withLock { $0.branches }
        let titles = fork == nil ? sets.map(\.title) : ["as run", branches.dropFirst().first.map { b in
            "token \(String(reflecting: b.info.cause.text ?? "#\(b.info.cause.token ?? -1)")) at step \(b.info.forkStep)"
        } ?? "fork"]
        let columns = zip(titles, branches).map { BranchComparison.Column(title: $0, stats: BranchStatistics($1, close: close)) }
        print(BranchComparison.markdown(columns), terminator: "")
        fflush(tt_stdout())
        if !quiet, let summary = result.summary {
            let steps = branches.reduce(0) { $0 + $1.ownRecords.count }
            printError(String(format: "%d branches · %d tokens generated · %.1f tok/s · %d events%@\n",
                              branches.count, steps, summary.tokensPerSecond, summary.events,
                              tracePath.map { " · trace \($0)" } ?? ""))
        }
    }
}

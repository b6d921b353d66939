import ArgumentParser
import Core
import Engine
import Foundation

struct Thinktop: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "thinktop",
        abstract: "Watch and steer how a language model reasons, token by token.",
        discussion: """
        With no subcommand, thinktop opens the workbench (`tui`) on the default model \
        (Gemma 3 270M, set up by `make model`) with the built-in demo problem.
        """,
        version: version,
        subcommands: [Tui.self, Run.self, Compare.self, Replay.self, Import.self, ExportTrace.self, Eval.self, Inspect.self, Bench.self, Strategies.self],
        defaultSubcommand: Tui.self)
}

/// Where thinktop keeps its caches (llama.cpp build, default model, hashes, logs).
enum Paths {
    static var cache: String {
        let env = ProcessInfo.processInfo.environment
        if let c = env["THINKTOP_CACHE"], !c.isEmpty { return c }
        if let x = env["XDG_CACHE_HOME"], !x.isEmpty { return x + "/thinktop" }
        return NSHomeDirectory() + "/.cache/thinktop"
    }
    static var defaultModel: String {
        if let m = ProcessInfo.processInfo.environment["THINKTOP_MODEL"], !m.isEmpty { return m }
        return cache + "/models/gemma-3-270m-q4_k_m.gguf"
    }
    static var log: String {
        try? FileManager.default.createDirectory(atPath: cache + "/logs", withIntermediateDirectories: true)
        return cache + "/logs/llama.log"
    }
}

struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "GGUF model file (default: Gemma 3 270M Q4_K_M from `make model`, or $THINKTOP_MODEL).")
    var model: String?

    @Option(name: .long, help: "Context size in tokens.")
    var ctx: Int = 4096

    @Option(name: .long, help: "CPU threads for decoding.")
    var threads: Int = ContextOptions.defaultThreads

    @Option(name: .customLong("kv-type"), help: "KV-cache type: f16, q8_0 or q4_0.")
    var kvType: String = "f16"

    @Flag(name: .long, help: "Tap the attention (flash attention off): what each cached position receives, for the KV map, H2O and SnapKV.")
    var attention = false

    @OptionGroup var placementOptions: PlacementOptions
    @OptionGroup var serverOptions: ServerOptions

    var modelPath: String { model ?? Paths.defaultModel }

    func validate() throws {
        guard ctx >= 1 else { throw ValidationError("--ctx must be at least 1 token, got \(ctx)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard KVCacheType(rawValue: kvType) != nil else { throw ValidationError("--kv-type must be f16, q8_0 or q4_0, got \(kvType)") }
    }

    func placement() throws -> ModelPlacement { try placementOptions.placement() }

    /// The model's vocabulary alone (for a served model: its tokenizer, checked against the server).
    func loadVocabulary() throws -> LlamaModel {
        LlamaRuntime.initialize(logFile: Paths.log)
        if model == nil, !FileManager.default.fileExists(atPath: modelPath) {
            throw ThinktopError.invalidArgument("--server needs the served model's GGUF for its tokenizer (read vocabulary-only): pass --model PATH")
        }
        return try LlamaModel(path: modelPath, vocabularyOnly: true)
    }

    /// Whether a served model's tokenizer is the server's: --server without --model.
    var serverTokenizer: Bool { serverOptions.server != nil && model == nil }

    /// The served model, when --server is given: connected, and checked against the
    /// vocabulary (nil: the server's own tokenizer).
    func serverBackend(vocabulary: LlamaModel?) throws -> ServerBackend? {
        guard let url = serverOptions.server else { return nil }
        return try ServerBackend(url: url, apiKey: serverOptions.resolvedKey, vocabulary: vocabulary,
                                 topCount: serverOptions.topLogprobs)
    }


    /// `attentionTap`: also when a KV policy needs it (H2O, SnapKV), not only with --attention.
    func contextOptions(attentionTap: Bool = false) throws -> ContextOptions {
        try ContextOptions(contextSize: ctx, threads: threads, cacheType: KVCacheType(rawValue: kvType)!,
                           attentionTap: attention || attentionTap)
    }

    /// Loads the model. `report` hears where it goes, then its progress (returning false stops
    /// the load), then the time it took; by default a line on stderr when stderr is a terminal.
    /// `placement`: instead of the one the options give (batched evaluation turns repacking off).
    func loadModel(quiet: Bool = false, placement chosen: ModelPlacement? = nil,
                   report: LoadReport? = nil) throws -> LlamaModel {
        LlamaRuntime.initialize(logFile: Paths.log)
        if model == nil, !FileManager.default.fileExists(atPath: modelPath) {
            throw ThinktopError.modelNotFound(modelPath)
        }
        let place = try chosen ?? placement()
        let report = report ?? (isatty(2) == 1 && !quiet ? LoadReport.standardError() : nil)
        let started = Date()
        if let report {
            let bytes = ((try? FileManager.default.attributesOfItem(atPath: modelPath))?[.size] as? NSNumber)?.int64Value ?? 0
            report.started(LoadReport.Facts(file: (modelPath as NSString).lastPathComponent, bytes: bytes,
                                            destination: try place.destination()))
        }
        let m = try LlamaModel(path: modelPath, placement: place) { p in report?.progress(p) ?? true }
        report?.finished(Date().timeIntervalSince(started))
        return m
    }
}

/// What a model's loading tells whoever shows it: what loads where, how far it is (0…1; false
/// stops the load), and how long it took.
struct LoadReport {
    struct Facts {
        var file: String
        var bytes: Int64
        var destination: String

        /// "gemma-3-270m-q4_k_m.gguf (241 MiB) on CPU"
        var line: String { "\(file) (\(Self.size(bytes))) on \(destination)" }

        static func size(_ b: Int64) -> String {
            b >= 10 << 30 ? String(format: "%.0f GiB", Double(b) / Double(1 << 30))
                : b >= 1 << 30 ? String(format: "%.1f GiB", Double(b) / Double(1 << 30))
                : String(format: "%.0f MiB", Double(b) / Double(1 << 20))
        }
    }
    var started: (Facts) -> Void
    var progress: (Float) -> Bool
    var finished: (Double) -> Void

    /// `loading gemma-3-270m-q4_k_m.gguf (241 MiB) on CPU  42%` redrawn in place, then
    /// `loaded … in 0.4 s`. Ctrl-C stops the load.
    static func standardError() -> LoadReport {
        final class State { var facts: Facts?; var last = -1 }
        let state = State()
        return LoadReport(
            started: { f in
                state.facts = f
                printError("loading \(f.line)")
            },
            progress: { p in
                let pct = Int(p * 100)
                if pct != state.last, let f = state.facts {
                    state.last = pct
                    printError("\r\u{1B}[Kloading \(f.line)  \(pct)%")
                }
                return pendingQuitSignal.load(ordering: .relaxed) == 0
            },
            finished: { seconds in
                guard let f = state.facts else { return }
                printError("\r\u{1B}[Kloaded \(f.line) in \(String(format: "%.1f", seconds)) s\n")
            })
    }
}

/// How tokens are drawn; shared by the commands that generate.
struct SamplingOptions: ParsableArguments {
    @Option(name: .long, help: "Seed of the sampler's random generator.")
    var seed: UInt64 = 7

    @Option(name: .long, help: "Temperature; 0 is greedy.")
    var temp: Double = 0.6

    @Option(name: .customLong("top-k"), help: "Sample among the k most likely tokens; 0 = whole vocabulary.")
    var topK: Int = 20

    @Option(name: .customLong("top-p"), help: "Nucleus sampling threshold; 1 = off.")
    var topP: Double = 0.95

    @Option(name: .customLong("min-p"), help: "Drop tokens below min-p × p(top-1); 0 = off.")
    var minP: Double = 0

    func validate() throws { _ = try parameters() }

    func parameters() throws -> SamplingParameters {
        try SamplingParameters(temperature: temp, topK: topK, topP: topP, minP: minP, seed: seed)
    }
}

struct GenerationOptions: ParsableArguments {
    @Option(name: .long, help: "The problem to think about (default: the built-in demo problem).")
    var prompt: String?

    @Option(name: .customLong("prompt-file"), help: "Read the prompt from a file.")
    var promptFile: String?

    @Flag(name: .long, help: "Wrap the prompt in the model's chat template (default for --prompt/--prompt-file when the model has one).")
    var chat = false

    @Flag(name: .long, help: "Use the prompt as it is (default for the demo problem).")
    var raw = false

    @Option(name: .customLong("max-tokens"), help: "Stop after this many generated tokens.")
    var maxTokens: Int = 512

    @OptionGroup var sampling: SamplingOptions

    @Option(name: .long, help: "Stop when this text appears (repeatable). The demo stops at a new \"Problem:\".")
    var stop: [String] = []

    @Option(name: .long, help: "Decoding strategy, NAME[=VALUE][:PARAM=VALUE]… (repeatable), e.g. nowait, budget=256:extend=2. `thinktop strategies` lists them with every parameter.")
    var strategy: [String] = []

    @Option(name: .long, help: "KV-cache policy, NAME[:PARAM=VALUE]…: none (stop when full), streaming (sinks=4:recent=512), h2o (heavy=0.1:recent=0.1), snapkv (window=32:kernel=5:capacity=1024).")
    var kv: String = "none"

    @Option(name: .long, help: "Write the JSON Lines trace here (flushed every token).")
    var trace: String?

    @Option(name: .customLong("branch-cache"), help: "How branches left aside keep their KV cache: exact (copied to host memory, so every continuation is bit for bit a straight run's) or shared (kept in the cache sharing the common prefix: no copy, but multi-threaded attention may then part from a straight run at a near-tie). Either is rebuilt on demand when there is no room.")
    var branchCache: BranchCacheMode = .exact

    @Flag(name: .customLong("trace-attention"), help: "Write each token's attention over the earlier positions into the trace (turns the attention tap on).")
    var traceAttention = false

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1, got \(maxTokens)") }
        if prompt != nil && promptFile != nil { throw ValidationError("give --prompt or --prompt-file, not both") }
        if chat && raw { throw ValidationError("give --chat or --raw, not both") }
        if let t = trace {
            let dir = (t as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            if !dir.isEmpty && !(FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) && isDir.boolValue) {
                throw ValidationError("cannot write the trace \(t): directory \(dir) does not exist")
            }
        }
        if let f = promptFile, !FileManager.default.isReadableFile(atPath: f) {
            throw ValidationError("cannot read the prompt file \(f)")
        }
        do { _ = try StrategyRegistry.configure(strategy) } catch { throw ValidationError("\(error)") }
        do { _ = try KVPolicyRegistry.parse(kv) } catch { throw ValidationError("\(error)") }
    }

    /// whether the run needs the attention tap
    var needsAttention: Bool { traceAttention || ((try? KVPolicyRegistry.parse(kv))?.needsAttention ?? false) }

    var isDemo: Bool { prompt == nil && promptFile == nil }

    /// The problem as the user gave it: the demo's question, or the prompt before any template.
    func problemText() throws -> String {
        if let p = prompt { return p }
        if let f = promptFile {
            guard let s = try? String(contentsOfFile: f, encoding: .utf8) else {
                throw ThinktopError.invalidArgument("cannot read the prompt file \(f) as UTF-8 text")
            }
            return s
        }
        return DemoProblem.question
    }

}

extension Thinktop {
    /// The names `thinktop WORD` accepts as a subcommand.
    static var subcommandNames: [String] {
        configuration.subcommands.map { $0._commandName } + ["help"]
    }

    /// For a first argument that is neither an option nor a subcommand: nil when it is fine,
    /// else the nearest subcommand's name (nil inside when none is near).
    static func unknownSubcommand(_ word: String) -> String?? {
        guard !word.hasPrefix("-"), !subcommandNames.contains(word) else { return nil }
        let w = word.lowercased()
        if let named = subcommandNames.first(where: { w.hasPrefix($0) || ($0.hasPrefix(w) && w.count >= 2) }) {
            return .some(named)   // "benchmark", "insp"
        }
        let best = subcommandNames.map { ($0, editDistance(w, $0)) }.min { $0.1 < $1.1 }
        guard let (name, d) = best, d <= max(2, name.count / 2) else { return .some(nil) }
        return .some(name)
    }

    /// Levenshtein distance, with a swap of two neighbours counting as one edit.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        guard !x.isEmpty, !y.isEmpty else { return max(x.count, y.count) }
        for i in 1...x.count {
            for j in 1...y.count {
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[x.count][y.count]
    }
}

/// A model served by llama-server instead of loaded here.
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: "Step the model on a llama-server at this URL (e.g. http://127.0.0.1:8080) instead of loading it. Its tokenizer is the server's, or with --model the GGUF it serves, read vocabulary-only (exact, and NoWait and CGRS need it).")
    var server: String?

    @Option(name: .customLong("api-key"), help: "Bearer token for --server (default: $THINKTOP_API_KEY).")
    var apiKey: String?

    @Option(name: .customLong("top-logprobs"), help: "Alternatives the server reports per token (its n_probs), 1–100.")
    var topLogprobs: Int = 20

    var resolvedKey: String? { apiKey ?? ProcessInfo.processInfo.environment["THINKTOP_API_KEY"].flatMap { $0.isEmpty ? nil : $0 } }

    func validate() throws {
        guard (1...100).contains(topLogprobs) else { throw ValidationError("--top-logprobs must be in 1…100, got \(topLogprobs)") }
        if let s = server {
            guard let u = URL(string: s), ["http", "https"].contains(u.scheme?.lowercased() ?? ""), u.host != nil else {
                throw ValidationError("--server takes an http:// or https:// URL, got \(String(reflecting: s))")
            }
        }
    }
}

/// Where the model's layers go: GPUs, ggml-rpc-server processes.
struct PlacementOptions: ParsableArguments {
    @Option(name: .customLong("gpu-layers"), help: "Layers to offload to GPUs and RPC servers (default: llama.cpp's, all of them when there is a device to offload to).")
    var gpuLayers: Int?

    @Option(name: .long, help: "ggml-rpc-server endpoints HOST:PORT[,HOST:PORT…] to spread the model over (unauthenticated: trusted networks only).")
    var rpc: String?

    @Option(name: .customLong("tensor-split"), help: "Shares of the offloaded layers per offload device, e.g. 3,1 (default: by free memory).")
    var tensorSplit: String?

    @Flag(name: .customLong("no-repack"), help: "Do not repack weights into the CPU's extra buffer types (llama.cpp's --no-repack): slower on the CPU, the same float sums as on other devices.")
    var noRepack = false

    func validate() throws {
        if let n = gpuLayers, n < -1 { throw ValidationError("--gpu-layers must be -1 (all) or more, got \(n)") }
        do { _ = try placement() } catch { throw ValidationError("\(error)") }
    }

    /// Where the model's layers go, from --gpu-layers, --rpc, --tensor-split and --no-repack.
    func placement() throws -> ModelPlacement {
        let endpoints = (rpc ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for e in endpoints {
            guard let colon = e.lastIndex(of: ":"), colon > e.startIndex, UInt16(e[e.index(after: colon)...]) != nil else {
                throw ThinktopError.invalidArgument("--rpc: \(String(reflecting: e)) is not HOST:PORT")
            }
        }
        if rpc != nil && endpoints.isEmpty { throw ThinktopError.invalidArgument("--rpc names no server (HOST:PORT[,HOST:PORT…])") }
        var shares: [Float] = []
        if let t = tensorSplit {
            for part in t.split(separator: ",") {
                guard let v = Float(part.trimmingCharacters(in: .whitespaces)), v >= 0 else {
                    throw ThinktopError.invalidArgument("--tensor-split takes shares like 3,1, got \(String(reflecting: t))")
                }
                shares.append(v)
            }
            guard shares.contains(where: { $0 > 0 }) else { throw ThinktopError.invalidArgument("--tensor-split gives every device a share of 0") }
        }
        return ModelPlacement(gpuLayers: gpuLayers, tensorSplit: shares, rpc: endpoints, repack: !noRepack)
    }
}

extension BranchCacheMode: ExpressibleByArgument {}

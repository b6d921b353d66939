import Foundation

// KV-cache eviction policies. A policy looks at the ledger (what the main sequence holds,
// with attention scores when the tap is on) and says which positions to drop before more
// inputs come in, and whether the positions that stay are then moved down to be contiguous.
// The session carries the plan out through the ledger backend, writes an `evict` trace event
// listing the positions removed, and replays the same operations if a rewind needs the cache
// as it was before them. llama.cpp can drop whole positions only, so the per-head policies
// (H2O, SnapKV) are token-level ports: scores are summed over heads and layers.

/// What a policy decides.
public struct EvictionPlan: Equatable, Sendable {
    /// KV positions of the main sequence to remove
    public var positions: [Int]
    /// move the positions after `keepBelow` down so they follow on without gaps (StreamingLLM)
    public var compactFrom: Int?
    public init(positions: [Int], compactFrom: Int? = nil) {
        self.positions = positions; self.compactFrom = compactFrom
    }
}

/// When a policy is asked.
public enum EvictionMoment: Sendable, Equatable {
    /// right after the prompt was evaluated (SnapKV, H2O)
    case prefill
    /// before `incoming` more inputs are fed
    case generation(incoming: Int)
}

/// Who a KV policy is, for specs, the panel, `thinktop strategies` and the README table.
public struct KVPolicyInfo: Sendable {
    /// name in `--kv` specs: none, streaming, h2o, snapkv
    public var id: String
    public var name: String
    public var source: String
    /// what the backend must offer (KV edits always; attention for the scored policies)
    public var needs: Set<Capability>
    /// "faithful" or a label such as "token-level port", with the deviations
    public var fidelity: String
    /// whether it moves positions after evicting (needs a cache that can shift)
    public var shiftsPositions: Bool
}

public protocol KVPolicy: Configurable {
    static var info: KVPolicyInfo { get }
    /// The prompt rows whose attention the tap should count during the prefill (nil: the
    /// last row of each batch, the default for the map).
    func prefillQueries(promptTokens: Int) -> Range<Int>?
    /// The cells the main sequence may hold at most under this policy (nil: all the context).
    func budget(promptTokens: Int) -> Int?
    /// What to evict now, given the main sequence's live entries in position order.
    func plan(_ entries: [(position: Int, entry: KVLedger.Entry)], moment: EvictionMoment, capacity: Int, promptTokens: Int) -> EvictionPlan?
}

extension KVPolicy {
    public static var kindName: String { "KV policy" }
    public static var specName: String { info.id }
    public var id: String { Self.info.id }
    public var name: String { Self.info.name }
    public var needsAttention: Bool { Self.info.needs.contains(.attention) }
    public var shiftsPositions: Bool { Self.info.shiftsPositions }
    public func prefillQueries(promptTokens: Int) -> Range<Int>? { nil }
}

/// No eviction: the run stops cleanly when the context is full.
public final class NoEviction: KVPolicy {
    public static let info = KVPolicyInfo(id: "none", name: "no eviction", source: "", needs: [],
                                          fidelity: "stops cleanly at a full context", shiftsPositions: false)
    public static var parameters: [Parameter<NoEviction>] { [] }
    public init() {}
    public func budget(promptTokens: Int) -> Int? { nil }
    public func plan(_ entries: [(position: Int, entry: KVLedger.Entry)], moment: EvictionMoment, capacity: Int, promptTokens: Int) -> EvictionPlan? { nil }
}

/// StreamingLLM (Xiao et al.; mit-han-lab/streaming-llm, `StartRecentKVCache`): keep the
/// first `sinks` positions (attention sinks) and the most recent ones; when the cache is full,
/// drop the oldest non-sink positions and shift the later ones down so positions stay
/// contiguous. Defaults: 4 sinks, 512 recent (the class's defaults).
///
/// `batch` (a deviation, off by default): llama.cpp's K-shift re-rotates every cell of the
/// cache, so a shift at every step costs time in proportion to --ctx (measured: 5 ms at 512,
/// 33 ms at 4096 on Gemma 3 270M); `batch=N` evicts N − 1 more positions each time so that
/// only every Nth step shifts, at the price of a window that breathes by N − 1 positions.
public final class StreamingLLM: KVPolicy {
    public static let info = KVPolicyInfo(
        id: "streaming", name: "StreamingLLM", source: "mit-han-lab/streaming-llm, `StartRecentKVCache`", needs: [.kvEdits],
        fidelity: "faithful: keep the sinks and the most recent positions, drop the oldest others, shift the later positions down (`llama_memory_seq_rm` + `seq_add`); the window is capped by the context. Option `batch=N` (off) evicts N − 1 more at a time so only every Nth step pays llama.cpp's whole-cache K-shift",
        shiftsPositions: true)
    public static var parameters: [Parameter<StreamingLLM>] {
        [.integer("sinks", \.sinks, 0...65_536, always: true, help: "first positions always kept (attention sinks)"),
         .integer("recent", \.recent, 1...1_048_576, always: true, help: "most recent positions kept"),
         .integer("batch", \.batch, 1...65_536, help: "deviation: evict N − 1 more positions at a time, so only every Nth step shifts")]
    }
    public var sinks = 4
    public var recent = 512
    public var batch = 1
    public init() {}

    public func budget(promptTokens: Int) -> Int? { sinks + recent }

    public func plan(_ entries: [(position: Int, entry: KVLedger.Entry)], moment: EvictionMoment, capacity: Int, promptTokens: Int) -> EvictionPlan? {
        let incoming: Int
        switch moment {
        case .prefill: incoming = 0
        case .generation(let n): incoming = n
        }
        let size = min(sinks + recent, capacity)
        let excess = entries.count + incoming - size
        guard excess > 0 else { return nil }
        // the oldest positions after the sinks go (StartRecentKVCache.evict_for_space); with
        // `batch`, N − 1 more, keeping at least the incoming inputs' worth of recent ones
        let candidates = entries.dropFirst(min(sinks, entries.count))
        let count = min(excess + batch - 1, max(excess, candidates.count - 1))
        let gone = candidates.prefix(count).map(\.position)
        guard !gone.isEmpty else { return nil }
        return EvictionPlan(positions: gone, compactFrom: min(sinks, entries.count) > 0 ? entries[min(sinks, entries.count) - 1].position + 1 : 0)
    }
}

/// H2O, heavy-hitter oracle (Zhang et al.; FMInference/H2O, `utils_real_drop`): every cached
/// position accumulates the attention it receives from each new query; the cache keeps the
/// heavy hitters (highest accumulated score) and a recent window, dropping the lowest-scored
/// older position whenever it is over budget. The budgets are fractions of the prompt length,
/// fixed at the prompt as in the authors' scripts (heavy 10 %, recent 10 %); values ≥ 1 are
/// counts. Token-level port: scores summed over heads and layers, no position shifts.
public final class H2O: KVPolicy {
    public static let info = KVPolicyInfo(
        id: "h2o", name: "H2O", source: "FMInference/H2O, `utils_real_drop`", needs: [.kvEdits, .attention],
        fidelity: "**token-level port**: the original keeps heavy hitters per head; llama.cpp drops whole positions, so scores are summed over heads and layers. Budgets are fractions of the prompt length, fixed at the prompt as in the authors' scripts (the prompt itself is compressed); values ≥ 1 are counts. The recent window includes the incoming token, as in the reference. No position shift",
        shiftsPositions: false)
    public static var parameters: [Parameter<H2O>] {
        [.number("heavy", \.heavy, 0...1_048_576, always: true, help: "heavy hitters kept: a fraction of the prompt, or a count (≥ 1)",
                 format: ParameterFormat.fractionOrCount),
         .number("recent", \.recent, 0...1_048_576, always: true, help: "recent positions kept (the incoming one included): a fraction of the prompt, or a count",
                 format: ParameterFormat.fractionOrCount)]
    }
    public var heavy = 0.1
    public var recent = 0.1
    public init() {}

    func counts(promptTokens: Int) -> (heavy: Int, recent: Int) {
        func n(_ v: Double) -> Int { v >= 1 ? Int(v) : Int(v * Double(promptTokens)) }
        return (n(heavy), max(1, n(recent)))
    }

    public func prefillQueries(promptTokens: Int) -> Range<Int>? { 0..<promptTokens }

    public func budget(promptTokens: Int) -> Int? {
        let c = counts(promptTokens: promptTokens)
        return c.heavy + c.recent
    }

    public func plan(_ entries: [(position: Int, entry: KVLedger.Entry)], moment: EvictionMoment, capacity: Int, promptTokens: Int) -> EvictionPlan? {
        let incoming: Int
        switch moment {
        case .prefill: incoming = 0
        case .generation(let n): incoming = n
        }
        let c = counts(promptTokens: promptTokens)
        let size = min(c.heavy + c.recent, capacity)
        let excess = entries.count + incoming - size
        guard excess > 0 else { return nil }
        // the recent window stays — the incoming inputs count in it, as in the reference, which
        // evicts after appending them (`modify_llama.py`: keep the last recent_size, the new
        // token included) — and of the rest, the lowest accumulated scores go (ties: oldest)
        let older = entries.dropLast(min(max(0, c.recent - incoming), entries.count))
        let gone = older.enumerated()
            .sorted { ($0.element.entry.score, $0.offset) < ($1.element.entry.score, $1.offset) }
            .prefix(excess).map(\.element.position).sorted()
        return gone.isEmpty ? nil : EvictionPlan(positions: gone)
    }
}

/// SnapKV (Li et al.; FasterDecoding/SnapKV, `SnapKVCluster`): once, after the prompt, score
/// each prompt position by the attention the last `window` prompt queries pay it, smooth the
/// scores with a pool of width `kernel`, and keep the `capacity − window` best plus the window
/// itself. Defaults as `init_snapkv` sets them: window 32, kernel 5, average pooling, capacity
/// 2048 (the authors' LongBench ablations also use `pool=max` with kernel 7). Token-level
/// port: scores summed over heads and layers.
public final class SnapKV: KVPolicy {
    public static let info = KVPolicyInfo(
        id: "snapkv", name: "SnapKV", source: "FasterDecoding/SnapKV, `SnapKVCluster`", needs: [.kvEdits, .attention],
        fidelity: "**token-level port** (scores summed over heads and layers); at the prefill only: the last `window` prompt queries' attention, pooled (`avg_pool1d` with zero padding counted, or `max_pool1d` with `pool=max`), keeps the best `capacity − window` prompt positions plus the window; prompts shorter than `capacity` are left alone",
        shiftsPositions: false)
    public enum Pool: String, Sendable, CaseIterable { case avg, max }
    public static var parameters: [Parameter<SnapKV>] {
        [.integer("window", \.window, 1...65_536, always: true, help: "the last prompt queries whose attention scores the prompt"),
         .integer("kernel", \.kernel, 1...257, always: true, help: "pooling width (the LongBench max-pool ablations use 7)"),
         .choice("pool", \.pool, help: "avg (avg_pool1d, init_snapkv's default) or max (max_pool1d)"),
         .integer("capacity", \.capacity, 2...1_048_576, always: true, help: "prompt positions kept (window included); shorter prompts are left alone")]
    }
    public var window = 32
    public var kernel = 5
    public var pool = Pool.avg
    public var capacity = 2048
    public init() {}

    public func validate() throws {
        if window >= capacity { throw ThinktopError.invalidArgument("KV policy snapkv: window (\(window)) must be below capacity (\(capacity))") }
    }

    public func prefillQueries(promptTokens: Int) -> Range<Int>? { max(0, promptTokens - window)..<promptTokens }
    public func budget(promptTokens: Int) -> Int? { nil }

    /// Pool of width `kernel`, stride 1, padding `kernel / 2`: the average with the zero
    /// padding counted (PyTorch's `avg_pool1d` defaults, as SnapKV calls it), or the maximum
    /// of the positions inside (`max_pool1d` pads with −∞).
    static func pool(_ x: [Float], kernel: Int, _ kind: Pool = .avg) -> [Float] {
        let half = kernel / 2
        return x.indices.map { i in
            let inside = ((i - half)...(i - half + kernel - 1)).filter { $0 >= 0 && $0 < x.count }.map { x[$0] }
            switch kind {
            case .avg: return inside.reduce(0, +) / Float(kernel)
            case .max: return inside.max() ?? 0
            }
        }
    }

    public func plan(_ entries: [(position: Int, entry: KVLedger.Entry)], moment: EvictionMoment, capacity: Int, promptTokens: Int) -> EvictionPlan? {
        guard case .prefill = moment, case let n = promptTokens, n > self.capacity, entries.count > self.capacity else { return nil }
        let observed = entries.filter { $0.entry.index < n - window }
        let pooled = Self.pool(observed.map(\.entry.score), kernel: kernel, pool)
        let keep = Set(pooled.enumerated().sorted { ($0.element, -$0.offset) > ($1.element, -$1.offset) }
            .prefix(self.capacity - window).map(\.offset))
        let gone = observed.enumerated().filter { !keep.contains($0.offset) }.map(\.element.position)
        return gone.isEmpty ? nil : EvictionPlan(positions: gone)
    }
}

public enum KVPolicyRegistry {
    /// every policy, in the order the TUI's `k` cycles them
    public static var types: [any KVPolicy.Type] { [NoEviction.self, StreamingLLM.self, H2O.self, SnapKV.self] }

    public static func all() -> [any KVPolicy] { types.map { $0.init() } }

    /// "streaming:sinks=4:recent=256" → a configured policy; one-line errors otherwise.
    public static func parse(_ spec: String) throws -> any KVPolicy {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let id = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
        guard let type = types.first(where: { $0.info.id == id }) else {
            throw ThinktopError.invalidArgument("unknown KV policy \"\(parts[0])\" (known: \(types.map { $0.info.id }.joined(separator: ", ")))")
        }
        let policy = type.init()
        for p in parts.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else {
                throw ThinktopError.invalidArgument("KV policy \(id): \"\(p)\" is not name=value")
            }
            try policy.set(kv[0], kv[1])
        }
        return policy
    }
}

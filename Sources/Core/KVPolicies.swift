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

public protocol KVPolicy: AnyObject {
    /// name in `--kv` specs: none, streaming, h2o, snapkv
    var id: String { get }
    var name: String { get }
    /// "faithful" or a label such as "token-level port"
    var fidelity: String { get }
    /// current parameters as `k=v` pairs, in spec order
    var parameters: [(String, String)] { get }
    func set(_ name: String, _ value: String) throws
    /// whether it needs the attention tap
    var needsAttention: Bool { get }
    /// whether it moves positions after evicting (needs a cache that can shift)
    var shiftsPositions: Bool { get }
    /// The prompt rows whose attention the tap should count during the prefill (nil: the
    /// last row of each batch, the default for the map).
    func prefillQueries(promptTokens: Int) -> Range<Int>?
    /// The cells the main sequence may hold at most under this policy (nil: all the context).
    func budget(promptTokens: Int) -> Int?
    /// What to evict now, given the main sequence's live entries in position order.
    func plan(_ entries: [(position: Int, entry: KVLedger.Entry)], moment: EvictionMoment, capacity: Int, promptTokens: Int) -> EvictionPlan?
}

extension KVPolicy {
    public var fidelity: String { "faithful" }
    public var needsAttention: Bool { false }
    public var shiftsPositions: Bool { false }
    public func prefillQueries(promptTokens: Int) -> Range<Int>? { nil }
    /// "streaming:sinks=4:recent=512"
    public var spec: String { ([id] + parameters.map { "\($0.0)=\($0.1)" }).joined(separator: ":") }
}

/// No eviction: the run stops cleanly when the context is full.
public final class NoEviction: KVPolicy {
    public let id = "none"
    public let name = "no eviction"
    public init() {}
    public var parameters: [(String, String)] { [] }
    public func set(_ name: String, _ value: String) throws { throw StrategyParameter.unknown("none", name, known: [], kind: policyKind) }
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
    public let id = "streaming"
    public let name = "StreamingLLM"
    public var sinks = 4
    public var recent = 512
    public var batch = 1
    public init() {}
    public var parameters: [(String, String)] {
        [("sinks", "\(sinks)"), ("recent", "\(recent)")] + (batch == 1 ? [] : [("batch", "\(batch)")])
    }

    public func set(_ name: String, _ value: String) throws {
        switch name {
        case "sinks": sinks = try StrategyParameter.int(id, name, value, in: 0...65_536, kind: policyKind)
        case "recent": recent = try StrategyParameter.int(id, name, value, in: 1...1_048_576, kind: policyKind)
        case "batch": batch = try StrategyParameter.int(id, name, value, in: 1...65_536, kind: policyKind)
        default: throw StrategyParameter.unknown(id, name, known: ["sinks", "recent", "batch"], kind: policyKind)
        }
    }

    public func budget(promptTokens: Int) -> Int? { sinks + recent }
    public var shiftsPositions: Bool { true }

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
    public let id = "h2o"
    public let name = "H2O"
    public let fidelity = "token-level port"
    public var heavy = 0.1
    public var recent = 0.1
    public init() {}
    public var needsAttention: Bool { true }
    public var parameters: [(String, String)] { [("heavy", Self.show(heavy)), ("recent", Self.show(recent))] }

    static func show(_ v: Double) -> String { v >= 1 ? String(Int(v)) : String(format: "%g", v) }

    public func set(_ name: String, _ value: String) throws {
        switch name {
        case "heavy": heavy = try StrategyParameter.double(id, name, value, in: 0...1_048_576, kind: policyKind)
        case "recent": recent = try StrategyParameter.double(id, name, value, in: 0...1_048_576, kind: policyKind)
        default: throw StrategyParameter.unknown(id, name, known: ["heavy", "recent"], kind: policyKind)
        }
    }

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
        // the recent window stays; of the rest, the lowest accumulated scores go (ties: oldest)
        let older = entries.dropLast(min(c.recent, entries.count))
        let gone = older.enumerated()
            .sorted { ($0.element.entry.score, $0.offset) < ($1.element.entry.score, $1.offset) }
            .prefix(excess).map(\.element.position).sorted()
        return gone.isEmpty ? nil : EvictionPlan(positions: gone)
    }
}

/// SnapKV (Li et al.; FasterDecoding/SnapKV, `SnapKVCluster`): once, after the prompt, score
/// each prompt position by the attention the last `window` prompt queries pay it, smooth the
/// scores with an average pool of width `kernel`, and keep the `capacity − window` best plus
/// the window itself. Defaults: window 32, kernel 5, capacity 1024. Token-level port: scores
/// summed over heads and layers.
public final class SnapKV: KVPolicy {
    public let id = "snapkv"
    public let name = "SnapKV"
    public let fidelity = "token-level port"
    public var window = 32
    public var kernel = 5
    public var capacity = 1024
    public init() {}
    public var needsAttention: Bool { true }
    public var parameters: [(String, String)] { [("window", "\(window)"), ("kernel", "\(kernel)"), ("capacity", "\(capacity)")] }

    public func set(_ name: String, _ value: String) throws {
        switch name {
        case "window": window = try StrategyParameter.int(id, name, value, in: 1...65_536, kind: policyKind)
        case "kernel": kernel = try StrategyParameter.int(id, name, value, in: 1...257, kind: policyKind)
        case "capacity": capacity = try StrategyParameter.int(id, name, value, in: 2...1_048_576, kind: policyKind)
        default: throw StrategyParameter.unknown(id, name, known: ["window", "kernel", "capacity"], kind: policyKind)
        }
        if window >= capacity { throw ThinktopError.invalidArgument("KV policy snapkv: window (\(window)) must be below capacity (\(capacity))") }
    }

    public func prefillQueries(promptTokens: Int) -> Range<Int>? { max(0, promptTokens - window)..<promptTokens }
    public func budget(promptTokens: Int) -> Int? { nil }

    /// Average pool of width `kernel`, stride 1, zero padding `kernel / 2` counted in the
    /// average (PyTorch's `avg_pool1d` defaults, as SnapKV calls it).
    static func pool(_ x: [Float], kernel: Int) -> [Float] {
        let half = kernel / 2
        return x.indices.map { i in
            var s: Float = 0
            for j in (i - half)...(i - half + kernel - 1) where j >= 0 && j < x.count { s += x[j] }
            return s / Float(kernel)
        }
    }

    public func plan(_ entries: [(position: Int, entry: KVLedger.Entry)], moment: EvictionMoment, capacity: Int, promptTokens: Int) -> EvictionPlan? {
        guard case .prefill = moment, case let n = promptTokens, n > self.capacity, entries.count > self.capacity else { return nil }
        let observed = entries.filter { $0.entry.index < n - window }
        let pooled = Self.pool(observed.map(\.entry.score), kernel: kernel)
        let keep = Set(pooled.enumerated().sorted { ($0.element, -$0.offset) > ($1.element, -$1.offset) }
            .prefix(self.capacity - window).map(\.offset))
        let gone = observed.enumerated().filter { !keep.contains($0.offset) }.map(\.element.position)
        return gone.isEmpty ? nil : EvictionPlan(positions: gone)
    }
}

/// how parameter errors name a policy
private let policyKind = "KV policy"

public enum KVPolicyRegistry {
    /// every policy, in the order the TUI's `k` cycles them
    public static func all() -> [KVPolicy] { [NoEviction(), StreamingLLM(), H2O(), SnapKV()] }

    /// "streaming:sinks=4:recent=256" → a configured policy; one-line errors otherwise.
    public static func parse(_ spec: String) throws -> KVPolicy {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let id = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
        guard let policy = all().first(where: { $0.id == id }) else {
            throw ThinktopError.invalidArgument("unknown KV policy \"\(parts[0])\" (known: \(all().map(\.id).joined(separator: ", ")))")
        }
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

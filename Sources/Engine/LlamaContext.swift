import CLlama
import Core
import Foundation

/// KV-cache element type.
public enum KVCacheType: String, CaseIterable, Sendable {
    case f16, q8_0, q4_0

    var ggml: ggml_type {
        switch self {
        case .f16: return GGML_TYPE_F16
        case .q8_0: return GGML_TYPE_Q8_0
        case .q4_0: return GGML_TYPE_Q4_0
        }
    }

    /// bytes per element (blocks of 32: q8_0 = 34 bytes, q4_0 = 18 bytes)
    public var bytesPerElement: Double {
        switch self {
        case .f16: return 2
        case .q8_0: return 34.0 / 32
        case .q4_0: return 18.0 / 32
        }
    }
}

public struct ContextOptions: Sendable {
    public var contextSize: Int
    public var threads: Int
    public var batchSize: Int
    public var cacheType: KVCacheType
    /// sequences the cache can hold: main, the probes' fork, and parked branches (they share
    /// cells with the run where they agree, so they cost no memory until they differ)
    public var sequences: Int
    public var flashAttention: Bool?
    /// capture attention (`AttentionSource`): flash attention off, an eval callback reads the
    /// softmax of every layer (see AttentionTap.swift)
    public var attentionTap: Bool = false
    /// one cache every sequence shares (forks share cells; llama.cpp's default here), or a
    /// separate stream of `contextSize / sequences` cells per sequence: a sequence's cells then
    /// lie as they would were it alone, so its attention sums in the same order whatever else
    /// is decoded beside it (batched evaluation)
    public var unifiedCache: Bool = true

    public init(contextSize: Int = 4096, threads: Int = ContextOptions.defaultThreads, batchSize: Int = 512,
                cacheType: KVCacheType = .f16, sequences: Int = 10, flashAttention: Bool? = nil,
                attentionTap: Bool = false) throws {
        guard contextSize >= 1 else { throw ThinktopError.invalidArgument("--ctx must be at least 1 token, got \(contextSize)") }
        guard threads >= 1 else { throw ThinktopError.invalidArgument("--threads must be at least 1, got \(threads)") }
        guard batchSize >= 1 else { throw ThinktopError.invalidArgument("batch size must be at least 1") }
        guard sequences >= 1 else { throw ThinktopError.invalidArgument("at least one sequence is needed") }
        self.contextSize = contextSize
        self.threads = threads
        self.batchSize = batchSize
        self.cacheType = cacheType
        self.sequences = sequences
        self.flashAttention = flashAttention
        self.attentionTap = attentionTap
    }

    public static var defaultThreads: Int { max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8)) }
}

/// A llama.cpp context over a model: the `ModelBackend` the decoding session steps.
/// Owns the `llama_context` and its batches; keeps the model alive. Not Sendable: one
/// thread uses it at a time (the session's).
public final class LlamaContext: ModelBackend, KVShapeSource {
    public let model: LlamaModel
    /// the cache's bands (full-attention and sliding-window layers), from llama.cpp's report
    public let kvShape: KVShape
    public let options: ContextOptions
    let pointer: OpaquePointer
    /// the attention tap's state, handed to llama.cpp's eval callback (nil: no tap)
    let tap: AttentionTap?
    /// the batch single decodes and batched rounds (LlamaContextBatch.swift) fill
    var tokenBatch: llama_batch
    /// the prefix `placeSharedPrefix` copies from, and the sequence that holds it
    public internal(set) var heldPrefix: (tokens: [Int32], sequence: SequenceID)?
    private var embeddingBatch: llama_batch?
    var lastLogits: UnsafePointer<Float>?
    public private(set) var embeddings: EmbeddingTable?
    /// The factor the model applies to token embeddings inside its graph (Gemma: √n_embd),
    /// found by `calibrateInputScale()`.
    public private(set) var inputScale: Float?
    /// Largest logit difference between feeding a token and feeding its scaled embedding.
    public private(set) var inputScaleError: Float?

    public init(model: LlamaModel, options: ContextOptions) throws {
        if options.attentionTap {
            if options.cacheType != .f16 { throw LlamaContext.tapNeedsPlainAttention }
            if options.flashAttention == true {
                throw ThinktopError.invalidArgument("the attention tap (needed by --attention, H2O and SnapKV) needs flash attention off: drop one of the two")
            }
            guard options.sequences <= AttentionTap.maxSequences else {
                throw ThinktopError.invalidArgument("the attention tap follows at most \(AttentionTap.maxSequences) sequences, \(options.sequences) were asked for")
            }
        }
        let tap = options.attentionTap ? AttentionTap() : nil
        self.tap = tap
        self.model = model
        self.options = options
        var p = llama_context_default_params()
        p.n_ctx = UInt32(options.contextSize)
        p.n_batch = UInt32(options.batchSize)
        p.n_ubatch = UInt32(options.batchSize)
        p.n_seq_max = UInt32(options.sequences)
        p.n_threads = Int32(options.threads)
        p.n_threads_batch = Int32(options.threads)
        p.type_k = options.cacheType.ggml
        p.type_v = options.cacheType.ggml
        p.swa_full = true          // rewinds need the sliding-window layers' full history
        p.kv_unified = options.unifiedCache   // forks share the prompt's cells
        p.no_perf = true
        if let fa = options.flashAttention {
            p.flash_attn_type = fa ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED
        }
        if let tap {
            p.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED
            p.cb_eval = AttentionTap.callback
            p.cb_eval_user_data = Unmanaged.passUnretained(tap).toOpaque()   // self.tap outlives the context
        }
        // contexts are made one at a time, so the log lines read for the cache's shape are this one's
        LlamaContext.creation.lock()
        defer { LlamaContext.creation.unlock() }
        let mark = LlamaRuntime.logMark()
        guard let ctx = llama_init_from_model(model.pointer, p) else {
            throw ThinktopError.contextCreationFailed(LlamaRuntime.lastErrorLine() ?? "llama_init_from_model failed (is --ctx too large for memory?)")
        }
        pointer = ctx
        tokenBatch = llama_batch_init(Int32(options.batchSize), 0, 1)
        let perLayer = Double(model.kvBytesPerToken(keyBytesPerElement: options.cacheType.bytesPerElement,
                                                    valueBytesPerElement: options.cacheType.bytesPerElement)) / Double(max(1, model.layers))
        var shape = KVShape.parse(log: LlamaRuntime.log(since: mark), slidingWindow: model.slidingWindow,
                                  layers: model.layers, bytesPerLayer: perLayer)
        shape.canShift = llama_memory_can_shift(llama_get_memory(ctx))
        kvShape = shape
    }

    private static let creation = NSLock()

    deinit {
        if let b = embeddingBatch { llama_batch_free(b) }
        llama_batch_free(tokenBatch)
        llama_free(pointer)
    }

    // MARK: ModelBackend

    public var vocabularySize: Int { model.vocabularySize }
    public var embeddingSize: Int { model.inputEmbeddingSize }
    /// positions one sequence can hold: the whole context, or one stream of a split cache
    public var contextSize: Int { Int(llama_n_ctx_seq(pointer)) }
    public var batchSize: Int { options.batchSize }
    public var sequenceCount: Int { options.sequences }
    var memory: OpaquePointer { llama_get_memory(pointer) }

    /// Everything, on any device llama.cpp runs on: the whole distribution, bans (logits are
    /// edited in the session's copy), forks, embedding input when the model file's token
    /// embeddings can be read, KV edits, and attention when the tap is on.
    public var capabilities: Set<Capability> {
        var c: Set<Capability> = [.fullDistribution, .topK, .tokenBans, .forks, .vocabulary, .kvEdits]
        if embeddingInputReadable { c.insert(.embeddingInput) }
        if tap != nil { c.insert(.attention) }
        return c
    }

    /// whether `token_embd.weight` can be read and dequantised (checked once)
    private lazy var embeddingInputReadable: Bool = (try? loadEmbeddings()) != nil

    public func decode(tokens: ArraySlice<Int32>, at position: Int, sequence: SequenceID) throws {
        try decode(tokens: tokens, at: position, sequence: sequence, logits: true)
    }

    /// - Parameter logits: compute the last token's logits (without them, no output
    ///   projection: cells only, `logits()` unavailable until the next decode)
    public func decode(tokens: ArraySlice<Int32>, at position: Int, sequence: SequenceID, logits: Bool) throws {
        precondition(!tokens.isEmpty && tokens.count <= options.batchSize, "batch of \(tokens.count) tokens")
        var i = 0
        for t in tokens {
            tokenBatch.token[i] = t
            tokenBatch.pos[i] = Int32(position + i)
            tokenBatch.n_seq_id[i] = 1
            tokenBatch.seq_id[i]![0] = sequence.rawValue
            tokenBatch.logits[i] = 0
            i += 1
        }
        tokenBatch.logits[i - 1] = logits ? 1 : 0
        tokenBatch.n_tokens = Int32(i)
        try run(tokenBatch, position: position, logits: logits)
    }

    public func decode(embedding: UnsafeBufferPointer<Float>, at position: Int, sequence: SequenceID) throws {
        precondition(embedding.count == embeddingSize, "embedding of \(embedding.count) floats, model takes \(embeddingSize)")
        if embeddingBatch == nil { embeddingBatch = llama_batch_init(1, Int32(embeddingSize), 1) }
        var b = embeddingBatch!
        b.embd.update(from: embedding.baseAddress!, count: embedding.count)
        b.pos[0] = Int32(position)
        b.n_seq_id[0] = 1
        b.seq_id[0]![0] = sequence.rawValue
        b.logits[0] = 1
        b.n_tokens = 1
        embeddingBatch = b
        try run(b, position: position)
    }

    func run(_ batch: llama_batch, position: Int, logits: Bool = true) throws {
        lastLogits = nil
        tap?.beginDecode(sequence: batch.seq_id[0]![0], start: Int(batch.pos[0]), count: Int(batch.n_tokens))
        let rc = llama_decode(pointer, batch)
        tap?.endDecode(code: rc)
        switch rc {
        case 0: break
        case 1: throw ThinktopError.contextFull(contextSize)
        default: throw ThinktopError.decodeFailed(position: position, code: rc)
        }
        guard logits else { return }
        guard let l = llama_get_logits_ith(pointer, -1) else {
            throw ThinktopError.decodeFailed(position: position, code: -100)
        }
        lastLogits = UnsafePointer(l)
    }

    public func logits() -> UnsafeBufferPointer<Float> {
        guard let l = lastLogits else { preconditionFailure("logits read before any decode") }
        return UnsafeBufferPointer(start: l, count: vocabularySize)
    }

    public func removeCells(sequence: SequenceID, from: Int, to: Int?) throws {
        lastLogits = nil
        guard llama_memory_seq_rm(memory, sequence.rawValue, Int32(from), Int32(to ?? -1)) else {
            throw ThinktopError.kvEditFailed("cannot remove positions \(from)…\(to.map { String($0 - 1) } ?? "end") of sequence \(sequence)")
        }
        tap?.remove(sequence: sequence.rawValue, from: from, to: to)
    }

    public func shiftCells(sequence: SequenceID, from: Int, to: Int?, delta: Int) throws {
        guard llama_memory_can_shift(memory) else {
            throw ThinktopError.kvEditFailed("this model's cache cannot shift positions")
        }
        llama_memory_seq_add(memory, sequence.rawValue, Int32(from), Int32(to ?? -1), Int32(delta))
        tap?.shift(sequence: sequence.rawValue, from: from, to: to, delta: delta)
    }

    public func copySequence(from source: SequenceID, to destination: SequenceID, from start: Int, to end: Int?) {
        llama_memory_seq_cp(memory, source.rawValue, destination.rawValue, Int32(start), Int32(end ?? -1))
        tap?.copy(from: source.rawValue, to: destination.rawValue, from: start, to: end)
    }

    /// The cells of a sequence copied to host memory, for a parked branch (nil with the
    /// attention tap: its mirror would not follow a restore).
    public func sequenceState(_ sequence: SequenceID) -> [UInt8]? {
        tap == nil ? try? saveState(sequence: sequence) : nil
    }

    public func setSequenceState(_ data: [UInt8], _ sequence: SequenceID) throws {
        try restoreState(data, sequence: sequence)
    }

    public func positionRange(sequence: SequenceID) -> ClosedRange<Int>? {
        let lo = llama_memory_seq_pos_min(memory, sequence.rawValue)
        let hi = llama_memory_seq_pos_max(memory, sequence.rawValue)
        guard lo >= 0, hi >= lo else { return nil }
        return Int(lo)...Int(hi)
    }

    public func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32] {
        try model.tokenize(text, addSpecial: addSpecial)
    }

    public func piece(_ token: Int32) -> [UInt8] { model.piece(token) }

    public func isEndOfGeneration(_ token: Int32) -> Bool { model.isEndOfGeneration(token) }
    public func isControl(_ token: Int32) -> Bool { model.isControl(token) }
    public func singleToken(_ text: String) -> Int32? { model.singleToken(text) }
    public var vocabularyScans: VocabularyScans { model.vocabularyScans }

    // MARK: state

    /// The state of one sequence (its KV cells), as llama.cpp serialises it.
    public func saveState(sequence: SequenceID) throws -> [UInt8] {
        let size = llama_state_seq_get_size(pointer, sequence.rawValue)
        var bytes = [UInt8](repeating: 0, count: size)
        let written = llama_state_seq_get_data(pointer, &bytes, size, sequence.rawValue)
        guard written > 0 else { throw ThinktopError.kvEditFailed("saving the state of sequence \(sequence) failed") }
        return Array(bytes.prefix(written))
    }

    /// Restores a state saved by `saveState` into `sequence` (which should be empty).
    /// `logits()` is invalid afterwards until the next decode.
    public func restoreState(_ bytes: [UInt8], sequence: SequenceID) throws {
        lastLogits = nil
        if tap != nil {
            // llama.cpp places the restored cells where no graph shows them to the tap
            throw ThinktopError.stateRestoreFailed("a context with the attention tap cannot restore a saved sequence state")
        }
        let read = llama_state_seq_set_data(pointer, bytes, bytes.count, sequence.rawValue)
        guard read > 0 else { throw ThinktopError.stateRestoreFailed("llama.cpp rejected \(bytes.count) bytes for sequence \(sequence)") }
    }

    public var threads: Int { Int(llama_n_threads(pointer)) }

    // MARK: embedding input

    /// Loads the token-embedding table from the model file (once).
    public func loadEmbeddings() throws -> EmbeddingTable {
        if let e = embeddings { return e }
        let e = try EmbeddingTable(path: model.path, vocabularySize: vocabularySize, embeddingSize: embeddingSize)
        embeddings = e
        return e
    }

    /// Finds the scale at which feeding a token's embedding row reproduces feeding the token:
    /// one token is evaluated both ways on the probe sequence (empty between probes, and
    /// emptied again here; or another empty `scratch` sequence), for scale 1 and √n_embd, and the scale whose logits agree best is
    /// kept. Leaves no cells behind; `logits()` is invalid afterwards until the next decode.
    @discardableResult
    public func calibrateInputScale(probe token: Int32? = nil, scratch: SequenceID = .probe) throws -> Float {
        if let s = inputScale { return s }
        let table = try loadEmbeddings()
        let t = token ?? model.bosToken
        try removeCells(sequence: scratch, from: 0, to: nil)
        try decode(tokens: [t][...], at: 0, sequence: scratch)
        let reference = Array(logits())
        try removeCells(sequence: scratch, from: 0, to: nil)
        var row = [Float](repeating: 0, count: embeddingSize)
        table.row(t, into: &row)
        var best: (Float, Float) = (1, .infinity)
        for scale in [Float(1), Float(Double(embeddingSize).squareRoot())] {
            let scaled = row.map { $0 * scale }
            try scaled.withUnsafeBufferPointer { try decode(embedding: $0, at: 0, sequence: scratch) }
            let got = logits()
            var worst: Float = 0
            for i in 0..<reference.count { worst = max(worst, abs(got[i] - reference[i])) }
            try removeCells(sequence: scratch, from: 0, to: nil)
            if worst < best.1 { best = (scale, worst) }
        }
        inputScale = best.0
        inputScaleError = best.1
        return best.0
    }

    /// E[token] · inputScale: the input that stands for `token` when fed as an embedding.
    public func scaledEmbedding(of token: Int32, into out: inout [Float]) throws {
        let scale = try calibrateInputScale()
        try loadEmbeddings().row(token, into: &out)
        for i in out.indices { out[i] *= scale }
    }
}

extension LlamaContext {
    /// Empties the whole cache, every sequence.
    public func clearMemory() {
        lastLogits = nil
        heldPrefix = nil
        llama_memory_clear(memory, true)
        tap?.clear()
    }

    /// The plain llama.cpp decode loop, for the benchmark's baseline: each token decoded at
    /// the next position and its logits fetched, nothing else. Returns seconds spent.
    public func plainDecode(_ tokens: [Int32], startingAt position: Int) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        for (i, t) in tokens.enumerated() {
            try decode(tokens: [t][...], at: position + i, sequence: .main)
            _ = llama_get_logits_ith(pointer, -1)
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

extension LlamaContext: EmbeddingSource {
    public func prepareInput() throws { try calibrateInputScale() }

    public func inputEmbedding(of token: Int32) throws -> [Float] {
        var row = [Float](repeating: 0, count: embeddingSize)
        try scaledEmbedding(of: token, into: &row)
        return row
    }

    /// Σ weights[i]·E[ids[i]]·scale, zero weights skipped. Q8_0 tables (Gemma 3 270M's) are
    /// read in place with a vectorised dequantise-and-accumulate kernel: SwiReasoning's exact
    /// pᵀE over all 262,144 tokens reads 178 MB per latent step, about 7 ms on one core
    /// between two decodes (the row-by-row version took 43 ms). One thread: measured inside a
    /// session a second worker gained nothing (one core already streams near memory speed,
    /// and ggml's own threads are still busy right after a decode). Other types: short lists
    /// (a marker's tokens, a truncated mixture) dequantise their rows one by one; long ones
    /// use the dense Float32 copy (`EmbeddingTable.dense`, 671 MB for a 262,144 × 640 table,
    /// built once on first use).
    public func inputMixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) throws -> [Float] {
        precondition(ids.count == weights.count)
        let scale = try calibrateInputScale()
        let table = try loadEmbeddings()
        let d = embeddingSize
        var out: [Float]
        if table.isQ8_0 || ids.count >= LlamaContext.denseMixtureThreshold || table.isDense {
            out = table.mixture(ids: ids, weights: weights, threads: 1)
        } else {
            out = [Float](repeating: 0, count: d)
            var row = [Float](repeating: 0, count: d)
            for i in 0..<ids.count {
                let w = weights[i]
                if w == 0 { continue }
                table.row(ids[i], into: &row)
                for j in 0..<d { out[j] += w * row[j] }
            }
        }
        for j in 0..<d { out[j] *= scale }
        return out
    }

    /// Mixtures over at least this many tokens build and use the dense table (non-Q8_0 tables).
    public static let denseMixtureThreshold = 4096
}

// The attention tap: the attention a decode paid to each cached position, read out of
// llama.cpp's own graph while it computes.
//
// Mechanism. llama.cpp calls an eval callback (`cb_eval`) for every node of the graph,
// first with ask = true ("do you want this node's result?") and, for the nodes answered
// yes, again with ask = false once the node is computed. Two kinds of nodes matter:
//
// - `kq_soft_max-<layer>` (GGML_OP_SOFT_MAX): the attention probabilities of one layer,
//   F32 [n_kv, n_tokens, n_head, 1]. Column j is KV *cell* j of the cache that layer uses
//   (one stream: the context is made with kv_unified). The node exists only without flash
//   attention, which fuses the softmax away, so a tapped context turns flash attention off.
// - `cache_k_l<layer>` (GGML_OP_SET_ROWS): the write of the decoded tokens' keys into the
//   K cache; its index source (I64) lists the cell each token of the ubatch lands in. The
//   indices are a graph input, set before the graph runs, so they are read when the node
//   is announced (ask = true) and the node itself is not requested. Layers that share a
//   cache share that index tensor within a decode: the layers of one index tensor form a
//   band (Gemma 3: the full-attention layers and the sliding-window layers, two caches with
//   their own cells), keyed across decodes by its lowest layer.
//
// Why an exact cell mirror. A cell's column says nothing about the position it holds:
// llama.cpp places tokens in whatever cells are free, frees cells on removals, moves
// positions on shifts, shares cells between sequences on copies, and reuses sliding-window
// cells that are already masked (the new occupant replaces the old, and the old sequence's
// positions up to it are purged, as llama_kv_cache::apply_ubatch does). The tap keeps, per
// band, cell → (position, sequences), updated from the index tensors at each decode and
// from the KV edits that go through `LlamaContext` (seq_rm / seq_add / seq_cp / clear,
// with llama-kv-cache.cpp's semantics). Probabilities are then summed over heads and the
// counted query rows per cell and added at the position the cell holds for the decoded
// sequence. Restoring a saved sequence state places cells where no graph shows them, so a
// tapped context refuses it.
//
// Cost. Every node answered yes splits the graph computation there: the scheduler computes
// up to the node, waits for the backend, calls back, then resumes, so the CPU threads are
// parked and woken once per tapped layer (18 times per decode on Gemma 3 270M). Add the
// plain softmax path (flash attention off) and the summing done here. Measured on Gemma 3
// 270M, 2 threads, release build, 200 single-token decodes: at positions ~30–230 the tap
// costs ×1.015 over the same context with flash attention off and ×1.04 over the default
// (flash attention on); at positions ~1500–1700, ×1.015 and ×1.16 (the summing is 0.1 ms a
// decode there; in a debug build, where this module is unoptimised, it is 1.5 ms).
// The callback allocates nothing in steady state: its buffers grow and are reused.

import CLlama
import Core

/// Trivial values in one growable allocation that the eval callback reuses between decodes.
final class TapBuffer<Element> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var capacity: Int
    private let fill: Element

    init(capacity: Int = 64, fill: Element) {
        self.capacity = max(1, capacity)
        self.fill = fill
        base = .allocate(capacity: self.capacity)
        base.initialize(repeating: fill, count: self.capacity)
    }

    deinit { base.deallocate() }

    /// Makes room for `n` elements; new room holds `fill`.
    @inline(__always) func reserve(_ n: Int) {
        if n > capacity { grow(n) }
    }

    private func grow(_ n: Int) {
        let newCapacity = max(n, capacity * 2)
        let fresh = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        fresh.moveInitialize(from: base, count: capacity)
        (fresh + capacity).initialize(repeating: fill, count: newCapacity - capacity)
        base.deallocate()
        base = fresh
        capacity = newCapacity
    }
}

/// The tap's state: one cell mirror per band and the accumulator of the last decode.
/// Lives as long as its `LlamaContext` (which hands llama.cpp an unretained pointer to it);
/// used only on the thread that decodes.
final class AttentionTap {
    /// one cache's cells: position held (-1: free) and the set of sequences holding it
    final class Band {
        let key: Int
        /// cells seen so far; cells past it are free
        var cells = 0
        let positions = TapBuffer<Int32>(capacity: 1024, fill: -1)
        let sequences = TapBuffer<UInt64>(capacity: 1024, fill: 0)

        init(key: Int) { self.key = key }

        @inline(__always) func free(_ i: Int) {
            positions.base[i] = -1
            sequences.base[i] = 0
        }

        /// seq_rm: `sequence` < 0 frees every cell in [p0, p1)
        func remove(sequence: Int32, from p0: Int32, to p1: Int32) {
            let pos = positions.base, seqs = sequences.base
            let bit = sequence >= 0 ? UInt64(1) << UInt64(sequence) : 0
            for i in 0..<cells where pos[i] >= p0 && pos[i] < p1 {
                if sequence < 0 { free(i); continue }
                if seqs[i] & bit != 0 {
                    seqs[i] &= ~bit
                    if seqs[i] == 0 { pos[i] = -1 }
                }
            }
        }

        /// seq_add: the cell's position moves (for every sequence sharing it); a cell moved
        /// below 0 is freed
        func shift(sequence: Int32, from p0: Int32, to p1: Int32, delta: Int32) {
            let pos = positions.base, seqs = sequences.base
            let bit = UInt64(1) << UInt64(sequence)
            for i in 0..<cells where pos[i] >= p0 && pos[i] < p1 && seqs[i] & bit != 0 {
                pos[i] += delta
                if pos[i] < 0 { free(i) }
            }
        }

        /// seq_cp within one stream: the cells of `source` in [p0, p1) also hold `destination`
        func copy(from source: Int32, to destination: Int32, from p0: Int32, to p1: Int32) {
            let pos = positions.base, seqs = sequences.base
            let src = UInt64(1) << UInt64(source), dst = UInt64(1) << UInt64(destination)
            for i in 0..<cells where pos[i] >= p0 && pos[i] < p1 && seqs[i] & src != 0 {
                seqs[i] |= dst
            }
        }

        func clear() {
            for i in 0..<cells { free(i) }
        }

        /// the smallest and largest position `sequence` holds here (-1, -1 when none)
        func range(of sequence: Int32) -> (Int32, Int32) {
            let pos = positions.base, seqs = sequences.base
            let bit = UInt64(1) << UInt64(sequence)
            var lo = Int32.max, hi = Int32(-1)
            for i in 0..<cells where seqs[i] & bit != 0 {
                lo = min(lo, pos[i]); hi = max(hi, pos[i])
            }
            return hi < 0 ? (-1, -1) : (lo, hi)
        }
    }

    /// sequence ids the bitmasks can hold
    static let maxSequences = 64

    private(set) var bands: [Band] = []
    var queries: Range<Int>?

    // the decode under way
    private var active = false
    private var sequence: Int32 = 0
    private var start = 0
    private var count = 0
    private var rows = 0..<0
    /// decodes begun; a layer's band entry is current when its stamp equals it
    private var stamp = 0
    /// per layer: band index and the decode it was set in
    private let layerBand = TapBuffer<Int32>(capacity: 64, fill: -1)
    private let layerStamp = TapBuffer<Int>(capacity: 64, fill: -1)
    /// index tensors met in this decode and their band index
    private let seenIndex = TapBuffer<UnsafeMutableRawPointer?>(capacity: 8, fill: nil)
    private let seenBand = TapBuffer<Int32>(capacity: 8, fill: -1)
    private var seenCount = 0

    // reused working memory
    private let cellSum = TapBuffer<Float>(capacity: 1024, fill: 0)
    private let scratch = TapBuffer<Float>(capacity: 1, fill: 0)
    private let indices = TapBuffer<Int64>(capacity: 512, fill: 0)
    private let purgeUpTo = TapBuffer<Int32>(capacity: AttentionTap.maxSequences, fill: -1)

    // the accumulator: attention by position for the last decode
    private let accumulator = TapBuffer<Float>(capacity: 1024, fill: 0)
    /// positions readable through `attention` (0 after a KV edit or a failed decode)
    private var accumulated = 0
    /// accumulator entries possibly non-zero
    private var dirty = 0

    var attention: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: accumulator.base, count: accumulated)
    }

    // MARK: decode

    func beginDecode(sequence: Int32, start: Int, count: Int) {
        accumulator.base.update(repeating: 0, count: dirty)
        dirty = 0
        accumulated = 0
        stamp += 1
        seenCount = 0
        self.sequence = sequence
        self.start = start
        self.count = count
        if count <= 0 {
            rows = 0..<0
        } else if let q = queries {
            let lo = max(q.lowerBound - start, 0), hi = min(q.upperBound - start, count)
            rows = lo < hi ? lo..<hi : 0..<0
        } else {
            rows = (count - 1)..<count
        }
        active = count > 0 && sequence >= 0 && Int(sequence) < AttentionTap.maxSequences
    }

    /// After llama_decode returned `code`: the accumulator spans the sequence's positions;
    /// a failed compute is undone as llama.cpp undoes it (the ubatch's positions removed).
    func endDecode(code: Int32) {
        guard active else { return }
        active = false
        if code != 0 {
            if code != 1 && code != -1 { remove(sequence: sequence, from: start, to: nil) }
            accumulated = 0
            return
        }
        var highest: Int32 = -1
        for band in bands { highest = max(highest, band.range(of: sequence).1) }
        let n = Int(highest) + 1
        accumulator.reserve(n)
        accumulated = n
        dirty = max(dirty, n)
    }

    // MARK: KV edits (the mirror follows llama.cpp's seq_rm / seq_add / seq_cp / clear)

    private static func bounds(_ from: Int, _ to: Int?) -> (Int32, Int32) {
        let p0 = Int32(clamping: max(from, 0))
        let p1 = to.map { $0 < 0 ? Int32.max : Int32(clamping: $0) } ?? Int32.max
        return (p0, p1)
    }

    func remove(sequence: Int32, from: Int, to: Int?) {
        accumulated = 0
        let (p0, p1) = Self.bounds(from, to)
        guard sequence < AttentionTap.maxSequences else { return }
        for band in bands { band.remove(sequence: sequence < 0 ? -1 : sequence, from: p0, to: p1) }
    }

    func shift(sequence: Int32, from: Int, to: Int?, delta: Int) {
        accumulated = 0
        let (p0, p1) = Self.bounds(from, to)
        guard delta != 0, p0 != p1, sequence >= 0, sequence < AttentionTap.maxSequences else { return }
        for band in bands { band.shift(sequence: sequence, from: p0, to: p1, delta: Int32(delta)) }
    }

    func copy(from source: Int32, to destination: Int32, from: Int, to: Int?) {
        accumulated = 0
        let (p0, p1) = Self.bounds(from, to)
        guard source != destination, source >= 0, destination >= 0,
              source < AttentionTap.maxSequences, destination < AttentionTap.maxSequences else { return }
        for band in bands { band.copy(from: source, to: destination, from: p0, to: p1) }
    }

    func clear() {
        accumulated = 0
        for band in bands { band.clear() }
    }

    // MARK: the eval callback

    /// The C callback handed to llama.cpp; `user` is the unretained tap.
    static let callback: @convention(c) (UnsafeMutablePointer<ggml_tensor>?, Bool, UnsafeMutableRawPointer?) -> Bool = { t, ask, user in
        guard let t, let user else { return ask ? false : true }
        let tap = Unmanaged<AttentionTap>.fromOpaque(user).takeUnretainedValue()
        return ask ? tap.wants(t) : tap.read(t)
    }

    private static let nameOffset = MemoryLayout<ggml_tensor>.offset(of: \ggml_tensor.name)!
    private static let softmaxPrefix = Array("kq_soft_max-".utf8)
    private static let keyCachePrefix = Array("cache_k_l".utf8)

    /// The layer number after `prefix` in the tensor's name, nil when the name differs.
    @inline(__always)
    private static func layer(of t: UnsafeMutablePointer<ggml_tensor>, after prefix: [UInt8]) -> Int? {
        let name = (UnsafeRawPointer(t) + nameOffset).assumingMemoryBound(to: UInt8.self)
        var i = 0
        for byte in prefix {
            if name[i] != byte { return nil }
            i += 1
        }
        var n = 0, digits = 0
        while i < 64, name[i] >= 48, name[i] <= 57 {
            n = n * 10 + Int(name[i] - 48)
            i += 1; digits += 1
        }
        return digits > 0 ? n : nil
    }

    /// ask = true: the softmax of a layer whose band is known in this decode, when some
    /// query rows count. A K-cache write is answered no, but its cell indices are read here.
    private func wants(_ t: UnsafeMutablePointer<ggml_tensor>) -> Bool {
        guard active else { return false }
        let op = t.pointee.op
        if op == GGML_OP_SOFT_MAX {
            guard !rows.isEmpty, let layer = Self.layer(of: t, after: Self.softmaxPrefix),
                  layer < layerStamp.capacity, layerStamp.base[layer] == stamp else { return false }
            return true
        }
        if op == GGML_OP_SET_ROWS, let layer = Self.layer(of: t, after: Self.keyCachePrefix) {
            noteKeyWrite(t, layer: layer)
        }
        return false
    }

    /// The index source of a K-cache write: src[1] in this ggml (src[2] is the cache),
    /// found by type so that the legacy order would work as well.
    private static func indexSource(_ t: UnsafeMutablePointer<ggml_tensor>) -> UnsafeMutablePointer<ggml_tensor>? {
        func isIndex(_ s: UnsafeMutablePointer<ggml_tensor>?) -> Bool {
            guard let s else { return false }
            return s.pointee.type == GGML_TYPE_I64 || s.pointee.type == GGML_TYPE_I32
        }
        if isIndex(t.pointee.src.1) { return t.pointee.src.1 }
        if isIndex(t.pointee.src.2) { return t.pointee.src.2 }
        return nil
    }

    private func noteKeyWrite(_ t: UnsafeMutablePointer<ggml_tensor>, layer: Int) {
        guard let idx = Self.indexSource(t) else { return }
        let key = UnsafeMutableRawPointer(idx)
        var band: Int32 = -1
        for i in 0..<seenCount where seenIndex.base[i] == key { band = seenBand.base[i]; break }
        if band < 0 {
            band = Int32(mirrorWrite(idx, key: layer))
            seenIndex.reserve(seenCount + 1); seenBand.reserve(seenCount + 1)
            seenIndex.base[seenCount] = key
            seenBand.base[seenCount] = band
            seenCount += 1
        }
        layerBand.reserve(layer + 1); layerStamp.reserve(layer + 1)
        layerBand.base[layer] = band
        layerStamp.base[layer] = stamp
    }

    /// The decode's tokens enter the band's cells as llama_kv_cache::apply_ubatch puts
    /// them: an occupied cell is emptied first, then each sequence that lost a cell has its
    /// positions from its lowest up to the highest lost one purged. Returns the band index.
    private func mirrorWrite(_ idx: UnsafeMutablePointer<ggml_tensor>, key: Int) -> Int {
        var b = bands.firstIndex { $0.key == key } ?? -1
        if b < 0 {
            bands.append(Band(key: key))
            b = bands.count - 1
        }
        let band = bands[b]
        let n = min(Int(idx.pointee.ne.0), count)
        indices.reserve(n)
        if idx.pointee.type == GGML_TYPE_I64 {
            ggml_backend_tensor_get(idx, indices.base, 0, n * 8)
        } else {
            let narrow = UnsafeMutableRawPointer(indices.base).bindMemory(to: Int32.self, capacity: n)
            ggml_backend_tensor_get(idx, narrow, 0, n * 4)
            for r in stride(from: n - 1, through: 0, by: -1) { indices.base[r] = Int64(narrow[r]) }
        }
        let bit = UInt64(1) << UInt64(sequence)
        var lost: UInt64 = 0
        for r in 0..<n {
            let c = Int(indices.base[r])
            guard c >= 0 else { continue }
            if c >= band.cells {
                band.positions.reserve(c + 1); band.sequences.reserve(c + 1)
                band.cells = c + 1
            }
            let old = band.positions.base[c]
            if old >= 0 {
                var m = band.sequences.base[c]
                while m != 0 {
                    let s = m.trailingZeroBitCount
                    let first = lost & (UInt64(1) << UInt64(s)) == 0
                    purgeUpTo.base[s] = first ? old : max(purgeUpTo.base[s], old)
                    m &= m - 1
                }
                lost |= band.sequences.base[c]
            }
            band.positions.base[c] = Int32(start + r)
            band.sequences.base[c] = bit
        }
        while lost != 0 {
            let s = Int32(lost.trailingZeroBitCount)
            lost &= lost - 1
            let upTo = purgeUpTo.base[Int(s)]
            let (lo, _) = band.range(of: s)
            if lo >= 0 && lo <= upTo { band.remove(sequence: s, from: lo, to: upTo + 1) }
        }
        return b
    }

    /// ask = false on a softmax: its counted rows, summed over heads, added by position.
    private func read(_ t: UnsafeMutablePointer<ggml_tensor>) -> Bool {
        guard active, t.pointee.op == GGML_OP_SOFT_MAX, t.pointee.type == GGML_TYPE_F32,
              let layer = Self.layer(of: t, after: Self.softmaxPrefix),
              layer < layerStamp.capacity, layerStamp.base[layer] == stamp else { return true }
        let band = bands[Int(layerBand.base[layer])]
        let nKV = Int(t.pointee.ne.0), nRows = Int(t.pointee.ne.1), nHead = Int(t.pointee.ne.2)
        guard t.pointee.ne.3 == 1, t.pointee.nb.0 == 4, nKV > 0 else { return true }
        let rowStride = Int(t.pointee.nb.1), headStride = Int(t.pointee.nb.2)
        var lo = rows.lowerBound, hi = rows.upperBound
        if nRows != count {
            // a graph that kept only the output row (the last input) before this layer's attention
            guard nRows == 1, hi == count else { return true }
            (lo, hi) = (0, 1)
        }

        let data: UnsafeRawPointer
        if let buffer = t.pointee.buffer, ggml_backend_buffer_is_host(buffer), let d = t.pointee.data {
            data = UnsafeRawPointer(d)
        } else {
            let bytes = ggml_nbytes(t)
            scratch.reserve((bytes + 3) / 4)
            ggml_backend_tensor_get(t, scratch.base, 0, bytes)
            data = UnsafeRawPointer(scratch.base)
        }

        cellSum.reserve(nKV)
        let sum = cellSum.base
        sum.update(repeating: 0, count: nKV)
        for h in 0..<nHead {
            for r in lo..<hi {
                let row = (data + h * headStride + r * rowStride).assumingMemoryBound(to: Float.self)
                for j in 0..<nKV { sum[j] += row[j] }
            }
        }

        let bit = UInt64(1) << UInt64(sequence)
        let pos = band.positions.base, seqs = band.sequences.base
        for j in 0..<min(nKV, band.cells) where seqs[j] & bit != 0 {
            let p = Int(pos[j])
            if p >= accumulator.capacity { accumulator.reserve(p + 1) }
            accumulator.base[p] += sum[j]
            if p >= dirty { dirty = p + 1 }
        }
        return true
    }
}

extension LlamaContext: AttentionSource {
    public var capturesAttention: Bool { options.attentionTap }

    public var attentionQueries: Range<Int>? {
        get { tap?.queries }
        set { tap?.queries = newValue }
    }

    /// The attention by position of the last decode (empty without the tap, after a KV
    /// edit, or after a failed decode).
    public func lastAttention() -> UnsafeBufferPointer<Float> {
        tap?.attention ?? UnsafeBufferPointer(start: nil, count: 0)
    }

    /// The one-line refusal of a tapped context with a quantized V cache.
    static let tapNeedsPlainAttention = ThinktopError.invalidArgument(
        "the attention tap (needed by --attention, H2O and SnapKV) needs flash attention off, and a quantized V cache (--kv-type q8_0/q4_0) needs it on: use --kv-type f16 or drop the attention option")
}

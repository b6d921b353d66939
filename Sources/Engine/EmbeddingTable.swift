import CLlama
import Core
import Foundation
import Kernels

/// The token-embedding matrix (`token_embd.weight`), read from the GGUF file with gguf.h
/// and memory-mapped; rows are dequantised on demand with ggml's `to_float` for the
/// tensor's type. llama.cpp's public API does not expose this matrix.
public final class EmbeddingTable {
    public let vocabularySize: Int
    public let embeddingSize: Int
    public let typeName: String
    private let base: UnsafeMutableRawPointer
    private let mappedLength: Int
    private let dataOffset: Int
    private let rowBytes: Int
    private let toFloat: ggml_to_float_t
    /// rows are ggml Q8_0 (mixtures then read them directly, see `mixture`)
    public let isQ8_0: Bool

    public init(path: String, vocabularySize: Int, embeddingSize: Int, tensorName: String = "token_embd.weight") throws {
        let params = gguf_init_params(no_alloc: true, ctx: nil)
        guard let g = gguf_init_from_file(path, params) else {
            throw ThinktopError.embeddingUnavailable("gguf could not read \(path)")
        }
        defer { gguf_free(g) }
        let id = gguf_find_tensor(g, tensorName)
        guard id >= 0 else { throw ThinktopError.embeddingUnavailable("\(tensorName) is not in the model file") }
        let type = gguf_get_tensor_type(g, id)
        let ne = gguf_get_tensor_ne(g, id)!
        guard Int(ne[0]) == embeddingSize, Int(ne[1]) >= vocabularySize else {
            throw ThinktopError.embeddingUnavailable("\(tensorName) is \(ne[0])×\(ne[1]), expected \(embeddingSize)×\(vocabularySize)")
        }
        guard let traits = ggml_get_type_traits(type), let f = traits.pointee.to_float else {
            throw ThinktopError.embeddingUnavailable("no dequantiser for tensor type \(type.rawValue)")
        }
        toFloat = f
        isQ8_0 = type == GGML_TYPE_Q8_0 && embeddingSize % 32 == 0
        typeName = String(cString: traits.pointee.type_name)
        rowBytes = ggml_row_size(type, ne[0])
        dataOffset = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id)
        self.vocabularySize = vocabularySize
        self.embeddingSize = embeddingSize

        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ThinktopError.embeddingUnavailable("cannot open \(path)") }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        mappedLength = Int(st.st_size)
        guard dataOffset + rowBytes * vocabularySize <= mappedLength else {
            throw ThinktopError.embeddingUnavailable("\(tensorName) runs past the end of the file (truncated?)")
        }
        guard let m = mmap(nil, mappedLength, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else {
            throw ThinktopError.embeddingUnavailable("cannot map \(path)")
        }
        base = m
    }

    deinit {
        munmap(base, mappedLength)
        denseRows?.deallocate()
    }

    private var denseRows: UnsafeMutableBufferPointer<Float>?

    /// Bytes the dense Float32 copy takes (vocabularySize × embeddingSize × 4).
    public var denseBytes: Int { vocabularySize * embeddingSize * MemoryLayout<Float>.stride }
    public var isDense: Bool { denseRows != nil }

    /// The whole table dequantised to Float32, built on first use (one `to_float` call per
    /// row, about 1.5 s) and kept for the life of the table: vocabulary × n_embd × 4 bytes,
    /// for a 262,144 × 640 table 671 MB — acceptable on the 24 GiB machine thinktop is
    /// developed on. It makes an exact mixture over the whole vocabulary (SwiReasoning's pᵀE,
    /// every latent step) one streaming pass instead of 262,144 dequantiser calls. Q8_0 tables
    /// (Gemma 3 270M's) do not need it: `mixture` reads them directly.
    public func dense() -> UnsafeBufferPointer<Float> {
        if let d = denseRows { return UnsafeBufferPointer(d) }
        let d = UnsafeMutableBufferPointer<Float>.allocate(capacity: vocabularySize * embeddingSize)
        for t in 0..<vocabularySize {
            toFloat(base + dataOffset + t * rowBytes, d.baseAddress! + t * embeddingSize, Int64(embeddingSize))
        }
        denseRows = d
        return UnsafeBufferPointer(d)
    }

    /// Σ weights[i]·E[ids[i]] (unscaled), rows with weight 0 skipped, vectorised and split over
    /// `threads` for long lists. Q8_0 rows (Gemma 3 270M's table) are read where they are
    /// mapped and dequantised on the fly, 34 bytes per 32 values (`MixtureKernel.accumulateQ8_0`);
    /// other types use the dense Float32 copy (`dense()`, built on first use).
    public func mixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>, threads: Int = 1) -> [Float] {
        precondition(ids.count == weights.count)
        for t in ids { precondition(t >= 0 && Int(t) < vocabularySize, "token \(t) outside the table") }
        if isQ8_0 {
            return MixtureKernel.mixtureQ8_0(rows: UnsafeRawPointer(base + dataOffset), rowBytes: rowBytes,
                                             rowLength: embeddingSize, ids: ids, weights: weights, threads: threads)
        }
        let table = dense()
        return MixtureKernel.mixture(table: table.baseAddress!, rowLength: embeddingSize, ids: ids, weights: weights,
                                     threads: threads)
    }

    /// The same mixture from the dense Float32 copy, whatever the type (for comparisons).
    public func denseMixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>, threads: Int = 1) -> [Float] {
        let table = dense()
        return MixtureKernel.mixture(table: table.baseAddress!, rowLength: embeddingSize, ids: ids, weights: weights,
                                     threads: threads)
    }

    /// Writes the dequantised row of `token` into `out` (embeddingSize floats).
    public func row(_ token: Int32, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(token >= 0 && Int(token) < vocabularySize && out.count >= embeddingSize)
        toFloat(base + dataOffset + Int(token) * rowBytes, out.baseAddress!, Int64(embeddingSize))
    }

    public func row(_ token: Int32, into out: inout [Float]) {
        out.withUnsafeMutableBufferPointer { row(token, into: $0) }
    }
}

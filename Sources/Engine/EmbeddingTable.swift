import CLlama
import Core
import Foundation

/// The token-embedding matrix (`token_embd.weight`), read from the GGUF file with gguf.h
/// and memory-mapped; rows are dequantised on demand with ggml's `to_float` for the
/// tensor's type. llama.cpp's public API does not expose this matrix.
public final class EmbeddingTable: @unchecked Sendable {
    public let vocabularySize: Int
    public let embeddingSize: Int
    public let typeName: String
    private let base: UnsafeMutableRawPointer
    private let mappedLength: Int
    private let dataOffset: Int
    private let rowBytes: Int
    private let toFloat: ggml_to_float_t

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

    deinit { munmap(base, mappedLength) }

    /// Writes the dequantised row of `token` into `out` (embeddingSize floats).
    public func row(_ token: Int32, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(token >= 0 && Int(token) < vocabularySize && out.count >= embeddingSize)
        toFloat(base + dataOffset + Int(token) * rowBytes, out.baseAddress!, Int64(embeddingSize))
    }

    public func row(_ token: Int32, into out: inout [Float]) {
        out.withUnsafeMutableBufferPointer { row(token, into: $0) }
    }
}

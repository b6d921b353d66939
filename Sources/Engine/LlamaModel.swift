import CLlama
import Core
import Foundation

/// Where a model's layers go: the CPU, local accelerators, ggml-rpc-server processes.
public struct ModelPlacement: Sendable, Equatable {
    /// layers to offload (nil: llama.cpp's default, every layer when there is a device to
    /// offload to, none on a CPU-only machine)
    public var gpuLayers: Int?
    /// the share of the offloaded layers each offload device takes (empty: by free memory)
    public var tensorSplit: [Float]
    /// ggml-rpc-server endpoints, HOST:PORT
    public var rpc: [String]
    /// repack weights into the CPU's extra buffer types (llama.cpp's default; faster on the
    /// CPU, and float sums differ from an unrepacked copy on another device)
    public var repack: Bool

    public init(gpuLayers: Int? = nil, tensorSplit: [Float] = [], rpc: [String] = [], repack: Bool = true) {
        self.gpuLayers = gpuLayers; self.tensorSplit = tensorSplit; self.rpc = rpc; self.repack = repack
    }
}

extension ModelPlacement {
    /// Where a model would load: "CPU", or the offload devices ("CUDA0", "RPC 127.0.0.1:50052")
    /// and the CPU for what stays; registers the RPC endpoints (each checked first).
    public func destination() throws -> String {
        try Devices.addRPCServers(rpc)
        let devices = Devices.offload(rpc: rpc).map { d -> String in
            Devices.isRPC(d) ? "RPC " + String(cString: ggml_backend_dev_description(d)) : String(cString: ggml_backend_dev_name(d))
        }
        if devices.isEmpty || gpuLayers == 0 { return "CPU" }
        return devices.joined(separator: ", ") + " + CPU"
    }
}

/// A loaded GGUF model. Owns the `llama_model`; contexts made from it keep it alive.
/// Immutable after loading (llama.cpp's model is read-only and may serve contexts on several
/// threads), hence shareable although it holds C pointers.
public final class LlamaModel: @unchecked Sendable {
    public let path: String
    let pointer: OpaquePointer
    let vocab: OpaquePointer
    public let placement: ModelPlacement
    /// only the metadata and the vocabulary were read (no weights: the hyper-parameters come
    /// from the metadata, as llama.cpp's per-layer tables are not filled)
    public let vocabularyOnly: Bool
    /// where the weights went
    public let placementFacts: PlacementFacts

    /// Loads a model. Checks the file before llama.cpp sees it, so the common mistakes
    /// (no such file, not a GGUF file) get a plain answer.
    /// - Parameter progress: called with 0…1 while the weights load; returning false stops
    ///   the load (`ThinktopError.interrupted`).
    /// - Parameter vocabularyOnly: read the metadata and the vocabulary, no weights (the
    ///   tokenizer of a model served elsewhere: fast, and small whatever the model's size)
    public init(path: String, placement: ModelPlacement = ModelPlacement(), vocabularyOnly: Bool = false,
                progress: ((Float) -> Bool)? = nil) throws {
        LlamaRuntime.initialize()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw ThinktopError.modelNotFound(path)
        }
        guard let fh = FileHandle(forReadingAtPath: path) else {
            throw ThinktopError.modelLoadFailed(path: path, reason: "the file is not readable")
        }
        let magic = (try? fh.read(upToCount: 4)) ?? Data()
        try? fh.close()
        guard magic == Data("GGUF".utf8) else { throw ThinktopError.notGGUF(path) }

        var params = llama_model_default_params()
        params.vocab_only = vocabularyOnly
        try Devices.addRPCServers(vocabularyOnly ? [] : placement.rpc)
        // explicit devices: the local accelerators and these endpoints' devices, never those of
        // RPC servers another model of this process registered
        let offload = vocabularyOnly ? [] : Devices.offload(rpc: placement.rpc)
        if let n = placement.gpuLayers { params.n_gpu_layers = Int32(n) }
        params.use_extra_bufts = placement.repack
        var split = [Float](repeating: 0, count: max(Int(llama_max_devices()), 1))
        if !placement.tensorSplit.isEmpty {
            guard placement.tensorSplit.count <= offload.count else {
                throw ThinktopError.invalidArgument("--tensor-split has \(placement.tensorSplit.count) shares for \(offload.count) offload devices (\(offload.map { String(cString: ggml_backend_dev_name($0)) }.joined(separator: ", ")))")
            }
            for (i, v) in placement.tensorSplit.enumerated() { split[i] = v }
        }
        var deviceList: [ggml_backend_dev_t?] = offload + [nil]
        final class ProgressBox {
            let f: (Float) -> Bool
            var stopped = false
            init(_ f: @escaping (Float) -> Bool) { self.f = f }
        }
        let box = progress.map { ProgressBox($0) }
        if let box {
            params.progress_callback = { value, user in
                let box = Unmanaged<ProgressBox>.fromOpaque(user!).takeUnretainedValue()
                if !box.f(value) { box.stopped = true }
                return !box.stopped
            }
            params.progress_callback_user_data = Unmanaged.passUnretained(box).toOpaque()
        }
        let mark = LlamaRuntime.logMark()
        let loaded = withExtendedLifetime(box) {
            deviceList.withUnsafeMutableBufferPointer { devices in
                split.withUnsafeBufferPointer { shares in
                    var p = params
                    p.devices = devices.baseAddress
                    p.tensor_split = placement.tensorSplit.isEmpty ? nil : shares.baseAddress
                    return llama_model_load_from_file(path, p)
                }
            }
        }
        guard let loaded else {
            if box?.stopped == true { throw ThinktopError.interrupted("loading \((path as NSString).lastPathComponent) was stopped") }
            let why = LlamaRuntime.lastErrorLine() ?? "llama.cpp could not read it"
            throw ThinktopError.modelLoadFailed(path: path, reason: "the file is truncated, corrupt or of an unsupported architecture (llama.cpp: \(why))")
        }
        self.path = path
        pointer = loaded
        vocab = llama_model_get_vocab(loaded)
        self.placement = placement
        self.vocabularyOnly = vocabularyOnly
        placementFacts = Self.placementFacts(log: LlamaRuntime.log(since: mark), devices: offload.map(Devices.facts))
    }

    /// Reads llama.cpp's load report: "offloaded 19/19 layers to GPU" and one "model buffer
    /// size" line per device (no API gives either).
    static func placementFacts(log: [String], devices: [DeviceFacts]) -> PlacementFacts {
        var facts = PlacementFacts(devices: devices, buffersMiB: [:])
        for line in log {
            if let r = line.range(of: "offloaded "), let slash = line[r.upperBound...].firstIndex(of: "/") {
                facts.offloadedLayers = Int(line[r.upperBound..<slash])
                facts.offloadableLayers = Int(line[line.index(after: slash)...].prefix { $0.isNumber })
            }
            if let r = line.range(of: " model buffer size = ") {
                let name = line[..<r.lowerBound].split(separator: " ").last.map(String.init) ?? "?"
                facts.buffersMiB[name, default: 0] += Double(line[r.upperBound...].split(separator: " ").first ?? "") ?? 0
            }
        }
        return facts
    }

    deinit { llama_model_free(pointer) }

    // MARK: facts

    public var vocabularySize: Int { Int(llama_vocab_n_tokens(vocab)) }
    public var embeddingSize: Int { vocabularyOnly ? hyper("embedding_length") : Int(llama_model_n_embd(pointer)) }
    public var inputEmbeddingSize: Int { vocabularyOnly ? embeddingSize : Int(llama_model_n_embd_inp(pointer)) }
    public var layers: Int { vocabularyOnly ? hyper("block_count") : Int(llama_model_n_layer(pointer)) }
    public var heads: Int { vocabularyOnly ? hyper("attention.head_count") : Int(llama_model_n_head(pointer)) }
    public var kvHeads: Int {
        vocabularyOnly ? (metadata("\(architecture).attention.head_count_kv").flatMap { Int($0) } ?? heads) : Int(llama_model_n_head_kv(pointer))
    }
    public var slidingWindow: Int { vocabularyOnly ? hyper("attention.sliding_window") : Int(llama_model_n_swa(pointer)) }
    public var trainedContext: Int { vocabularyOnly ? hyper("context_length") : Int(llama_model_n_ctx_train(pointer)) }

    /// A hyper-parameter from the metadata (`ARCH.KEY`), 0 when absent.
    private func hyper(_ key: String) -> Int { metadata("\(architecture).\(key)").flatMap { Int($0) } ?? 0 }

    public func metadata(_ key: String) -> String? {
        var buf = [CChar](repeating: 0, count: 512)
        let n = llama_model_meta_val_str(pointer, key, &buf, buf.count)
        if n < 0 { return nil }
        if Int(n) >= buf.count {
            buf = [CChar](repeating: 0, count: Int(n) + 1)
            _ = llama_model_meta_val_str(pointer, key, &buf, buf.count)
        }
        return String(cString: buf)
    }

    public var architecture: String { metadata("general.architecture") ?? "unknown" }

    public var modelDescription: String {
        var buf = [CChar](repeating: 0, count: 256)
        _ = llama_model_desc(pointer, &buf, buf.count)
        return String(cString: buf)
    }

    /// Key and value widths per KV head, from the GGUF (default n_embd / n_head).
    public var keyLength: Int {
        metadata("\(architecture).attention.key_length").flatMap { Int($0) } ?? embeddingSize / max(heads, 1)
    }
    public var valueLength: Int {
        metadata("\(architecture).attention.value_length").flatMap { Int($0) } ?? embeddingSize / max(heads, 1)
    }

    /// Bytes one position occupies in the KV cache over all layers, for a cache element size.
    public func kvBytesPerToken(keyBytesPerElement: Double = 2, valueBytesPerElement: Double = 2) -> Int {
        Int(Double(layers * kvHeads) * (Double(keyLength) * keyBytesPerElement + Double(valueLength) * valueBytesPerElement))
    }

    public var chatTemplate: String? {
        guard let t = llama_model_chat_template(pointer, nil) else { return nil }
        return String(cString: t)
    }

    public func facts(sha256: String?, cacheType: KVCacheType = .f16) -> ModelFacts {
        ModelFacts(file: (path as NSString).lastPathComponent, sha256: sha256, architecture: architecture,
                   description: modelDescription, layers: layers, embeddingSize: embeddingSize, heads: heads,
                   kvHeads: kvHeads, slidingWindow: slidingWindow, vocabularySize: vocabularySize,
                   trainedContext: trainedContext, parameters: llama_model_n_params(pointer),
                   sizeBytes: llama_model_size(pointer), thinkOpenToken: singleToken("<think>"),
                   thinkCloseToken: singleToken("</think>"), hasChatTemplate: chatTemplate != nil,
                   kvBytesPerToken: kvBytesPerToken(keyBytesPerElement: cacheType.bytesPerElement,
                                                    valueBytesPerElement: cacheType.bytesPerElement),
                   placement: placementFacts)
    }

    // MARK: tokens

    /// Tokenizes with special tokens parsed (`<think>` becomes the model's token where it has one).
    public func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32] {
        let utf8Count = text.utf8.count
        var tokens = [Int32](repeating: 0, count: utf8Count + 8)
        var n = llama_tokenize(vocab, text, Int32(utf8Count), &tokens, Int32(tokens.count), addSpecial, true)
        if n == Int32.min { throw ThinktopError.tokenizationFailed("the text is too long") }
        if n < 0 {
            tokens = [Int32](repeating: 0, count: Int(-n))
            n = llama_tokenize(vocab, text, Int32(utf8Count), &tokens, Int32(tokens.count), addSpecial, true)
            if n < 0 { throw ThinktopError.tokenizationFailed("llama_tokenize returned \(n)") }
        }
        return Array(tokens.prefix(Int(n)))
    }

    /// Every token's bytes, one table for the model: strategies scan the whole vocabulary
    /// when a run starts (NoWait's and CGRS's keywords), and in a batch of problems every lane
    /// would otherwise convert and cache it again. Built on first use, read-only after.
    private let pieceLock = NSLock()
    private var pieceTable: (bytes: [UInt8], ends: [Int32])?
    /// What strategies pick from that table by a rule, likewise kept for the model.
    public let vocabularyScans = VocabularyScans()

    /// The bytes of one token, special tokens rendered as text.
    public func piece(_ token: Int32) -> [UInt8] {
        let table = pieces()
        let t = Int(token)
        guard t >= 0, t < table.ends.count else { return convertPiece(token) }
        let start = t == 0 ? 0 : Int(table.ends[t - 1])
        return Array(table.bytes[start..<Int(table.ends[t])])
    }

    private func pieces() -> (bytes: [UInt8], ends: [Int32]) {
        pieceLock.lock()
        defer { pieceLock.unlock() }
        if let table = pieceTable { return table }
        let n = Int(llama_vocab_n_tokens(vocab))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(n * 8)
        var ends = [Int32](repeating: 0, count: n)
        for t in 0..<n {
            bytes += convertPiece(Int32(t))
            ends[t] = Int32(bytes.count)
        }
        pieceTable = (bytes, ends)
        return (bytes, ends)
    }

    private func convertPiece(_ token: Int32) -> [UInt8] {
        var buf = [CChar](repeating: 0, count: 32)
        var n = llama_token_to_piece(vocab, token, &buf, Int32(buf.count), 0, true)
        if n < 0 {
            buf = [CChar](repeating: 0, count: Int(-n))
            n = llama_token_to_piece(vocab, token, &buf, Int32(buf.count), 0, true)
        }
        guard n > 0 else { return [] }
        return buf.prefix(Int(n)).map { UInt8(bitPattern: $0) }
    }

    public func detokenize(_ tokens: [Int32]) -> String {
        var bytes: [UInt8] = []
        for t in tokens { bytes += piece(t) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func isEndOfGeneration(_ token: Int32) -> Bool { llama_vocab_is_eog(vocab, token) }

    /// Control tokens (end of turn, chat-template markers) and end-of-generation tokens: not
    /// text the model says. Think markers are not control tokens in the reasoning models'
    /// vocabularies, so they stay visible.
    public func isControl(_ token: Int32) -> Bool {
        isEndOfGeneration(token) || (llama_vocab_get_attr(vocab, token).rawValue & LLAMA_TOKEN_ATTR_CONTROL.rawValue) != 0
    }

    public var bosToken: Int32 { llama_vocab_bos(vocab) }

    /// The one token `text` stands for when special tokens are parsed, if it is one token.
    public func singleToken(_ text: String) -> Int32? {
        guard let t = try? tokenize(text, addSpecial: false), t.count == 1 else { return nil }
        return t[0]
    }

    /// Wraps `user` in the model's chat template, ending with the assistant's turn.
    public func applyChatTemplate(user: String) throws -> String {
        guard let template = llama_model_chat_template(pointer, nil) else {
            throw ThinktopError.invalidArgument("\((path as NSString).lastPathComponent) has no chat template: use --raw")
        }
        let role = strdup("user")!, content = strdup(user)!
        defer { free(role); free(content) }
        var message = llama_chat_message(role: role, content: content)
        var buf = [CChar](repeating: 0, count: user.utf8.count * 2 + 512)
        var n = llama_chat_apply_template(template, &message, 1, true, &buf, Int32(buf.count))
        if n > Int32(buf.count) {
            buf = [CChar](repeating: 0, count: Int(n) + 1)
            n = llama_chat_apply_template(template, &message, 1, true, &buf, Int32(buf.count))
        }
        guard n >= 0 else {
            throw ThinktopError.invalidArgument("llama.cpp does not support this model's chat template: use --raw")
        }
        return String(decoding: buf.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

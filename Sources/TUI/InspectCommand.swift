import ArgumentParser
import Core
import Engine
import Foundation

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's facts: architecture, layers, KV bytes per token, sliding window, think tokens, chat template, embedding-input scale.")

    @Argument(help: "GGUF model file (default: the default model).")
    var model: String?

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var placementOptions: PlacementOptions

    func run() throws {
        var options = ModelOptions()
        options.model = model
        options.ctx = 256
        options.threads = ContextOptions.defaultThreads
        options.kvType = "f16"
        options.attention = false
        options.placementOptions = placementOptions
        let m = try options.loadModel()
        let context = try LlamaContext(model: m, options: try options.contextOptions())
        var embeddingNote = "n/a"
        var scale: Float?
        var scaleError: Float?
        do {
            let table = try context.loadEmbeddings()
            scale = try context.calibrateInputScale()
            scaleError = context.inputScaleError
            embeddingNote = "\(table.typeName) \(table.vocabularySize)×\(table.embeddingSize)"
        } catch {
            embeddingNote = "unavailable: \(error)"
        }
        let facts = m.facts(sha256: try? SHA256.cachedHex(ofFile: m.path, cacheDirectory: Paths.cache + "/hashes"))
        let kv = KVCacheType.allCases.map { ($0.rawValue, m.kvBytesPerToken(keyBytesPerElement: $0.bytesPerElement, valueBytesPerElement: $0.bytesPerElement)) }
        let template = m.chatTemplate
        // the cache's bands as llama.cpp made them: full-attention and sliding-window layers
        let bands = context.kvShape.bands.map { b in
            (b.window.map { "sliding-window layers (last \($0) positions)" } ?? "full-attention layers", b.layers,
             b.bytesPerCell)
        }
        if json {
            struct Out: Encodable {
                var facts: ModelFacts
                var key_length: Int
                var value_length: Int
                var kv_bytes_per_token: [String: Int]
                var kv_bands: [[String: String]]
                var chat_template: String?
                var token_embeddings: String
                var embedding_input_scale: Float?
                var embedding_input_max_logit_error: Float?
            }
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            let out = Out(facts: facts, key_length: m.keyLength, value_length: m.valueLength,
                          kv_bytes_per_token: Dictionary(uniqueKeysWithValues: kv),
                          kv_bands: bands.map { ["layers": "\($0.1)", "kind": $0.0, "bytes_per_token_f16": "\($0.2)"] },
                          chat_template: template,
                          token_embeddings: embeddingNote, embedding_input_scale: scale,
                          embedding_input_max_logit_error: scaleError)
            print(String(decoding: try enc.encode(out), as: UTF8.self))
            return
        }
        func row(_ k: String, _ v: String) { print(k.padding(toLength: 24, withPad: " ", startingAt: 0) + v) }
        row("file", m.path)
        row("sha256", facts.sha256 ?? "?")
        row("architecture", facts.architecture)
        row("description", facts.description)
        row("parameters", String(format: "%.1f M", Double(facts.parameters) / 1e6))
        row("size", String(format: "%.1f MiB", Double(facts.sizeBytes) / 1048576))
        row("layers", "\(facts.layers)")
        row("n_embd", "\(facts.embeddingSize)")
        row("heads / kv heads", "\(facts.heads) / \(facts.kvHeads)")
        row("key / value length", "\(m.keyLength) / \(m.valueLength)")
        row("sliding window", facts.slidingWindow > 0 ? "\(facts.slidingWindow) positions (on the model's SWA layers)" : "none")
        row("vocabulary", "\(facts.vocabularySize)")
        row("trained context", "\(facts.trainedContext)")
        let placed = m.placementFacts
        row("devices", placed.devices.isEmpty ? "CPU only"
            : placed.devices.map { "\($0.name) (\($0.kind == "rpc" ? "ggml-rpc-server " : "")\($0.description), \($0.freeMiB)/\($0.memoryMiB) MiB free)" }.joined(separator: ", "))
        if !placed.devices.isEmpty, let n = placed.offloadedLayers, let of = placed.offloadableLayers {
            row("offloaded layers", "\(n) of \(of) (the output layer counts as one)")
        }
        row("weights", placed.buffersMiB.sorted { $0.key < $1.key }.map { String(format: "%@ %.1f MiB", $0.key, $0.value) }.joined(separator: ", "))
        row("KV bytes per token", kv.map { "\($0.1) (\($0.0))" }.joined(separator: ", "))
        for b in bands {
            row("", "  \(b.2) bytes (f16) in \(b.1) \(b.0)")
        }
        row("think tokens", facts.thinkOpenToken.map { "<think> = \($0), </think> = \(facts.thinkCloseToken.map(String.init) ?? "none")" }
            ?? "none in the vocabulary (think markers matched as text)")
        row("chat template", template.map { "yes (\($0.count) characters)" } ?? "none (use --raw)")
        row("token embeddings", embeddingNote)
        if let scale, let scaleError {
            let sq = Float(Double(m.inputEmbeddingSize).squareRoot())
            let name = abs(scale - 1) < 1e-6 ? "1" : abs(scale - sq) < 1e-3 ? "sqrt(n_embd) = \(scale)" : "\(scale)"
            row("embedding input scale", "\(name) (max logit difference vs token input: \(String(format: "%.2g", scaleError)))")
        }
    }
}

import Core
import Foundation

extension KVShape {
    /// The cache's layout as llama.cpp reports it when it makes the context, one band per
    /// cache it creates: a plain model logs one `llama_kv_cache: size = … ( N cells, L layers, …)`
    /// line; a model with sliding-window layers first logs `creating non-SWA KV cache` and
    /// `creating SWA KV cache`, each followed by its size line. llama.cpp offers no API for the
    /// per-layer split, so its own report is read for the layer counts; bytes come from the
    /// model's shape (`bytesPerLayer`). Falls back to one band of `layers` layers.
    static func parse(log lines: [String], slidingWindow: Int, layers: Int, bytesPerLayer: Double) -> KVShape {
        var bands: [Band] = []
        var nextIsSWA: Bool?
        let size = try! NSRegularExpression(pattern: #"llama_kv_cache: size = +[0-9.]+ MiB \( *[0-9]+ cells, +([0-9]+) layers"#)
        for line in lines {
            if line.contains("creating non-SWA KV cache") { nextIsSWA = false; continue }
            if line.contains("creating     SWA KV cache") || line.contains("creating SWA KV cache") { nextIsSWA = true; continue }
            let ns = line as NSString
            guard let m = size.firstMatch(in: line, range: NSRange(location: 0, length: ns.length)),
                  let bandLayers = Int(ns.substring(with: m.range(at: 1))) else { continue }
            let bytes = Int((Double(bandLayers) * bytesPerLayer).rounded())
            let swa = nextIsSWA == true && slidingWindow > 0
            bands.append(Band(layers: bandLayers, window: swa ? slidingWindow : nil, bytesPerCell: bytes))
            nextIsSWA = nil
        }
        if bands.reduce(0, { $0 + $1.layers }) != layers {
            bands = [Band(layers: layers, window: nil, bytesPerCell: Int((Double(layers) * bytesPerLayer).rounded()))]
        }
        return KVShape(bands: bands)
    }
}

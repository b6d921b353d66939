/// A device llama.cpp can put layers on: the CPU, a local GPU, or a ggml-rpc-server's device.
public struct DeviceFacts: Codable, Sendable, Equatable {
    /// ggml's name: CPU, CUDA0, Metal, RPC0 …
    public var name: String
    /// what it is (an RPC device's description is its endpoint)
    public var description: String
    /// cpu, gpu, igpu, accel, rpc
    public var kind: String
    public var memoryMiB: Int
    public var freeMiB: Int

    enum CodingKeys: String, CodingKey {
        case name, description, kind
        case memoryMiB = "memory_mib", freeMiB = "free_mib"
    }

    public init(name: String, description: String, kind: String, memoryMiB: Int, freeMiB: Int) {
        self.name = name; self.description = description; self.kind = kind; self.memoryMiB = memoryMiB; self.freeMiB = freeMiB
    }
}

/// Where a loaded model's weights sit, as llama.cpp reported it.
public struct PlacementFacts: Codable, Sendable, Equatable {
    /// the devices layers could be offloaded to
    public var devices: [DeviceFacts]
    /// "offloaded 19/19 layers to GPU": layers on offload devices, of those that can be
    public var offloadedLayers: Int?
    public var offloadableLayers: Int?
    /// model buffer per device (CPU, CPU_Mapped, RPC0 …), MiB
    public var buffersMiB: [String: Double]

    enum CodingKeys: String, CodingKey {
        case devices
        case offloadedLayers = "offloaded_layers", offloadableLayers = "offloadable_layers"
        case buffersMiB = "buffers_mib"
    }

    public init(devices: [DeviceFacts], offloadedLayers: Int? = nil, offloadableLayers: Int? = nil, buffersMiB: [String: Double]) {
        self.devices = devices; self.offloadedLayers = offloadedLayers; self.offloadableLayers = offloadableLayers
        self.buffersMiB = buffersMiB
    }
}


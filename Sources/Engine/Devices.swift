import CLlama
import Core
import Foundation
import Synchronization

/// The devices ggml knows in this process, and ggml-rpc-server endpoints added to them.
public enum Devices {
    /// Every device, in ggml's order.
    public static func all() -> [DeviceFacts] { handles().map(facts) }

    static func handles() -> [ggml_backend_dev_t] {
        LlamaRuntime.initialize()
        return (0..<ggml_backend_dev_count()).compactMap { ggml_backend_dev_get($0) }
    }

    static func isRPC(_ d: ggml_backend_dev_t) -> Bool {
        String(cString: ggml_backend_dev_name(d)).hasPrefix("RPC")
    }

    static func facts(_ d: ggml_backend_dev_t) -> DeviceFacts {
        var free = 0, total = 0
        ggml_backend_dev_memory(d, &free, &total)
        let kind: String
        if isRPC(d) { kind = "rpc" } else {
            switch ggml_backend_dev_type(d) {
            case GGML_BACKEND_DEVICE_TYPE_CPU: kind = "cpu"
            case GGML_BACKEND_DEVICE_TYPE_GPU: kind = "gpu"
            case GGML_BACKEND_DEVICE_TYPE_IGPU: kind = "igpu"
            default: kind = "accel"
            }
        }
        return DeviceFacts(name: String(cString: ggml_backend_dev_name(d)),
                           description: String(cString: ggml_backend_dev_description(d)), kind: kind,
                           memoryMiB: total >> 20, freeMiB: free >> 20)
    }

    /// The devices a model loads onto besides the CPU: the local accelerators, and the devices
    /// of the given RPC endpoints (none of other endpoints registered in this process).
    static func offload(rpc endpoints: [String]) -> [ggml_backend_dev_t] {
        handles().filter { d in
            if isRPC(d) { return endpoints.contains(String(cString: ggml_backend_dev_description(d))) }
            return ggml_backend_dev_type(d) != GGML_BACKEND_DEVICE_TYPE_CPU
        }
    }

    /// Whether something still listens at a ggml-rpc-server's endpoint. (A server serves one
    /// client at a time, so a live one this process is connected to does not answer a second
    /// handshake; a dead one refuses the connection.)
    public static func isListening(_ endpoint: String) -> Bool {
        RPCProbe.connects(endpoint)
    }

    /// whether this llama.cpp was built with the RPC backend
    public static var supportsRPC: Bool { llama_supports_rpc() && tt_rpc_proto_major() >= 0 }

    /// The protocol version this llama.cpp's RPC backend speaks.
    public static var rpcProtocol: String { "\(tt_rpc_proto_major()).\(tt_rpc_proto_minor()).\(tt_rpc_proto_patch())" }

    /// Registers ggml-rpc-server endpoints (HOST:PORT) as devices, as llama.cpp's own `--rpc`
    /// does (the RPC backend's `ggml_backend_rpc_add_server`, found through the backend
    /// registry). Each server is checked first — reachable, and speaking this llama.cpp's
    /// protocol — because ggml aborts the process on either failure; the error names the
    /// endpoint and what to do. An endpoint this process registered already is skipped (the
    /// workbench names where a model will load before loading it: one handshake is enough).
    public static func addRPCServers(_ endpoints: [String]) throws {
        let endpoints = endpoints.filter { e in registered.withLock { !$0.contains(e) } }
        guard !endpoints.isEmpty else { return }
        LlamaRuntime.initialize()
        guard supportsRPC, let reg = ggml_backend_reg_by_name("RPC"),
              let proc = ggml_backend_reg_get_proc_address(reg, "ggml_backend_rpc_add_server") else {
            throw ThinktopError.invalidArgument("this llama.cpp was built without the RPC backend: rebuild it with GGML_RPC=ON (`make llama` does)")
        }
        typealias AddServer = @convention(c) (UnsafePointer<CChar>?) -> ggml_backend_reg_t?
        let add = unsafeBitCast(proc, to: AddServer.self)
        for endpoint in endpoints {
            let version = try RPCProbe.hello(endpoint)
            guard version.major == tt_rpc_proto_major(), version.minor <= tt_rpc_proto_minor() else {
                throw ThinktopError.rpcFailed(endpoint: endpoint, reason: "it speaks RPC protocol \(version.major).\(version.minor).\(version.patch) and this thinktop's llama.cpp \(rpcProtocol): run a ggml-rpc-server built from the same llama.cpp (`make rpc-server`)")
            }
            guard let server = endpoint.withCString({ add($0) }) else {
                throw ThinktopError.rpcFailed(endpoint: endpoint, reason: "it offers no device")
            }
            ggml_backend_register(server)
            registered.withLock { _ = $0.insert(endpoint) }
        }
    }

    /// endpoints registered as devices by this process
    private static let registered = Mutex<Set<String>>([])
}

/// The first exchange of ggml's RPC protocol, done by thinktop before ggml connects (ggml
/// aborts on an unreachable server or a protocol mismatch): connect with a timeout, send
/// HELLO (command 14, 24 capability bytes all 0 — no transport upgrade), read the version.
enum RPCProbe {
    struct Version { var major: Int32, minor: Int32, patch: Int32 }

    static func hello(_ endpoint: String, timeoutSeconds: Int = 5) throws -> Version {
        guard let colon = endpoint.lastIndex(of: ":"), let port = UInt16(endpoint[endpoint.index(after: colon)...]),
              colon > endpoint.startIndex else {
            throw ThinktopError.invalidArgument("--rpc: \(String(reflecting: endpoint)) is not HOST:PORT")
        }
        let host = String(endpoint[..<colon])
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw ThinktopError.rpcFailed(endpoint: endpoint, reason: "the host name does not resolve")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw ThinktopError.rpcFailed(endpoint: endpoint, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        // connect without blocking longer than the timeout
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        if connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
            throw unreachable(endpoint, errno)
        }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&p, 1, Int32(timeoutSeconds * 1000)) == 1 else {
            throw ThinktopError.rpcFailed(endpoint: endpoint, reason: "no answer within \(timeoutSeconds) s: is ggml-rpc-server running there, and the port open?")
        }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        if err != 0 { throw unreachable(endpoint, err) }
        _ = fcntl(fd, F_SETFL, flags)
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))

        var request = [UInt8](repeating: 0, count: 1 + 8 + 24)
        request[0] = 14                                 // RPC_CMD_HELLO
        withUnsafeBytes(of: UInt64(24).littleEndian) { for (i, b) in $0.enumerated() { request[1 + i] = b } }
        guard sendAll(fd, request) else {
            throw ThinktopError.rpcFailed(endpoint: endpoint, reason: "the connection closed during the handshake: is it a ggml-rpc-server?")
        }
        guard let reply = receive(fd, 8 + 28) else {
            throw ThinktopError.rpcFailed(endpoint: endpoint, reason: "no valid handshake answer: is it a ggml-rpc-server of this llama.cpp (`make rpc-server`)?")
        }
        let size = reply.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << UInt64(8 * $1.offset) }
        guard size == 28 else {
            throw ThinktopError.rpcFailed(endpoint: endpoint, reason: "its handshake answer has \(size) bytes, this llama.cpp expects 28: build ggml-rpc-server from the same llama.cpp (`make rpc-server`)")
        }
        return Version(major: Int32(reply[8]), minor: Int32(reply[9]), patch: Int32(reply[10]))
    }

    /// Whether a TCP connection to the endpoint is accepted within a second.
    static func connects(_ endpoint: String) -> Bool {
        guard let colon = endpoint.lastIndex(of: ":"), let port = UInt16(endpoint[endpoint.index(after: colon)...]) else { return false }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(String(endpoint[..<colon]), String(port), &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK)
        if connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&p, 1, 1000) == 1 else { return false }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        return err == 0
    }

    private static func unreachable(_ endpoint: String, _ code: Int32) -> ThinktopError {
        .rpcFailed(endpoint: endpoint, reason: "\(String(cString: strerror(code)).lowercased()): start ggml-rpc-server there (`make rpc-server` builds it) or correct --rpc")
    }

    private static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    private static func receive(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var off = 0
        while off < count {
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + off, count - off, 0) }
            if n <= 0 { return nil }
            off += n
        }
        return out
    }
}

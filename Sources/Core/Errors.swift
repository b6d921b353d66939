/// Errors a person sees. Each renders as one line naming the problem and what to do.
public enum ThinktopError: Error, Equatable, CustomStringConvertible {
    case invalidArgument(String)
    case modelNotFound(String)
    case notGGUF(String)
    case modelLoadFailed(path: String, reason: String)
    case contextCreationFailed(String)
    case promptTooLong(tokens: Int, context: Int)
    case tokenizationFailed(String)
    case decodeFailed(position: Int, code: Int32)
    case contextFull(Int)
    case kvEditFailed(String)
    case stateRestoreFailed(String)
    case embeddingUnavailable(String)
    case traceUnwritable(path: String, reason: String)
    case traceUnreadable(path: String, reason: String)
    case io(String)
    /// a server response that cannot be imported (file, line when known)
    case importFailed(file: String, line: Int?, reason: String)
    /// a ggml-rpc-server that cannot be used (unreachable, another protocol, gone mid-run)
    case rpcFailed(endpoint: String, reason: String)
    /// an inference server that cannot be used (down, an HTTP error, a malformed stream,
    /// another model than the vocabulary's); `url` names the endpoint asked
    case serverFailed(url: String, reason: String)
    /// the person stopped it (Ctrl-C while a model loads)
    case interrupted(String)

    public var description: String {
        switch self {
        case .invalidArgument(let s): return s
        case .modelNotFound(let p):
            return "model file not found: \(p) (pass --model PATH, or run `make model` for the default model)"
        case .notGGUF(let p): return "not a GGUF model file: \(p) (thinktop loads GGUF files, as llama.cpp does)"
        case .modelLoadFailed(let p, let r): return "cannot load model \(p): \(r)"
        case .contextCreationFailed(let r): return "cannot create a llama.cpp context: \(r)"
        case .promptTooLong(let t, let c):
            return "the prompt is \(t) tokens but the context holds \(c): shorten the prompt or raise --ctx"
        case .tokenizationFailed(let r): return "tokenization failed: \(r)"
        case .decodeFailed(let p, let code): return "llama.cpp could not decode at position \(p) (code \(code))"
        case .contextFull(let n): return "the context is full (\(n) tokens): raise --ctx"
        case .kvEditFailed(let r): return "KV-cache edit failed: \(r)"
        case .stateRestoreFailed(let r): return "restoring the sequence state failed: \(r)"
        case .embeddingUnavailable(let r): return "token embeddings unavailable: \(r)"
        case .traceUnwritable(let p, let r): return "cannot write the trace \(p): \(r)"
        case .traceUnreadable(let p, let r): return "cannot read the trace \(p): \(r)"
        case .io(let s): return s
        case .rpcFailed(let e, let r): return "RPC server \(e): \(r)"
        case .serverFailed(let u, let r): return "inference server \(u): \(r)"
        case .interrupted(let s): return s
        case .importFailed(let f, let l, let r): return "cannot import \(f)\(l.map { " line \($0)" } ?? ""): \(r)"
        }
    }
}

/// The services strategies get, backed by the session.
final class SessionEnvironment: StrategyEnvironment {
    unowned let session: DecodingSession
    init(_ session: DecodingSession) { self.session = session }

    var vocabularySize: Int { session.backend.vocabularySize }
    func piece(_ token: Int32) -> [UInt8] { session.backend.piece(token) }
    func text(of token: Int32) -> String { session.pieceText(token) }
    func tokenize(_ text: String) throws -> [Int32] { try session.backend.tokenize(text, addSpecial: false) }
    func isEndOfGeneration(_ token: Int32) -> Bool { session.backend.isEndOfGeneration(token) }
    func vocabularyTokens(rule: String, _ scan: () throws -> [Int32]) rethrows -> [Int32] {
        try session.backend.vocabularyScans.tokens(rule: rule, scan)
    }
    func uniform() -> Double { session.state.strategyRNG.nextUnit() }

    func event(_ kind: EventKind, _ detail: String, ms: Double?) { session.emitStrategyEvent(kind, detail, ms: ms) }

    /// Embeddings come from the model behind the ledger. Its input is made ready when a
    /// strategy that feeds embeddings is prepared, so these never use the context.
    private var source: EmbeddingSource {
        get throws {
            guard let s = session.kv.base as? EmbeddingSource, session.kv.capabilities.contains(.embeddingInput) else {
                throw ThinktopError.embeddingUnavailable("this backend cannot feed embeddings")
            }
            return s
        }
    }

    func embedding(of token: Int32) throws -> [Float] { try source.inputEmbedding(of: token) }

    func mixture(ids: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>) throws -> [Float] {
        try source.inputMixture(ids: ids, weights: weights)
    }
}

import Core
import Foundation

/// The tokenizer of a served model taken from the server itself, for when its GGUF is not at
/// hand: `/tokenize` (with the pieces' bytes) and `/detokenize`. What it cannot know:
/// - every token's text: pieces are learned from what the server says (tokenized text, each
///   streamed token and its alternatives carry their bytes) and asked for otherwise;
/// - which tokens end generation: the end-of-sequence token the server names in `/props`,
///   and every token after which a stream ended with `stop_type: eos` (the session then ends
///   the run one step later, at the server's word);
/// - the whole vocabulary's listing: strategies that scan it (NoWait, CGRS) are unavailable.
final class ServerVocabulary: TokenVocabulary {
    let vocabularySize: Int
    private let http: ServerHTTP
    private var pieces: [Int32: [UInt8]] = [:]
    private var endOfGeneration: Set<Int32> = []
    private var tokenized: [String: [Int32]] = [:]

    init(http: ServerHTTP, vocabularySize: Int, eos: String?) throws {
        self.http = http
        self.vocabularySize = vocabularySize
        if let eos, !eos.isEmpty, let id = try tokenizeOnServer(eos, addSpecial: false).only { endOfGeneration.insert(id) }
    }

    func tokenize(_ text: String, addSpecial: Bool) throws -> [Int32] {
        let key = (addSpecial ? "1" : "0") + text
        if let t = tokenized[key] { return t }
        let t = try tokenizeOnServer(text, addSpecial: addSpecial)
        tokenized[key] = t
        return t
    }

    private func tokenizeOnServer(_ text: String, addSpecial: Bool) throws -> [Int32] {
        let answer = try http.call("/tokenize", body: ["content": text, "add_special": addSpecial, "parse_special": true,
                                                       "with_pieces": true])
        guard let list = answer["tokens"] as? [Any] else {
            throw http.failure("/tokenize", "no tokens in the answer: is this llama-server?")
        }
        return list.compactMap { entry in
            if let n = entry as? NSNumber { return n.int32Value }
            guard let o = entry as? [String: Any], let id = (o["id"] as? NSNumber)?.int32Value else { return nil }
            if let s = o["piece"] as? String { pieces[id] = Array(s.utf8) }
            else if let b = o["piece"] as? [Any] { pieces[id] = b.compactMap { ($0 as? NSNumber)?.uint8Value } }
            return id
        }
    }

    func piece(_ token: Int32) -> [UInt8] {
        if let p = pieces[token] { return p }
        // a token never seen in a tokenized text or a stream: ask (a piece that is part of a
        // character cannot come back as JSON text; it stays unknown)
        let text = (try? http.call("/detokenize", body: ["tokens": [Int(token)]]))?["content"] as? String
        let p = text.map { Array($0.utf8) } ?? []
        pieces[token] = p
        return p
    }

    func learn(_ token: Int32, bytes: [UInt8]) { if pieces[token] == nil { pieces[token] = bytes } }
    func learnEndOfGeneration(_ token: Int32) { endOfGeneration.insert(token) }

    func isEndOfGeneration(_ token: Int32) -> Bool { endOfGeneration.contains(token) }
    /// Control tokens the server renders as no text: what is not end of generation shows as
    /// its (empty) piece, so nothing hidden shows.
    func isControl(_ token: Int32) -> Bool { endOfGeneration.contains(token) }

    func singleToken(_ text: String) -> Int32? { (try? tokenize(text, addSpecial: false))?.only }
}

extension Array {
    /// the element of a one-element array
    var only: Element? { count == 1 ? first : nil }
}

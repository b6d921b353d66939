import Testing
@testable import Core

@Suite("Text across token boundaries")
struct TextTests {
    @Test("a character split over tokens appears whole with the token that completes it")
    func utf8Split() {
        var s = UTF8Stream()
        let text = "naïve — 東京"
        let bytes = Array(text.utf8)
        var out = ""
        var emitted: [String] = []
        for b in bytes {
            let piece = s.append([b])
            emitted.append(piece)
            out += piece
        }
        #expect(out == text)
        // "東" is three bytes: nothing for the first two, the character with the third
        let i = Array("naïve — ".utf8).count
        #expect(emitted[i] == "" && emitted[i + 1] == "" && emitted[i + 2] == "東")
        #expect(s.flush() == "")
    }

    @Test("an unfinished character is flushed as a replacement character, invalid bytes pass")
    func utf8Invalid() {
        var s = UTF8Stream()
        #expect(s.append([0xE6, 0x9D]) == "")
        #expect(s.flush() == "\u{FFFD}")
        #expect(s.append([0xFF, 0x41]) == "\u{FFFD}A")
    }

    @Test("stop strings: text that might start one is held back, the stop itself never shown")
    func stopMatcher() {
        var m = StopMatcher(stops: ["\nProblem:"])
        var shown = ""
        var r = m.feed("Answer: 9")
        shown += r.emit
        #expect(r.stop == nil && shown == "Answer: 9")
        r = m.feed("\nProb")
        shown += r.emit
        #expect(r.stop == nil && shown == "Answer: 9")
        r = m.feed("lem: next")
        shown += r.emit
        #expect(r.stop == "\nProblem:" && shown == "Answer: 9")
        var n = StopMatcher(stops: ["\nProblem:"])
        #expect(n.feed("\nPro").emit == "")
        #expect(n.feed("ud").emit == "\nProud")
        #expect(n.feed("\n").emit == "")
        #expect(n.flush() == "\n")
    }

    @Test("phase: open and close markers as tokens or as text split over tokens")
    func phases() {
        let markers = ThinkMarkers(openToken: 1, closeToken: 2)
        var t = PhaseTracker(markers: markers, initial: .answer)
        #expect(t.observe(token: 5, text: "hi") == .answer)
        #expect(t.observe(token: 1, text: "<think>") == .thinking)
        #expect(t.observe(token: 5, text: " hm") == .thinking)
        #expect(t.observe(token: 2, text: "</think>") == .thinking)
        #expect(t.phase == .answer)
        #expect(t.observe(token: 5, text: "9") == .answer)

        var u = PhaseTracker(markers: ThinkMarkers(), initial: .thinking)
        #expect(u.observe(token: 10, text: "so 9.\n</") == .thinking)
        #expect(u.phase == .thinking)
        #expect(u.observe(token: 11, text: "think") == .thinking)
        #expect(u.observe(token: 12, text: ">\n") == .thinking)
        #expect(u.phase == .answer)
        #expect(u.observe(token: 13, text: "Answer") == .answer)
    }

    @Test("the prompt decides the starting phase")
    func initialPhase() {
        let m = ThinkMarkers()
        #expect(m.initialPhase(prompt: "Q\n<think>\n") == .thinking)
        #expect(m.initialPhase(prompt: "<think>a</think>\nAnswer: 1\nQ") == .answer)
        #expect(m.initialPhase(prompt: "<think>a</think>\nQ\n<think>") == .thinking)
        #expect(m.initialPhase(prompt: "plain") == .answer)
    }
}

@Suite("SHA-256")
struct SHA256Tests {
    @Test("FIPS 180-4 test vectors")
    func vectors() {
        #expect(SHA256.hex(of: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var s = SHA256()
        let chunk = [UInt8](repeating: 0x61, count: 1000)
        for _ in 0..<1000 { s.update(chunk) }
        #expect(s.finalize() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

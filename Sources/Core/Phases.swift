import Foundation

/// Where a token stands in the model's reasoning.
public enum Phase: String, Codable, Sendable, CaseIterable {
    case prompt, thinking, answer, done
}

/// What the model was fed at a position.
public enum InputKind: String, Codable, Sendable {
    /// the sampled token
    case explicit
    /// a mixture of token embeddings (latent thinking)
    case latent
    /// a token a strategy or the user forced instead of the sampled one
    case forced
}

/// The markers that open and close thinking: the model's own tokens where its vocabulary
/// has them, else text matched in the generated stream.
public struct ThinkMarkers: Sendable, Equatable, Codable {
    public var open: String
    public var close: String
    public var openToken: Int32?
    public var closeToken: Int32?

    public init(open: String = "<think>", close: String = "</think>", openToken: Int32? = nil, closeToken: Int32? = nil) {
        self.open = open
        self.close = close
        self.openToken = openToken
        self.closeToken = closeToken
    }

    /// Markers resolved against a backend's vocabulary (single special tokens when present).
    public static func resolve(open: String = "<think>", close: String = "</think>", backend: ModelBackend) -> ThinkMarkers {
        ThinkMarkers(open: open, close: close, openToken: backend.singleToken(open), closeToken: backend.singleToken(close))
    }

    /// The phase generation starts in after `prompt`: thinking when the prompt leaves a
    /// think block open, else answer.
    public func initialPhase(prompt: String) -> Phase {
        guard let o = prompt.range(of: open, options: .backwards) else { return .answer }
        if let c = prompt.range(of: close, options: .backwards), c.lowerBound > o.lowerBound { return .answer }
        return .thinking
    }
}

/// Follows the phase token by token. A marker belongs to thinking: the open marker starts
/// it and the close marker is its last token.
public struct PhaseTracker: Sendable, Equatable {
    public let markers: ThinkMarkers
    public private(set) var phase: Phase
    private var tail = ""

    public init(markers: ThinkMarkers, initial: Phase) {
        self.markers = markers
        self.phase = initial
    }

    /// Returns the phase of this token; `phase` is then the phase of the next one.
    public mutating func observe(token: Int32, text: String) -> Phase {
        if phase != .thinking {
            if token == markers.openToken || matches(text, markers.open) {
                phase = .thinking
                return .thinking
            }
            return phase
        }
        if token == markers.closeToken || matches(text, markers.close) {
            phase = .answer
            return .thinking
        }
        return .thinking
    }

    /// Text markers may be split over tokens: match on a short rolling tail.
    private mutating func matches(_ text: String, _ marker: String) -> Bool {
        guard !marker.isEmpty else { return false }
        tail += text
        if tail.contains(marker) {
            tail = ""
            return true
        }
        let keep = max(markers.open.count, markers.close.count)
        if tail.count > keep { tail = String(tail.suffix(keep)) }
        return false
    }
}

/// Entropy statistics over blocks: a sliding window of tokens, and reasoning steps
/// (text between blank lines).
public struct BlockStatistics: Sendable, Equatable {
    public let window: Int
    private var ring: [Double]
    private var count = 0
    private var head = 0
    public private(set) var reasoningStep = 0
    private var stepSum = 0.0
    private var stepCount = 0
    private var lastText = ""

    public init(window: Int = 32) {
        precondition(window >= 2)
        self.window = window
        ring = [Double](repeating: 0, count: window)
    }

    public mutating func add(entropy: Double, text: String) {
        ring[head] = entropy
        head = (head + 1) % window
        count = min(count + 1, window)
        stepSum += entropy
        stepCount += 1
        // a blank line ends the current reasoning step
        let joined = lastText + text
        if joined.contains("\n\n") {
            reasoningStep += 1
            stepSum = 0
            stepCount = 0
            lastText = ""
        } else {
            lastText = String(joined.suffix(1))
        }
    }

    /// Mean entropy over the last `window` tokens.
    public var windowMean: Double {
        guard count > 0 else { return 0 }
        var s = 0.0
        for i in 0..<count { s += ring[(head - 1 - i + window) % window] }
        return s / Double(count)
    }

    /// Least-squares slope of entropy per token over the window (negative: settling).
    public var trend: Double {
        guard count >= 2 else { return 0 }
        let n = Double(count)
        var sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
        for i in 0..<count {
            let x = Double(i)
            let y = ring[(head - count + i + window) % window]
            sx += x; sy += y; sxx += x * x; sxy += x * y
        }
        let den = n * sxx - sx * sx
        return den == 0 ? 0 : (n * sxy - sx * sy) / den
    }

    /// Mean entropy of the reasoning step in progress (0 right after a blank line).
    public var stepMean: Double { stepCount == 0 ? 0 : stepSum / Double(stepCount) }
}

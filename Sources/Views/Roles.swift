/// The semantic roles cells are drawn with. Theme files (Themes/*.theme) give each role its
/// colours; a role a theme does not name falls back to `text`. Keep this list and the
/// themes in step.
public enum Role {
    public static let text = "text"
    public static let dim = "dim"
    public static let border = "pane.border"
    public static let title = "pane.title"
    public static let statusBar = "status.bar"
    public static let statusRunning = "status.running"
    public static let statusPaused = "status.paused"
    public static let statusDone = "status.done"
    public static let notice = "notice"
    public static let keyHint = "key.hint"
    /// entropy buckets, 0 (certain) … 7 (most uncertain): `entropy(bucket)`
    public static let entropyBuckets = 8
    public static func entropy(_ bucket: Int) -> String { "entropy.\(max(0, min(entropyBuckets - 1, bucket)))" }
    public static let phaseThinking = "phase.thinking"
    public static let phaseAnswer = "phase.answer"
    public static let tokenLatent = "token.latent"
    public static let tokenForced = "token.forced"
    public static let tokenSuppressed = "token.suppressed"
    public static let tokenCursor = "token.cursor"
    public static let sparkEntropy = "sparkline.entropy"
    public static let sparkConfidence = "sparkline.confidence"
    /// the part of an entropy band above its lower end (a server's top-k: the entropy lies in the band)
    public static let sparkBand = "sparkline.band"
    public static let gaugeUsed = "gauge.used"
    public static let gaugeFree = "gauge.free"
    public static let gaugeForced = "gauge.forced"
    public static let kvPrompt = "kv.prompt"
    public static let kvThinking = "kv.thinking"
    public static let kvAnswer = "kv.answer"
    public static let kvLatent = "kv.latent"
    public static let kvEvicted = "kv.evicted"
    public static let kvFree = "kv.free"
    public static let kvSWA = "kv.swa"
    public static let kvAttention = "kv.attention"
    public static let strategyOn = "strategy.on"
    public static let strategyOff = "strategy.off"
    public static let strategyUnavailable = "strategy.unavailable"
    public static let topkBar = "topk.bar"
    public static let topkChosen = "topk.chosen"
    public static let help = "help.text"
    /// the alternative highlighted in the top-k inspector while picking one
    public static let topkSelected = "topk.selected"
    /// the mark in the text where another branch forks off
    public static let branchFork = "branch.fork"
    /// the selected row of the branch list
    public static let branchSelected = "branch.selected"
    /// the compare view's two sides (their sparklines) and a summary cell where the right differs
    public static let compareLeft = "compare.left"
    public static let compareRight = "compare.right"
    public static let compareDiffers = "compare.differs"

    /// Every role, for theme validation and the theme files' documentation.
    public static var all: [String] {
        [text, dim, border, title, statusBar, statusRunning, statusPaused, statusDone, notice, keyHint]
            + (0..<entropyBuckets).map(entropy)
            + [phaseThinking, phaseAnswer, tokenLatent, tokenForced, tokenSuppressed, tokenCursor, sparkEntropy,
               sparkConfidence, sparkBand, gaugeUsed, gaugeFree, gaugeForced, kvPrompt, kvThinking, kvAnswer, kvLatent,
               kvEvicted, kvFree, kvSWA, kvAttention, strategyOn, strategyOff, strategyUnavailable, topkBar, topkChosen, help]
            + [topkSelected, branchFork, branchSelected, compareLeft, compareRight, compareDiffers]
    }
}

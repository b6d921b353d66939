/// Where each part of the workbench goes for a terminal of a given size (DESIGN.md §6):
///
/// ```
/// status bar ─────────────────────────────────────────────── (top row)
/// ┌ Decoding ───────────────────────────┐┌ Strategies ──────┐
/// │ tokens, coloured by entropy         ││                  │
/// └─────────────────────────────────────┘└──────────────────┘
/// ┌ Signals ────────────────────────────┐┌ Budget ──────────┐
/// │ entropy and confidence sparklines   │└──────────────────┘
/// └─────────────────────────────────────┘┌ Top-k ───────────┐
/// ┌ KV cache ───────────────────────────┐│                  │
/// │ global / swa bands, legend          ││                  │
/// └─────────────────────────────────────┘└──────────────────┘
/// key hints ──────────────────────────────────────────────── (bottom row)
/// ```
///
/// The pane rectangles are the outer rectangles of bordered boxes (the pane draws inside
/// `Box.inner`); the status and key bars are single rows. Rectangles tile the screen
/// without overlapping. The right column takes 30% of the width (32…44 columns) from 100
/// columns up and shrinks to a quarter plus 4 (at least 20) below, so the decoding pane
/// keeps most of a narrow terminal. Taller terminals give the signals two rows per
/// sparkline, the budget two more detail rows, and the top-k inspector the rest.
public struct WorkbenchLayout: Equatable, Sendable {
    public static let minimumWidth = 60
    public static let minimumHeight = 16

    public var statusBar: Rect
    public var decoding: Rect
    /// the entropy and confidence sparkline rows
    public var signals: Rect
    public var kvMap: Rect
    public var strategies: Rect
    public var budget: Rect
    public var topK: Rect
    public var keyBar: Rect

    /// nil when the terminal is smaller than `minimumWidth` × `minimumHeight`.
    /// `strategyRows`: how many rows the strategy panel would like; it grows up to that
    /// when the top-k inspector keeps at least 7 rows.
    public init?(width: Int, height: Int, strategyRows: Int? = nil) {
        guard width >= Self.minimumWidth, height >= Self.minimumHeight else { return nil }
        let body = height - 2
        let right = width >= 100 ? min(44, max(32, width * 3 / 10)) : max(20, width / 4 + 4)
        let left = width - right
        let tall = body >= 30

        statusBar = Rect(x: 0, y: 0, width: width, height: 1)
        keyBar = Rect(x: 0, y: height - 1, width: width, height: 1)

        let signalsHeight = tall ? 6 : 4
        let kvHeight = 5
        let decodingHeight = body - signalsHeight - kvHeight
        decoding = Rect(x: 0, y: 1, width: left, height: decodingHeight)
        signals = Rect(x: 0, y: decoding.maxY, width: left, height: signalsHeight)
        kvMap = Rect(x: 0, y: signals.maxY, width: left, height: kvHeight)

        let budgetHeight = tall ? 6 : 4
        let fixed = min(10, max(3, (body - budgetHeight) / 2))
        let strategiesHeight = strategyRows.map { max(fixed, min($0 + 2, body - budgetHeight - 7)) } ?? fixed
        strategies = Rect(x: left, y: 1, width: right, height: strategiesHeight)
        budget = Rect(x: left, y: strategies.maxY, width: right, height: budgetHeight)
        topK = Rect(x: left, y: budget.maxY, width: right, height: body - strategiesHeight - budgetHeight)
    }

    /// Every rectangle with its name, in drawing order.
    public var named: [(name: String, rect: Rect)] {
        [("status", statusBar), ("decoding", decoding), ("signals", signals), ("kv", kvMap),
         ("strategies", strategies), ("budget", budget), ("topk", topK), ("keys", keyBar)]
    }
}

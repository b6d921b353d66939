import Core

/// Everything the panes draw, copied from the session between steps (or built from a
/// trace in replay). Panes are pure functions of (snapshot, rectangle, glyphs) → cells.
public struct WorkbenchSnapshot: Sendable {
    public enum Status: Equatable, Sendable {
        case loading(String)
        case running
        case paused
        case done(String)          // the stop reason
        case replay(playing: Bool, speed: Double)
    }

    /// A strategy's row in the panel. `available == false` rows are shown as unavailable.
    public struct StrategyRow: Equatable, Sendable {
        public var key: Character
        public var name: String
        public var enabled: Bool
        public var available: Bool
        /// key parameters or live state, e.g. "δ 0.90  C 0.93 p 0.30"
        public var detail: String
        /// why the strategy is unavailable, e.g. "needs embedding input, which this backend
        /// does not offer"; shown instead of `detail` when `available == false`
        public var reason: String?
        /// every parameter with its value and what it takes (the pane's editor lists them)
        public var parameters: [ParameterRow]
        /// the id `set` names it by ("kv" for the KV policy's row)
        public var id: String
        public init(key: Character, name: String, enabled: Bool, available: Bool, detail: String, reason: String? = nil,
                    parameters: [ParameterRow] = [], id: String = "") {
            self.key = key; self.name = name; self.enabled = enabled; self.available = available; self.detail = detail
            self.reason = reason; self.parameters = parameters; self.id = id
        }
    }

    /// A parameter as the strategy pane's editor shows it.
    public struct ParameterRow: Equatable, Sendable {
        public var name: String
        public var value: String
        public var kind: ParameterKind
        public var help: String
        public init(name: String, value: String, kind: ParameterKind, help: String) {
            self.name = name; self.value = value; self.kind = kind; self.help = help
        }
    }

    /// The strategy pane has the keys: this row (index into `strategies`) and this parameter
    /// of it are selected.
    public struct StrategyFocus: Equatable, Sendable {
        public var row: Int
        public var parameter: Int
        public init(row: Int = 0, parameter: Int = 0) { self.row = row; self.parameter = parameter }
    }

    /// Text at the end of the run that is not part of the visible output (a stop string and
    /// what followed it): from the record at `position` (its `position` field), keeping that
    /// record's first `visibleBytes` UTF-8 bytes.
    public struct HiddenTail: Sendable, Equatable {
        public var position: Int
        public var visibleBytes: Int
        public init(position: Int, visibleBytes: Int) { self.position = position; self.visibleBytes = visibleBytes }
    }

    public var modelName: String
    /// e.g. "Q4_K_M" or the model description
    public var modelDetail: String
    public var status: Status
    public var records: [StepRecord]
    /// the problem being solved (the demo's question or the user's prompt, before any chat
    /// template), drawn dimmed above the generated text; "" draws nothing
    public var problem: String = ""
    /// the end of the run the decoding pane does not draw (the stop string), nil: none
    public var hiddenFrom: HiddenTail? = nil
    public var promptTokens: Int
    public var contextSize: Int
    public var tokensPerSecond: Double
    /// the index into `records` the cursor is on; nil follows the tail
    public var cursor: Int?
    /// thinking-token budget, nil when none is set
    public var thinkingBudget: Int?
    /// step index at which thinking was force-ended, if it was
    public var forcedEndAt: Int?
    public var strategies: [StrategyRow]
    /// KV-cache facts for the map
    public var kvBytesPerToken: Int
    /// sliding window of the model's SWA layers (0: none)
    public var slidingWindow: Int
    /// positions removed from the cache (evictions), shown as evicted
    public var evicted: Set<Int>
    /// positions the cache holds, from the ledger (nil: every position not evicted)
    public var kvHeld: Int?
    /// the KV policy in force, as a spec ("streaming:sinks=4:recent=512"); nil: none
    public var kvPolicy: String?
    /// the oldest position the sliding-window layers still attend to (nil: the last
    /// `slidingWindow` positions)
    public var slidingFrom: Int?
    /// attention each position has received so far (by position; empty without the tap)
    public var attention: [Float] = []
    /// a transient line for the status bar (errors, "rewound to 812", …)
    public var notice: String?
    /// a short warning that stays in the status bar (e.g. "trace stopped" after a failed write)
    public var alert: String?
    /// where the run comes from when not from a local model: "server 127.0.0.1:8080",
    /// "imported chat.json (OpenAI chat completion)"
    public var origin: String?
    /// what the KV pane says instead of (contextSize 0) or under its map: "held in the
    /// server's slot", "no KV cache: imported from a server's answer"
    public var kvNote: String?
    public var showHelp: Bool

    // MARK: branches

    /// every branch of the run (empty or one: no branches to show)
    public var branches: [BranchRow] = []
    /// the branch whose records are shown
    public var currentBranch = 0
    /// steps of the shown branch where other branches fork off it → their ids (marked in
    /// the text)
    public var forkMarks: [Int: [Int]] = [:]
    /// how the shown branch's siblings keep their cache, for the status bar: "shared",
    /// "kept on host", "rebuilt on demand" (nil: no branches)
    public var branchCache: String?
    /// the branch list overlay is open, with this row (index into `branches`) selected
    public var showBranches = false
    public var branchSelection = 0
    /// the top-k pane's highlighted alternative (0-based row) while picking one; nil: none
    public var topKSelection: Int?
    /// the compare view, when open: it replaces the panes
    public var compare: CompareView?
    /// the `:` command line, while it is open
    public var commandLine: CommandLineView?
    /// the help overlay lists the command line's commands instead of the keys
    public var showCommands = false
    /// the strategy pane's selection while it has the keys (nil: the keys toggle strategies)
    public var strategyFocus: StrategyFocus?

    public init(modelName: String, modelDetail: String = "", status: Status, records: [StepRecord] = [],
                promptTokens: Int, contextSize: Int, tokensPerSecond: Double = 0, cursor: Int? = nil,
                thinkingBudget: Int? = nil, forcedEndAt: Int? = nil, strategies: [StrategyRow] = [],
                kvBytesPerToken: Int = 0, slidingWindow: Int = 0, evicted: Set<Int> = [], notice: String? = nil,
                showHelp: Bool = false) {
        self.modelName = modelName; self.modelDetail = modelDetail; self.status = status; self.records = records
        self.promptTokens = promptTokens; self.contextSize = contextSize; self.tokensPerSecond = tokensPerSecond
        self.cursor = cursor; self.thinkingBudget = thinkingBudget; self.forcedEndAt = forcedEndAt
        self.strategies = strategies; self.kvBytesPerToken = kvBytesPerToken; self.slidingWindow = slidingWindow
        self.evicted = evicted; self.notice = notice; self.showHelp = showHelp
    }

    /// The record the inspector and sparklines centre on: the cursor's, else the newest.
    public var focusIndex: Int? { cursor ?? (records.isEmpty ? nil : records.count - 1) }
}

/// A branch's row in the branch list.
public struct BranchRow: Sendable, Equatable {
    public var id: Int
    public var parent: Int?
    public var forkStep: Int
    /// what began it ("token \" But\" (#2)", "strategies nowait (was none)", "rewind", "start")
    public var cause: String
    /// its steps (records), from step 0
    public var length: Int
    public var phase: Phase
    /// the answer it commits to, if any (`AnswerExtractor`)
    public var answer: String?
    /// how its cache is kept: "current", "shared", "kept on host", "rebuilt on demand" (replay: "")
    public var cache: String
    public init(id: Int, parent: Int?, forkStep: Int, cause: String, length: Int, phase: Phase, answer: String?, cache: String) {
        self.id = id; self.parent = parent; self.forkStep = forkStep; self.cause = cause; self.length = length
        self.phase = phase; self.answer = answer; self.cache = cache
    }
}

/// Two branches side by side from the step where they part.
public struct CompareView: Sendable {
    public struct Side: Sendable {
        /// "branch 0 (start)", "branch 2: token \" But\" (#2)"
        public var title: String
        public var records: [StepRecord]
        public var stats: BranchStatistics
        public init(title: String, records: [StepRecord], stats: BranchStatistics) {
            self.title = title; self.records = records; self.stats = stats
        }
    }
    public var left: Side
    public var right: Side
    /// the first step where the two differ (their records agree before it)
    public var forkStep: Int
    /// lines the two texts are scrolled down by
    public var scroll: Int = 0
    public init(left: Side, right: Side, forkStep: Int) { self.left = left; self.right = right; self.forkStep = forkStep }
}

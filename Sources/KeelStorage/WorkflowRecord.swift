public import KeelCore

/// Where a workflow execution is. Stored as TEXT; the names are the wire's `status` values.
public enum WorkflowStatus: String, Sendable, CaseIterable {
    /// Waiting for a worker that serves it.
    case pending
    /// A worker is running (or replaying) it.
    case running
    /// Unwound while it waits for a timer, a signal, a child or a long activity.
    case suspended
    case completed, failed, cancelled
    /// Stopped by a non-determinism error; `workflow/resume` runs it again after a fix.
    case parked
    /// Ended by `workflow/terminate`: at once, no compensation.
    case terminated
    /// Ended by its execution or run timeout.
    case timedOut

    public var isTerminal: Bool { Self.terminal.contains(self) }

    /// The statuses an execution never leaves.
    public static let terminal: Set<WorkflowStatus> = [.completed, .failed, .cancelled, .terminated, .timedOut]
}

/// One workflow execution.
public struct WorkflowRecord: Sendable {
    public var id: String
    public var name: String
    public var input: JSONValue
    public var status: WorkflowStatus
    /// Continue-as-new count: the journal in use is this generation's.
    public var generation: Int
    /// Dispatch count, the fencing token: steps from an older run are refused.
    public var epoch: Int
    public var output: JSONValue?
    public var failure: JSONValue?
    public var parentId: String?
    public var parentGeneration: Int?
    public var parentSeq: Int?
    public var cancelRequested: Bool
    /// Why the cancel was asked (`workflow/cancel`'s `reason`), kept with the request so that the
    /// run that carries it out, on any node and after any restart, fails with it; nil: no cancel,
    /// or none given.
    public var cancelReason: String?
    public var contractHash: String?
    public var createdAt: EpochMillis
    public var updatedAt: EpochMillis
    /// When the whole execution (every continue-as-new generation) times out, if it has an execution timeout.
    public var executionDeadline: EpochMillis?
    /// The run timeout: each generation's limit, from the moment it starts.
    public var runTimeoutMs: Int64?
    /// When the current generation times out, if it has a run timeout.
    public var runDeadline: EpochMillis?
    /// The worker build this execution is pinned to (docs/versioning.md): set by its first run on
    /// a versioned worker, never changed after. Nil: unpinned.
    public var buildId: String?
    /// Its runs' place among the ready executions of its name, and the default of its activity
    /// steps and children (docs/protocol.md, "Priorities and fairness").
    public var precedence: Precedence = .standard
    /// Typed values a `workflow/list` query finds it by (an object; nil when none are set), set at
    /// start and upserted by its code (docs/protocol.md, "Search attributes and memo").
    public var searchAttributes: JSONValue?
    /// Unindexed data shown with it (an object; nil when none is set).
    public var memo: JSONValue?
    /// The latest value of each query its code published: `{name: {value, seq, atMs}}` (nil:
    /// none; docs/protocol.md, "Queries and signal-with-start").
    public var queryValues: JSONValue?
    /// The outcome of each update its code answered: `{updateId: {name, status, result | failure,
    /// seq, atMs}}` (nil: none; docs/protocol.md, "Updates").
    public var updateOutcomes: JSONValue?

    public init(id: String, name: String, input: JSONValue, contractHash: String?, now: EpochMillis) {
        self.id = id
        self.name = name
        self.input = input
        self.status = .pending
        self.generation = 0
        self.epoch = 0
        self.cancelRequested = false
        self.contractHash = contractHash
        self.createdAt = now
        self.updatedAt = now
    }
}

/// The state of one journal entry.
public enum StepStatus: String, Sendable {
    case scheduled, completed, failed
}

/// One durable step of a workflow execution.
public struct JournalEntry: Sendable {
    public var workflowId: String
    public var generation: Int
    public var seq: Int
    /// `activity`, `sleep`, `signal`, `child`, `now`, `random`, `uuid`, `patch`.
    public var kind: String
    public var name: String
    public var input: JSONValue
    public var status: StepStatus
    public var result: JSONValue?
    public var failure: JSONValue?
    /// The activity task carrying out an `activity` step.
    public var taskId: String?
    /// When a `sleep` ends or a `signal` wait times out.
    public var wakeAt: EpochMillis?
    public var contractHash: String?
    public var createdAt: EpochMillis
    public var completedAt: EpochMillis?

    public init(workflowId: String, generation: Int, seq: Int, kind: String, name: String, input: JSONValue, now: EpochMillis) {
        self.workflowId = workflowId
        self.generation = generation
        self.seq = seq
        self.kind = kind
        self.name = name
        self.input = input
        self.status = .scheduled
        self.createdAt = now
    }
}

/// A signal sent to a workflow; buffered until a `signal` step consumes it, in arrival order.
public struct SignalRecord: Sendable {
    public var id: Int64
    public var workflowId: String
    public var name: String
    public var payload: JSONValue
    public var createdAt: EpochMillis

    public init(id: Int64, workflowId: String, name: String, payload: JSONValue, createdAt: EpochMillis) {
        self.id = id
        self.workflowId = workflowId
        self.name = name
        self.payload = payload
        self.createdAt = createdAt
    }
}

/// Filters for listing workflows.
public struct WorkflowFilter: Sendable {
    public var status: WorkflowStatus?
    public var name: String?
    public var createdAfter: EpochMillis?
    public var createdBefore: EpochMillis?
    /// Continue after this (createdAt, id) position.
    public var after: (EpochMillis, String)?
    public var limit: Int = 100
    /// Newest first (`after` then continues towards older ones); default oldest first.
    public var newestFirst = false
    /// A `workflow/list` query over fields and search attributes, ANDed with the fields above.
    public var query: SearchQuery?

    public init() {}
}

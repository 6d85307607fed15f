public import KeelCore

/// Where a task is in its life. Stored as TEXT; the names are the wire's `status` values.
public enum TaskStatus: String, Sendable, CaseIterable {
    case scheduled, running, completed, failed, timedOut, cancelled

    /// True once the task will never run again.
    public var isTerminal: Bool {
        switch self {
        case .scheduled, .running: false
        case .completed, .failed, .timedOut, .cancelled: true
        }
    }
}

/// One durable activity task: a one-shot `activity/call` or, later, a workflow's activity step.
public struct ActivityTaskRecord: Sendable {
    public var id: String
    public var name: String
    public var input: JSONValue
    public var idempotencyKey: String?
    public var status: TaskStatus
    /// Attempts claimed so far; the running attempt's number while `status == .running`.
    public var attempt: Int
    public var retryPolicy: RetryPolicy
    public var timeouts: ActivityTimeouts
    public var output: JSONValue?
    /// `{type, message, retryable, details}` of the last failure.
    public var failure: JSONValue?
    public var heartbeatDetails: JSONValue?
    /// Hash of the contract the input was checked against.
    public var contractHash: String?
    public var createdAt: EpochMillis
    /// Earliest time the next attempt may start (after a retry backoff).
    public var visibleAt: EpochMillis
    public var startedAt: EpochMillis?
    public var completedAt: EpochMillis?
    /// For a workflow's activity step: the execution, its generation and the step's seq.
    public var workflowId: String?
    public var generation: Int?
    public var stepSeq: Int?
    /// Its place among the ready tasks of its name: priority, then its fairness key's turn.
    public var precedence: Precedence = .standard

    public init(
        id: String, name: String, input: JSONValue, idempotencyKey: String?, retryPolicy: RetryPolicy,
        timeouts: ActivityTimeouts, contractHash: String?, now: EpochMillis
    ) {
        self.id = id
        self.name = name
        self.input = input
        self.idempotencyKey = idempotencyKey
        self.status = .scheduled
        self.attempt = 0
        self.retryPolicy = retryPolicy
        self.timeouts = timeouts
        self.contractHash = contractHash
        self.createdAt = now
        self.visibleAt = now
    }
}

extension ActivityTaskRecord {
    /// The order a store answers claimed tasks in: higher priority first, then oldest ready first.
    public static func claimOrder(_ a: ActivityTaskRecord, _ b: ActivityTaskRecord) -> Bool {
        (-a.precedence.priority, a.visibleAt, a.createdAt, a.id) < (-b.precedence.priority, b.visibleAt, b.createdAt, b.id)
    }
}

/// What a write did. Writes report this instead of assuming they applied, so a multi-node store
/// can say "someone else got there first" (DESIGN.md, "Store").
public enum WriteOutcome: Sendable, Equatable {
    case applied
    /// The row's attempt or status no longer matches: a later attempt or a cancel won.
    case stale
    /// A row with the same unique key exists (an idempotency key, a task id).
    case duplicate
    case notFound
}

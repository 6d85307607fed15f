public import KeelCore

/// One `workflow/reset`: generation `fromGeneration` of an execution was replaced by
/// `toGeneration`, which starts with the old journal's entries 1…`toStep` (docs/execution-model.md,
/// "Reset"). Both runs' histories show it.
public struct WorkflowReset: Sendable {
    public var workflowId: String
    public var fromGeneration: Int
    public var toGeneration: Int
    /// The last journal seq kept; 0 keeps nothing.
    public var toStep: Int
    public var reason: String
    /// Who asked: the connection's credential label (never a secret).
    public var requestedBy: String
    /// How the old run stood when it was reset (`failed`, `running`…).
    public var previousStatus: WorkflowStatus
    /// The old run's output or failure, kept because the execution's row now describes the new run.
    public var previousOutput: JSONValue?
    public var previousFailure: JSONValue?
    public var createdAt: EpochMillis
    /// Execution data the new generation starts with, written with the reset: what the kept
    /// steps had published (query values, update answers), without what the dropped ones added.
    public var executionData: [ExecutionDataValue] = []

    public init(
        workflowId: String, fromGeneration: Int, toStep: Int, reason: String, requestedBy: String,
        previousStatus: WorkflowStatus, previousOutput: JSONValue? = nil, previousFailure: JSONValue? = nil,
        now: EpochMillis
    ) {
        self.workflowId = workflowId
        self.fromGeneration = fromGeneration
        self.toGeneration = fromGeneration + 1
        self.toStep = toStep
        self.reason = reason
        self.requestedBy = requestedBy
        self.previousStatus = previousStatus
        self.previousOutput = previousOutput
        self.previousFailure = previousFailure
        self.createdAt = now
    }
}

/// One execution data column and the value to store in it (nil clears it).
public struct ExecutionDataValue: Sendable {
    public var field: ExecutionData
    public var value: JSONValue?

    public init(_ field: ExecutionData, _ value: JSONValue?) {
        self.field = field
        self.value = value
    }
}

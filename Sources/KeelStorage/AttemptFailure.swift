public import KeelCore

/// The failure of one attempt of an activity task that was retried after it: the task row
/// keeps only the latest failure, these keep each one (table `attempt_failures`).
public struct AttemptFailure: Sendable, Equatable {
    public var taskId: String
    public var attempt: Int
    /// The attempt's failure object (`type`, `message`, …) as the task recorded it.
    public var failure: JSONValue
    public var failedAt: EpochMillis
    /// When the attempt started (the task's `startedAt` when it was retried); `nil` for rows
    /// written before migration 9.
    public var startedAt: EpochMillis?

    public init(taskId: String, attempt: Int, failure: JSONValue, failedAt: EpochMillis, startedAt: EpochMillis? = nil) {
        self.taskId = taskId
        self.attempt = attempt
        self.failure = failure
        self.failedAt = failedAt
        self.startedAt = startedAt
    }
}

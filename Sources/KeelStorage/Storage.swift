public import KeelCore

/// Everything durable goes through this interface. SQLite implements it now; PostgreSQL later.
///
/// Writes are synchronous closures with no `await` inside, run by a single writer that batches
/// concurrent writes into one transaction and one fsync (group commit). A write's closure runs in
/// a savepoint: if it throws, only its own changes roll back and only its caller sees the error.
/// The call returns after the batch's COMMIT is durable.
public protocol Storage: Sendable {
    /// Runs `body` in the next group commit and returns its result once committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (any StorageTransaction) throws -> T) async throws -> T
    /// Runs `body` on a read snapshot; never waits for the writer.
    func read<T: Sendable>(_ body: @escaping @Sendable (any StorageReader) throws -> T) async throws -> T
    /// The store's clock, the one that timers and leases use.
    func now() -> EpochMillis
    /// Flushes and closes. Calls after this fail with `.storageFailure`.
    func close() async
}

/// Reads, available inside writes too.
public protocol StorageReader {
    func activityTask(id: String) throws -> ActivityTaskRecord?
    func activityTask(idempotencyKey: String) throws -> ActivityTaskRecord?
    /// Every task not yet terminal, oldest first: what a restart must resume.
    func openActivityTasks() throws -> [ActivityTaskRecord]
    /// Tasks by status, newest first, for inspection.
    func activityTasks(status: TaskStatus?, limit: Int) throws -> [ActivityTaskRecord]
}

/// Changes, each reporting a ``WriteOutcome``.
public protocol StorageTransaction: StorageReader {
    /// Inserts a new task; `.duplicate` if its id or idempotency key exists.
    func insertActivityTask(_ task: ActivityTaskRecord) throws -> WriteOutcome
    /// Claims attempt `attempt` (must be the stored attempt + 1) of a scheduled task.
    func claimActivityTask(id: String, attempt: Int, now: EpochMillis) throws -> WriteOutcome
    /// Records the end of attempt `attempt`: terminal status with output or failure.
    func finishActivityTask(
        id: String, attempt: Int, status: TaskStatus, output: JSONValue?, failure: JSONValue?, now: EpochMillis
    ) throws -> WriteOutcome
    /// Puts a running attempt back to scheduled, to run again at `visibleAt`.
    func rescheduleActivityTask(id: String, attempt: Int, visibleAt: EpochMillis, failure: JSONValue?) throws
        -> WriteOutcome
    /// Stores the latest heartbeat details of the running attempt.
    func recordHeartbeat(id: String, attempt: Int, details: JSONValue?) throws -> WriteOutcome
    /// Ends a scheduled or running task as cancelled.
    func cancelActivityTask(id: String, now: EpochMillis) throws -> WriteOutcome
}

/// How hard a commit tries to reach the disk.
public enum Durability: String, Sendable, CaseIterable {
    /// fsync on every commit (SQLite `synchronous=FULL`): the default.
    case full
    /// fsync at WAL checkpoints only (`synchronous=NORMAL`): a power loss may drop recent commits.
    case normal
}

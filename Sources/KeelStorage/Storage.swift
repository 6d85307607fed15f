public import KeelCore

/// The SQLite file's transactions, under ``SQLiteStore``: what ``SQLiteStorage`` runs on its
/// writer thread and read connections. The engine never sees it: it speaks ``Store``'s intents,
/// which `SQLiteStore` turns into these writes and PostgreSQL into its own (docs/architecture.md,
/// "One engine path"). Offline tools and storage tests use it directly.
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

    func workflow(id: String) throws -> WorkflowRecord?
    /// Whether a signal with request key `key` was ever delivered to `workflowId`, consumed or
    /// not, the workflow open or ended.
    func signalDelivered(workflowId: String, key: String) throws -> Bool
    /// Executions matching `filter`, oldest first, after its cursor.
    func workflows(_ filter: WorkflowFilter) throws -> [WorkflowRecord]
    /// The search attribute keys some execution has (``SearchAttributeKeys``).
    func searchAttributeKeys() throws -> [String]
    /// How many executions match `filter`'s name and creation window, per status (its status,
    /// cursor and limit are ignored): one scan of the matching rows, stopped after `atMost + 1`
    /// of them when given (the counts' sum then exceeds `atMost` and each is a lower bound).
    func workflowCounts(_ filter: WorkflowFilter, atMost: Int?) throws -> [WorkflowStatus: Int]
    /// A generation's journal in `seq` order.
    func journal(workflowId: String, generation: Int) throws -> [JournalEntry]
    /// The lowest-seq scheduled entry of `kind` named `name`: a waiting signal step, say.
    func scheduledEntry(workflowId: String, generation: Int, kind: String, name: String) throws -> JournalEntry?
    /// The oldest signal named `name` not yet consumed.
    func pendingSignal(workflowId: String, name: String) throws -> SignalRecord?
    /// The failures of a task's retried attempts, by attempt (the last failure is on the task).
    func attemptFailures(taskId: String) throws -> [AttemptFailure]
    /// Every pinned contract (docs/security.md, "Contracts are owned").
    func contractPins() throws -> [ContractPin]
    /// An execution's resets, oldest first.
    func workflowResets(workflowId: String) throws -> [WorkflowReset]
    /// Up to `limit` events of an execution's stream after `offset`, in order.
    func streamEvents(workflowId: String, after offset: Int64, limit: Int) throws -> [StreamEvent]
    func schedule(id: String) throws -> ScheduleRecord?
    /// Schedules by id after `cursor`, at most `limit`.
    func schedules(after cursor: String?, limit: Int) throws -> [ScheduleRecord]
}

/// Changes, each reporting a ``WriteOutcome``.
public protocol StorageTransaction: StorageReader {
    /// Inserts a new task; `.duplicate` if its id or idempotency key exists.
    func insertActivityTask(_ task: ActivityTaskRecord) throws -> WriteOutcome
    /// Pins a contract: `.duplicate` if the name is pinned already, unless `replacing` (an admin's change).
    func pinContract(_ pin: ContractPin, replacing: Bool) throws -> WriteOutcome
    /// Forgets a name's pinned contract; `.notFound` if it had none.
    func releaseContract(kind: String, name: String) throws -> WriteOutcome
    /// Keeps the failure of an attempt that is retried (replacing one kept for the same attempt).
    func recordAttemptFailure(_ failure: AttemptFailure) throws
    /// Stores the latest heartbeat details of the running attempt.
    func recordHeartbeat(id: String, attempt: Int, details: JSONValue?) throws -> WriteOutcome

    /// Inserts a new execution; `.duplicate` if its id exists.
    func insertWorkflow(_ workflow: WorkflowRecord) throws -> WriteOutcome
    /// Writes status, output, failure, generation, epoch and input of an execution, only if its
    /// stored epoch is still `expectedEpoch` (fencing: a stale owner cannot overwrite).
    func updateWorkflow(_ workflow: WorkflowRecord, expectedEpoch: Int) throws -> WriteOutcome
    /// Appends a journal entry; `.duplicate` if its seq exists; `.stale` if `epoch` is not the
    /// execution's current epoch (checked in the same statement).
    func insertJournalEntry(_ entry: JournalEntry, epoch: Int?) throws -> WriteOutcome
    /// Appends an event to its execution's stream; its offset, or nil when it was not stored (a
    /// step's event already there, an activity attempt no longer running, no such execution).
    func appendStreamEvent(_ event: StreamEvent) throws -> Int64?
    /// Replaces the execution's search attributes and their index rows, if run `epoch` is its
    /// current one (docs/protocol.md, "Search attributes and memo").
    func setSearchAttributes(workflowId: String, epoch: Int, _ attributes: JSONValue?) throws -> WriteOutcome
    /// Replaces the execution's memo or query values, if run `epoch` is its current one.
    func setExecutionData(_ field: ExecutionData, workflowId: String, epoch: Int, _ value: JSONValue?) throws -> WriteOutcome
    /// Records a scheduled entry's outcome.
    func completeJournalEntry(
        workflowId: String, generation: Int, seq: Int, status: StepStatus, result: JSONValue?, failure: JSONValue?,
        now: EpochMillis
    ) throws -> WriteOutcome
    /// Buffers a signal; returns its id, or nil when a signal with the same `key` was buffered for
    /// the workflow before (a client's resend: nothing is stored twice).
    func insertSignal(workflowId: String, name: String, payload: JSONValue, key: String?, now: EpochMillis) throws -> Int64?
    /// Marks a signal consumed by a journal entry.
    func consumeSignal(id: Int64, generation: Int, seq: Int) throws -> WriteOutcome
    /// Replaces generation `reset.fromGeneration` by `reset.toGeneration`, only if the execution is
    /// still at that generation and at `expectedEpoch`: copies journal entries 1…`toStep`, makes the
    /// execution `pending` at epoch `expectedEpoch + 1` (the old run's steps are refused), cancels the
    /// old generation's open activity tasks, gives back signals it consumed after `toStep`, and
    /// records the reset. `.stale` when the execution moved on, `.notFound` when it does not exist.
    func resetWorkflow(_ reset: WorkflowReset, expectedEpoch: Int, now: EpochMillis) throws -> WriteOutcome
    /// Stores a new schedule; `.duplicate` if its id exists.
    func insertSchedule(_ schedule: ScheduleRecord) throws -> WriteOutcome
    /// Replaces a schedule's row, only if its stored version is still `expectedVersion` (`.stale`
    /// otherwise; `.notFound` once deleted).
    func updateSchedule(_ schedule: ScheduleRecord, expectedVersion: Int) throws -> WriteOutcome
    /// Deletes a schedule; `.notFound` if it had none.
    func deleteSchedule(id: String) throws -> WriteOutcome
}

/// How hard a commit tries to reach the disk.
public enum Durability: String, Sendable, CaseIterable {
    /// fsync on every commit (SQLite `synchronous=FULL`): the default.
    case full
    /// fsync at WAL checkpoints only (`synchronous=NORMAL`): a power loss may drop recent commits.
    case normal
}

import KeelCore
import KeelStorage

/// Where the workflow path keeps its durable state: this process's SQLite ``Storage``
/// (``LocalLedger``) or the ``Store`` that several nodes share (``SharedLedger``).
///
/// Each method is one intent of the engine, committed in one transaction. Outcomes are the local
/// store's: `.stale` means the write's fence failed (another run or node owns the execution now,
/// or the step already ended).
protocol WorkflowLedger: Sendable {
    func execution(_ id: String) async throws -> WorkflowRecord?
    /// Executions matching `filter`, each with the node that runs it now (shared stores; nil here
    /// when it waits, and always on SQLite).
    func executions(_ filter: WorkflowFilter) async throws -> [(record: WorkflowRecord, node: String?)]
    /// A generation's journal in `seq` order.
    func journal(_ id: String, generation: Int) async throws -> [JournalEntry]
    /// Whether a signal with request key `key` was delivered to execution `id`, open or ended.
    func signalDelivered(_ id: String, key: String) async throws -> Bool
    /// The search attribute keys some execution has.
    func searchAttributeKeys() async throws -> [String]
    func task(_ id: String) async throws -> ActivityTaskRecord?
    /// The failure of every retried attempt of each task, by task id, oldest attempt first.
    func attemptFailures(_ taskIds: [String]) async throws -> [String: [AttemptFailure]]
    /// An execution's resets, oldest first.
    func resets(_ id: String) async throws -> [WorkflowReset]

    /// Stores a new execution; `.duplicate` if its id exists.
    func start(_ record: WorkflowRecord) async throws -> WriteOutcome
    /// Signal-with-start: stores a new execution with `signal` buffered for it, in one
    /// transaction. When the id exists the start is `.duplicate`; a store that can delivers the
    /// signal to the open execution in the same transaction and answers how (else `signal` is nil
    /// and the caller delivers it).
    func start(_ record: WorkflowRecord, signal: StartSignal) async throws -> (start: WriteOutcome, signal: SignalDelivery?)
    /// Writes status, generation, epoch, input, output, failure and the cancel flag, fenced by
    /// `expectedEpoch`: a new run, a continue-as-new, a park, a resume.
    func update(_ record: WorkflowRecord, expectedEpoch: Int) async throws -> WriteOutcome
    /// Parks a run that waits for something: `.changedMeanwhile` when an event came since the run
    /// saw `seenEvents` (shared stores only; run it again).
    func suspend(_ record: WorkflowRecord, seenEvents: Int?) async throws -> ChangeOutcome
    /// Ends the execution with `record`'s terminal status, completes its parent's step, and fails
    /// and cancels what `closing` lists, in one transaction.
    func finish(_ record: WorkflowRecord, closing: ClosingSteps?) async throws -> WriteOutcome
    /// Appends a step fenced by the run's epoch, with what it sets going in the same transaction.
    /// - Throws: `workflowAlreadyExists` when a child's id is taken (nothing is stored).
    func append(_ entry: JournalEntry, epoch: Int, effect: StepEffect?) async throws -> WriteOutcome
    /// Appends a signal step: completed with the oldest buffered signal of its name (consumed in
    /// the same transaction), or scheduled to wait for one.
    func receiveSignal(_ entry: JournalEntry, epoch: Int) async throws -> (WriteOutcome, JournalEntry)
    /// Completes a waiting signal step with the oldest buffered signal of its name, if one is
    /// buffered; nil otherwise.
    func takeSignal(_ entry: JournalEntry, epoch: Int) async throws -> JournalEntry?
    /// Ends a scheduled step (a timer, a cancel, a child's end seen here), fenced by the run's epoch.
    func completeStep(
        _ workflowId: String, generation: Int, seq: Int, epoch: Int, status: StepStatus, result: JSONValue?,
        failure: JSONValue?
    ) async throws -> WriteOutcome
    /// Buffers a signal and wakes the execution. Where the store can, the signal completes a
    /// waiting step of the same transaction, answered here. A `key` the workflow's signals already
    /// hold makes it a resend: nothing is stored, `duplicate` is true.
    func deliverSignal(_ workflowId: String, name: String, payload: JSONValue, key: String?, generation: Int) async throws
        -> SignalDelivery
    /// Marks the execution's cancel as asked, with why; the first reason given stays.
    func requestCancel(_ workflowId: String, reason: String) async throws
    /// Appends an activity attempt's event to its execution's stream, fenced by the attempt.
    func publish(_ event: StreamEvent) async throws -> ChangeOutcome
    /// Up to `limit` events of `id`'s stream after `offset`.
    func streamEvents(_ id: String, after offset: Int64, limit: Int) async throws -> [StreamEvent]
    func cancelTask(_ id: String) async throws -> WriteOutcome
}

/// What a step stores with its journal entry.
enum StepEffect: Sendable {
    /// The activity task of an `activity` step; `claimedBy`: stored claimed by this node.
    case task(ActivityTaskRecord, claimedBy: String?)
    /// The execution of a `child` step.
    case child(WorkflowRecord)
    /// The stream event of a `publish` step.
    case publish(StreamEvent)
    /// The execution's search attributes after an `upsert` step (nil: none left).
    case searchAttributes(JSONValue?)
    /// The execution's memo after an `upsert` step, or its query values after a `query` step
    /// (nil: none left).
    case executionData(ExecutionData, JSONValue?)
}

/// What an execution that ends at once (terminated, timed out) closes with it.
struct ClosingSteps: Sendable {
    /// Scheduled steps, failed with `failure`.
    var failing: [JournalEntry]
    var failure: JSONValue
    /// Activity tasks of those steps, cancelled.
    var cancelledTasks: [String]
}

/// What ``WorkflowLedger/deliverSignal(_:name:payload:key:generation:)`` did.
/// The signal of a signal-with-start (`workflow/start`'s `signal`).
struct StartSignal: Sendable {
    var name: String
    var payload: JSONValue
    /// Deduplicates a resend, as `workflow/signal`'s `requestId`.
    var key: String?
}

struct SignalDelivery {
    /// The waiting step the signal completed in the same write, if any.
    var consumedBy: JournalEntry?
    /// True when a signal with the same key was delivered before: this one was not stored.
    var duplicate = false
}

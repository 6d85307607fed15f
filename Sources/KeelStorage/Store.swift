public import KeelCore

/// The store that several orchestrator nodes can share (docs/decisions/0004-storage-intents.md).
///
/// Unlike ``Storage``, whose closures read, decide and write on SQLite's writer thread, a `Store`
/// takes *intents*: each ``Change`` carries its own fence (a task's attempt, an execution's owner
/// epoch, an execution's event counter) and each backend writes it as conditional statements, so
/// a node that was paused past its lease cannot overwrite the work of the node that took over.
/// Every method is async and may cross a network.
public protocol Store: Sendable {
    /// The store's clock (the database's, on PostgreSQL): leases, timers and deadlines compare
    /// against it, never against a node's own clock.
    func now() async throws -> EpochMillis

    /// Applies `changes` in one transaction and answers one outcome per change, in order. A fence
    /// that fails is an outcome, not an error; an error means nothing of the batch was committed,
    /// or that the commit's outcome is unknown — replaying the same changes is then safe: they
    /// answer `.duplicate`, `.stale` or `.alreadyFinished` and apply nothing twice.
    func apply(_ changes: [Change]) async throws -> [ChangeOutcome]

    /// ``apply(_:)`` that hands its outcome to `completion`, once, instead of suspending the
    /// caller: a caller that need not wait for the commit (a step or a start whose answer is
    /// deferred) keeps no task, and so none of its async frames, while the commit runs
    /// (docs/performance.md, "Starts and steps keep no task while they commit"). `completion` may
    /// run on any thread and must not block.
    /// The default runs ``apply(_:)`` in a task of its own.
    func apply(_ changes: [Change], completion: @escaping @Sendable (Result<[ChangeOutcome], any Error>) -> Void)

    /// Claims up to `request.limit` ready tasks among `request.names` for `node`, oldest first:
    /// each claimed task is `running`, owned by the node, its attempt raised by one. Two nodes
    /// claiming at once never get the same task.
    func claimTasks(_ request: TaskClaim, node: NodeLease) async throws -> [ActivityTaskRecord]

    /// The tasks `node` holds running, oldest first: after a claim whose commit outcome is unknown
    /// (the connection dropped), what the node actually got, so that nothing stays claimed by a
    /// live node that does not know it.
    func ownedTasks(node: NodeLease) async throws -> [ActivityTaskRecord]

    /// The executions `node` holds (claimed or started owned, not yet suspended, released or
    /// ended), by id: after a claim or an owned start whose commit outcome is unknown, what the
    /// node actually holds, so that no execution stays owned by a live node that does not run it.
    func ownedExecutions(node: NodeLease) async throws -> [OwnedExecution]

    /// Claims up to `limit` executions that are ready to run (new, woken by an event, or rescued
    /// from a dead node) for `node`, among workflows named in `names` (nil: any) that `builds`
    /// admits, raising each one's epoch: the previous owner's writes are refused from now on.
    func claimExecutions(names: [String]?, limit: Int, node: NodeLease, builds: BuildChoice) async throws -> [ExecutionState]

    /// Fires up to `limit` due timers, once across every node: each completes its sleep step (or
    /// fails a signal wait with `TimedOut`) and wakes its execution.
    func fireDueTimers(limit: Int, node: NodeLease) async throws -> [FiredTimer]

    /// Open executions no node holds (pending, suspended, parked) whose execution or run deadline
    /// has passed by the store's clock, nearest deadline first, at most `limit`. No owner's timer
    /// ends them, so any node does (``Change/terminateExecution(workflowId:status:failure:)``).
    func overdueExecutions(limit: Int) async throws -> [WorkflowRecord]

    /// Tasks waiting `scheduled` (no attempt running) whose schedule-to-close deadline (created
    /// at plus `scheduleToCloseMs`) or schedule-to-start deadline (ready at plus
    /// `scheduleToStartMs`) has passed by the store's clock, nearest first, at most `limit`. No
    /// node's timer ends a task no node holds, so any node does
    /// (``Change/timeOutWaitingTask(id:attempt:failure:)``).
    func overdueTasks(limit: Int) async throws -> [ActivityTaskRecord]

    /// Up to `limit` events of an execution's stream after `offset`, in order.
    func streamEvents(workflowId: String, after offset: Int64, limit: Int) async throws -> [StreamEvent]

    /// Registers a new node incarnation with a lease of `leaseMillis`, starting now.
    func join(nodeId: String, leaseMillis: Int64) async throws -> NodeLease
    /// Extends the lease to `lease.leaseMillis` from now. `.lost` once it expired or was rescued:
    /// the node must stop acknowledging work and rejoin under a new id.
    func renew(_ lease: NodeLease) async throws -> LeaseState
    /// Ends `lease` now, before it would run out: the node is dead from now on and the next
    /// ``rescue()`` returns whatever it held. For a node that stops, or fails to start, knowingly.
    func leave(_ lease: NodeLease) async throws
    /// Declares every node whose lease expired dead and returns its claimed tasks to `scheduled`
    /// and its executions to `pending` under a raised epoch. Idempotent; safe on every node at once.
    func rescue() async throws -> RescueReport

    func task(id: String) async throws -> ActivityTaskRecord?
    /// The task stored under an idempotency key, whichever node accepted it.
    func task(idempotencyKey: String) async throws -> ActivityTaskRecord?
    /// Every pinned contract (docs/security.md, "Contracts are owned"), by kind and name.
    func contractPins() async throws -> [ContractPin]
    /// A schedule (docs/protocol.md, "Schedules"), or nil.
    func schedule(id: String) async throws -> ScheduleRecord?
    /// Schedules in id order after `cursor`, at most `limit`.
    func schedules(after cursor: String?, limit: Int) async throws -> [ScheduleRecord]
    /// Tasks not yet ended (`scheduled` or `running`, or only `status`), of `name` if given, oldest
    /// first, at most `limit`; and how many match in all.
    func openTasks(status: TaskStatus?, name: String?, limit: Int) async throws -> (tasks: [ActivityTaskRecord], total: Int)
    func execution(id: String) async throws -> ExecutionState?
    /// Those of executions `ids` that have ended (a terminal status), in no particular order: one
    /// read for many callers waiting on executions that run elsewhere.
    func endedExecutions(ids: [String]) async throws -> [WorkflowRecord]
    /// Those of tasks `ids` that have ended (a terminal status), in no particular order: one read
    /// for many callers waiting on tasks that run elsewhere.
    func endedTasks(ids: [String]) async throws -> [ActivityTaskRecord]
    /// Executions matching `filter` (any node's), in its order, after its cursor, each with its owner.
    func executions(_ filter: WorkflowFilter) async throws -> [ExecutionState]
    /// How many executions match `filter` (its status ignored) per status; statuses with none
    /// are absent. Exact unless more than `atMost` match: counting then stops after `atMost + 1`.
    func workflowCounts(_ filter: WorkflowFilter, atMost: Int?) async throws -> [WorkflowStatus: Int]
    /// A generation's journal in `seq` order.
    func journal(workflowId: String, generation: Int) async throws -> [JournalEntry]
    /// The search attribute keys some execution has (``SearchAttributeKeys``).
    func searchAttributeKeys() async throws -> [String]
    /// An execution's resets, oldest first.
    func resets(workflowId: String) async throws -> [WorkflowReset]
    /// The failures of each retried attempt of `taskIds`, by task, oldest attempt first (tasks
    /// with none are absent).
    func attemptFailures(taskIds: [String]) async throws -> [String: [AttemptFailure]]
    /// Signals not yet consumed, oldest first.
    func pendingSignals(workflowId: String) async throws -> [SignalRecord]
    /// Whether a signal with request key `key` was ever delivered to `workflowId`, consumed or
    /// not, the execution open or ended: a resend of it is a duplicate.
    func signalDelivered(workflowId: String, key: String) async throws -> Bool
    func nodes() async throws -> [NodeRecord]
    /// Work waiting for a worker on any node, per name: tasks `scheduled` (queued, or waiting out
    /// a retry backoff) and executions `pending` (no run has taken them yet).
    func backlog() async throws -> Backlog
    /// How many executions are open (pending, running, suspended, parked), per status; statuses
    /// with none are absent. Read from an index on open statuses, for gauges at scrape time.
    func openExecutionCounts() async throws -> [WorkflowStatus: Int]

    /// Wake-up hints: an element soon after another node (or this one) commits work that may be
    /// ready to claim. Coalesced and lossy — polling stays the truth — and empty on stores that
    /// have none. Ends when the consuming task is cancelled.
    func readyHints() -> AsyncStream<Void>

    /// Ends the store's connections. Calls after this fail with `.storageFailure`.
    func close() async

    /// Whether an identifier (a workflow id, an idempotency key …) may hold U+0000. SQLite
    /// stores text exactly; PostgreSQL's `text` cannot hold it, so a node on it refuses such an
    /// identifier as invalid params rather than fail at the store on every retry.
    var keepsNULInIdentifiers: Bool { get }
}

extension Store {
    /// No hints: a store only polled (SQLite, where one process holds the file).
    public func readyHints() -> AsyncStream<Void> { AsyncStream { $0.finish() } }

    /// Claims up to `limit` ready executions of any name (``claimExecutions(names:limit:node:)``).
    public func claimExecutions(limit: Int, node: NodeLease) async throws -> [ExecutionState] {
        try await claimExecutions(names: nil, limit: limit, node: node, builds: .any)
    }

    /// Claims up to `limit` ready executions named in `names`, whatever their build.
    public func claimExecutions(names: [String]?, limit: Int, node: NodeLease) async throws -> [ExecutionState] {
        try await claimExecutions(names: names, limit: limit, node: node, builds: .any)
    }
}

/// Which executions a claim may take, by the worker build each is pinned to (docs/versioning.md).
public struct BuildChoice: Sendable, Equatable {
    /// Builds whose pinned executions the claiming node can run; nil: every build.
    public var runnable: [String]?
    /// Whether executions not pinned to a build may be claimed.
    public var takesUnpinned: Bool
    /// The build an unpinned execution is pinned to as it is claimed; nil: it stays unpinned.
    public var pinUnpinnedTo: String?

    public init(runnable: [String]?, takesUnpinned: Bool, pinUnpinnedTo: String?) {
        self.runnable = runnable
        self.takesUnpinned = takesUnpinned
        self.pinUnpinnedTo = pinUnpinnedTo
    }

    /// Every execution; the claim pins none.
    public static let any = BuildChoice(runnable: nil, takesUnpinned: true, pinUnpinnedTo: nil)

    /// True when nothing could be claimed.
    public var admitsNothing: Bool { !takesUnpinned && runnable?.isEmpty == true }
}

/// One intent, with its fence.
///
/// Indirect: its cases carry whole records (a task, an execution, a reset), and every async
/// function that holds one keeps it in its task's frame while it waits for the commit; boxed, a
/// change costs a pointer there (docs/performance.md, "Frames held while a step commits").
public indirect enum Change: Sendable {
    /// A new task; `.duplicate` if its id or idempotency key exists.
    case enqueueTask(ActivityTaskRecord)
    /// A new task already claimed by `node` (its first attempt starts at once on a worker of that
    /// node): one commit instead of an enqueue and a claim. `.duplicate` if its id or idempotency
    /// key exists; `.notFound` if `node` holds no live lease (then nothing is stored).
    case enqueueClaimedTask(ActivityTaskRecord, node: String)
    /// Ends running attempt `attempt` with a terminal status. A workflow's task also completes its
    /// journal step (failed unless `status == .completed`) and wakes the execution.
    case finishTask(id: String, attempt: Int, status: TaskStatus, output: JSONValue?, failure: JSONValue?)
    /// Puts running attempt `attempt` back to `scheduled`, claimable again at `runAt`.
    case retryTask(id: String, attempt: Int, runAt: EpochMillis, failure: JSONValue?)
    /// Gives back node `node`'s claim of attempt `attempt`, which never ran (no local worker could
    /// take it, or the node never learnt of the claim): `scheduled` again, claimable now, no failure
    /// recorded, and the attempt number taken back, so a claim that ran nothing costs the task
    /// nothing of its retry budget. Only the claim's owner can release it (`owner_node` must be
    /// `node`, a node incarnation's unique id): a re-sent or late release after another node's
    /// claim is `.stale`. The number taken back was held by no running attempt (the releaser ran
    /// nothing under it), so the next claim reusing it fences every older attempt as before.
    case releaseTask(id: String, attempt: Int, node: String)
    /// Stores the running attempt's latest heartbeat details.
    case recordHeartbeat(id: String, attempt: Int, details: JSONValue?)
    /// Ends a scheduled or running task as cancelled.
    case cancelTask(id: String)
    /// Ends a task waiting `scheduled` under attempt number `attempt` as `timedOut` with
    /// `failure` (a deadline passed while no node held it: ``Store/overdueTasks(limit:)``); a workflow's task
    /// fails its journal step and wakes the execution, as ``finishTask(id:attempt:status:output:failure:)``
    /// does. `.stale` once a node claimed it since (the claim raised the attempt), `.alreadyFinished`
    /// if it ended meanwhile.
    case timeOutWaitingTask(id: String, attempt: Int, failure: JSONValue)
    /// A new execution, `pending` and unowned; `.duplicate` if its id exists.
    case startExecution(WorkflowRecord)
    /// A new execution stored already running under `node`, as its first owner at `record.epoch`
    /// (the node has a worker for its first run): only while the node's lease holds. `.duplicate`
    /// if its id exists; `.notFound` when the lease no longer holds.
    case startClaimedExecution(WorkflowRecord, node: String)
    /// Appends a step to the journal, only while the execution's epoch is `epoch`.
    case appendStep(JournalEntry, epoch: Int)
    /// Ends a scheduled step (a signal received, a step failed by a cancel) by its owner, only
    /// while the execution's epoch is `epoch`; `.duplicate` when the step is no longer scheduled.
    /// Raises no event: the owner that writes it knows.
    case completeStep(
        workflowId: String, generation: Int, seq: Int, epoch: Int, status: StepStatus, result: JSONValue?,
        failure: JSONValue?)
    /// Writes the execution's status, generation, epoch, input, output, failure, cancel flag and
    /// run deadline, only while its epoch is `expectedEpoch` and it has not ended: a new run (the
    /// epoch raised by its owner), a continue-as-new, a park. A parked execution loses its owner.
    case updateExecution(WorkflowRecord, expectedEpoch: Int)
    /// Arms a sleep: at `fireAt` the step `(workflowId, generation, seq)` completes on some node.
    case scheduleTimer(workflowId: String, generation: Int, seq: Int, fireAt: EpochMillis)
    /// Stores a signal and wakes the execution, from any node. In the same transaction the signal
    /// completes the oldest step of the execution's current generation waiting for its name
    /// (`.signalTaken` with that step's seq), unless an older signal of that name is still
    /// buffered: that one is the step's, and the owner's catch-up takes it. `key` makes a resend
    /// after an unknown commit outcome a `.duplicate`.
    case deliverSignal(workflowId: String, name: String, payload: JSONValue, key: String?)
    /// Marks a buffered signal consumed by the step that received it, fenced by epoch. Only a step
    /// this signal completed takes it: `.duplicate` when the signal was consumed already, or step
    /// `(generation, seq)` is not completed with its payload (a timer ended it) or holds another
    /// signal (a delivery completed it meanwhile). Such a signal stays buffered for the next step.
    case consumeSignal(signalId: Int64, workflowId: String, generation: Int, seq: Int, epoch: Int)
    /// Parks the execution until an event arrives, only if its epoch is `epoch` and no event arrived
    /// since the run saw `seenEvents` (else `.changedMeanwhile`: run again).
    case suspend(workflowId: String, epoch: Int, seenEvents: Int)
    /// Ends the execution, fenced by epoch. A child also completes its parent's step and wakes it.
    case finishExecution(
        workflowId: String, epoch: Int, status: WorkflowStatus, output: JSONValue?, failure: JSONValue?)
    /// Gives an execution this node claimed but will not run (no local worker serves it any more,
    /// the node is stopping) back: `pending`, unowned, claimable by any node; fenced by epoch.
    case releaseExecution(workflowId: String, epoch: Int)
    /// Replaces generation `reset.fromGeneration` by `reset.toGeneration`, which keeps the journal's
    /// steps 1…`reset.toStep` (docs/execution-model.md, "Reset"), from any node, fenced by
    /// `expectedEpoch`: the execution becomes `pending` and unowned under a raised epoch (its
    /// owner's later writes are refused), the old generation's open tasks are cancelled and its
    /// timers dropped, signals it consumed after the point are pending again, and the reset is
    /// recorded. `.superseded` when the epoch moved; `.changedMeanwhile` when the generation did
    /// (a continue-as-new, another reset); `.notFound`.
    case resetExecution(WorkflowReset, expectedEpoch: Int)
    /// Runs a parked execution again, from any node: `pending`, unowned (any node may claim it, the
    /// claim raising its epoch), its failure cleared. `.duplicate` when it is open but not parked
    /// (nothing to resume); `.alreadyFinished` once ended; `.notFound`.
    case resumeExecution(workflowId: String)
    /// Wakes a suspended execution that nothing else will wake (the start-up invariant check's
    /// repair, docs/execution-model.md), fenced by `epoch`: `pending`, unowned, claimable by any
    /// node. `.duplicate` when it is open but not suspended; `.alreadyFinished` once ended;
    /// `.superseded` when the epoch moved; `.notFound`.
    case wakeExecution(workflowId: String, epoch: Int)
    /// Asks a running execution to cancel and wakes it.
    case requestCancel(workflowId: String, reason: String?)
    /// Ends an open execution at once as `status` (terminated or timedOut) with `failure`, from
    /// any node: its epoch is raised (its owner's later writes are refused), its scheduled steps
    /// fail with `failure`, its open tasks are cancelled, its timers dropped, and a parent's step
    /// for it fails and wakes the parent. `.alreadyFinished` once ended; `.notFound`.
    case terminateExecution(workflowId: String, status: WorkflowStatus, failure: JSONValue)
    /// Appends an event to its execution's stream (its `offset` is assigned here, one past the
    /// last). A step's event is fenced by `epoch` and stored once (`.duplicate` after); an
    /// activity's by its attempt still running (`.stale` after).
    case publishEvent(StreamEvent, epoch: Int?)
    /// Replaces the execution's search attributes (an object, or nil for none) and their index
    /// rows, only while its epoch is `epoch` (docs/protocol.md, "Search attributes and memo").
    case setSearchAttributes(workflowId: String, epoch: Int, attributes: JSONValue?)
    /// Replaces the execution's memo or query values (an object, or nil for none), only while its
    /// epoch is `epoch`.
    case setExecutionData(ExecutionData, workflowId: String, epoch: Int, value: JSONValue?)
    /// Pins a contract at `pin.version`: version 1 only if the name has no pin, version n only if
    /// the stored pin is at n − 1; else `.duplicate` (another node changed it meanwhile: reload
    /// and decide again).
    case pinContract(ContractPin)
    /// Forgets a name's pinned contract; `.notFound` if it had none.
    case releaseContract(kind: String, name: String)
    /// Replaces what node `nodeId` says of its connected workers (a JSON array), for listings on
    /// any node; `.notFound` if the node never joined.
    case publishWorkers(nodeId: String, workers: JSONValue)
    /// A new schedule; `.duplicate` if its id exists.
    case createSchedule(ScheduleRecord)
    /// Writes a schedule whole as `record.version`, only if the stored one is at `expectedVersion`
    /// (else `.changedMeanwhile`: another node moved it; read it again); `.notFound` once deleted.
    case updateSchedule(ScheduleRecord, expectedVersion: Int)
    /// Deletes a schedule; `.notFound` if there is none. Its workflows keep running.
    case deleteSchedule(id: String)
}

extension Change {
    /// True when the change may make work claimable by some node: a new or retried task, a new,
    /// woken or released execution. Such a commit is followed by a wake-up hint
    /// (``Store/readyHints()``).
    public var mayMakeWorkReady: Bool {
        switch self {
        case .enqueueTask, .retryTask, .releaseTask, .finishTask, .timeOutWaitingTask, .startExecution, .deliverSignal, .finishExecution, .requestCancel,
            .releaseExecution, .resumeExecution, .wakeExecution, .resetExecution, .terminateExecution:
            true
        default:
            false
        }
    }
}

/// What one ``Change`` did.
public enum ChangeOutcome: Sendable, Equatable {
    case applied
    /// The task's attempt moved on or it is no longer running: the caller was superseded.
    case stale(currentAttempt: Int)
    /// The execution's owner epoch moved on: another node owns it now.
    case superseded(currentEpoch: Int)
    /// A conditional suspend saw a newer event counter: an event arrived meanwhile.
    case changedMeanwhile
    /// Already there (same id, key or seq), or already in the state the change asks for.
    case duplicate
    /// Applied, and the signal delivered completed the waiting step `seq` of the execution's
    /// current generation in the same transaction (``Change/deliverSignal(workflowId:name:payload:key:)``).
    case signalTaken(seq: Int)
    /// The task or execution has ended: nothing more can change it.
    case alreadyFinished
    case notFound

    /// Why a change to a task, fenced by `attempt` (nil: by status only), did not apply.
    public static func taskFence(attempt: Int?, currentAttempt: Int, terminal: Bool) -> ChangeOutcome {
        if let attempt, attempt != currentAttempt { return .stale(currentAttempt: currentAttempt) }
        return terminal ? .alreadyFinished : .stale(currentAttempt: currentAttempt)
    }
}

/// Work waiting for a worker, per name (``Store/backlog()``).
public struct Backlog: Sendable, Equatable {
    public var activities: [String: Int]
    public var workflows: [String: Int]
    /// Per activity name, the earliest time one of its waiting tasks is or was runnable from
    /// (`visibleAt`), by the store's clock: the age of the backlog's oldest.
    public var oldestActivities: [String: EpochMillis]
    /// Per workflow name, when its longest-waiting pending execution was queued (last written).
    public var oldestWorkflows: [String: EpochMillis]

    public init(
        activities: [String: Int] = [:], workflows: [String: Int] = [:], oldestActivities: [String: EpochMillis] = [:],
        oldestWorkflows: [String: EpochMillis] = [:]
    ) {
        self.activities = activities
        self.workflows = workflows
        self.oldestActivities = oldestActivities
        self.oldestWorkflows = oldestWorkflows
    }
}

/// Which ready tasks a node wants.
public struct TaskClaim: Sendable {
    /// Activity names this node has workers for.
    public var names: [String]
    public var limit: Int

    public init(names: [String], limit: Int) {
        self.names = names
        self.limit = limit
    }
}

/// An execution as the store knows it, with its owner and event counter.
public struct ExecutionState: Sendable {
    public var record: WorkflowRecord
    /// The node that runs it now; nil while it is pending or suspended.
    public var ownerNode: String?
    /// Raised by every event the execution should notice (a step's outcome, a signal, a fired
    /// timer, a child's end, a cancel request).
    public var eventSeq: Int

    public init(record: WorkflowRecord, ownerNode: String?, eventSeq: Int) {
        self.record = record
        self.ownerNode = ownerNode
        self.eventSeq = eventSeq
    }
}

/// An execution a node holds, as ``Store/ownedExecutions(node:)`` lists it.
public struct OwnedExecution: Sendable, Equatable {
    public var workflowId: String
    /// The epoch its owner writes under.
    public var epoch: Int
    /// When it was last claimed, started or written, by the store's clock.
    public var updatedAt: EpochMillis

    public init(workflowId: String, epoch: Int, updatedAt: EpochMillis) {
        self.workflowId = workflowId
        self.epoch = epoch
        self.updatedAt = updatedAt
    }
}

/// A sleep that fired.
public struct FiredTimer: Sendable, Equatable {
    public var workflowId: String
    public var generation: Int
    public var seq: Int

    public init(workflowId: String, generation: Int, seq: Int) {
        self.workflowId = workflowId
        self.generation = generation
        self.seq = seq
    }
}

/// A node incarnation's lease.
public struct NodeLease: Sendable, Equatable {
    public var nodeId: String
    public var leaseMillis: Int64

    public init(nodeId: String, leaseMillis: Int64) {
        self.nodeId = nodeId
        self.leaseMillis = leaseMillis
    }
}

public enum LeaseState: Sendable, Equatable {
    case held
    case lost
}

/// What a rescue sweep did.
public struct RescueReport: Sendable, Equatable {
    public var deadNodes: [String]
    public var tasksReturned: Int
    public var executionsReturned: Int

    public init(deadNodes: [String] = [], tasksReturned: Int = 0, executionsReturned: Int = 0) {
        self.deadNodes = deadNodes
        self.tasksReturned = tasksReturned
        self.executionsReturned = executionsReturned
    }
}

/// One row of the nodes table.
public struct NodeRecord: Sendable, Equatable {
    public var nodeId: String
    public var alive: Bool
    public var startedAt: EpochMillis
    public var heartbeatAt: EpochMillis
    public var leaseMillis: Int64
    /// The workers the node last published (``Change/publishWorkers(nodeId:workers:)``).
    public var workers: JSONValue?

    public init(
        nodeId: String, alive: Bool, startedAt: EpochMillis, heartbeatAt: EpochMillis, leaseMillis: Int64,
        workers: JSONValue? = nil
    ) {
        self.nodeId = nodeId
        self.alive = alive
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.leaseMillis = leaseMillis
        self.workers = workers
    }
}

extension Store {
    public func apply(_ changes: [Change], completion: @escaping @Sendable (Result<[ChangeOutcome], any Error>) -> Void) {
        Task {
            do { completion(.success(try await apply(changes))) } catch { completion(.failure(error)) }
        }
    }
}

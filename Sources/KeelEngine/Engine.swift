public import KeelCore
import KeelProtocol
import KeelStorage
public import Logging
public import Tracing

/// The durable-execution engine: accepts work, stores it, pushes it to workers, retries it,
/// times it out, and answers callers — every state change committed before it is acted on.
///
/// One actor owns the in-memory view (registry, live tasks, timers); the store is the truth, and
/// ``recover()`` rebuilds the view from it after a restart. Run ``run()`` in a task; it owns every
/// dispatch and the timer loop, and returns after ``shutdown()`` once in-flight work drained.
public actor Engine {
    /// Engine settings.
    public struct Options: Sendable {
        /// The frame limit advertised in `initialize`.
        public var maxMessageBytes = LineFrameDecoder.defaultMaximumFrameBytes
        /// How long graceful shutdown waits for running attempts to report.
        public var drainTimeoutMs: Int64 = 10_000
        /// The longest the timer loop sleeps. It sleeps until the next deadline and is woken when
        /// an earlier one is set, so this bounds only how late a timer fires after the wall clock
        /// jumps forward (or a test moves its clock): not a polling rate.
        public var maxTimerSleepMs: Int64 = 1_000
        /// How long a workflow step that cannot complete yet is held open before it is answered
        /// with `suspend` (the worker then frees the function). Sleeps longer than this suspend at once.
        public var stepHoldMs: Int64 = 5_000
        /// How long an activity step stays held, counted from when it was recorded, while its task
        /// still waits in this node's queue for a worker slot (``stepHoldMs`` at a time). Suspending
        /// such a run frees no activity slot and costs a replay when the task ends: under a backlog
        /// longer than the hold, suspending every waiting run made more work than it saved.
        public var queuedStepHoldMs: Int64 = 60_000
        /// Per-activity concurrency and rate limits, by activity name.
        public var activityLimits: [String: ActivityLimit] = [:]
        /// How often every open execution is checked for a way to wake up (Engine+Invariant.swift);
        /// 0 checks only at recovery and when a run answers `suspended`.
        public var invariantCheckIntervalMs: Int64 = 30_000
        /// Where spans of executions and attempts go (docs/traces.md); nil emits none.
        public var tracer: (any Tracer)?
        /// Where validations of large payloads and compilations of contracts run (``LongWork``),
        /// so that they hold up only their own request; nil runs them on the global executor,
        /// which `keel serve` makes its one event loop (unless `--no-concurrency-on-event-loops`).
        public var longWork: (any TaskExecutor)?
        public init() {}
    }

    public static let protocolVersion = "1"
    public static let version = "0.1.0"

    /// The workflow path's durable state: the node's store.
    let ledger: WorkflowLedger
    /// Where schedules are kept: the node's store.
    let scheduleBook: ScheduleBook
    /// This engine as one node of its store: a SQLite file's only node, or one of several on
    /// PostgreSQL (Engine+Cluster.swift, docs/scaling.md).
    let cluster: ClusterNode
    let clock: any WallClock
    let checker: any ContractChecker
    let options: Options
    let logger: Logger

    var registry = WorkerRegistry()
    var limiter = ActivityLimiter()
    var sessions: [UInt64: Session] = [:]
    /// Non-terminal tasks, by id.
    var tasks: [String: LiveTask] = [:]
    var timers = TimerQueue()
    /// Ends the timer loop's sleep when a timer earlier than every other one is set.
    let timerWake = RoundTrigger()
    /// Rounds the timer loop has run (each fires what is due, then sleeps).
    var timerLoopRounds = 0
    /// Timers held at which the timer loop next removes the void ones from the whole queue.
    var timerCompactionAt = Engine.timerCompactionMinimum
    var waiters: [String: [UInt64: Waiter<ActivityTaskRecord>]] = [:]
    /// Open workflow executions, by id.
    var workflows: [String: LiveWorkflow] = [:]
    /// Executions waiting for a worker, per workflow name.
    var workflowQueue: [String: TaskQueue] = [:]
    /// Every schedule, by id, as last read or written (Engine+Schedules.swift).
    var schedules: [String: ScheduleRecord] = [:]
    /// The time each schedule's timer is armed for: a timer for any other time is stale.
    var scheduleArmedFor: [String: EpochMillis] = [:]
    /// When this cluster node last read the shared schedules (Engine+Cluster.swift).
    var schedulesRefreshedAt: ContinuousClock.Instant?
    /// The schedule whose latest start each workflow is, for the overlap policies.
    var scheduleOfWorkflow: [String: String] = [:]
    /// Schedules being changed, each with whoever waits to change it next.
    var scheduleLocks: [String: [CheckedContinuation<Void, Never>]] = [:]
    var workflowWaiters: [String: [UInt64: Waiter<WorkflowRecord>]] = [:]
    var nextWaiterID: UInt64 = 0
    /// Followers of a stream waiting for more (`workflow/follow`), by workflow id and waiter.
    var streamWaiters: [String: [UInt64: CheckedContinuation<Void, Never>]] = [:]
    /// `workflow/update` callers waiting for an answer, by workflow id and waiter.
    var updateWaiters: [String: [UInt64: CheckedContinuation<Void, Never>]] = [:]
    /// Counts every stream change seen on this node (an event stored, an execution ended): a
    /// follower whose reads were interleaved with one reads again instead of waiting.
    var streamChanges: UInt64 = 0
    /// Tasks whose end is known but not yet committed (the store failed): their waiters get this
    /// 4001 instead of a result, while the commit is retried in the background.
    var unstoredEnds: [String: KeelError] = [:]
    /// Consecutive store failures per execution, for the backoff of its next run.
    var workflowStoreFailures: [String: Int] = [:]
    /// Consecutive `suspended` answers with nothing to wake the execution, for the backoff of its next run.
    var emptySuspensions: [String: Int] = [:]
    /// Workers that answered a run with -32003 (they are draining): no more work goes to them.
    var drainingWorkers: Set<UInt64> = []
    /// Default execution and run timeouts per workflow name, as workers registered them.
    var workflowTimeoutDefaults: [String: WorkflowTimeouts] = [:]
    var shuttingDown = false
    /// Called when a client sends `shutdown`; the server wires it to its graceful stop.
    var onShutdownRequest: (@Sendable () -> Void)?
    var nextWorkerNumber = 0
    /// Owned contracts by kind and name (Engine+Contracts.swift); the store holds the truth.
    var contractPins: [String: ContractPin] = [:]
    /// The last few payloads each contract refused (ContractViolations.swift).
    var contractViolations = ContractViolations()
    /// A claim round is running (Engine+Cluster.swift); `claimAgain` asks it for one more pass.
    var claiming = false
    var claimAgain = false
    /// The names whose shared work may wait unclaimed for a slot of this node (ClaimBacklog.swift).
    var claimBacklog = ClaimBacklog()
    /// Tasks being stored already claimed by this node, not yet live: not "unknown claims".
    var claimsInFlight: Set<String> = []
    /// Executions this node holds in the store but has not made live yet (an owned start under
    /// way, a claimed one whose journal is loading): not "unknown claims".
    var executionsInFlight: Set<String> = []
    /// Execution claims sent and not yet answered: what they took is not known until they answer.
    var executionClaimsRunning = 0
    /// What this node last published of its workers to the shared store, under which node id, when.
    var publishedWorkers: (nodeId: String, workers: JSONValue, at: ContinuousClock.Instant)?
    /// When the cluster loop last read journals for held steps (at most once per poll interval).
    var remoteStepsCheckedAt: ContinuousClock.Instant?
    /// When the cluster loop last swept for executions and tasks past their deadlines (at most
    /// once per ``deadlineSweepInterval``).
    var deadlinesSweptAt: ContinuousClock.Instant?
    /// Open spans and callers' trace context (Engine+Traces.swift).
    var traces = TraceBook()

    let jobs: AsyncStream<@Sendable () async -> Void>
    let jobsContinuation: AsyncStream<@Sendable () async -> Void>.Continuation

    /// An engine that is one node of `cluster.store`: it runs activities and workflow executions
    /// claimed from the store by whichever node has a free worker (docs/scaling.md). A SQLite file
    /// has one node; PostgreSQL has as many as share it.
    public init(
        cluster: ClusterNode, clock: any WallClock, checker: any ContractChecker, options: Options = Options(),
        logger: Logger
    ) {
        self.ledger = WorkflowLedger(store: cluster.store)
        self.scheduleBook = ScheduleBook(store: cluster.store)
        self.cluster = cluster
        self.clock = clock
        self.checker = checker
        self.options = options
        self.logger = logger
        self.limiter.limits = options.activityLimits
        (jobs, jobsContinuation) = AsyncStream.makeStream()
    }

    /// Runs dispatches and timers until ``shutdown()``; cancelling the task stops at once.
    /// (A server runs the two halves as services of its own: ``runWork()``, ``runTimers()``.)
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.runTimers() }
            group.addTask { await self.runWork() }
            // `runWork` ends first (after the drain, or cancelled); the timers end with it.
            _ = await group.next()
            group.cancelAll()
        }
    }

    /// The timer loop (every timeout, backoff, sleep and hold fires from it) and the periodic
    /// invariant check, until the task is cancelled.
    public func runTimers() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.timerLoop() }
            group.addTask { await self.invariantLoop() }
        }
    }

    /// Runs dispatches and, on a cluster, the node's lease and claim loops until ``shutdown()``
    /// has drained; cancelling the task stops at once. Timers need ``runTimers()`` beside it.
    public func runWork() async {
        // Jobs in a task set, not the task group: every dispatch waiting on a worker's answer is a
        // job (TaskSet).
        await TaskSet.run { jobSet in
            await withDiscardingTaskGroup { group in
                let cluster = cluster
                group.addTask { await cluster.membership.run() }
                group.addTask { await self.clusterLoop() }
                group.addTask { await self.remoteWaitLoop() }
                group.addTask {
                    for await _ in cluster.store.readyHints() {
                        cluster.trigger.fire()
                        cluster.waitTrigger.fire()
                    }
                }
                for await job in jobs {
                    jobSet.start(job)
                }
                group.cancelAll()
                jobSet.cancelAll()
            }
        }
    }

    /// Loads the pinned contracts and, once the engine runs, checks the store's suspended
    /// executions for a way to wake. A node recovers nothing of its own: its predecessor's work
    /// is rescued by the lease sweep (at once on SQLite, whose previous node is retired at start)
    /// and claimed again like any other ready work. The check runs in the background: a read per
    /// suspended execution must not hold the start.
    public func recover() async throws {
        try await loadContractPins()
        enqueue { [self] in await self.checkStoredSuspensions() }
    }

    /// The transport of workers Keel spawned itself (`keel serve --worker`): the only ones sent `shutdown`.
    static let spawnedTransport = "stdio"

    /// Stops taking new work, waits (bounded by `drainTimeoutMs`) for running attempts to finish,
    /// notifies the workers it spawned with `shutdown`, then ends ``run()``. Socket and TCP workers
    /// are sent nothing: their connections close and they reconnect. Unfinished tasks stay in the
    /// store for the next start.
    public func shutdown() async {
        guard !shuttingDown else { return }
        shuttingDown = true
        // Held workflow steps are answered with suspend so their runs end now, not after stepHoldMs.
        for id in workflows.keys { releaseHeld(id) }
        // An attempt or a run that answered is drained once its end is committed: giving its
        // claim back while the end's write is away could commit first, refuse the end and run
        // the attempt again.
        let deadline = clock.now() + options.drainTimeoutMs
        while tasks.values.contains(where: { $0.isRunning || $0.phase.state == .ending })
            || workflows.values.contains(where: { live in
                live.phase.isEnding || live.isRunning
            }),
            clock.now() < deadline
        {
            // Cancelled: stop waiting (a cancelled sleep returns at once, so the loop would spin).
            do { try await Task.sleep(for: .milliseconds(10)) } catch { break }
        }
        // `shutdown` means "exit", so it goes only to the workers Keel spawned (stdio) and stops
        // anyway. A socket or TCP worker is not ours to stop: it sees its connection close and
        // reconnects, as Temporal and Restate workers do when their server restarts. Sending it
        // `shutdown` made client libraries exit, and the worker never came back (issue 13).
        await giveBackRunningClaims()
        await releaseOwnedExecutions()
        for w in registry.workers.values where w.transport == Self.spawnedTransport {
            sessions[w.connectionID]?.connection.notify("shutdown", params: [:])
        }
        jobsContinuation.finish()
    }

    func enqueue(_ job: @escaping @Sendable () async -> Void) {
        jobsContinuation.yield(job)
    }

    // MARK: - Sessions

    /// Called by a transport when a connection opens.
    public func attach(_ session: Session) {
        sessions[session.connection.id] = session
        // Backpressure (issue 10, item 5): a worker behind on reading is skipped by dispatch;
        // once its queue drains, the tasks that waited for it are dispatched again.
        let jobs = jobsContinuation
        session.connection.outbound.setDrainHandler { jobs.yield { await self.dispatchAll() } }
    }

    /// Whether connection `id` can take another message now (it is not backed up).
    func canSend(_ id: UInt64) -> Bool {
        !drainingWorkers.contains(id) && sessions[id]?.connection.outbound.hasRoom ?? true
    }

    /// Called by a transport when a connection closes: the worker leaves the registry at once and
    /// its running attempts are retried elsewhere.
    public func detach(_ session: Session) {
        sessions[session.connection.id] = nil
        drainingWorkers.remove(session.connection.id)
        session.connection.closed()
        guard let worker = registry.remove(connectionID: session.connection.id) else { return }
        // Runs on this worker: their workflow/run calls fail with connectionClosed, and runEnded requeues them.
        logger.info("worker disconnected", metadata: ["worker": "\(worker.workerId)", "name": "\(worker.name)"])
        // Running attempts on this connection fail with connectionClosed through their dispatch jobs.
    }

    /// Sets what a client's `shutdown` request triggers.
    public func setShutdownHandler(_ handler: @escaping @Sendable () -> Void) {
        onShutdownRequest = handler
    }

    /// Connected workers, for `worker/list` and `keel workers`.
    public func workers() -> [WorkerInfo] {
        registry.workers.values.sorted { $0.connectedAt < $1.connectedAt }
    }
}

/// The engine's in-memory record of one non-terminal task.
struct LiveTask {
    var record: ActivityTaskRecord
    /// Where its attempt `record.attempt` is (``TaskPhase``).
    var phase: TaskPhase

    var lastHeartbeatAt: EpochMillis = 0
    /// The running attempt's token (``AttemptToken``), sent in `activity/execute`.
    var attemptToken = ""

    var isRunning: Bool { phase.isRunning }
}

/// The system clock.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> EpochMillis {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return EpochMillis(ts.tv_sec) * 1000 + EpochMillis(ts.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Engine {
    /// Closes every connection (used last in shutdown, after draining).
    public func closeAllSessions() {
        for s in sessions.values { s.connection.close() }
    }
}

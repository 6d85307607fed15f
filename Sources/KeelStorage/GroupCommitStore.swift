public import KeelCore
public import Logging
import Synchronization

/// A ``Store`` whose ``apply(_:)`` calls share transactions: a call that arrives while
/// ``maximumInFlight`` commits are running waits, and the next free commit carries every call
/// waiting then (up to ``maximumChanges`` changes) in one transaction (docs/scaling.md, "Group
/// commit"). Everything else is the wrapped store's.
///
/// One caller's changes stay together and in order, so each call keeps its atomicity and answers
/// exactly what it would alone; only callers that commit at the same moment share a commit. When
/// a shared transaction is refused by the server (a deadlock, a serialization conflict, a value
/// the server cannot store), nothing of it was committed, and each call is sent again alone, so
/// one call's bad change never fails another's. A failure whose outcome is unknown (the
/// connection dropped, the deadline passed) reaches every call of the group: each may send its
/// changes again, as after any such failure (``Store/apply(_:)``).
public final class GroupCommitStore: Store {
    /// The store that commits.
    public let inner: any Store
    /// Commits running at once; a call that finds them all busy waits for the next one.
    public let maximumInFlight: Int
    /// Most changes one shared commit carries (a single larger call still goes alone).
    public let maximumChanges: Int
    private let queue: Mutex<Queue>
    private let logger: Logger

    /// What has been committed so far.
    public struct Statistics: Sendable, Equatable {
        /// `apply` calls answered.
        public var calls = 0
        /// Transactions the calls shared (a call sent again alone counts again).
        public var commits = 0
        /// Shared commits the server refused, whose calls were then sent alone.
        public var splitGroups = 0

        public init(calls: Int = 0, commits: Int = 0, splitGroups: Int = 0) {
            self.calls = calls
            self.commits = commits
            self.splitGroups = splitGroups
        }
    }

    private struct Waiter {
        var changes: [Change]
        var completion: @Sendable (Result<[ChangeOutcome], any Error>) -> Void
    }

    private struct Queue {
        var waiting: [Waiter] = []
        var inFlight = 0
        var statistics = Statistics()
    }

    /// - Parameters:
    ///   - maximumInFlight: commits running at once (each holds a connection while it runs).
    ///   - maximumChanges: most changes in one shared commit.
    public init(
        _ inner: any Store, maximumInFlight: Int = 4, maximumChanges: Int = 512,
        logger: Logger = Logger(label: "keel.store")
    ) {
        self.inner = inner
        self.maximumInFlight = max(1, maximumInFlight)
        self.maximumChanges = max(1, maximumChanges)
        self.queue = Mutex(Queue())
        self.logger = logger
    }

    /// Counts since the store was made.
    public var statistics: Statistics { queue.withLock { $0.statistics } }
    /// Calls waiting for a commit slot now.
    public var waitingCalls: Int { queue.withLock { $0.waiting.count } }
    /// Commits running now.
    public var runningCommits: Int { queue.withLock { $0.inFlight } }

    public func apply(_ changes: [Change]) async throws -> [ChangeOutcome] {
        guard !changes.isEmpty else { return [] }
        // A free slot and no call waiting: this call is a group of one, committed in the caller's
        // own task. Handing it to a new task and resuming the caller from there cost each commit
        // two more thread hops (docs/scaling.md, "One workflow at a time").
        let alone = queue.withLock { queue -> Bool in
            guard queue.waiting.isEmpty, queue.inFlight < maximumInFlight else { return false }
            queue.inFlight += 1
            return true
        }
        if alone { return try await commitAlone(changes) }
        return try await withCheckedThrowingContinuation { continuation in
            wait(changes) { continuation.resume(with: $0) }
        }
    }

    /// Waits for the next free commit, as every call that finds a commit running does, whether or
    /// not one is free: the caller has no task of its own to commit in.
    public func apply(_ changes: [Change], completion: @escaping @Sendable (Result<[ChangeOutcome], any Error>) -> Void) {
        guard !changes.isEmpty else { return completion(.success([])) }
        wait(changes, completion: completion)
    }

    /// Queues one call, and starts a commit if a slot is free.
    private func wait(_ changes: [Change], completion: @escaping @Sendable (Result<[ChangeOutcome], any Error>) -> Void) {
        let ready = queue.withLock { queue -> [Waiter]? in
            queue.waiting.append(Waiter(changes: changes, completion: completion))
            return Self.nextGroup(&queue, maximumInFlight: maximumInFlight, maximumChanges: maximumChanges)
        }
        if let ready { startCommit(ready) }
    }

    /// Takes the waiting calls that fit one commit, if a commit slot is free.
    private static func nextGroup(_ queue: inout Queue, maximumInFlight: Int, maximumChanges: Int) -> [Waiter]? {
        guard queue.inFlight < maximumInFlight, !queue.waiting.isEmpty else { return nil }
        var taken = 0
        var count = 0
        for waiter in queue.waiting {
            if taken > 0, count + waiter.changes.count > maximumChanges { break }
            taken += 1
            count += waiter.changes.count
        }
        let group = Array(queue.waiting.prefix(taken))
        queue.waiting.removeFirst(taken)
        queue.inFlight += 1
        return group
    }

    private func startCommit(_ group: [Waiter]) {
        Task { await commit(group) }
    }

    /// Commits `group` as one transaction, answers each call, and starts the next group.
    private func commit(_ group: [Waiter]) async {
        var commits = 1
        var split = false
        var answers: [Result<[ChangeOutcome], any Error>]
        do {
            let outcomes = try await inner.apply(group.flatMap(\.changes))
            var offset = 0
            answers = group.map { waiter in
                defer { offset += waiter.changes.count }
                return .success(Array(outcomes[offset..<(offset + waiter.changes.count)]))
            }
        } catch {
            if group.count > 1, Self.nothingCommitted(error) {
                split = true
                logger.warning(
                    "a shared commit was refused; sending its calls again one by one",
                    metadata: ["calls": "\(group.count)", "error": "\(error)"])
                answers = []
                for waiter in group {
                    commits += 1
                    do { answers.append(.success(try await inner.apply(waiter.changes))) } catch { answers.append(.failure(error)) }
                }
            } else {
                answers = group.map { _ in .failure(error) }
            }
        }
        StoreMetrics.recordGroupCommit(calls: group.count, split: split)
        // Counted before any caller hears back, so that a caller reading the statistics after its
        // answer sees its own commit.
        let next = queue.withLock { queue -> [Waiter]? in
            queue.inFlight -= 1
            queue.statistics.calls += group.count
            queue.statistics.commits += commits
            if split { queue.statistics.splitGroups += 1 }
            return Self.nextGroup(&queue, maximumInFlight: maximumInFlight, maximumChanges: maximumChanges)
        }
        for (waiter, answer) in zip(group, answers) { waiter.completion(answer) }
        if let next { startCommit(next) }
    }

    /// Commits one call that took a free slot, in the caller's task, then starts the calls that
    /// came to wait meanwhile. A group of one is never split: its failure is its own.
    private func commitAlone(_ changes: [Change]) async throws -> [ChangeOutcome] {
        let result: Result<[ChangeOutcome], any Error>
        do { result = .success(try await inner.apply(changes)) } catch { result = .failure(error) }
        StoreMetrics.recordGroupCommit(calls: 1, split: false)
        let next = queue.withLock { queue -> [Waiter]? in
            queue.inFlight -= 1
            queue.statistics.calls += 1
            queue.statistics.commits += 1
            return Self.nextGroup(&queue, maximumInFlight: maximumInFlight, maximumChanges: maximumChanges)
        }
        if let next { startCommit(next) }
        return try result.get()
    }

    /// True when the store says the transaction was rolled back for certain (the server refused a
    /// statement or the commit), so that sending its changes again applies them at most once.
    static func nothingCommitted(_ error: any Error) -> Bool {
        guard let keel = error as? KeelError, keel.code == .storageFailure,
            case .string(let reason)? = keel.data?["reason"]
        else { return false }
        return rolledBackReasons.contains(reason)
    }

    /// The `reason`s of a `storageFailure` that a store gives only for a transaction the server
    /// rolled back (PostgresFailure: a refused statement, a conflict, text it cannot store).
    public static let rolledBackReasons: Set<String> = ["server", "conflict", "unstorableText"]

    // Everything else is the wrapped store's.

    public func now() async throws -> EpochMillis { try await inner.now() }
    public func claimTasks(_ request: TaskClaim, node: NodeLease) async throws -> [ActivityTaskRecord] {
        try await inner.claimTasks(request, node: node)
    }
    public func ownedTasks(node: NodeLease) async throws -> [ActivityTaskRecord] { try await inner.ownedTasks(node: node) }
    public func ownedExecutions(node: NodeLease) async throws -> [OwnedExecution] {
        try await inner.ownedExecutions(node: node)
    }
    public func claimExecutions(names: [String]?, limit: Int, node: NodeLease, builds: BuildChoice) async throws
        -> [ExecutionState]
    {
        try await inner.claimExecutions(names: names, limit: limit, node: node, builds: builds)
    }
    public func streamEvents(workflowId: String, after offset: Int64, limit: Int) async throws -> [StreamEvent] {
        try await inner.streamEvents(workflowId: workflowId, after: offset, limit: limit)
    }
    public func fireDueTimers(limit: Int, node: NodeLease) async throws -> [FiredTimer] {
        try await inner.fireDueTimers(limit: limit, node: node)
    }
    public func join(nodeId: String, leaseMillis: Int64) async throws -> NodeLease {
        try await inner.join(nodeId: nodeId, leaseMillis: leaseMillis)
    }
    public func renew(_ lease: NodeLease) async throws -> LeaseState { try await inner.renew(lease) }
    public func leave(_ lease: NodeLease) async throws { try await inner.leave(lease) }
    public func rescue() async throws -> RescueReport { try await inner.rescue() }
    public func task(id: String) async throws -> ActivityTaskRecord? { try await inner.task(id: id) }
    public func task(idempotencyKey: String) async throws -> ActivityTaskRecord? {
        try await inner.task(idempotencyKey: idempotencyKey)
    }
    public func contractPins() async throws -> [ContractPin] { try await inner.contractPins() }
    public func schedule(id: String) async throws -> ScheduleRecord? { try await inner.schedule(id: id) }
    public func schedules(after cursor: String?, limit: Int) async throws -> [ScheduleRecord] {
        try await inner.schedules(after: cursor, limit: limit)
    }
    public func openTasks(status: TaskStatus?, name: String?, limit: Int) async throws -> (
        tasks: [ActivityTaskRecord], total: Int
    ) {
        try await inner.openTasks(status: status, name: name, limit: limit)
    }
    public func execution(id: String) async throws -> ExecutionState? { try await inner.execution(id: id) }
    public func endedExecutions(ids: [String]) async throws -> [WorkflowRecord] { try await inner.endedExecutions(ids: ids) }
    public func endedTasks(ids: [String]) async throws -> [ActivityTaskRecord] { try await inner.endedTasks(ids: ids) }
    public func signalDelivered(workflowId: String, key: String) async throws -> Bool {
        try await inner.signalDelivered(workflowId: workflowId, key: key)
    }
    public func executions(_ filter: WorkflowFilter) async throws -> [ExecutionState] { try await inner.executions(filter) }
    public func journal(workflowId: String, generation: Int) async throws -> [JournalEntry] {
        try await inner.journal(workflowId: workflowId, generation: generation)
    }
    public func workflowCounts(_ filter: WorkflowFilter, atMost: Int?) async throws -> [WorkflowStatus: Int] {
        try await inner.workflowCounts(filter, atMost: atMost)
    }
    public func searchAttributeKeys() async throws -> [String] { try await inner.searchAttributeKeys() }
    public func attemptFailures(taskIds: [String]) async throws -> [String: [AttemptFailure]] {
        try await inner.attemptFailures(taskIds: taskIds)
    }
    public func overdueExecutions(limit: Int) async throws -> [WorkflowRecord] {
        try await inner.overdueExecutions(limit: limit)
    }

    public func backlog() async throws -> Backlog {
        try await inner.backlog()
    }
    public func openExecutionCounts() async throws -> [WorkflowStatus: Int] { try await inner.openExecutionCounts() }

    public func overdueTasks(limit: Int) async throws -> [ActivityTaskRecord] {
        try await inner.overdueTasks(limit: limit)
    }
    public func resets(workflowId: String) async throws -> [WorkflowReset] {
        try await inner.resets(workflowId: workflowId)
    }
    public func pendingSignals(workflowId: String) async throws -> [SignalRecord] {
        try await inner.pendingSignals(workflowId: workflowId)
    }
    public func nodes() async throws -> [NodeRecord] { try await inner.nodes() }
    public func readyHints() -> AsyncStream<Void> { inner.readyHints() }
    public func close() async { await inner.close() }
    public var keepsNULInIdentifiers: Bool { inner.keepsNULInIdentifiers }
}

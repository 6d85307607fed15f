import Foundation
import KeelCore
import KeelStorage
import KeelTesting
import Synchronization
import Testing

/// `GroupCommitStore` on a real SQLite store (its PostgreSQL cases: `GroupCommitTests`).
@Suite struct GroupCommitStoreTests {
    /// A call that finds a commit slot free and no call waiting commits in its own task: no task
    /// is made for it and the caller is not resumed from another one (two thread hops a commit,
    /// docs/scaling.md, "One workflow at a time").
    @Test(.timeLimit(.minutes(1))) func aCallThatFindsAFreeSlotCommitsInItsOwnTask() async throws {
        try await TemporaryDirectory.with { dir in
            let spy = ApplyTaskSpy(SQLiteStore(storage: try SQLiteStorage(path: dir.file("keel.db"))))
            let store = GroupCommitStore(spy, maximumInFlight: 2)
            let now = try await store.now()
            for n in 0..<3 {
                let caller = withUnsafeCurrentTask { $0?.hashValue }
                #expect(try await store.apply([.enqueueTask(StoreConformance.task("t\(n)", now: now))]) == [.applied])
                #expect(spy.lastApplyTask != nil && spy.lastApplyTask == caller, "call \(n) was committed in another task")
            }
            #expect(store.statistics == GroupCommitStore.Statistics(calls: 3, commits: 3, splitGroups: 0))
            #expect(try await store.openTasks(status: .scheduled, name: nil, limit: 10).total == 3)
            await store.close()
        }
    }
}

/// A recording spy around a real store: notes the task each `apply` runs in; everything is the
/// wrapped store's.
final class ApplyTaskSpy: Store {
    let inner: any Store
    private let applyTask = Mutex<Int?>(nil)

    init(_ inner: any Store) { self.inner = inner }

    /// The task of the latest `apply` (its hash: a task's identity while it runs).
    var lastApplyTask: Int? { applyTask.withLock { $0 } }

    func apply(_ changes: [Change]) async throws -> [ChangeOutcome] {
        let task = withUnsafeCurrentTask { $0?.hashValue }
        applyTask.withLock { $0 = task }
        return try await inner.apply(changes)
    }

    func now() async throws -> EpochMillis { try await inner.now() }
    func claimTasks(_ request: TaskClaim, node: NodeLease) async throws -> [ActivityTaskRecord] {
        try await inner.claimTasks(request, node: node)
    }
    func ownedTasks(node: NodeLease) async throws -> [ActivityTaskRecord] { try await inner.ownedTasks(node: node) }
    func ownedExecutions(node: NodeLease) async throws -> [OwnedExecution] {
        try await inner.ownedExecutions(node: node)
    }
    func claimExecutions(names: [String]?, limit: Int, node: NodeLease, builds: BuildChoice) async throws
        -> [ExecutionState]
    {
        try await inner.claimExecutions(names: names, limit: limit, node: node, builds: builds)
    }
    func streamEvents(workflowId: String, after offset: Int64, limit: Int) async throws -> [StreamEvent] {
        try await inner.streamEvents(workflowId: workflowId, after: offset, limit: limit)
    }
    func fireDueTimers(limit: Int, node: NodeLease) async throws -> [FiredTimer] {
        try await inner.fireDueTimers(limit: limit, node: node)
    }
    func join(nodeId: String, leaseMillis: Int64) async throws -> NodeLease {
        try await inner.join(nodeId: nodeId, leaseMillis: leaseMillis)
    }
    func renew(_ lease: NodeLease) async throws -> LeaseState { try await inner.renew(lease) }
    func leave(_ lease: NodeLease) async throws { try await inner.leave(lease) }
    func rescue() async throws -> RescueReport { try await inner.rescue() }
    func task(id: String) async throws -> ActivityTaskRecord? { try await inner.task(id: id) }
    func task(idempotencyKey: String) async throws -> ActivityTaskRecord? {
        try await inner.task(idempotencyKey: idempotencyKey)
    }
    func contractPins() async throws -> [ContractPin] { try await inner.contractPins() }
    func schedule(id: String) async throws -> ScheduleRecord? { try await inner.schedule(id: id) }
    func schedules(after cursor: String?, limit: Int) async throws -> [ScheduleRecord] {
        try await inner.schedules(after: cursor, limit: limit)
    }
    func openTasks(status: TaskStatus?, name: String?, limit: Int) async throws -> (
        tasks: [ActivityTaskRecord], total: Int
    ) {
        try await inner.openTasks(status: status, name: name, limit: limit)
    }
    func execution(id: String) async throws -> ExecutionState? { try await inner.execution(id: id) }
    func endedExecutions(ids: [String]) async throws -> [WorkflowRecord] { try await inner.endedExecutions(ids: ids) }
    func endedTasks(ids: [String]) async throws -> [ActivityTaskRecord] { try await inner.endedTasks(ids: ids) }
    func signalDelivered(workflowId: String, key: String) async throws -> Bool {
        try await inner.signalDelivered(workflowId: workflowId, key: key)
    }
    func executions(_ filter: WorkflowFilter) async throws -> [ExecutionState] { try await inner.executions(filter) }
    func journal(workflowId: String, generation: Int) async throws -> [JournalEntry] {
        try await inner.journal(workflowId: workflowId, generation: generation)
    }
    func workflowCounts(_ filter: WorkflowFilter, atMost: Int?) async throws -> [WorkflowStatus: Int] {
        try await inner.workflowCounts(filter, atMost: atMost)
    }
    func searchAttributeKeys() async throws -> [String] { try await inner.searchAttributeKeys() }
    func attemptFailures(taskIds: [String]) async throws -> [String: [AttemptFailure]] {
        try await inner.attemptFailures(taskIds: taskIds)
    }
    func overdueExecutions(limit: Int) async throws -> [WorkflowRecord] {
        try await inner.overdueExecutions(limit: limit)
    }

    func backlog() async throws -> Backlog {
        try await inner.backlog()
    }
    func openExecutionCounts() async throws -> [WorkflowStatus: Int] { try await inner.openExecutionCounts() }

    func overdueTasks(limit: Int) async throws -> [ActivityTaskRecord] {
        try await inner.overdueTasks(limit: limit)
    }
    func resets(workflowId: String) async throws -> [WorkflowReset] {
        try await inner.resets(workflowId: workflowId)
    }
    func pendingSignals(workflowId: String) async throws -> [SignalRecord] {
        try await inner.pendingSignals(workflowId: workflowId)
    }
    func nodes() async throws -> [NodeRecord] { try await inner.nodes() }
    func readyHints() -> AsyncStream<Void> { inner.readyHints() }
    func close() async { await inner.close() }
    var keepsNULInIdentifiers: Bool { inner.keepsNULInIdentifiers }
}

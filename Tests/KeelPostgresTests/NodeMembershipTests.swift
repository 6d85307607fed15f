import KeelCore
import KeelEngine
import KeelPostgres
import KeelStorage
import KeelTesting
import Testing

/// Two nodes on one PostgreSQL, each with its own store (connections) and membership: a node
/// that stops renewing is fenced by itself before the other takes its work over, the takeover
/// never comes before the lease ends, and the paused node's late writes are refused.
@Suite(.timeLimit(.minutes(4))) struct NodeMembershipTests {
    static func store(_ cluster: PostgresCluster, _ database: String) async throws -> PostgresStore {
        guard case .postgres(let location) = try StoreURL(parsing: cluster.url(database: database)) else {
            throw KeelError(.internalError, "not PostgreSQL")
        }
        return try await PostgresStore(location, maximumConnections: 4, operationTimeout: .seconds(60))
    }

    @Test func aPausedNodesWorkIsTakenOverAfterItsLeaseAndItsLateWritesAreRefused() async throws {
        let cluster = try await PostgresCluster.shared()
        let database = try await offCooperativePool { try cluster.createDatabase() }
        let storeA = try await Self.store(cluster, database)
        let storeB = try await Self.store(cluster, database)
        // Long enough that a loaded machine's round trips (join, enqueue, claim) stay inside the
        // fence time; the takeover waits for it, so a longer lease costs only test time. (5 s was
        // too short on a slow, loaded machine: the claim came after A had fenced itself.)
        let settings = NodeMembership.Settings(leaseMillis: 15_000)
        let a = NodeMembership(store: storeA, settings: settings)
        let b = NodeMembership(store: storeB, settings: settings)
        let leaseA = try await a.join()
        try await b.join()

        let now = try await storeA.now()
        _ = try await storeA.apply(
            (0..<3).map {
                .enqueueTask(
                    ActivityTaskRecord(
                        id: "t\($0)", name: "work", input: .null, idempotencyKey: nil, retryPolicy: RetryPolicy(),
                        timeouts: ActivityTimeouts(), contractHash: nil, now: now))
            })
        let claimedByA = try await storeA.claimTasks(TaskClaim(names: ["work"], limit: 10), node: leaseA)
        #expect(claimedByA.count == 3)
        #expect(a.isServing)
        let heartbeatA = try #require(try await storeB.nodes().first { $0.nodeId == leaseA.nodeId }?.heartbeatAt)

        // A is paused from here on (it renews no more); B keeps its rounds.
        var takenOverAt: EpochMillis?
        let deadline = ContinuousClock.now + .seconds(120)
        while takenOverAt == nil, ContinuousClock.now < deadline {
            if case .renewed(let report) = await b.round(), report.tasksReturned > 0 {
                #expect(report.deadNodes == [leaseA.nodeId])
                #expect(report.tasksReturned == 3)
                takenOverAt = try await storeB.now()
                // A fenced itself before the takeover could happen.
                #expect(!a.isServing)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let takeover = try #require(takenOverAt)
        #expect(takeover > heartbeatA + settings.leaseMillis, "taken over before A's lease ended")
        print("NodeMembershipTests: takeover \(takeover - heartbeatA) ms after A's last heartbeat (lease \(settings.leaseMillis) ms)")
        let leaseB = try #require(b.lease)
        let retaken = try await storeB.claimTasks(TaskClaim(names: ["work"], limit: 10), node: leaseB)
        #expect(retaken.map(\.attempt) == [2, 2, 2])

        // A resumes: every late write is refused by the attempt fence; its renewal finds the lease lost.
        let late = try await storeA.apply(
            claimedByA.map { .finishTask(id: $0.id, attempt: $0.attempt, status: .completed, output: .null, failure: nil) })
        #expect(late == Array(repeating: .stale(currentAttempt: 2), count: 3))
        #expect(try await storeA.claimTasks(TaskClaim(names: ["work"], limit: 10), node: leaseA).isEmpty)
        guard case .rejoined(let newId) = await a.round() else {
            Issue.record("A did not rejoin")
            return
        }
        #expect(newId != leaseA.nodeId)
        #expect(a.isServing)
        await storeA.close()
        await storeB.close()
    }

    @Test func aNodeThatLosesItsStoreStopsServing() async throws {
        let cluster = try await PostgresCluster.shared()
        let database = try await offCooperativePool { try cluster.createDatabase() }
        let store = try await Self.store(cluster, database)
        let node = NodeMembership(store: store, settings: NodeMembership.Settings(leaseMillis: 12_000))
        try await node.join()
        guard case .renewed = await node.round() else {
            Issue.record("the first round did not renew")
            return
        }
        #expect(node.isServing)
        await store.close()
        try await Task.sleep(for: .milliseconds(9_900))  // past the fence time (4/5 of the lease)
        #expect(await node.round() == .storeFailed(serving: false))
        #expect(!node.isServing)
    }
}

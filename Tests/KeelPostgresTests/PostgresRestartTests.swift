import KeelCore
import KeelPostgres
import KeelStorage
import KeelTesting
import Testing

/// PostgreSQL restarts (fast shutdown: every connection cut) while two nodes enqueue, claim and
/// finish tasks through the store. The nodes keep going on reconnected connections; a call that
/// failed is sent again (every change is idempotent) and a claim whose outcome was lost is found
/// with `ownedTasks`; a call the cut connection left hanging ends at the store's deadline
/// (`reason: timeout`). Nothing is lost, nothing is finished twice, no node stops.
@Suite(.timeLimit(.minutes(3))) struct PostgresRestartTests {
    static let tasks = 300

    /// Retries `body` on `storageFailure` (the restart), up to a minute; other errors fail the test.
    static func retrying<T>(_ failures: Locked<Int>, _ body: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                return try await body()
            } catch let error as KeelError where error.code == .storageFailure && ContinuousClock.now < deadline {
                failures.withLock { $0 += 1 }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    @Test func aFastRestartUnderLoadLosesNothingAndFinishesNothingTwice() async throws {
        // A cluster of its own: restarting the shared one would cut every other suite's connections.
        let cluster = try await offCooperativePool { try PostgresCluster() }
        let database = try await offCooperativePool { try cluster.createDatabase() }
        guard case .postgres(let location) = try StoreURL(parsing: cluster.url(database: database)) else { return }
        // A call the restart cut may wait forever inside the driver: the store's deadline ends it.
        let stores = [
            try await PostgresStore(location, maximumConnections: 4, operationTimeout: .seconds(5)),
            try await PostgresStore(location, maximumConnections: 4, operationTimeout: .seconds(5)),
        ]
        let leases = [
            try await stores[0].join(nodeId: "a", leaseMillis: 600_000),
            try await stores[1].join(nodeId: "b", leaseMillis: 600_000),
        ]
        let failures = Locked(0)
        let applied = Locked<[String: Int]>([:])
        let finishedCount = Locked(0)
        let finishedAtRestart = Locked(-1)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for start in stride(from: 0, to: Self.tasks, by: 10) {
                    let store = stores[start / 10 % 2]
                    let now = try await Self.retrying(failures) { try await store.now() }
                    let batch: [Change] = (start..<start + 10).map {
                        .enqueueTask(
                            ActivityTaskRecord(
                                id: "t\($0)", name: "work", input: .null, idempotencyKey: nil, retryPolicy: RetryPolicy(),
                                timeouts: ActivityTimeouts(), contractHash: nil, now: now))
                    }
                    // Re-sent after a failure: tasks already in answer duplicate, and are not doubled.
                    _ = try await Self.retrying(failures) { try await store.apply(batch) }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            group.addTask {
                // The restart, once the work is under way.
                while finishedCount.withLock({ $0 }) < 30 { try await Task.sleep(for: .milliseconds(10)) }
                finishedAtRestart.withLock { $0 = finishedCount.withLock { $0 } }
                try await offCooperativePool { try cluster.restart() }
            }
            for (store, lease) in zip(stores, leases) {
                group.addTask {
                    while finishedCount.withLock({ $0 }) < Self.tasks {
                        let claimed: [ActivityTaskRecord]
                        do {
                            claimed = try await store.claimTasks(TaskClaim(names: ["work"], limit: 8), node: lease)
                        } catch let error as KeelError where error.code == .storageFailure {
                            failures.withLock { $0 += 1 }
                            try await Task.sleep(for: .milliseconds(50))
                            // The claim may have committed: take up what this node holds.
                            continue
                        }
                        let held = claimed.isEmpty ? try await Self.retrying(failures) { try await store.ownedTasks(node: lease) } : claimed
                        if held.isEmpty {
                            try await Task.sleep(for: .milliseconds(10))
                            continue
                        }
                        let changes: [Change] = held.map {
                            .finishTask(id: $0.id, attempt: $0.attempt, status: .completed, output: .string(lease.nodeId), failure: nil)
                        }
                        var firstTry = true
                        let outcomes = try await Self.retrying(failures) { () -> [ChangeOutcome] in
                            defer { firstTry = false }
                            return try await store.apply(changes)
                        }
                        for (task, outcome) in zip(held, outcomes) {
                            switch outcome {
                            case .applied:
                                applied.withLock { $0[task.id, default: 0] += 1 }
                                finishedCount.withLock { $0 += 1 }
                            case .alreadyFinished where !firstTry:
                                // The earlier send committed before its connection dropped.
                                applied.withLock { $0[task.id, default: 0] += 1 }
                                finishedCount.withLock { $0 += 1 }
                            default:
                                Issue.record("finishing \(task.id) answered \(outcome)")
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }

        // Nothing lost, nothing finished twice, every attempt the first one; both nodes still work.
        let counts = applied.withLock { $0 }
        #expect(counts.count == Self.tasks)
        #expect(counts.values.allSatisfy { $0 == 1 })
        for i in 0..<Self.tasks {
            let task = try await stores[i % 2].task(id: "t\(i)")
            #expect(task?.status == .completed, "t\(i): \(String(describing: task?.status))")
            #expect(task?.attempt == 1, "t\(i) ran \(String(describing: task?.attempt)) attempts")
        }
        for (store, lease) in zip(stores, leases) {
            #expect(try await store.renew(lease) == .held)
        }
        // The restart came with work still to do (it is what the test is about).
        #expect(finishedAtRestart.withLock { $0 } < Self.tasks)
        print(
            "PostgresRestartTests: restart at \(finishedAtRestart.withLock { $0 }) of \(Self.tasks) finished; "
                + "\(failures.withLock { $0 }) calls failed during it and were sent again")
        for store in stores { await store.close() }
    }
}

/// A database that stops answering (every server process stopped, connections left open, as
/// behind a partition) must not hang the node: each call ends at the store's deadline with
/// `storageFailure`, `reason: timeout`, and the store works again once the database answers.
@Suite(.timeLimit(.minutes(2))) struct PostgresUnansweredTests {
    @Test func callsToADatabaseThatStoppedAnsweringFailWithATimeoutThenRecover() async throws {
        let cluster = try await offCooperativePool { try PostgresCluster() }
        let database = try await offCooperativePool { try cluster.createDatabase() }
        guard case .postgres(let location) = try StoreURL(parsing: cluster.url(database: database)) else { return }
        let store = try await PostgresStore(location, maximumConnections: 2, operationTimeout: .seconds(1))
        // Before the pause the database answers, but a loaded machine can take longer than the
        // 1 s deadline for a new connection's first call: such a call is sent again, for up to
        // 45 s (ten tries were not always enough while the whole suite ran beside it).
        var joined: NodeLease?
        let joinDeadline = ContinuousClock.now + .seconds(45)
        while joined == nil, ContinuousClock.now < joinDeadline {
            do {
                let lease = try await store.join(nodeId: "n", leaseMillis: 600_000)
                if try await store.renew(lease) == .held { joined = lease }
            } catch let error as KeelError where error.code == .storageFailure {
                try await Task.sleep(for: .milliseconds(100))  // a refusal can come at once
            }
        }
        let lease = try #require(joined, "the node could not join before the pause")

        try await offCooperativePool { try cluster.pause(true) }
        let started = ContinuousClock.now
        var reasons: [JSONValue?] = []
        for _ in 0..<2 {
            do {
                _ = try await store.renew(lease)
                Issue.record("a renewal succeeded against a stopped database")
            } catch let error as KeelError {
                #expect(error.code == .storageFailure)
                reasons.append(error.data?["reason"])
            } catch {
                // Resume the server before failing, or its stop at exit would wait for it.
                try await offCooperativePool { try cluster.pause(false) }
                throw error
            }
        }
        let waited = ContinuousClock.now - started
        try await offCooperativePool { try cluster.pause(false) }
        #expect(reasons == [.string("timeout"), .string("timeout")])
        // Each call ended at its deadline rather than hanging (generous bound for a loaded machine).
        #expect(waited < .seconds(30))

        let back = try await eventually(timeout: .seconds(30)) {
            do {
                return try await store.renew(lease) == .held
            } catch let error as KeelError where error.code == .storageFailure {
                return false
            }
        }
        #expect(back, "the store did not recover after the database answered again")
        await store.close()
    }
}

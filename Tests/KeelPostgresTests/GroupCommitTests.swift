import Foundation
import KeelCore
import KeelPostgres
import KeelStorage
import KeelTesting
import Logging
import PostgresNIO
import Testing

/// Shared commits on a real PostgreSQL (docs/scaling.md, "Group commit"): calls that wait for a
/// busy commit slot share the next transaction, and a shared transaction the server refuses is
/// sent again call by call, so one call's bad change does not fail the others.
@Suite(.serialized) struct GroupCommitTests {
    @Test func callsThatWaitForABusySlotShareOneCommit() async throws {
        let (postgres, location) = try await Self.freshStore()
        let store = GroupCommitStore(postgres, maximumInFlight: 1)
        let now = try await store.now()
        let blocked = try await Self.blockingFirstCall(store, location: location, now: now) {
            (0..<50).map { [.enqueueTask(StoreConformance.task("t\($0)", now: now))] }
        }
        for outcomes in blocked.answers { #expect(try outcomes.get() == [.applied]) }
        // The first call alone, then the 50 that waited for it in one commit.
        #expect(store.statistics == GroupCommitStore.Statistics(calls: 51, commits: 2, splitGroups: 0))
        #expect(try await store.openTasks(status: .scheduled, name: nil, limit: 1).total == 50)
        await store.close()
    }

    @Test func aRefusedSharedCommitIsSentAgainCallByCall() async throws {
        let (postgres, location) = try await Self.freshStore()
        let store = GroupCommitStore(postgres, maximumInFlight: 1)
        let now = try await store.now()
        // PostgreSQL's text cannot hold U+0000: the server refuses that call's statement.
        let blocked = try await Self.blockingFirstCall(store, location: location, now: now) {
            [
                [.enqueueTask(StoreConformance.task("good1", now: now))],
                [.enqueueTask(StoreConformance.task("bad\u{0}id", now: now))],
                [.enqueueTask(StoreConformance.task("good2", now: now)), .enqueueTask(StoreConformance.task("good2", now: now))],
            ]
        }
        #expect(try blocked.answers[0].get() == [.applied])
        #expect(try blocked.answers[2].get() == [.applied, .duplicate])
        guard case .failure(let keel) = blocked.answers[1] else {
            Issue.record("the NUL id was stored: \(blocked.answers[1])")
            return
        }
        #expect(keel.code == .storageFailure)
        #expect(keel.data?["reason"] == .string("unstorableText"))
        #expect(keel.message.contains("U+0000"))
        // 1 (the first call) + 1 (the refused group) + 3 (its calls alone).
        #expect(store.statistics == GroupCommitStore.Statistics(calls: 4, commits: 5, splitGroups: 1))
        #expect(try await store.task(id: "good1")?.status == .scheduled)
        #expect(try await store.task(id: "good2")?.status == .scheduled)
        await store.close()
    }

    /// Holds a lock on `workflows` from another session, starts a call that waits for it (taking
    /// the only commit slot), sends `calls()` while it waits, releases the lock once all of them
    /// are queued, and answers what each of those calls got.
    static func blockingFirstCall(
        _ store: GroupCommitStore, location: PostgresLocation, now: EpochMillis, calls: () -> [[Change]]
    ) async throws -> (first: [ChangeOutcome], answers: [Result<[ChangeOutcome], KeelError>]) {
        let locker = try await PostgresConnection.connect(
            configuration: .init(
                unixSocketPath: location.socketPath ?? "", username: location.user, password: nil,
                database: location.database),
            id: 7, logger: Logger(label: "test.locker"))
        try await locker.query("BEGIN", logger: locker.logger)
        try await locker.query("LOCK TABLE workflows IN EXCLUSIVE MODE", logger: locker.logger)
        let first = Task {
            try await store.apply([.startExecution(StoreConformance.execution("blocked", now: now))])
        }
        try #require(try await eventually { store.runningCommits == 1 })
        let batch = calls()
        let pending = batch.map { changes in
            Task { () -> Result<[ChangeOutcome], KeelError> in
                do { return .success(try await store.apply(changes)) } catch let error as KeelError {
                    return .failure(error)
                } catch { return .failure(KeelError(.internalError, "\(error)")) }
            }
        }
        try #require(try await eventually { store.waitingCalls == batch.count })
        try await locker.query("COMMIT", logger: locker.logger)
        try await locker.close()
        let firstOutcomes = try await first.value
        var answers: [Result<[ChangeOutcome], KeelError>] = []
        for call in pending { answers.append(await call.value) }
        return (firstOutcomes, answers)
    }

    static func freshStore() async throws -> (PostgresStore, PostgresLocation) {
        let cluster = try await PostgresCluster.shared()
        let url = cluster.url(database: try await offCooperativePool { try cluster.createDatabase() })
        guard case .postgres(let location) = try StoreURL(parsing: url) else {
            throw PostgresCluster.ClusterError("not a PostgreSQL URL: \(url)")
        }
        return (try await PostgresStore(location, operationTimeout: .seconds(60)), location)
    }
}

import KeelCore
import KeelStorage
import KeelTesting
import Logging
import PostgresNIO
import Testing

@testable import KeelPostgres

/// Why a claimed insert stored nothing (PostgresChanges.claimFence). The insert and the read that
/// says why are two statements, and a node's lease can be renewed between them, as every lease is
/// after a restart of the server. Before this read asked for the row, a call refused by a lapsed
/// lease was answered "duplicate", and the engine, finding no task under the call's key, answered
/// "internalError: task id collision" (ClusterFailureTests, once in about ten runs).
@Suite struct ClaimFenceTests {
    private let logger = Logger(label: "keel.test.claim-fence")

    @Test func aRefusedInsertIsADuplicateOnlyWhenTheRowItRepeatsIsStored() async throws {
        let store = try await PostgresStoreConformanceTests.freshStore()
        let connection = try await PostgresConnection.connect(
            configuration: try PostgresSettings(store.location).connection(), id: 1, logger: logger)
        defer { Task { await store.close(); try? await connection.close() } }
        let changes = PostgresChanges(connection: connection, logger: logger)
        let node = try await store.join(nodeId: "n", leaseMillis: 60_000)
        let now = try await store.now()

        // The lease holds, and nothing the insert would repeat is stored: the insert was refused
        // by the lease as it stood then (since renewed), so the caller must hear "lease lapsed".
        #expect(try await changes.claimFence(.task(id: "t-absent", idempotencyKey: "k-1"), node: node.nodeId) == .notFound)
        #expect(try await changes.claimFence(.execution(id: "w-absent"), node: node.nodeId) == .notFound)

        _ = try await store.apply([
            .enqueueTask(StoreConformance.task("t-1", key: "k-1", now: now)),
            .startExecution(StoreConformance.execution("w-1", now: now)),
        ])
        #expect(try await changes.claimFence(.task(id: "t-1", idempotencyKey: nil), node: node.nodeId) == .duplicate)
        #expect(try await changes.claimFence(.task(id: "t-other", idempotencyKey: "k-1"), node: node.nodeId) == .duplicate)
        #expect(try await changes.claimFence(.execution(id: "w-1"), node: node.nodeId) == .duplicate)

        // A lapsed lease refuses even a duplicate, as SQLite's store checks the lease first.
        let lapsing = try await store.join(nodeId: "lapsing", leaseMillis: 1)
        try await Task.sleep(for: .milliseconds(20))
        #expect(try await changes.claimFence(.task(id: "t-1", idempotencyKey: nil), node: lapsing.nodeId) == .notFound)
        #expect(try await changes.claimFence(.execution(id: "w-1"), node: lapsing.nodeId) == .notFound)
    }
}

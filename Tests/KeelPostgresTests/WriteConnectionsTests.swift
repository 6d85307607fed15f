import KeelCore
import KeelStorage
import KeelTesting
import Logging
import PostgresNIO
import Testing

@testable import KeelPostgres

/// The store writes on connections of its own, not the pool's (``WriteConnections``, docs/scaling.md,
/// "The pool's timers"); one the server ends is replaced, and writes go on meanwhile.
@Suite struct WriteConnectionsTests {
    /// Enqueues task `id` alone, as one write.
    private func enqueue(_ id: String, on store: PostgresStore) async throws {
        let now = try await store.now()
        let outcomes = try await store.apply([.enqueueTask(StoreConformance.task(id, now: now))])
        #expect(outcomes == [.applied], "\(id): \(outcomes)")
    }

    @Test func sequentialWritesGoOnOneConnectionOfTheStoresOwn() async throws {
        let store = try await PostgresStoreConformanceTests.freshStore()
        do {
            for n in 0..<40 { try await enqueue("t\(n)", on: store) }
            let statistics = store.writes.statistics
            // The first write opens the connection and goes to the pool; a few more may, while it opens.
            #expect(statistics.opened == 1, "\(statistics)")
            #expect(statistics.onSet >= 30 && statistics.onSet + statistics.onPool == 40, "\(statistics)")
            #expect(statistics.replaced == 0, "\(statistics)")
            for n in 0..<40 { #expect(try await store.task(id: "t\(n)") != nil) }

            // A write the server refuses leaves its connection usable: kept, not replaced.
            let now = try await store.now()
            await #expect(throws: KeelError.self) {
                try await store.apply([.enqueueTask(StoreConformance.task("bad\u{0}id", now: now))])
            }
            try await enqueue("after-refusal", on: store)
            #expect(store.writes.statistics.opened == 1 && store.writes.statistics.replaced == 0, "\(store.writes.statistics)")
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        #expect(store.writes.openCount == 0, "closing the store closes its write connections")
    }

    @Test func aConnectionTheServerEndedIsReplacedAndNoWriteIsLost() async throws {
        let cluster = try await PostgresCluster.shared()
        let store = try await PostgresStoreConformanceTests.freshStore()
        do {
            for n in 0..<10 { try await enqueue("before\(n)", on: store) }
            #expect(store.writes.statistics.opened == 1)
            let database = store.location.database
            try await offCooperativePool {
                try cluster.psql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)' AND pid <> pg_backend_pid()")
            }
            // A write that meets the ended connection fails as any write on a cut connection does
            // (storageFailure, sent again); the next ones go on a new connection.
            var failed = 0
            for n in 0..<20 {
                while true {
                    do {
                        try await enqueue("after\(n)", on: store)
                        break
                    } catch let error as KeelError where error.code == .storageFailure && failed < 20 {
                        failed += 1
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
            }
            let statistics = store.writes.statistics
            #expect(statistics.replaced >= 1, "\(statistics)")
            #expect(statistics.opened >= 2, "\(statistics)")
            #expect(failed <= 2, "writes failed \(failed) times after the connections were ended")
            print("write connections: the server ended them; \(failed) writes failed and were sent again; \(statistics)")
            for n in 0..<10 { #expect(try await store.task(id: "before\(n)") != nil) }
            for n in 0..<20 { #expect(try await store.task(id: "after\(n)") != nil) }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    @Test func aConnectionUnusedPastTheIdleLimitIsClosedAndANewOneOpened() async throws {
        let store = try await PostgresStoreConformanceTests.freshStore()
        let location = store.location
        let connections = WriteConnections(
            capacity: 1, idleLimit: .seconds(1), logger: Logger(label: "keel.test.write-connections")
        ) { try PostgresSettings(location).connection() }
        do {
            /// The server process id of the connection a write ran on.
            @Sendable func backend() async throws -> Int32 {
                try await connections.withConnection(orFrom: store.client) { connection in
                    var pid: Int32 = 0
                    for try await value in try await connection.query("SELECT pg_backend_pid()", logger: store.logger)
                        .decode(Int32.self)
                    { pid = value }
                    return pid
                }
            }
            /// Writes until the set has opened `count` connections: a write is what asks for one,
            /// and an attempt that failed (a server short of connections while other suites run)
            /// is tried again only by a later write, at most once a second.
            func writeUntilOpened(_ count: Int) async throws {
                let opened = try await eventually(timeout: .seconds(30)) {
                    _ = try await backend()
                    return connections.statistics.opened >= count
                }
                try #require(opened, "\(connections.statistics)")
            }
            try await writeUntilOpened(1)  // the first writes go to the pool while the connection opens
            // Counted, not timed: on a loaded machine the new connection may already have sat
            // unused past the limit once (it is then retired and replaced as this test expects).
            let before = connections.statistics
            let first = try await backend()
            try await Task.sleep(for: .milliseconds(2_500))
            let afterIdle = try await backend()
            let after = connections.statistics
            #expect(after.retiredIdle > before.retiredIdle, "the write after the limit retired the idle connection: \(after)")
            #expect(afterIdle != first || after.retiredIdle > before.retiredIdle + 1, "\(after)")
            try await writeUntilOpened(before.opened + 1)  // the retired one is replaced
            #expect(connections.statistics.replaced == 0, "an idle connection is retired, not counted as failed")
        } catch {
            await connections.close()
            await store.close()
            throw error
        }
        await connections.close()
        await store.close()
    }
}

/// A set of write connections dropped without `close()` closes its connections itself. Before, the
/// first `PostgresConnection` freed open tripped postgres-nio's debug assertion and ended the
/// whole test process (a `NodeMembershipTests` run that failed before closing its stores).
@Suite struct WriteConnectionsDroppedTests {
    @Test func aSetDroppedWithoutCloseClosesItsConnections() async throws {
        let store = try await PostgresStoreConformanceTests.freshStore()
        do {
            let location = store.location
            var writes: WriteConnections? = WriteConnections(capacity: 1, logger: Logger(label: "keel.test.dropped")) {
                try PostgresSettings(location).connection()
            }
            // Until a write runs on the set's own connection (the first goes to the pool while it opens).
            var pid: Int32?
            for _ in 0..<100 where pid == nil {
                let before = writes?.statistics.onSet ?? 0
                let backend = try await writes?.withConnection(orFrom: store.client) { connection in
                    var found: Int32 = 0
                    for try await value in try await connection.query("SELECT pg_backend_pid()", logger: Logger(label: "t")).decode(Int32.self) {
                        found = value
                    }
                    return found
                }
                if (writes?.statistics.onSet ?? 0) > before { pid = backend }
                if pid == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            let backend = try #require(pid, "no write ran on the set's own connection")
            #expect(try await Self.isConnected(backend, store) == true)
            writes = nil
            let closed = try await eventually(timeout: .seconds(20)) { try await Self.isConnected(backend, store) == false }
            #expect(closed, "the dropped set's connection (backend \(backend)) was left open")
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    private static func isConnected(_ pid: Int32, _ store: PostgresStore) async throws -> Bool {
        try await store.client.withConnection { connection in
            var count = 0
            for try await n in try await connection.query(
                "SELECT count(*)::int FROM pg_stat_activity WHERE pid = \(pid)", logger: Logger(label: "t")
            ).decode(Int.self) { count = n }
            return count > 0
        }
    }
}

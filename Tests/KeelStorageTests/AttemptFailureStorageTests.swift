import Foundation
import KeelCore
import Testing

@testable import KeelStorage

/// Each retried attempt's start in `attempt_failures` (migration 9): kept when written, absent
/// for rows written before the migration.
extension SQLiteStorageTests {
    @Test func aRetriedAttemptsStartRoundTripsAndOlderRowsHaveNone() async throws {
        let dir = NSTemporaryDirectory() + "keel-attempts-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/keel.db"
        // A database as migration 8 left it, with one row that has no start.
        do {
            let old = try SQLiteConnection(path: path, readOnly: false)
            for sql in Migrations.all.prefix(8) { try old.execute(sql) }
            try old.execute(
                """
                INSERT INTO attempt_failures (task_id, attempt, failure, failed_at)
                VALUES ('t1', 1, '{"type":"Old","message":"before 9"}', 1500);
                PRAGMA user_version=8;
                """)
        }
        let store = try SQLiteStorage(path: path)
        let new = AttemptFailure(taskId: "t1", attempt: 2, failure: ["type": "Declined", "message": "no"], failedAt: 2500, startedAt: 2100)
        try await store.write { try $0.recordAttemptFailure(new) }
        await store.close()
        let reopened = try SQLiteStorage(path: path)
        let rows = try await reopened.read { try $0.attemptFailures(taskId: "t1") }
        #expect(rows.map(\.attempt) == [1, 2])
        #expect(rows.first?.startedAt == nil, "a row from before migration 9 has no start")
        #expect(rows.last == new)
        await reopened.close()
    }
}

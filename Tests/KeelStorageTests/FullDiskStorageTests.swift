import Foundation
import KeelCore
import KeelStorage
import Testing

/// The store on a real full disk: SQLite returns SQLITE_FULL because `max_page_count` is lowered
/// on the live writer connection. Whatever SQLite rolls back, and however writes are grouped into
/// commits, a write is reported committed exactly when it is in the file.
@Suite("SQLite storage on a full disk", .timeLimit(.minutes(3)))
struct FullDiskStorageTests {
    func task(_ id: String, input: JSONValue) -> ActivityTaskRecord {
        ActivityTaskRecord(id: id, name: "a.b", input: input, idempotencyKey: nil, retryPolicy: RetryPolicy(),
            timeouts: ActivityTimeouts(), contractHash: nil, now: 1000)
    }

    @Test func everyWriteReportedCommittedIsInTheFileAndNoOtherIs() async throws {
        let dir = NSTemporaryDirectory() + "keel-full-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/keel.db"
        defer { _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: path) }
        let store = try SQLiteStorage(path: path)
        #expect(try await store.write { try $0.insertActivityTask(self.task("before", input: 1)) } == .applied)
        _SQLiteTestHooks.setMaximumPageCount(1, forDatabaseAt: path)

        // Small and large writes at once, so that some share a group commit with one that cannot fit.
        let big = JSONValue.string(String(repeating: "y", count: 32 * 1024))
        let reported = try await withThrowingTaskGroup(of: (String, StorageFailureReason?).self) { group in
            for i in 0..<24 {
                let record = task("t\(i)", input: i % 3 == 0 ? big : JSONValue(i))
                group.addTask {
                    do {
                        _ = try await store.write { try $0.insertActivityTask(record) }
                        return (record.id, nil)
                    } catch {
                        return (record.id, StorageFailureReason(error))
                    }
                }
            }
            var all: [String: StorageFailureReason?] = [:]
            for try await (id, failure) in group { all[id] = failure }
            return all
        }
        // Every write with a large input needed new pages: each one failed, as a full disk.
        for i in stride(from: 0, to: 24, by: 3) {
            #expect(reported["t\(i)"] == .some(.diskFull), "t\(i): \(String(describing: reported["t\(i)"]))")
        }
        await store.close()

        // Reopened without the cap: exactly the writes reported committed are there, and the first one.
        _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: path)
        let reopened = try SQLiteStorage(path: path)
        #expect(try await reopened.read { try $0.activityTask(id: "before") } != nil)
        for (id, failure) in reported {
            let stored = try await reopened.read { try $0.activityTask(id: id) }
            #expect((stored != nil) == (failure == nil), "\(id): reported \(String(describing: failure)), stored \(stored != nil)")
        }
        // And there is room again.
        #expect(try await reopened.write { try $0.insertActivityTask(self.task("after", input: big)) } == .applied)
        await reopened.close()
    }
}

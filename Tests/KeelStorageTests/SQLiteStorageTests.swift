import Foundation
import KeelCore
import KeelStorage
import Testing

@Suite("SQLite storage", .timeLimit(.minutes(3)))
struct SQLiteStorageTests {
    func withStore<T>(_ body: (SQLiteStorage, String) async throws -> T) async throws -> T {
        let dir = NSTemporaryDirectory() + "keel-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStorage(path: dir + "/keel.db")
        let result = try await body(store, dir)
        await store.close()
        return result
    }

    func task(_ id: String, key: String? = nil) -> ActivityTaskRecord {
        ActivityTaskRecord(id: id, name: "a.b", input: ["x": 1], idempotencyKey: key, retryPolicy: RetryPolicy(),
            timeouts: ActivityTimeouts(), contractHash: nil, now: 1000)
    }

    @Test func aTaskIsStoredOnceAndReadBackAsStored() async throws {
        try await withStore { (store: SQLiteStorage, _: String) async throws -> Void in
            #expect(try await store.write { try $0.insertActivityTask(self.task("t1")) } == .applied)
            #expect(try await store.write { try $0.insertActivityTask(self.task("t1")) } == .duplicate)
            let t = try await store.read { try $0.activityTask(id: "t1") }
            #expect(t?.status == .scheduled)
            #expect(t?.input == ["x": 1])
            #expect(t?.createdAt == 1000)
        }
    }

    @Test func idempotencyKeysAreUnique() async throws {
        try await withStore { (store: SQLiteStorage, _: String) async throws -> Void in
            #expect(try await store.write { try $0.insertActivityTask(self.task("t1", key: "k")) } == .applied)
            #expect(try await store.write { try $0.insertActivityTask(self.task("t2", key: "k")) } == .duplicate)
            #expect(try await store.read { try $0.activityTask(idempotencyKey: "k") }?.id == "t1")
        }
    }

    @Test func concurrentWritesAreGroupCommittedAndEachSeesItsOwnOutcome() async throws {
        try await withStore { (store: SQLiteStorage, _: String) async throws -> Void in
            try await withThrowingTaskGroup(of: WriteOutcome.self) { group in
                for i in 0..<500 {
                    group.addTask { try await store.write { try $0.insertActivityTask(self.task("t\(i % 400)")) } }
                }
                var applied = 0, duplicate = 0
                for try await o in group {
                    if o == .applied { applied += 1 } else if o == .duplicate { duplicate += 1 }
                }
                #expect(applied == 400)
                #expect(duplicate == 100)
            }
            let stored = try await store.read { r in try (0..<400).filter { try r.activityTask(id: "t\($0)") != nil }.count }
            #expect(stored == 400)
        }
    }

    @Test func aThrowingWriteRollsBackOnlyItsOwnChanges() async throws {
        struct Boom: Error {}
        try await withStore { (store: SQLiteStorage, _: String) async throws -> Void in
            let good = Task { try await store.write { try $0.insertActivityTask(self.task("good")) } }
            let bad = Task {
                try await store.write { tx -> WriteOutcome in
                    _ = try tx.insertActivityTask(self.task("bad"))
                    throw Boom()
                }
            }
            let goodOutcome = try await good.value
            #expect(goodOutcome == .applied)
            await #expect(throws: Boom.self) { try await bad.value }
            #expect(try await store.read { try $0.activityTask(id: "bad") } == nil)
            #expect(try await store.read { try $0.activityTask(id: "good") } != nil)
        }
    }

    @Test func reopeningTheFileKeepsCommittedData() async throws {
        let dir = NSTemporaryDirectory() + "keel-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try SQLiteStorage(path: dir + "/keel.db")
        _ = try await first.write { try $0.insertActivityTask(self.task("kept")) }
        await first.close()
        let second = try SQLiteStorage(path: dir + "/keel.db", durability: .normal)
        #expect(try await second.read { try $0.activityTask(id: "kept") }?.name == "a.b")
        await second.close()
    }

    @Test func aFileThatIsNotADatabaseIsAClearError() throws {
        let path = NSTemporaryDirectory() + "keel-notdb-\(UUID().uuidString)"
        try Data("this is not sqlite".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: KeelError.self) { try SQLiteStorage(path: path) }
    }

    @Test func journalWritesAreFencedByTheEpoch() async throws {
        try await withStore { (store: SQLiteStorage, _: String) async throws -> Void in
            var w = WorkflowRecord(id: "w1", name: "wf", input: 1, contractHash: nil, now: 1)
            w.epoch = 3
            let record = w
            #expect(try await store.write { try $0.insertWorkflow(record) } == .applied)
            let e = JournalEntry(workflowId: "w1", generation: 0, seq: 1, kind: "now", name: "now", input: [:], now: 2)
            #expect(try await store.write { try $0.insertJournalEntry(e, epoch: 2) } == .stale)
            #expect(try await store.write { try $0.insertJournalEntry(e, epoch: 3) } == .applied)
            #expect(try await store.write { try $0.insertJournalEntry(e, epoch: 3) } == .duplicate)
            var moved = record
            moved.epoch = 4
            let m = moved
            #expect(try await store.write { try $0.updateWorkflow(m, expectedEpoch: 2) } == .stale)
            #expect(try await store.write { try $0.updateWorkflow(m, expectedEpoch: 3) } == .applied)
        }
    }
}

@Suite("One store per SQLite file")
struct DatabaseLockTests {
    @Test func aSecondOpenIsRefusedNamingThisProcessAndAllowedAfterClose() async throws {
        let dir = NSTemporaryDirectory() + "keel-lock-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/keel.db"
        let first = try SQLiteStorage(path: path)
        do {
            _ = try SQLiteStorage(path: path)
            Issue.record("a second store opened a file the first one holds")
        } catch let error as KeelError {
            #expect(error.code == .storageFailure)
            #expect(error.data?["holderPid"] == JSONValue(Int64(getpid())))
            #expect(error.message.contains("in use by another orchestrator"), "\(error.message)")
        }
        await first.close()
        let second = try SQLiteStorage(path: path)
        await second.close()
    }
}

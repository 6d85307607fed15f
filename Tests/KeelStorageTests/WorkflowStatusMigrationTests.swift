import Foundation
import KeelCore
import Testing

@testable import KeelStorage

/// Migration 4: the workflows table is rebuilt for `terminated`, `timedOut` and the deadlines,
/// keeping every row and the journal's and signals' foreign keys.
@Suite("Workflow statuses and deadlines in the store", .timeLimit(.minutes(2)))
struct WorkflowStatusMigrationTests {
    @Test func aDatabaseFromBeforeKeepsItsWorkflowsAndTakesTheNewStatusesAndDeadlines() async throws {
        let dir = NSTemporaryDirectory() + "keel-wf4-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/keel.db"
        // A database as the release before left it: migrations 1 to 3, one workflow with a journal entry and a signal.
        do {
            let old = try SQLiteConnection(path: path, readOnly: false)
            try old.execute("PRAGMA foreign_keys=ON")
            for sql in Migrations.all.prefix(3) { try old.execute(sql) }
            try old.execute(
                """
                INSERT INTO workflows (workflow_id, name, input, status, generation, epoch, created_at, updated_at)
                VALUES ('wf-old', 'orders.fulfil', '{}', 'suspended', 0, 2, 1000, 2000);
                INSERT INTO journal (workflow_id, generation, seq, kind, name, input, status, created_at)
                VALUES ('wf-old', 0, 1, 'signal', 'go', '{}', 'scheduled', 1500);
                INSERT INTO signals (workflow_id, name, payload, created_at) VALUES ('wf-old', 'go', 'true', 1600);
                PRAGMA user_version=3;
                """)
        }
        let store = try SQLiteStorage(path: path)
        var old = try #require(try await store.read { try $0.workflow(id: "wf-old") })
        #expect(old.status == .suspended && old.epoch == 2 && old.updatedAt == 2000)
        #expect(old.executionDeadline == nil && old.runTimeoutMs == nil && old.runDeadline == nil)
        #expect(try await store.read { try $0.journal(workflowId: "wf-old", generation: 0) }.count == 1)
        old.status = .terminated
        old.failure = ["type": "Terminated", "message": "bad deploy"]
        let ended = old
        #expect(try await store.write { try $0.updateWorkflow(ended, expectedEpoch: 2) } == .applied)
        // Final: no later update applies.
        #expect(try await store.write { try $0.updateWorkflow(ended, expectedEpoch: 2) } != .applied)
        var fresh = WorkflowRecord(id: "wf-new", name: "orders.fulfil", input: .null, contractHash: nil, now: 3000)
        fresh.executionDeadline = 9000
        fresh.runTimeoutMs = 500
        fresh.runDeadline = 3500
        let inserted = fresh
        #expect(try await store.write { try $0.insertWorkflow(inserted) } == .applied)
        // Foreign keys still hold after the rebuild: a journal entry of no workflow is refused
        // (a constraint, reported as not applied).
        let orphan = JournalEntry(workflowId: "wf-none", generation: 0, seq: 1, kind: "now", name: "now", input: .null, now: 1)
        #expect(try await store.write { try $0.insertJournalEntry(orphan, epoch: nil) } != .applied)
        await store.close()
        let reopened = try SQLiteStorage(path: path)
        let back = try #require(try await reopened.read { try $0.workflow(id: "wf-new") })
        #expect(back.executionDeadline == 9000 && back.runTimeoutMs == 500 && back.runDeadline == 3500)
        var filter = WorkflowFilter()
        filter.status = .terminated
        let terminated = filter
        #expect(try await reopened.read { try $0.workflows(terminated) }.map(\.id) == ["wf-old"])
        await reopened.close()
    }
}

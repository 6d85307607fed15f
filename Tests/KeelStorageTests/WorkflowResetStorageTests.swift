import Foundation
import KeelCore
import KeelStorage
import Testing

@Suite("SQLite storage: workflow resets", .timeLimit(.minutes(1)))
struct WorkflowResetStorageTests {
    func withStore(_ body: (SQLiteStorage) async throws -> Void) async throws {
        let dir = NSTemporaryDirectory() + "keel-reset-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStorage(path: dir + "/keel.db")
        try await body(store)
        await store.close()
    }

    /// A failed execution at epoch 3 with a 3-step journal; step 2 consumed a signal, step 3's task is open.
    func seed(_ store: SQLiteStorage) async throws {
        _ = try await store.write { tx in
            var w = WorkflowRecord(id: "w", name: "a.flow", input: ["n": 1], contractHash: nil, now: 10)
            w.status = .failed
            w.epoch = 3
            w.failure = ["type": "Bug", "message": "v1"]
            _ = try tx.insertWorkflow(w)
            for seq in 1...3 {
                var e = JournalEntry(workflowId: "w", generation: 0, seq: seq, kind: seq == 2 ? "signal" : "activity",
                    name: "s\(seq)", input: [:], now: 20)
                e.status = seq == 3 ? .scheduled : .completed
                e.result = seq == 3 ? nil : JSONValue(seq)
                e.taskId = seq == 3 ? "t3" : nil
                _ = try tx.insertJournalEntry(e, epoch: nil)
            }
            let signal = try tx.insertSignal(workflowId: "w", name: "s2", payload: "hi", key: nil, now: 21) ?? -1
            _ = try tx.consumeSignal(id: signal, generation: 0, seq: 2)
            var t = ActivityTaskRecord(id: "t3", name: "s3", input: [:], idempotencyKey: "w/0/3", retryPolicy: RetryPolicy(),
                timeouts: ActivityTimeouts(), contractHash: nil, now: 22)
            t.workflowId = "w"
            t.generation = 0
            t.stepSeq = 3
            _ = try tx.insertActivityTask(t)
        }
    }

    func reset(toStep: Int) -> WorkflowReset {
        WorkflowReset(workflowId: "w", fromGeneration: 0, toStep: toStep, reason: "fix", requestedBy: "admin",
            previousStatus: .failed, previousFailure: ["type": "Bug", "message": "v1"], now: 30)
    }

    @Test func aResetCopiesTheKeptStepsMovesTheEpochAndRecordsItself() async throws {
        try await withStore { store in
            try await seed(store)
            #expect(try await store.write { try $0.resetWorkflow(reset(toStep: 1), expectedEpoch: 2, now: 30) } == .stale)
            #expect(try await store.write { try $0.resetWorkflow(reset(toStep: 1), expectedEpoch: 3, now: 30) } == .applied)
            // The same reset again finds generation 1: the store moved on.
            #expect(try await store.write { try $0.resetWorkflow(reset(toStep: 1), expectedEpoch: 4, now: 31) } == .stale)
            let (w, kept, old, resets, task, signal) = try await store.read { r in
                (try r.workflow(id: "w"), try r.journal(workflowId: "w", generation: 1), try r.journal(workflowId: "w", generation: 0),
                 try r.workflowResets(workflowId: "w"), try r.activityTask(id: "t3"), try r.pendingSignal(workflowId: "w", name: "s2"))
            }
            #expect(w?.status == .pending)
            #expect(w?.generation == 1)
            #expect(w?.epoch == 4)
            #expect(w?.failure == nil)
            #expect(kept.map(\.seq) == [1])
            #expect(kept.first?.result == 1)
            #expect(kept.first?.generation == 1)
            #expect(old.count == 3)
            #expect(resets.count == 1)
            #expect(resets.first?.toGeneration == 1)
            #expect(resets.first?.previousStatus == .failed)
            #expect(resets.first?.previousFailure?["message"] == "v1")
            #expect(task?.status == .cancelled)
            // Step 2 is not kept: the signal it consumed is pending again.
            #expect(signal?.payload == "hi")
        }
    }

    @Test func anUnknownExecutionIsNotFound() async throws {
        try await withStore { (store: SQLiteStorage) async throws -> Void in
            let r = reset(toStep: 0)
            let outcome = try await store.write { try $0.resetWorkflow(r, expectedEpoch: 0, now: 1) }
            #expect(outcome == .notFound)
        }
    }
}

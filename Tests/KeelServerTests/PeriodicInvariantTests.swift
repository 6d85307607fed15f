import Foundation
import KeelCore
import KeelProtocol
import KeelStorage
import KeelTesting
import Logging
import Testing

@testable import KeelEngine

/// The open-execution invariant's checks (docs/execution-model.md, "No execution waits for
/// nothing"): the periodic one over the runs a node holds in memory, and the ones over what the
/// store holds suspended (at start, and at `workflow/resume`). No path through the engine is known
/// to lose an execution's wake-up any more (that is the point), so the lost state is made with a
/// test hook in memory, or written into the SQLite file as an earlier version could have left it;
/// the store, the timer loop and the repair are the real ones.
@Suite("The open-execution invariant checks", .serialized, .timeLimit(.minutes(2)))
struct PeriodicInvariantTests {
    @Test func aPendingExecutionMissingFromItsRunQueueIsRequeuedByThePeriodicCheck() async throws {
        try await TemporaryDirectory.with { dir in
            var options = Engine.Options()
            options.invariantCheckIntervalMs = 50
            let node = try await SQLiteNode.open(path: dir.file("keel.db"), options: options)
            let engine = node.engine
            let record = WorkflowRecord(id: "wf-lost", name: "lost.flow", input: .null, contractHash: nil, now: 1)
            await engine._testLosePlaceInQueue(record)
            #expect(await engine._testIsQueued("wf-lost") == false)
            let before = InvariantMetrics.repairs
            let runner = Task { await engine.run() }
            let repaired = try await eventually(timeout: .seconds(30)) { await engine._testIsQueued("wf-lost") }
            #expect(repaired, "the check queued a run")
            #expect(InvariantMetrics.repairs > before)
            runner.cancel()
            await node.close()
        }
    }

    @Test func resumeWakesAStoredSuspendedExecutionThatNothingWakes() async throws {
        try await TemporaryDirectory.with { dir in
            let node = try await SQLiteNode.open(path: dir.file("keel.db"))
            try await storeSuspended(node, id: "wf-lost")
            // Before: {"status":"suspended", "resumed": false} and the execution slept for good.
            let answer = try await node.engine.resumeWorkflow(WorkflowResumeParams(workflowId: "wf-lost"))
            #expect(answer.resumed == true)
            #expect(answer.status == .pending)
            let stored = try await node.store.execution(id: "wf-lost")
            #expect(stored?.record.status == .pending, "claimable by any node")
            #expect(stored?.ownerNode == nil)
            await node.close()
        }
    }

    @Test func theStartUpCheckWakesAStoredSuspendedExecutionThatNothingWakes() async throws {
        try await TemporaryDirectory.with { dir in
            let node = try await SQLiteNode.open(path: dir.file("keel.db"))
            try await storeSuspended(node, id: "wf-lost")
            try await storeSuspended(node, id: "wf-waits", waitingFor: "go")
            let before = InvariantMetrics.repairs
            try await node.engine.recover()
            let runner = Task { await node.engine.run() }
            let woken = try await eventually(timeout: .seconds(30)) {
                (try? await node.store.execution(id: "wf-lost"))?.record.status == .pending
            }
            #expect(woken, "the check at start woke the execution nothing else would")
            #expect(InvariantMetrics.repairs > before)
            #expect(try await node.store.execution(id: "wf-waits")?.record.status == .suspended)
            runner.cancel()
            await node.close()
        }
    }

    @Test func aStoredSuspendedExecutionWaitingForASignalIsLeftAlone() async throws {
        try await TemporaryDirectory.with { dir in
            let node = try await SQLiteNode.open(path: dir.file("keel.db"))
            try await storeSuspended(node, id: "wf-waits", waitingFor: "go")
            let answer = try await node.engine.resumeWorkflow(WorkflowResumeParams(workflowId: "wf-waits"))
            #expect(answer.resumed == false)
            #expect(answer.status == .suspended)
            #expect(try await node.store.execution(id: "wf-waits")?.record.status == .suspended)
            await node.close()
        }
    }

    /// Writes execution `id` into the file as suspended, with no step (nothing wakes it) or with
    /// a signal step waiting for `waitingFor`.
    private func storeSuspended(_ node: SQLiteNode, id: String, waitingFor signal: String? = nil) async throws {
        var record = WorkflowRecord(id: id, name: "lost.flow", input: .null, contractHash: nil, now: 1)
        record.status = .suspended
        record.epoch = 1
        let toStore = record
        let outcome = try await node.store.storage.write { tx -> WriteOutcome in
            let inserted = try tx.insertWorkflow(toStore)
            guard inserted == .applied, let signal else { return inserted }
            let entry = JournalEntry(workflowId: id, generation: 0, seq: 1, kind: "signal", name: signal, input: [:], now: 1)
            return try tx.insertJournalEntry(entry, epoch: nil)
        }
        #expect(outcome == .applied)
    }
}

extension Engine {
    /// Puts `record` in memory as pending, as a claimed execution is, but in no run queue.
    func _testLosePlaceInQueue(_ record: WorkflowRecord) {
        workflows[record.id] = LiveWorkflow(record: record, journal: [:], phase: .pending)
    }

    /// Whether execution `id` has a run queued.
    func _testIsQueued(_ id: String) -> Bool {
        guard let live = workflows[id], live.phase.isPending else { return false }
        return workflowQueue[live.record.name]?.ids.contains(id) == true
    }
}

import Foundation
import KeelCore
import KeelProtocol
import KeelStorage
import KeelTesting
import Logging
import Testing

@testable import KeelEngine

/// The periodic half of the open-execution invariant. No path through the engine is known to
/// lose an execution's wake-up any more (that is the point), so the lost state is made in memory
/// with a test hook; the store, the timer loop and the repair are the real ones.
@Suite("The periodic invariant check", .serialized, .timeLimit(.minutes(2)))
struct PeriodicInvariantTests {
    @Test func aSuspendedExecutionWithNothingToWakeItIsRequeuedByThePeriodicCheck() async throws {
        try await TemporaryDirectory.with { dir in
            let storage = try SQLiteStorage(path: dir.file("keel.db"))
            var options = Engine.Options()
            options.invariantCheckIntervalMs = 50
            let engine = Engine(
                storage: storage, clock: SystemClock(), checker: SchemaContractChecker(), options: options,
                logger: Logger(label: "keel-test"))
            let record = WorkflowRecord(id: "wf-lost", name: "lost.flow", input: .null, contractHash: nil, now: 1)
            #expect(try await storage.write { try $0.insertWorkflow(record) } == .applied)
            await engine._testLoseWakeUp(record)
            let before = InvariantMetrics.repairs
            let runner = Task { await engine.run() }
            let repaired = try await eventually(timeout: .seconds(30)) { await engine._testIsQueued("wf-lost") }
            #expect(repaired, "the check queued a run")
            #expect(InvariantMetrics.repairs > before)
            await engine.shutdown()
            runner.cancel()
            await storage.close()
        }
    }

    @Test func resumeRunsAStuckSuspendedExecutionAtOnce() async throws {
        try await TemporaryDirectory.with { dir in
            let storage = try SQLiteStorage(path: dir.file("keel.db"))
            var options = Engine.Options()
            options.invariantCheckIntervalMs = 0
            let engine = Engine(
                storage: storage, clock: SystemClock(), checker: SchemaContractChecker(), options: options,
                logger: Logger(label: "keel-test"))
            let record = WorkflowRecord(id: "wf-lost", name: "lost.flow", input: .null, contractHash: nil, now: 1)
            #expect(try await storage.write { try $0.insertWorkflow(record) } == .applied)
            await engine._testLoseWakeUp(record)
            // Before: {"status":"suspended"} and nothing else happened.
            let answer = try await engine.resumeWorkflow(WorkflowResumeParams(workflowId: "wf-lost"))
            #expect(answer.status == .pending)
            #expect(await engine._testIsQueued("wf-lost"))
            await storage.close()
        }
    }

    @Test func aSuspendedExecutionWaitingForASignalIsLeftAlone() async throws {
        try await TemporaryDirectory.with { dir in
            let storage = try SQLiteStorage(path: dir.file("keel.db"))
            let engine = Engine(
                storage: storage, clock: SystemClock(), checker: SchemaContractChecker(), logger: Logger(label: "keel-test"))
            let record = WorkflowRecord(id: "wf-waits", name: "lost.flow", input: .null, contractHash: nil, now: 1)
            await engine._testLoseWakeUp(record, waitingFor: "go")
            await engine.checkInvariant(.periodic)
            #expect(await engine._testIsQueued("wf-waits") == false)
            await storage.close()
        }
    }
}

extension Engine {
    /// Puts `record` in memory as suspended with no queued run: with nothing to wake it, or
    /// waiting for signal `waitingFor`.
    func _testLoseWakeUp(_ record: WorkflowRecord, waitingFor signal: String? = nil) {
        var r = record
        r.status = .suspended
        var live = LiveWorkflow(record: r, journal: [:], phase: .suspended)
        if let signal {
            live.journal[1] = JournalEntry(workflowId: r.id, generation: 0, seq: 1, kind: "signal", name: signal, input: [:], now: 1)
        }
        workflows[r.id] = live
    }

    /// Whether execution `id` has a run queued.
    func _testIsQueued(_ id: String) -> Bool {
        guard let live = workflows[id], case .pending = live.phase else { return false }
        return workflowQueue[live.record.name]?.ids.contains(id) == true
    }
}

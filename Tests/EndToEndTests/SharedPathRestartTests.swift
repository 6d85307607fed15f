import Foundation
import KeelCore
import KeelStorage
import KeelTesting
import Testing

extension EndToEnd {
/// docs/architecture.md, "One engine path": a SQLite server is the one node of its file. After a
/// kill -9 the next process holds the file's lock, so the node recorded by the dead one is gone
/// whatever its lease says: its running work is taken back by the first rescue, not after the
/// lease (10 s) runs out as on PostgreSQL, where another node may be alive. For the same reason
/// its lease never runs out while it lives.
@Suite("A SQLite node", .timeLimit(.minutes(3)))
struct SharedPathRestartTests {
    /// The environment of a server whose worker logs its attempts in `dir`.
    static func environment(_ dir: TemporaryDirectory) -> [String: String] {
        ["KEEL_E2E_LOG": dir.file("e2e.log")]
    }

    /// A server with the e2e worker, once an `e2e.double` attempt that sleeps
    /// `seconds` (idempotency key `key`) has started.
    static func serverWithARunningAttempt(_ dir: TemporaryDirectory, key: String, seconds: Int) async throws -> KeelProcess {
        let keel = KeelProcess(dir: dir, workers: ["python3 \(repositoryRoot)/Tests/EndToEndTests/workers/py_activities.py"])
        try await keel.start(environment: environment(dir))
        try await keel.waitForWorkers(1)
        _ = try await keel.call(
            "activity/call", ["name": "e2e.double", "input": ["n": 21, "sleep": JSONValue(seconds)], "wait": false, "idempotencyKey": .string(key)])
        let running = try await eventually(timeout: .seconds(60)) {
            sideEffects(dir.file("e2e.log")).contains { $0["event"] == "start" }
        }
        #expect(running, "the attempt never started")
        return keel
    }

    @Test func theDeadProcesssNodeIsRetiredAndItsRunningAttemptTakenBackAtStart() async throws {
        try await TemporaryDirectory.with { dir in
            let keel = try await Self.serverWithARunningAttempt(dir, key: "held", seconds: 60)
            keel.kill9()
            try await keel.start(environment: Self.environment(dir))
            let process = try #require(keel.process)
            let tookOver = try await eventually(timeout: .seconds(60)) { process.log.contains("took over dead nodes' work") }
            #expect(tookOver, "\(process.log)")
            let log = process.log
            #expect(log.contains("the previous process's node is gone"), "\(log)")
            // The takeover is the first round's: it comes before any lease of the old node could
            // have run out, and it returned the one running attempt.
            let takeover = log.split(separator: "\n").first { $0.contains("took over dead nodes' work") }
            #expect(takeover?.contains("tasks=1") == true, "\(takeover ?? "")")
            keel.stop()
        }
    }

    /// The lock keeps every other process out, so nobody can take a live SQLite node's work over:
    /// paused past the 10 s a PostgreSQL node's lease lasts (a laptop asleep), it goes on with its
    /// running attempt when it wakes, instead of finding its own lease lapsed, rescuing the
    /// attempt from itself and running it again.
    @Test func aNodePausedPastAnyLeaseKeepsItsRunningAttempt() async throws {
        try await TemporaryDirectory.with { dir in
            let keel = try await Self.serverWithARunningAttempt(dir, key: "paused", seconds: 14)
            let process = try #require(keel.process)
            process.pause()
            try await Task.sleep(for: .seconds(12))
            process.resume()
            let result = try await keel.call("activity/result", ["idempotencyKey": "paused", "waitTimeoutMs": 60_000])
            #expect(result["status"] == "completed", "\(result)")
            #expect(result["output"]?["n"] == 42, "\(result)")
            let starts = sideEffects(dir.file("e2e.log")).filter { $0["event"] == "start" }
            #expect(starts.count == 1, "the attempt ran again: \(starts)")
            #expect(!process.log.contains("took over dead nodes' work"), "\(process.log)")
            #expect(!process.log.contains("rejoined"), "\(process.log)")
            keel.stop()
        }
    }

    /// A file an earlier Keel last ran (before 2026-12-07 SQLite ran its own engine path, which
    /// kept its timers in memory and ran work without an owner) holds, after a kill -9, a sleeping
    /// step with no timer row and an execution and a task stored running with no owner. That state
    /// is written into the file here as that version left it; the server started on it gives the
    /// step its timer and the execution and the task back to a worker, so both still end.
    @Test func whatAnEarlierVersionLeftInTheFileStillEnds() async throws {
        try await TemporaryDirectory.with { dir in
            let log = dir.file("e2e.log")
            try await Self.writeWhatTheLocalPathLeft(into: dir.file("keel.db"))
            let keel = KeelProcess(dir: dir, workers: ["python3 \(repositoryRoot)/Tests/EndToEndTests/workers/py_upgrade.py"])
            try await keel.start(environment: ["KEEL_E2E_LOG": log])
            let process = try #require(keel.process)
            let task = try await keel.call("activity/result", ["idempotencyKey": "held", "waitTimeoutMs": 60_000])
            #expect(task["status"] == "completed", "\(task)\n\(process.log)")
            #expect(task["output"]?["attempt"] == 2, "the attempt the dead process ran was run again: \(task)")
            let nap = try await keel.call("workflow/result", ["workflowId": "nap", "waitTimeoutMs": 60_000])
            #expect(nap["status"] == "completed", "\(nap)\n\(process.log)")
            #expect(nap["output"] == "rested", "\(nap)")
            let adopted = process.log.split(separator: "\n").first { $0.contains("took over what an earlier Keel version left") }
            #expect(adopted?.contains("timers=1") == true && adopted?.contains("executions=1") == true
                && adopted?.contains("tasks=1") == true, "\(process.log)")
            keel.stop()
        }
    }

    /// A task's first attempt running (`up.slow`, key `held`) and workflow `nap` running, asleep in
    /// its step 1 until 3 s from now: stored with no owner and no timer row.
    static func writeWhatTheLocalPathLeft(into path: String) async throws {
        let storage = try SQLiteStorage(path: path)
        let now = storage.now()
        var task = ActivityTaskRecord(
            id: "t-held", name: "up.slow", input: ["sleep": 600], idempotencyKey: "held", retryPolicy: RetryPolicy(),
            timeouts: ActivityTimeouts(), contractHash: nil, now: now)
        task.status = .running
        task.attempt = 1
        task.startedAt = now
        var nap = WorkflowRecord(id: "nap", name: "up.nap", input: ["seconds": 3], contractHash: nil, now: now)
        nap.status = .running
        nap.epoch = 1
        var sleep = JournalEntry(
            workflowId: "nap", generation: 0, seq: 1, kind: "sleep", name: "sleep", input: ["durationMs": 3000], now: now)
        sleep.wakeAt = now + 3000
        let toStore = (task, nap, sleep)
        let outcomes = try await storage.write { tx in
            [try tx.insertActivityTask(toStore.0), try tx.insertWorkflow(toStore.1), try tx.insertJournalEntry(toStore.2, epoch: nil)]
        }
        await storage.close()
        #expect(outcomes == [.applied, .applied, .applied])
    }
}
}
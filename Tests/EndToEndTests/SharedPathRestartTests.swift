import Foundation
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
/// docs/architecture.md, "Two engine paths": a SQLite server on the shared-store path is one node
/// of its file. After a kill -9 the next process holds the file's lock, so the node recorded by
/// the dead one is gone whatever its lease says: its running work is taken back by the first
/// rescue, not after the lease (10 s) runs out as on PostgreSQL, where another node may be alive.
/// For the same reason its lease never runs out while it lives.
@Suite("A SQLite node on the shared path", .timeLimit(.minutes(3)))
struct SharedPathRestartTests {
    /// The environment of a shared-path server whose worker logs its attempts in `dir`.
    static func environment(_ dir: TemporaryDirectory) -> [String: String] {
        ["KEEL_SQLITE_ON_STORE": "1", "KEEL_E2E_LOG": dir.file("e2e.log")]
    }

    /// A shared-path server with the e2e worker, once an `e2e.double` attempt that sleeps
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

    /// A file the local engine path last ran (`KEEL_SQLITE_ON_STORE=0`, SQLite's default before
    /// 2026-12-06) holds a sleeping step with no timer row (that path kept its timers in memory)
    /// and, after a kill -9, a task stored running with no owner: the shared path, started on it,
    /// gives the step its timer and the task back to a worker, so both still end.
    @Test func whatTheLocalPathLeftInTheFileStillEnds() async throws {
        try await TemporaryDirectory.with { dir in
            let log = dir.file("e2e.log")
            let keel = KeelProcess(dir: dir, workers: ["python3 \(repositoryRoot)/Tests/EndToEndTests/workers/py_upgrade.py"])
            try await keel.start(environment: ["KEEL_SQLITE_ON_STORE": "0", "KEEL_E2E_LOG": log])
            try await keel.waitForWorkers(1)
            _ = try await keel.call(
                "activity/call", ["name": "up.slow", "input": ["sleep": 600], "wait": false, "idempotencyKey": "held"])
            _ = try await keel.call("workflow/start", ["name": "up.nap", "workflowId": "nap", "input": ["seconds": 3]])
            let started = try await eventually(timeout: .seconds(60)) {
                let napping = (try? await keel.call("workflow/history", ["workflowId": "nap"]))?["entries"]?.arrayValue?
                    .contains { $0["kind"] == "sleep" } ?? false
                return napping && sideEffects(log).contains { $0["event"] == "start" }
            }
            #expect(started, "the attempt or the sleep never started")
            keel.kill9()

            try await keel.start(environment: ["KEEL_SQLITE_ON_STORE": "1", "KEEL_E2E_LOG": log])
            let process = try #require(keel.process)
            let task = try await keel.call("activity/result", ["idempotencyKey": "held", "waitTimeoutMs": 60_000])
            #expect(task["status"] == "completed", "\(task)\n\(process.log)")
            let nap = try await keel.call("workflow/result", ["workflowId": "nap", "waitTimeoutMs": 60_000])
            #expect(nap["status"] == "completed", "\(nap)\n\(process.log)")
            #expect(nap["output"] == "rested", "\(nap)")
            #expect(process.log.contains("took over what the local engine path left in the file"), "\(process.log)")
            keel.stop()
        }
    }
}
}
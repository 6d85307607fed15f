import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Synchronization
import Testing

extension EndToEnd {
@Suite("Crash safety with real processes and kill -9", .serialized, .timeLimit(.minutes(3)))
struct CrashTests {
    let pyWorker = "python3 \(repositoryRoot)/Tests/EndToEndTests/workers/py_activities.py"

    @Test func everyAcceptedCallCompletesAfterTheOrchestratorIsKilled() async throws {
        try await TemporaryDirectory.with { dir in
            let log = dir.file("effects.jsonl")
            let keel = KeelProcess(dir: dir, workers: [pyWorker])
            // 3 s per call, 32 at a time: about 12 s for all, so the kill below lands mid-way even
            // when reading which calls completed takes seconds (a loaded machine, a sanitizer).
            let env = ["KEEL_E2E_LOG": log, "KEEL_E2E_SLEEP": "3.0"]
            try await keel.start(environment: env)
            try await keel.waitForWorkers(1)
            for i in 0..<100 {
                _ = try await keel.call("activity/call", [
                    "name": "e2e.double", "input": ["n": JSONValue(i)], "idempotencyKey": .string("call-\(i)"), "wait": false,
                ])
            }
            _ = try await eventually(timeout: .seconds(20)) { sideEffects(log).filter { $0["event"] == "done" }.count >= 30 }
            // Which calls are recorded complete right now (one connection, quickly); none may run again.
            let completedBefore = try await KeelClient.withClient(keel.endpoint) { client -> Set<String> in
                var done = Set<String>()
                for i in 0..<100 {
                    let r = try await client.call("activity/result", ["idempotencyKey": .string("call-\(i)"), "waitTimeoutMs": 0])
                    if r["status"] == "completed" { done.insert("call-\(i)") }
                }
                return done
            }
            keel.kill9()
            let linesBeforeRestart = sideEffects(log).count
            #expect(!completedBefore.isEmpty)
            #expect(completedBefore.count < 100)

            try await keel.start(environment: env)
            for i in 0..<100 {
                let r = try await keel.call("activity/result", ["idempotencyKey": .string("call-\(i)"), "waitTimeoutMs": 30_000])
                #expect(r["status"] == "completed", "call-\(i) is \(r)")
                #expect(r["output"] == ["n": JSONValue(i * 2)])
            }
            let rerun = sideEffects(log).dropFirst(linesBeforeRestart).compactMap { $0["key"]?.stringValue }
            #expect(Set(rerun).isDisjoint(with: completedBefore), "completed calls ran again: \(Set(rerun).intersection(completedBefore))")
            keel.stop()
        }
    }

    @Test func aKilledActivityWorkerIsReplacedAndTheActivityRetriedElsewhere() async throws {
        try await TemporaryDirectory.with { dir in
            let log = dir.file("effects.jsonl")
            let keel = KeelProcess(dir: dir, workers: [pyWorker, pyWorker])
            try await keel.start(environment: ["KEEL_E2E_LOG": log])
            try await keel.waitForWorkers(2)
            let started = try await keel.call("activity/call", [
                "name": "e2e.double", "input": ["n": 21, "sleep": 3], "wait": false,
                "retryPolicy": ["initialIntervalMs": 50],
            ])
            #expect(try await eventually { sideEffects(log).contains { $0["event"] == "start" } })
            let victim = Int32(sideEffects(log).first { $0["event"] == "start" }?["pid"]?.int64Value ?? 0)
            #expect(victim > 0)
            kill(victim, SIGKILL)
            let r = try await keel.call("activity/result", ["taskId": started["taskId"]!, "waitTimeoutMs": 30_000])
            #expect(r["status"] == "completed")
            #expect(r["output"] == ["n": 42])
            #expect(r["attempts"] == 2)
            let done = sideEffects(log).filter { $0["event"] == "done" }
            #expect(done.count == 1)
            #expect(done.first?["pid"]?.int64Value != Int64(victim))
            keel.stop()
        }
    }

    @Test func aKilledWorkflowWorkerIsTakenOverFromTheJournal() async throws {
        try await TemporaryDirectory.with { dir in
            let log = dir.file("effects.jsonl")
            let goDir = "\(repositoryRoot)/Tests/EndToEndTests/workers/go-workflow"
            let binary = dir.file("go-workflow")
            // A compile takes seconds: waited for on a thread of its own, not a cooperative one.
            let built = try await offCooperativePool { () throws -> Int32 in
                let build = Process()
                build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                build.arguments = ["go", "build", "-o", binary, "."]
                build.currentDirectoryURL = URL(fileURLWithPath: goDir)
                try build.run()
                build.waitUntilExit()
                return build.terminationStatus
            }
            try #require(built == 0, "go build failed")
            let keel = KeelProcess(dir: dir, workers: [pyWorker, binary, binary])
            try await keel.start(environment: ["KEEL_E2E_LOG": log])
            try await keel.waitForWorkers(3)
            _ = try await keel.call("workflow/start", ["name": "e2e.flow", "input": ["n": 5, "sleep": 2], "workflowId": "flow-1"])
            // Wait until the second activity runs, then kill the Go worker holding the run.
            #expect(try await eventually(timeout: .seconds(20)) { sideEffects(log).filter { $0["event"] == "start" }.count >= 2 })
            let workers = try await keel.call("worker/list", [:])["workers"]?.arrayValue ?? []
            let holder = workers.first { ($0["workflowsInFlight"]?.int64Value ?? 0) > 0 }
            let pid = Int32(holder?["pid"]?.int64Value ?? 0)
            try #require(pid > 0, "no worker holds the run: \(workers)")
            kill(pid, SIGKILL)
            let r = try await keel.call("workflow/result", ["workflowId": "flow-1", "waitTimeoutMs": 30_000])
            #expect(r["status"] == "completed")
            #expect(r["output"] == ["n": 20])
            // The first activity completed before the kill and was not run again.
            let firstKey = sideEffects(log).first?["key"]?.stringValue
            #expect(sideEffects(log).filter { $0["key"]?.stringValue == firstKey && $0["event"] == "start" }.count == 1)
            keel.stop()
        }
    }
}
}

import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
/// A suspended execution keeps only its scheduled steps in memory; its ended ones are read back
/// from the store when it wakes (issue 15, LiveWorkflow.journalTrimmed). These executions wake
/// after a signal, some in the life they suspended in, the rest after a kill -9 and a restart.
@Suite("Suspended executions wake with their whole journal", .serialized, .timeLimit(.minutes(3)))
struct SuspendedJournalCrashTests {
    static let count = 20

    func makeWorker(_ endpoint: Endpoint, log: EffectLog) -> Worker {
        let w = Worker(name: "e2e-suspended", endpoint: endpoint, maxConcurrent: 16)
        w.activity("journal.step") { (s: Step, ctx) -> Step in
            log.record(ctx.idempotencyKey)
            return Step(id: s.id, step: s.step + "!")
        }
        w.workflow("journal.flow") { (o: Order, ctx) -> String in
            let a: Step = try await ctx.activity("journal.step", Step(id: o.id, step: "a"))
            let b: Step = try await ctx.activity("journal.step", Step(id: o.id, step: "b"))
            let go: JSONValue = try await ctx.signal("go")
            return "\(o.id):\(a.step),\(b.step):\(go["n"]?.int64Value ?? -1)"
        }
        return w
    }

    func status(_ keel: KeelProcess, _ i: Int) async throws -> JSONValue? {
        try await keel.call("workflow/describe", ["workflowId": .string("susp-\(i)")])["status"]
    }

    @Test func suspendedExecutionsResumeFromTheirStoredStepsBeforeAndAfterAKill() async throws {
        try await TemporaryDirectory.with { dir in
            let keel = KeelProcess(dir: dir)
            let log = EffectLog()
            try await keel.start()
            let worker = makeWorker(keel.endpoint, log: log)
            let workerTask = Task { try await worker.run() }
            defer { workerTask.cancel() }
            try await keel.waitForWorkers(1)
            for i in 0..<Self.count {
                _ = try await keel.call("workflow/start", ["name": "journal.flow", "input": ["id": JSONValue(i)], "workflowId": .string("susp-\(i)")])
            }
            // Each waits for its signal: its step is held (stepHoldMs, 5 s), then it suspends.
            #expect(try await eventually {
                for i in 0..<Self.count where try await status(keel, i) != "suspended" { return false }
                return true
            })
            // While suspended, what is read about an execution comes from the store, whole.
            let described = try await keel.call("workflow/describe", ["workflowId": "susp-0"])
            #expect(described["steps"] == 3, "\(described)")
            #expect(described["pendingSteps"]?.arrayValue?.map { $0["kind"] } == ["signal"], "\(described)")
            // The first half wakes in this life: its run replays the two stored activity steps.
            for i in 0..<(Self.count / 2) {
                _ = try await keel.call("workflow/signal", ["workflowId": .string("susp-\(i)"), "name": "go", "payload": ["n": JSONValue(i)]])
            }
            for i in 0..<(Self.count / 2) {
                let r = try await keel.call("workflow/result", ["workflowId": .string("susp-\(i)"), "waitTimeoutMs": 30_000])
                #expect(r["output"] == .string("\(i):a!,b!:\(i)"), "susp-\(i): \(r)")
            }
            keel.kill9()
            try await keel.start()
            // The second half was suspended at the kill: recovered, run again, suspended again.
            for i in (Self.count / 2)..<Self.count {
                _ = try await keel.call("workflow/signal", ["workflowId": .string("susp-\(i)"), "name": "go", "payload": ["n": JSONValue(i)]])
            }
            for i in (Self.count / 2)..<Self.count {
                let r = try await keel.call("workflow/result", ["workflowId": .string("susp-\(i)"), "waitTimeoutMs": 60_000])
                #expect(r["output"] == .string("\(i):a!,b!:\(i)"), "susp-\(i): \(r)")
            }
            // Replays answered every activity step from the journal: each ran once.
            let runs = log.lines.withLock { Dictionary(grouping: $0.map(\.key), by: { $0 }).mapValues(\.count) }
            #expect(runs.count == Self.count * 2)
            #expect(runs.values.allSatisfy { $0 == 1 }, "\(runs.filter { $0.value > 1 })")
            keel.stop()
        }
    }
}
}

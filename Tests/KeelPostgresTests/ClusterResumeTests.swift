import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// `workflow/resume` and `workflow/reset` on a shared PostgreSQL store (docs/scaling.md): an
/// execution parked or run on one node is resumed or reset from another and runs to its end on
/// whichever node claims it. Real `keel serve` processes, real PostgreSQL.
@Suite("Resume and reset across nodes on one PostgreSQL", .serialized, .timeLimit(.minutes(4)))
struct ClusterResumeTests {
    /// Serves `cr.drift`. Version 0 waits for signal `go`; version 1 (a bad deploy) calls an
    /// activity at that step instead; version 2 (the fix) waits for `go` again and answers "fixed".
    static func worker(on node: ClusterNodeProcess, version: Locked<Int>) -> Worker {
        let w = Worker(name: "drift-worker", endpoints: [node.endpoint])
        w.activity("cr.work") { (_: JSONValue, _) -> JSONValue in "worked" }
        w.workflow("cr.drift") { (_: JSONValue, ctx) -> JSONValue in
            if version.withLock { $0 } == 1 {
                let _: JSONValue = try await ctx.activity("cr.work", JSONValue.null)
            }
            let go: JSONValue = try await ctx.signal("go")
            return ["fixed": .bool(version.withLock { $0 } == 2), "go": go]
        }
        return w
    }

    @Test func anExecutionParkedOnOneNodeIsResumedFromAnotherAndCompletes() async throws {
        let version = Locked(0)
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let worker = Task { try await Self.worker(on: a, version: version).run() }
            defer { worker.cancel() }
            #expect(try await a.hasWorker("drift-worker"))
            _ = try await a.call("workflow/start", ["name": "cr.drift", "workflowId": "drift-1", "input": [:]])
            #expect(try await eventually {
                try await b.call("workflow/describe", ["workflowId": "drift-1"])["pendingSteps"]?.arrayValue?.isEmpty == false
            })

            // The bad deploy: the signal wakes the execution, its replay drifts, it parks. (Once
            // its run ended: a run still held at the wait would take the signal in the old code.)
            #expect(try await eventually { try await b.call("workflow/describe", ["workflowId": "drift-1"])["status"] == "suspended" })
            version.withLock { $0 = 1 }
            _ = try await b.call("workflow/signal", ["workflowId": "drift-1", "name": "go", "payload": 7])
            #expect(try await eventually { try await b.call("workflow/describe", ["workflowId": "drift-1"])["status"] == "parked" })
            let parked = try await b.call("workflow/describe", ["workflowId": "drift-1"])
            #expect(parked["lastError"]?["type"] == "NonDeterminism", "\(parked)")
            // Resuming what is open but not parked changes nothing.
            _ = try await a.call("workflow/start", ["name": "cr.drift", "workflowId": "drift-2", "input": [:]])
            #expect(try await eventually {
                try await a.call("workflow/describe", ["workflowId": "drift-2"])["status"]?.stringValue != "pending"
            })
            let notParked = try await b.call("workflow/resume", ["workflowId": "drift-2"])
            #expect(notParked["resumed"] == false, "\(notParked)")

            // The fix, then a resume sent to the node that does not run the workflow.
            version.withLock { $0 = 2 }
            let resumed = try await b.call("workflow/resume", ["workflowId": "drift-1"])
            #expect(resumed["resumed"] == true, "\(resumed)")
            #expect(resumed["status"] == "pending")
            let done = try await b.call("workflow/result", ["workflowId": "drift-1", "waitTimeoutMs": 60_000])
            #expect(done["status"] == "completed", "\(done)")
            #expect(done["output"] == ["fixed": true, "go": 7], "\(done)")
            #expect(try await a.call("workflow/describe", ["workflowId": "drift-1"])["lastError"] == nil)

            // Once ended, a resume is refused with the status; an unknown id is not found.
            do {
                _ = try await a.call("workflow/resume", ["workflowId": "drift-1"])
                Issue.record("resuming a completed execution must be refused")
            } catch let error as KeelError {
                #expect(error.code == .invalidParams)
                #expect(error.message.contains("completed, not parked"), "\(error)")
            }
            do {
                _ = try await a.call("workflow/resume", ["workflowId": "nope"])
                Issue.record("resuming an unknown execution must be refused")
            } catch let error as KeelError {
                #expect(error.code == .workflowNotFound)
            }
        }
    }

    /// Serves `cr.steps`: activity `cr.count` (step 1), signal `go` (step 2), `cr.count` again (step 3).
    static func stepsWorker(on node: ClusterNodeProcess, runs: ExecutionLog) -> Worker {
        let w = Worker(name: "steps-worker", endpoints: [node.endpoint])
        w.activity("cr.count") { (input: JSONValue, ctx) -> JSONValue in
            runs.record(input["step"]?.stringValue ?? "?", ctx.taskId)
            return input
        }
        w.workflow("cr.steps") { (_: JSONValue, ctx) -> JSONValue in
            let first: JSONValue = try await ctx.activity("cr.count", ["step": "first"] as JSONValue)
            let go: JSONValue = try await ctx.signal("go")
            let second: JSONValue = try await ctx.activity("cr.count", ["step": "second"] as JSONValue)
            return ["first": first, "go": go, "second": second]
        }
        return w
    }

    @Test func aResetSentToAnotherNodeRunsTheNewGenerationFromTheKeptSteps() async throws {
        let runs = ExecutionLog()
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let worker = Task { try await Self.stepsWorker(on: a, runs: runs).run() }
            defer { worker.cancel() }
            #expect(try await a.hasWorker("steps-worker"))

            // A completed execution, reset from B to step 1: its signal is pending again, step 1
            // replays from the journal, step 3 runs again.
            _ = try await a.call("workflow/start", ["name": "cr.steps", "workflowId": "steps-1", "input": [:]])
            _ = try await a.call("workflow/signal", ["workflowId": "steps-1", "name": "go", "payload": 1])
            let first = try await b.call("workflow/result", ["workflowId": "steps-1", "waitTimeoutMs": 60_000])
            #expect(first["status"] == "completed", "\(first)")
            let reset = try await b.call("workflow/reset", ["workflowId": "steps-1", "toStep": 1, "reason": "bad second step"])
            #expect(reset["generation"] == 1, "\(reset)")
            #expect(reset["previousGeneration"] == 0)
            #expect(reset["keptSteps"] == 1)
            #expect(reset["previousStatus"] == "completed")
            let again = try await a.call("workflow/result", ["workflowId": "steps-1", "waitTimeoutMs": 60_000])
            #expect(again["status"] == "completed", "\(again)")
            #expect(again["output"] == ["first": ["step": "first"], "go": 1, "second": ["step": "second"]], "\(again)")
            #expect(runs.of("first").count == 1, "step 1 ran again: \(runs.all)")
            #expect(runs.of("second").count == 2, "\(runs.all)")
            let history = try await a.call("workflow/history", ["workflowId": "steps-1"])
            #expect(history["generation"] == 1)
            #expect(history["entries"]?.arrayValue?.map { $0["kind"] } == ["activity", "signal", "activity"], "\(history)")
            let described = try await b.call("workflow/describe", ["workflowId": "steps-1"])
            let resets = described["resets"]?.arrayValue ?? []
            #expect(resets.count == 1, "\(described)")
            #expect(resets.first?["reason"] == "bad second step")

            // An execution waiting on A for its signal, reset from B to step 1: A's run is
            // superseded, the new generation waits again, and the signal completes it.
            _ = try await a.call("workflow/start", ["name": "cr.steps", "workflowId": "steps-2", "input": [:]])
            #expect(try await eventually {
                try await b.call("workflow/describe", ["workflowId": "steps-2"])["pendingSteps"]?.arrayValue?.isEmpty == false
            })
            let waiting = try await b.call("workflow/reset", ["workflowId": "steps-2", "toStep": 1])
            #expect(waiting["generation"] == 1, "\(waiting)")
            _ = try await b.call("workflow/signal", ["workflowId": "steps-2", "name": "go", "payload": 2])
            let done = try await b.call("workflow/result", ["workflowId": "steps-2", "waitTimeoutMs": 60_000])
            #expect(done["output"] == ["first": ["step": "first"], "go": 2, "second": ["step": "second"]], "\(done)")
            #expect(runs.of("first").count == 2, "\(runs.all)")  // one per execution
            #expect(runs.of("second").count == 3, "\(runs.all)")

            // Bad points are refused with their codes, as on SQLite.
            do {
                _ = try await b.call("workflow/reset", ["workflowId": "steps-2", "toStep": 9])
                Issue.record("a reset past the journal must be refused")
            } catch let error as KeelError {
                #expect(error.code == .resetStepOutOfRange, "\(error)")
            }
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Deadlines of executions and tasks no node holds (docs/scaling.md): a workflow no worker serves,
/// one whose run waits for a signal and left its node, and a task no worker takes still time out
/// at their deadlines. Real `keel serve` processes, real PostgreSQL.
@Suite("Deadlines of executions and tasks no node holds", .serialized, .timeLimit(.minutes(3)))
struct ClusterDeadlineTests {
    @Test func tasksNoNodeRunsAreTimedOutAtTheirDeadlines() async throws {
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            // No worker serves cd.nobody anywhere: the task waits in the store, unclaimed.
            let started = ContinuousClock.now
            let closed = try await a.call(
                "activity/call",
                ["name": "cd.nobody", "input": [:], "timeouts": ["scheduleToCloseMs": 1_500], "waitTimeoutMs": 30_000])
            #expect(closed["status"] == "timedOut", "\(closed)")
            #expect(closed["failure"]?["type"] == "ScheduleToCloseTimeout", "\(closed)")
            #expect(ContinuousClock.now - started >= .milliseconds(1_400), "ended before its deadline")
            let unstarted = try await b.call(
                "activity/call",
                ["name": "cd.nobody", "input": [:], "timeouts": ["scheduleToStartMs": 500], "waitTimeoutMs": 30_000])
            #expect(unstarted["status"] == "timedOut", "\(unstarted)")
            #expect(unstarted["failure"]?["type"] == "ScheduleToStartTimeout", "\(unstarted)")

            // A workflow's step whose activity no worker serves fails with the timeout; the
            // workflow, woken by the failure on whichever node claims it, handles it.
            let w = Worker(name: "stepper", endpoints: [b.endpoint])
            w.workflow("cd.stepper") { (_: JSONValue, ctx) -> JSONValue in
                do {
                    let _: JSONValue = try await ctx.activity("cd.nobody", [:] as JSONValue, timeouts: ["scheduleToCloseMs": 1_000])
                    return "ran"
                } catch let failure as ActivityFailure {
                    return .string(failure.type)
                }
            }
            let worker = Task { try await w.run() }
            defer { worker.cancel() }
            #expect(try await b.hasWorker("stepper"))
            _ = try await a.call("workflow/start", ["name": "cd.stepper", "workflowId": "stepper-1", "input": [:]])
            let stepper = try await a.call("workflow/result", ["workflowId": "stepper-1", "waitTimeoutMs": 60_000])
            #expect(stepper["status"] == "completed", "\(stepper)")
            #expect(stepper["output"] == "ScheduleToCloseTimeout", "\(stepper)")

            // Each ended once, by the sweep of one node. The sweep logs after its change commits,
            // and a caller may hear of the end first: the count is read until it settles.
            let swept: @Sendable () -> Int = { a.logLines(containing: "a task no node ran passed its timeout")
                + b.logLines(containing: "a task no node ran passed its timeout") }
            _ = try await eventually(timeout: .seconds(5)) { swept() >= 3 }
            #expect(swept() == 3, "node logs:\n\(a.log)\n\(b.log)")
        }
    }

    @Test func executionsNoNodeHoldsAreTimedOutAtTheirDeadlines() async throws {
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            // No worker serves cd.unserved: the execution waits unowned; its execution timeout ends it.
            let started = ContinuousClock.now
            _ = try await a.call(
                "workflow/start", ["name": "cd.unserved", "workflowId": "unserved-1", "input": [:], "executionTimeoutMs": 1_500])
            let unserved = try await b.call("workflow/result", ["workflowId": "unserved-1", "waitTimeoutMs": 30_000])
            #expect(unserved["status"] == "timedOut", "\(unserved)")
            #expect(unserved["failure"]?["type"] == "WorkflowExecutionTimeout", "\(unserved)")
            #expect(ContinuousClock.now - started >= .milliseconds(1_400), "ended before its deadline")

            // A run waiting for a signal is held, then suspends and leaves node A. Once it has,
            // node A is killed, so only the sweep (node B's) can end it when its run timeout
            // passes. (Left running, node A ended it itself in one CI run: the run was in its
            // memory at the deadline, which this test does not prove either way.)
            let w = Worker(name: "waiter", endpoints: [a.endpoint])
            w.workflow("cd.waiter") { (_: JSONValue, ctx) -> JSONValue in
                let go: JSONValue = try await ctx.signal("go")
                return go
            }
            let worker = Task { try await w.run() }
            defer { worker.cancel() }
            #expect(try await a.hasWorker("waiter"))
            _ = try await a.call("workflow/start", ["name": "cd.waiter", "workflowId": "waiter-1", "input": [:], "runTimeoutMs": 20_000])
            // Held 5 s (stepHoldMs), then suspended, well before the run timeout.
            let suspended = try await eventually(timeout: .seconds(15)) {
                try await b.call("workflow/describe", ["workflowId": "waiter-1"])["status"] == "suspended"
            }
            try #require(suspended, "waiter-1 did not suspend within 15 s; node A's log:\n\(a.log)")
            a.kill9()
            let waiter = try await b.call("workflow/result", ["workflowId": "waiter-1", "waitTimeoutMs": 60_000])
            #expect(waiter["status"] == "timedOut", "\(waiter)")
            #expect(waiter["failure"]?["type"] == "WorkflowRunTimeout", "\(waiter)")
            #expect(waiter["failure"]?["message"]?.stringValue?.contains("run timeout of 20000 ms") == true, "\(waiter)")
            // Both ended by the sweep, not by a node that ran them. The sweep logs once its change
            // and the reads after it are done; the caller can hear of the end first (seen in CI).
            let swept: @Sendable () -> Int = { a.logLines(containing: "an execution no node held passed its deadline")
                + b.logLines(containing: "an execution no node held passed its deadline") }
            _ = try await eventually(timeout: .seconds(5)) { swept() >= 2 }
            #expect(swept() == 2, "node logs:\n\(a.log)\n\(b.log)")
            // Ended once: a signal now finds it ended.
            do {
                _ = try await b.call("workflow/signal", ["workflowId": "waiter-1", "name": "go", "payload": 1])
                Issue.record("a signal to a timed-out workflow must be refused")
            } catch let error as KeelError {
                #expect(error.code != .storageFailure, "\(error)")
            }
        }
    }
}

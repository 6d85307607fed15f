import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Deadlines of executions no node holds (docs/scaling.md): a workflow no worker serves, or one
/// whose run waits for a signal and left its node, still times out at its deadline. Real `keel
/// serve` processes, real PostgreSQL.
@Suite("Deadlines of executions no node holds", .serialized, .timeLimit(.minutes(3)))
struct ClusterDeadlineTests {
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

            // A run waiting for a signal is held, then suspends and leaves node A: only the
            // sweep can end it when its run timeout passes.
            let w = Worker(name: "waiter", endpoints: [a.endpoint])
            w.workflow("cd.waiter") { (_: JSONValue, ctx) -> JSONValue in
                let go: JSONValue = try await ctx.signal("go")
                return go
            }
            let worker = Task { try await w.run() }
            defer { worker.cancel() }
            #expect(try await a.hasWorker("waiter"))
            // Held 5 s (stepHoldMs), then suspended: the run timeout passes 7 s after that.
            _ = try await a.call("workflow/start", ["name": "cd.waiter", "workflowId": "waiter-1", "input": [:], "runTimeoutMs": 12_000])
            let waiter = try await b.call("workflow/result", ["workflowId": "waiter-1", "waitTimeoutMs": 60_000])
            #expect(waiter["status"] == "timedOut", "\(waiter)")
            #expect(waiter["failure"]?["type"] == "WorkflowRunTimeout", "\(waiter)")
            #expect(waiter["failure"]?["message"]?.stringValue?.contains("run timeout of 12000 ms") == true, "\(waiter)")
            // Both ended by the sweep, not by a node that ran them.
            let swept = a.logLines(containing: "an execution no node held passed its deadline")
                + b.logLines(containing: "an execution no node held passed its deadline")
            #expect(swept == 2, "node logs:\n\(a.log)\n\(b.log)")
            // Ended once: a signal now finds it ended.
            do {
                _ = try await a.call("workflow/signal", ["workflowId": "waiter-1", "name": "go", "payload": 1])
                Issue.record("a signal to a timed-out workflow must be refused")
            } catch let error as KeelError {
                #expect(error.code != .storageFailure, "\(error)")
            }
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Queries and signal-with-start across nodes on one PostgreSQL (docs/protocol.md, "Queries and
/// signal-with-start"): a signal-with-start on one node reaches a workflow run on another, in one
/// transaction with its start or with the signal to the open execution; a query on any node reads
/// what the run published, after its node died too.
@Suite("Queries and signal-with-start across nodes", .serialized, .timeLimit(.minutes(4)))
struct ClusterQueryTests {
    @Test func signalWithStartOnOneNodeAndAQueryOnAnotherSeeTheRunOnAThird() async throws {
        try await withClusterNodes(["a", "b", "c"]) { nodes in
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let w = Worker(name: "flows-a", endpoints: [a.endpoint])
            w.workflow("cq.progress") { (_: JSONValue, ctx) -> JSONValue in
                try await ctx.setQueryValue("stage", "packed")
                let payload: JSONValue = try await ctx.signal("go")
                try await ctx.setQueryValue("stage", ["shipped": payload])
                let _: JSONValue = try await ctx.signal("close")
                return payload
            }
            let running = Task { try await w.run() }
            defer { running.cancel() }
            #expect(try await a.hasWorker("flows-a"))
            let fresh = try await b.call("workflow/start", [
                "name": "cq.progress", "workflowId": "cq-1", "signal": ["name": "go", "payload": ["n": 1], "requestId": "r1"],
            ])
            #expect(fresh["started"] == true && fresh["signal"]?["delivered"] == true, "\(fresh)")
            #expect(try await eventually { (try? await c.call("workflow/query", ["workflowId": "cq-1", "name": "stage"]))?["value"] == ["shipped": ["n": 1]] })
            // The same request resent to another node: one delivery.
            let resent = try await c.call("workflow/start", [
                "name": "cq.progress", "workflowId": "cq-1", "signal": ["name": "go", "payload": ["n": 1], "requestId": "r1"],
            ])
            #expect(resent["started"] == false && resent["signal"]?["duplicate"] == true, "\(resent)")
            // Signalled on C while it runs on A.
            let closing = try await c.call("workflow/start", ["name": "cq.progress", "workflowId": "cq-1", "signal": ["name": "close"]])
            #expect(closing["started"] == false && closing["signal"]?["duplicate"] == false, "\(closing)")
            let r = try await b.call("workflow/result", ["workflowId": "cq-1", "waitTimeoutMs": 30_000])
            #expect(r["status"] == "completed" && r["output"] == ["n": 1], "\(r)")
            // A's node dies; the value is read from the store on the others.
            running.cancel()
            a.kill9()
            let q = try await b.call("workflow/query", ["workflowId": "cq-1", "name": "stage"])
            #expect(q["value"] == ["shipped": ["n": 1]] && q["status"] == "completed", "\(q)")
            let ended = await #expect(throws: KeelError.self) {
                _ = try await b.call("workflow/start", ["name": "cq.progress", "workflowId": "cq-1", "signal": ["name": "go"]])
            }
            #expect(ended?.code == .workflowNotFound, "\(String(describing: ended))")
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Updates across nodes on one PostgreSQL (docs/protocol.md, "Updates"): an update sent to one
/// node reaches a workflow run on another and its caller gets the answer from the store; a resend
/// to a third node answers the same; the node running the workflow is killed with an update in
/// flight, and the node that takes the execution over answers it once.
@Suite("Updates across nodes", .serialized, .timeLimit(.minutes(4)))
struct ClusterUpdateTests {
    static func worker(_ name: String, _ node: ClusterNodeProcess) -> Worker {
        let w = Worker(name: name, endpoints: [node.endpoint])
        w.workflow("cu.approval") { (_: JSONValue, ctx) -> JSONValue in
            var total: Int64 = 0
            while true {
                let update = try await ctx.waitForUpdate("approve")
                let amount = update.input["amount"]?.int64Value ?? 0
                total += amount
                try await ctx.respond(to: update, with: ["total": JSONValue(total)])
                if amount == 0 { return ["total": JSONValue(total)] }
            }
        }
        return w
    }

    static func update(_ node: ClusterNodeProcess, _ id: String, amount: Int64, updateId: String) async throws -> JSONValue {
        try await KeelClient.withClient(node.endpoint) {
            try await $0.updateWorkflow(id, name: "approve", input: ["amount": JSONValue(amount)], updateId: updateId, waitTimeoutMs: 60_000)
        }
    }

    @Test func anUpdateOnOneNodeIsAnsweredByARunOnAnotherAndSurvivesItsNodesDeath() async throws {
        try await withClusterNodes(["a", "b", "c"]) { nodes in
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let onA = Task { try await Self.worker("flows-a", a).run() }
            defer { onA.cancel() }
            #expect(try await a.hasWorker("flows-a"))
            _ = try await b.call("workflow/start", ["name": "cu.approval", "workflowId": "cu-1"])

            let first = try await Self.update(b, "cu-1", amount: 5, updateId: "u-1")
            #expect(first["status"] == "completed" && first["result"] == ["total": 5], "\(first)")
            // The same update resent to a third node: the stored answer, no second delivery.
            #expect(try await Self.update(c, "cu-1", amount: 5, updateId: "u-1") == first)

            // A worker on C too; then A's node dies with the workflow's run on it.
            let onC = Task { try await Self.worker("flows-c", c).run() }
            defer { onC.cancel() }
            #expect(try await c.hasWorker("flows-c"))
            onA.cancel()
            a.kill9()
            let second = try await Self.update(b, "cu-1", amount: 7, updateId: "u-2")
            #expect(second["status"] == "completed" && second["result"] == ["total": 12], "u-1 counted once after the takeover: \(second)")
            let closing = try await Self.update(c, "cu-1", amount: 0, updateId: "u-3")
            #expect(closing["result"] == ["total": 12], "\(closing)")
            let r = try await b.call("workflow/result", ["workflowId": "cu-1", "waitTimeoutMs": 30_000])
            #expect(r["status"] == "completed" && r["output"] == ["total": 12], "\(r)")
            let history = try await c.call("workflow/history", ["workflowId": "cu-1"])
            let answers = (history["entries"]?.arrayValue ?? []).filter { $0["kind"] == "respond" }.compactMap { $0["name"]?.stringValue }
            #expect(answers == ["u-1", "u-2", "u-3"], "each update answered once: \(answers)")
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Streams across nodes on one PostgreSQL (docs/protocol.md, "Streams"): a workflow on one node
/// and its activity on another publish; a follower on a third reads every event once, in order,
/// and goes on from its last offset on another node when its own is killed.
@Suite("Streams across nodes on one PostgreSQL", .serialized, .timeLimit(.minutes(4)))
struct ClusterStreamTests {
    @Test func aFollowerOnAnotherNodeGetsEveryEventOnceAndResumesAfterItsNodeDies() async throws {
        try await withClusterNodes(["a", "b", "c"]) { nodes in
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            // The workflow runs only on A; its activity only on B.
            let flows = Worker(name: "flows-a", endpoints: [a.endpoint])
            flows.workflow("cs.agent") { (input: JSONValue, ctx) -> String in
                try await ctx.publish("start", name: "status")
                let rounds = Int(input["rounds"]?.int64Value ?? 1)
                var answer = ""
                for round in 1...rounds {
                    answer = try await ctx.activity("cs.tokens", ["round": JSONValue(round)] as JSONValue)
                    let _: JSONValue = try await ctx.signal("next")
                }
                try await ctx.publish("end", name: "status")
                return answer
            }
            let tools = Worker(name: "tools-b", endpoints: [b.endpoint])
            tools.activity("cs.tokens") { (input: JSONValue, ctx) -> String in
                let round = input["round"]?.int64Value ?? 0
                for i in 1...3 { try await ctx.publish(.string("r\(round)-t\(i)"), name: "token") }
                return "round \(round)"
            }
            let running = [Task { try await flows.run() }, Task { try await tools.run() }]
            defer { for t in running { t.cancel() } }
            #expect(try await a.hasWorker("flows-a"))
            #expect(try await b.hasWorker("tools-b"))

            _ = try await c.call("workflow/start", ["name": "cs.agent", "workflowId": "agent-1", "input": ["rounds": 2]])
            // The follower talks to C first, then A: C dies mid-stream.
            let follower = try await ReconnectingClient.connect([c.endpoint, a.endpoint], reconnectTimeout: .seconds(60))
            let collected = Locked<[JSONValue]>([])
            let following = Task {
                for try await e in follower.follow("agent-1", waitTimeoutMs: 2_000) { collected.withLock { $0.append(e) } }
            }
            // Round 1's tokens arrive while the workflow waits for `next`.
            #expect(try await eventually { collected.withLock { $0.count } >= 4 }, "\(collected.withLock { $0 })")
            c.kill9()
            _ = try await a.call("workflow/signal", ["workflowId": "agent-1", "name": "next", "payload": 1])
            #expect(try await eventually {
                let d = try await b.call("workflow/describe", ["workflowId": "agent-1"])
                return d["steps"]?.int64Value ?? 0 >= 4
            })
            _ = try await b.call("workflow/signal", ["workflowId": "agent-1", "name": "next", "payload": 2])
            try await following.value
            let events = collected.withLock { $0 }
            #expect(events.map { $0["offset"]?.int64Value ?? 0 } == Array(1...8), "\(events)")
            #expect(events.compactMap { $0["event"]?.stringValue }
                == ["start", "r1-t1", "r1-t2", "r1-t3", "r2-t1", "r2-t2", "r2-t3", "end"])
            #expect(events.map { $0["source"] } == ["workflow"] + Array(repeating: "activity", count: 6) + ["workflow"])
            let result = try await a.call("workflow/result", ["workflowId": "agent-1", "waitTimeoutMs": 30_000])
            #expect(result["output"] == "round 2")
            await follower.close()
        }
    }
}

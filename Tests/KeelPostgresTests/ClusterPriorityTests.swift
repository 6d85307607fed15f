import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Priorities and fairness keys across nodes (docs/protocol.md, "Priorities and fairness"): calls
/// accepted by one node, with no worker anywhere, are claimed by a one-slot worker on another in
/// the order the store numbers: priority, then fairness turn, then age.
@Suite("Priorities and fairness keys across nodes on one PostgreSQL", .serialized, .timeLimit(.minutes(4)))
struct ClusterPriorityTests {
    @Test func tasksQueuedOnOneNodeAreClaimedByPriorityThenTurnOnAnother() async throws {
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let calls: [(String, [String: JSONValue])] =
                (1...6).map { ("a\($0)", ["fairnessKey": "a"]) } + (1...2).map { ("b\($0)", ["fairnessKey": "b"]) }
                + [("low", ["priority": -5]), ("high", ["priority": 9])]
            for (id, extra) in calls {
                var params: [String: JSONValue] = ["name": "cluster.turns", "input": ["id": .string(id)], "wait": false]
                params.merge(extra) { _, given in given }
                let queued = try await b.call("activity/call", .object(params))
                #expect(queued["status"] == "scheduled", "\(queued)")
            }
            let listed = try await a.call("activity/list", ["name": "cluster.turns"])
            #expect(listed["count"] == 10)
            #expect(listed["tasks"]?.arrayValue?.last?["priority"] == 9, "\(listed)")

            let order = Locked<[String]>([])
            let w = Worker(name: "turns-worker", endpoints: [a.endpoint], maxConcurrent: 1)
            w.activity("cluster.turns") { (input: JSONValue, _: ActivityContext) -> JSONValue in
                order.withLock { $0.append(input["id"]?.stringValue ?? "?") }
                return input
            }
            let running = Task { try await w.run() }
            defer { running.cancel() }
            let done = try await eventually(timeout: .seconds(90)) { order.withLock { $0.count } >= calls.count }
            #expect(done, "ran \(order.withLock { $0 })")
            #expect(order.withLock { $0 } == ["high", "a1", "b1", "a2", "b2", "a3", "a4", "a5", "a6", "low"])
        }
    }
}

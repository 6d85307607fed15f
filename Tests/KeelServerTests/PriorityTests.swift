import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelTesting
import Testing

/// Issue 17, item 7: queued work of one name runs highest priority first, then round-robin over
/// fairness keys, so one tenant's backlog cannot starve another's (docs/protocol.md, "Priorities
/// and fairness").
@Suite("Priorities and fairness keys", .timeLimit(.minutes(5)))
struct PriorityTests {
    /// A worker with room for one task at a time that records the order it ran `name`'s tasks in
    /// (each task's input is `{"id": …}`).
    private static func recordingWorker(_ endpoint: Endpoint, _ name: String, order: Locked<[String]>) -> Worker {
        let w = Worker(name: "prio-worker", endpoint: endpoint, maxConcurrent: 1)
        w.activity(name) { (input: JSONValue, _) -> JSONValue in
            order.withLock { $0.append(input["id"]?.stringValue ?? "?") }
            return input
        }
        return w
    }

    /// Queues one call per `(id, extra params)`, in order, without waiting.
    private static func queue(_ client: KeelClient, _ name: String, _ calls: [(String, [String: JSONValue])]) async throws {
        for (id, extra) in calls {
            var p: [String: JSONValue] = ["name": .string(name), "input": ["id": .string(id)], "wait": false]
            p.merge(extra) { _, given in given }
            let r = try await client.call("activity/call", .object(p))
            #expect(r["status"] == "scheduled", "\(r)")
        }
    }

    /// Runs the queued tasks on a one-slot worker and answers the order they ran in.
    private static func runQueued(_ endpoint: Endpoint, _ name: String, count: Int) async throws -> [String] {
        let order = Locked<[String]>([])
        try await LiveOrchestrator.withWorker(recordingWorker(endpoint, name, order: order)) {
            let done = try await eventually(timeout: .seconds(120)) { order.withLock { $0.count } >= count }
            #expect(done, "ran \(order.withLock { $0.count }) of \(count)")
        }
        return order.withLock { $0 }
    }

    @Test func queuedCallsRunHighestPriorityFirstThenRoundRobinOverFairnessKeys() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    let a = (1...6).map { ("a\($0)", ["fairnessKey": "a"] as [String: JSONValue]) }
                    let b = (1...2).map { ("b\($0)", ["fairnessKey": "b"] as [String: JSONValue]) }
                    try await Self.queue(client, "prio.run", a + b + [("low", ["priority": -5]), ("high", ["priority": 9])])
                    let listed = try await client.call("activity/list", ["name": "prio.run"])
                    #expect(ProtocolValidator.shared.checkResult(method: "activity/list", result: listed) == nil)
                    let shown = listed["tasks"]?.arrayValue ?? []
                    #expect(shown.first?["fairnessKey"] == "a" && shown.first?["priority"] == 0, "\(shown)")
                    #expect(shown.last?["priority"] == 9 && shown.last?["fairnessKey"] == nil, "\(shown)")
                }
                let order = try await Self.runQueued(endpoint, "prio.run", count: 10)
                #expect(order == ["high", "a1", "b1", "a2", "b2", "a3", "a4", "a5", "a6", "low"])
            }
        }
    }

    /// The starvation this item is about, measured: a tenant with 10 tasks queued behind another
    /// tenant's 2,000. Without keys the small tenant's last task runs 2,010th; with keys it runs
    /// within the first 20 — one of its tasks per turn.
    @Test func oneTenantsBacklogDoesNotStarveAnothers() async throws {
        let backlog = 2_000, small = 10
        let lastSmall = Locked<[Bool: Int]>([:])
        for keyed in [false, true] {
            try await TemporaryDirectory.with { dir in
                try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                    try await KeelClient.withClient(endpoint) { client in
                        func extra(_ key: String) -> [String: JSONValue] { keyed ? ["fairnessKey": .string(key)] : [:] }
                        try await Self.queue(client, "tenant.work", (1...backlog).map { ("big\($0)", extra("big")) })
                        try await Self.queue(client, "tenant.work", (1...small).map { ("small\($0)", extra("small")) })
                    }
                    let order = try await Self.runQueued(endpoint, "tenant.work", count: backlog + small)
                    #expect(order.count == backlog + small)
                    let position = (order.lastIndex { $0.hasPrefix("small") } ?? order.count) + 1
                    lastSmall.withLock { $0[keyed] = position }
                }
            }
        }
        let (unkeyed, keyed) = lastSmall.withLock { ($0[false] ?? -1, $0[true] ?? -1) }
        print("starvation: the small tenant's last task ran at position \(unkeyed) of \(backlog + small) without fairness keys, \(keyed) with them")
        #expect(unkeyed == backlog + small)
        #expect(keyed == 2 * small)
    }

    @Test func aWorkflowsStepsAndChildrenInheritItsPrecedenceUnlessAStepGivesItsOwn() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let w = Worker(name: "prio-flows", endpoint: endpoint)
                w.workflow("prio.flow") { (_: JSONValue, ctx) -> JSONValue in
                    let inherited = try ctx.startActivity("prio.unserved", ["step": 1] as JSONValue, as: JSONValue.self)
                    let own = try ctx.startActivity(
                        "prio.unserved", ["step": 2] as JSONValue, as: JSONValue.self, priority: -1, fairnessKey: "batch")
                    // Steps go out when awaited: all three at once, so each is stored while the others wait.
                    async let a = inherited.value
                    async let b = own.value
                    async let child: JSONValue = ctx.child("prio.child", [:] as JSONValue)
                    return ["a": try await a, "b": try await b, "child": try await child]
                }
                w.workflow("prio.child") { (_: JSONValue, ctx) -> JSONValue in
                    try await ctx.activity("prio.unserved", ["step": 3] as JSONValue)
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await KeelClient.withClient(endpoint) { client in
                        _ = try await client.call(
                            "workflow/start", ["name": "prio.flow", "workflowId": "wf-acme", "priority": 5, "fairnessKey": "acme"])
                        let listed = try await eventually {
                            try await client.call("activity/list", ["name": "prio.unserved"])["count"] == 3
                        }
                        #expect(listed)
                        let tasks = try await client.call("activity/list", ["name": "prio.unserved"])["tasks"]?.arrayValue ?? []
                        let byWorkflow = tasks.map { t in
                            "\(t["workflowId"]?.stringValue ?? "-") \(t["priority"]?.int64Value ?? 0) \(t["fairnessKey"]?.stringValue ?? "-")"
                        }
                        #expect(Set(byWorkflow) == ["wf-acme 5 acme", "wf-acme -1 batch", "wf-acme/3 5 acme"], "\(byWorkflow)")
                        let described = try await client.call("workflow/describe", ["workflowId": "wf-acme"])
                        #expect(ProtocolValidator.shared.checkResult(method: "workflow/describe", result: described) == nil)
                        #expect(described["priority"] == 5 && described["fairnessKey"] == "acme", "\(described)")
                        let child = try await client.call("workflow/describe", ["workflowId": "wf-acme/3"])
                        #expect(child["priority"] == 5 && child["fairnessKey"] == "acme", "\(child)")
                        let plain = try await client.call("workflow/start", ["name": "prio.child", "workflowId": "wf-plain"])
                        #expect(plain["started"] == true)
                        let plainDescribed = try await client.call("workflow/describe", ["workflowId": "wf-plain"])
                        #expect(plainDescribed["priority"] == 0 && plainDescribed["fairnessKey"] == nil, "\(plainDescribed)")
                    }
                }
            }
        }
    }

    @Test func queuedWorkKeepsItsOrderAcrossARestart() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    try await Self.queue(client, "prio.restart", [
                        ("x1", ["fairnessKey": "x"]), ("x2", ["fairnessKey": "x"]), ("x3", ["fairnessKey": "x"]),
                        ("y1", ["fairnessKey": "y"]), ("urgent", ["priority": 100]),
                    ])
                }
            }
            // The same database, a new orchestrator: the queue is rebuilt from the store.
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let order = try await Self.runQueued(endpoint, "prio.restart", count: 5)
                #expect(order == ["urgent", "x1", "y1", "x2", "x3"])
            }
        }
    }

    @Test func aPriorityOrKeyOutOfRangeIsRefusedNamingTheField() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    let cases: [(String, [String: JSONValue], String)] = [
                        ("activity/call", ["name": "prio.bad", "priority": 1001, "wait": false], "priority"),
                        ("activity/call", ["name": "prio.bad", "priority": "7", "wait": false], "priority"),
                        ("activity/call", ["name": "prio.bad", "priority": 1.5, "wait": false], "priority"),
                        ("activity/call", ["name": "prio.bad", "fairnessKey": "", "wait": false], "fairnessKey"),
                        ("activity/call", ["name": "prio.bad", "fairnessKey": .string(String(repeating: "k", count: 257)), "wait": false], "fairnessKey"),
                        ("workflow/start", ["name": "prio.bad", "priority": -1001], "priority"),
                        ("workflow/start", ["name": "prio.bad", "fairnessKey": 5], "fairnessKey"),
                    ]
                    for (method, params, field) in cases {
                        let error = await #expect(throws: KeelError.self) { _ = try await client.call(method, .object(params)) }
                        #expect(error?.code == .invalidParams, "\(method) \(params)")
                        #expect(error?.message.contains(field) == true, "\(error?.message ?? "")")
                    }
                    let listed = try await client.call("activity/list", [:])
                    #expect(listed["count"] == 0, "a refused call stored nothing: \(listed)")
                }
            }
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelTesting
import Testing

/// Issue 13: work queued for a name no connected worker serves says so at once, with names a typo
/// may have meant, and stays queued for a worker that connects later.
@Suite("Work waiting for a worker", .timeLimit(.minutes(3)))
struct WaitingForWorkerTests {
    @Test func aCallForANameNoWorkerServesSaysSoAndSuggestsCloseNames() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: Counter())) {
                    try await waitForWorkers(endpoint, 1)
                    let typo = try await call(endpoint, "greet.helo", [:], extra: ["wait": false])
                    #expect(typo["status"] == "scheduled")
                    #expect(typo["waitingForWorker"] == true)
                    #expect(typo["suggestions"] == ["greet.hello"])
                    #expect(ProtocolValidator.shared.checkResult(method: "activity/call", result: typo) == nil)
                    let unknown = try await call(endpoint, "zzz.nothing.near", [:], extra: ["wait": false])
                    #expect(unknown["waitingForWorker"] == true)
                    #expect(unknown["suggestions"] == [])
                    // A served name carries no hint.
                    let served = try await call(endpoint, "greet.hello", ["name": "Ada"])
                    #expect(served["status"] == "completed")
                    #expect(served["waitingForWorker"] == nil)

                    // The call stays queued (durable): a worker that connects later runs it.
                    let late = Worker(name: "late", endpoint: endpoint)
                    late.activity("greet.helo") { (_: JSONValue, _) -> JSONValue in "ran late" }
                    try await LiveOrchestrator.withWorker(late) {
                        let r = try await KeelClient.withClient(endpoint) {
                            try await $0.call("activity/result", ["taskId": typo["taskId"]!, "waitTimeoutMs": 60_000])
                        }
                        #expect(r["status"] == "completed")
                        #expect(r["output"] == "ran late")
                        #expect(r["waitingForWorker"] == nil)
                    }
                }
            }
        }
    }

    @Test func aWorkflowNoWorkerServesIsStartedPendingAndDescribedAsWaiting() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let w = Worker(name: "wf", endpoint: endpoint)
                w.workflow("orders.fulfil") { (_: JSONValue, _) -> JSONValue in "done" }
                w.workflow("orders.charge") { (_: JSONValue, ctx) -> JSONValue in
                    try await ctx.activity("billing.charge", [:] as JSONValue, as: JSONValue.self)
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await waitForWorkers(endpoint, 1)
                    try await KeelClient.withClient(endpoint) { client in
                        let started = try await client.call("workflow/start", ["name": "orders.fulfill", "workflowId": "o-1"])
                        #expect(started["status"] == "pending")
                        #expect(started["waitingForWorker"] == true)
                        #expect(started["suggestions"] == ["orders.fulfil", "orders.charge"], "closest first, then the same prefix")
                        #expect(ProtocolValidator.shared.checkResult(method: "workflow/start", result: started) == nil)
                        let d = try await client.call("workflow/describe", ["workflowId": "o-1"])
                        #expect(d["waitingFor"] == "a worker for workflow orders.fulfill")
                        #expect(ProtocolValidator.shared.checkResult(method: "workflow/describe", result: d) == nil)
                        let served = try await client.call("workflow/start", ["name": "orders.fulfil", "workflowId": "o-2"])
                        #expect(served["waitingForWorker"] == nil)
                        // A running execution whose activity step no connected worker serves.
                        _ = try await client.call("workflow/start", ["name": "orders.charge", "workflowId": "o-3"])
                        let stepWaits = try await eventually(timeout: .seconds(60)) {
                            try await client.call("workflow/describe", ["workflowId": "o-3"])["waitingFor"]
                                == "a worker for activity billing.charge"
                        }
                        #expect(stepWaits)
                    }
                }
            }
        }
    }
}

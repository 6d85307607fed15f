import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelTesting
import Synchronization
import Testing

/// The Swift client obeys the `workflow/cancel` notification (docs/guarantees.md): a run of an
/// execution Keel terminated or timed out is stopped at once, even when its code never steps.
@Suite("Swift client: workflow/cancel notification", .timeLimit(.minutes(3)))
struct WorkflowCancelNotificationTests {
    @Test func aTerminatedRunThatNeverStepsIsCancelledAtOnceAndTheWorkerDrainsAtOnce() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let counter = Counter()
                let worker = Worker(name: "spinner", endpoint: endpoint)
                worker.workflow("spin.forever") { (_: JSONValue, ctx) -> JSONValue in
                    counter.bump("started")
                    do {
                        while true { try await Task.sleep(for: .milliseconds(50)) }  // no step: only a cancel ends it
                    } catch {
                        counter.bump("unwound \(ctx.workflowId)")
                        throw error
                    }
                }
                worker.workflow("quick") { (_: JSONValue, _) -> JSONValue in "done" }
                let stopped = Flag()
                let running = Task {
                    try? await worker.run()
                    stopped.set()
                }
                defer { running.cancel() }
                try await waitForWorkers(endpoint, 1)
                try await KeelClient.withClient(endpoint) { client in
                    _ = try await client.call("workflow/start", ["name": "spin.forever", "workflowId": "spin-1"])
                    _ = try await client.call("workflow/start", ["name": "spin.forever", "workflowId": "spin-2"])
                    #expect(try await eventually(timeout: .seconds(60)) { counter.get("started") == 2 })
                    let ended = try await client.call("workflow/terminate", ["workflowId": "spin-1", "reason": "test"])
                    #expect(ended["status"] == "terminated")
                    #expect(
                        try await eventually(timeout: .seconds(30)) { counter.get("unwound spin-1") == 1 }, "the run's code was not cancelled")
                    #expect(counter.get("unwound spin-2") == 0, "only the named run is stopped")
                    _ = try await client.call("workflow/terminate", ["workflowId": "spin-2", "reason": "test"])
                    #expect(try await eventually(timeout: .seconds(30)) { counter.get("unwound spin-2") == 1 })
                    let history = try await client.call("workflow/history", ["workflowId": "spin-1"])
                    #expect(history["entries"] == [], "a stopped run sends no step")

                    _ = try await client.call("workflow/start", ["name": "quick", "workflowId": "quick-1"])
                    let result = try await client.call("workflow/result", ["workflowId": "quick-1", "waitTimeoutMs": 60_000])
                    #expect(result["status"] == "completed")
                    #expect(result["output"] == "done")
                }
                // The stopped run left the drain count: a drain does not wait for it (30 s).
                worker.drain()
                #expect(try await eventually(timeout: .seconds(20)) { stopped.isSet }, "the drain waited for the stopped run")
            }
        }
    }
}

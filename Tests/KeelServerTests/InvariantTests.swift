import Foundation
import KeelClient
import KeelCore
import KeelEngine
import KeelServer
import KeelTesting
import Testing

/// Issue 13: no open execution may wait for nothing (docs/execution-model.md, "No execution waits
/// for nothing"). A run that answers `suspended` with no pending step is a violation: logged,
/// counted, repaired by running the execution again.
@Suite("Every open workflow can wake up", .serialized, .timeLimit(.minutes(3)))
struct InvariantTests {
    @Test func aSuspendedAnswerWithNothingPendingIsCountedAndRunAgain() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let worker = try await RawWorker.connect(dir, workflows: ["raw.flow"])
                let before = InvariantMetrics.repairs
                _ = try await KeelClient.withClient(endpoint) {
                    try await $0.call("workflow/start", ["name": "raw.flow", "workflowId": "wf-empty"])
                }
                // What a worker whose drain timed out used to answer: suspended, with no step pending.
                let first = try #require(await worker.nextRequest("workflow/run"))
                await worker.send(#"{"jsonrpc":"2.0","id":\#(JSONWriter.string(first["id"]!)),"result":{"status":"suspended"}}"#)
                // Before: the execution stayed suspended with pendingSteps [] and no run ever came.
                let second = try #require(await worker.nextRequest("workflow/run"), "the execution was run again")
                #expect(second["params"]?["runId"] == 2)
                #expect(InvariantMetrics.repairs > before)
                await worker.send(#"{"jsonrpc":"2.0","id":\#(JSONWriter.string(second["id"]!)),"result":{"status":"completed","output":"ok"}}"#)
                let result = try await KeelClient.withClient(endpoint) {
                    try await $0.call("workflow/result", ["workflowId": "wf-empty", "waitTimeoutMs": 30_000])
                }
                #expect(result["status"] == "completed")
                #expect(result["output"] == "ok")
            }
        }
    }

    @Test func aSuspendedAnswerWithAStepPendingIsAcceptedAsBefore() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: { $0.engine.stepHoldMs = 200 }) { endpoint, _ in
                let worker = try await RawWorker.connect(dir, workflows: ["raw.flow"])
                _ = try await KeelClient.withClient(endpoint) {
                    try await $0.call("workflow/start", ["name": "raw.flow", "workflowId": "wf-waits"])
                }
                let run = try #require(await worker.nextRequest("workflow/run"))
                let token = run["params"]?["attemptToken"] ?? .null
                // A signal wait: a real wake condition.
                let step: JSONValue = [
                    "jsonrpc": "2.0", "id": "s1", "method": "workflow/step",
                    "params": ["workflowId": "wf-waits", "runId": 1, "seq": 1, "kind": "signal", "name": "go", "input": [:],
                        "attemptToken": token],
                ]
                await worker.send(JSONWriter.string(step))
                let held = await worker.raw.readLine()
                #expect(held?["result"]?["status"] == "suspend", "\(String(describing: held))")
                await worker.send(#"{"jsonrpc":"2.0","id":\#(JSONWriter.string(run["id"]!)),"result":{"status":"suspended"}}"#)
                let suspended = try await eventually {
                    try await KeelClient.withClient(endpoint) {
                        try await $0.call("workflow/describe", ["workflowId": "wf-waits"])
                    }["status"] == "suspended"
                }
                #expect(suspended)
            }
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelEngine
import KeelServer
import KeelTesting
import Testing

/// A run whose activity step waits in the node's queue for a worker slot stays held past
/// `stepHoldMs`, up to `queuedStepHoldMs` (Engine+Steps.swift, `queuedHoldEnd`): suspending it
/// would free no activity slot and cost a replay. Found by W1 with 6,000 workflows at once, whose
/// rate fell to a quarter as every waiting run was suspended and run again.
@Suite("Held steps whose activity is queued", .timeLimit(.minutes(2)))
struct QueuedHoldTests {
    /// One activity slot, busy with `slow` for 2 s while `wf.quick`'s step waits for it, held
    /// 500 ms at a time.
    func runQueuedBehindSlowActivity(queuedHoldMs: Int64) async throws -> JSONValue {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(
                in: dir, configure: { $0.engine.stepHoldMs = 500; $0.engine.queuedStepHoldMs = queuedHoldMs }
            ) { endpoint, _ in
                let w = Worker(name: "one-slot", endpoint: endpoint, maxConcurrent: 1)
                w.activity("slow") { (_: JSONValue, _) -> JSONValue in
                    try await Task.sleep(for: .milliseconds(2_000))
                    return "slow"
                }
                w.activity("quick") { (_: JSONValue, _) -> JSONValue in "quick" }
                w.workflow("wf.quick") { (_: JSONValue, ctx) -> JSONValue in
                    try await ctx.activity("quick", JSONValue.null, as: JSONValue.self)
                }
                return try await LiveOrchestrator.withWorker(w) {
                    try await waitForWorkers(endpoint, 1)
                    let busy = try await rpc(endpoint, "activity/call", ["name": "slow", "input": [:], "wait": false])
                    #expect(try await eventually {
                        let d = try await rpc(endpoint, "activity/result", ["taskId": busy["taskId"] ?? .null, "waitTimeoutMs": 0])
                        return d["status"] == "running"
                    })
                    _ = try await start(endpoint, "wf.quick", [:], id: "queued")
                    let r = try await result(endpoint, "queued")
                    #expect(r["output"] == "quick", "\(r)")
                    return try await rpc(endpoint, "workflow/describe", ["workflowId": "queued"])
                }
            }
        }
    }

    @Test func aRunWhoseActivityWaitsForAWorkerSlotIsNotSuspended() async throws {
        let described = try await runQueuedBehindSlowActivity(queuedHoldMs: 60_000)
        #expect(described["runs"] == 1, "\(described)")
    }

    @Test func pastQueuedStepHoldMsTheRunIsSuspendedAsBefore() async throws {
        // Extended once (at 500 ms, to 700 ms), then suspended while the slot is still busy.
        let described = try await runQueuedBehindSlowActivity(queuedHoldMs: 700)
        #expect((described["runs"]?.int64Value ?? 0) >= 2, "\(described)")
    }
}

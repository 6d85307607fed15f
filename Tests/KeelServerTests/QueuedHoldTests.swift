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
    /// One activity slot, taken by `blocker` until the test lets it go, while `wf.quick`'s step
    /// waits for the slot, held 300 ms at a time. `whileQueued` runs with the slot still taken;
    /// then the slot is freed and the run must end with the quick activity's output. Answers the
    /// execution's `describe`.
    func queueBehindABlockedSlot(
        queuedHoldMs: Int64, whileQueued: @escaping @Sendable (Endpoint) async throws -> Void
    ) async throws -> JSONValue {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(
                in: dir, configure: { $0.engine.stepHoldMs = 300; $0.engine.queuedStepHoldMs = queuedHoldMs }
            ) { endpoint, _ in
                let gate = Counter()
                let w = Worker(name: "one-slot", endpoint: endpoint, maxConcurrent: 1)
                w.activity("blocker") { (_: JSONValue, _) -> JSONValue in
                    gate.bump("taken")
                    while gate.get("release") == 0 { try await Task.sleep(for: .milliseconds(20)) }
                    return "freed"
                }
                w.activity("quick") { (_: JSONValue, _) -> JSONValue in "quick" }
                w.workflow("wf.quick") { (_: JSONValue, ctx) -> JSONValue in
                    try await ctx.activity("quick", JSONValue.null, as: JSONValue.self)
                }
                return try await LiveOrchestrator.withWorker(w) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await rpc(endpoint, "activity/call", ["name": "blocker", "input": [:], "wait": false])
                    #expect(try await eventually { gate.get("taken") == 1 })
                    _ = try await start(endpoint, "wf.quick", [:], id: "queued")
                    try await whileQueued(endpoint)
                    gate.bump("release")
                    let r = try await result(endpoint, "queued")
                    #expect(r["output"] == "quick", "\(r)")
                    return try await rpc(endpoint, "workflow/describe", ["workflowId": "queued"])
                }
            }
        }
    }

    @Test func aRunWhoseActivityWaitsForAWorkerSlotIsNotSuspended() async throws {
        let described = try await queueBehindABlockedSlot(queuedHoldMs: 60_000) { endpoint async throws in
            // Five holds' worth: a run told to suspend would have run again by now.
            try await Task.sleep(for: .milliseconds(1_500))
            let d = try await rpc(endpoint, "workflow/describe", ["workflowId": "queued"])
            #expect(d["runs"] == 1 && d["status"] == "running", "\(d)")
        }
        // Once the slot is free the step's task runs, held `stepHoldMs` from its start: under a
        // loaded test run that may pass first and suspend the run, so only the end is checked.
        #expect(described["status"] == "completed", "\(described)")
    }

    @Test func pastQueuedStepHoldMsTheRunIsSuspendedAsBefore() async throws {
        // Held on once (at 300 ms, to 500 ms), then told to suspend while the slot is still taken.
        _ = try await queueBehindABlockedSlot(queuedHoldMs: 500) { endpoint async throws in
            #expect(try await eventually {
                try await rpc(endpoint, "workflow/describe", ["workflowId": "queued"])["status"] == "suspended"
            })
        }
    }
}

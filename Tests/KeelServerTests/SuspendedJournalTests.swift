import Foundation
import KeelClient
import KeelCore
import KeelEngine
import KeelServer
import KeelTesting
import Testing

/// A suspended execution keeps only its scheduled steps in memory (issue 15): its ended steps are
/// read from the store when it runs again, and by whatever needs them while it sleeps (describe,
/// reset, terminate). Its steps are held 100 ms, so it suspends fast.
@Suite("Suspended executions keep their ended steps in the store", .timeLimit(.minutes(2)))
struct SuspendedJournalTests {
    func withWorker(_ body: @escaping @Sendable (Endpoint, Counter) async throws -> Void) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: { $0.engine.stepHoldMs = 100 }) { endpoint, _ in
                let counter = Counter()
                let w = makeWorkflowWorker(endpoint, counter: counter)
                w.activity("count.echo") { (input: JSONValue, _) -> JSONValue in
                    counter.bump("ran")
                    return input
                }
                w.workflow("wf.stepsThenSignal") { (_: JSONValue, ctx) -> JSONValue in
                    let a = try await ctx.activity("count.echo", ["n": 1] as JSONValue, as: JSONValue.self)
                    let b = try await ctx.activity("count.echo", ["n": 2] as JSONValue, as: JSONValue.self)
                    let go: JSONValue = try await ctx.signal("go")
                    return ["a": a, "b": b, "go": go]
                }
                w.workflow("wf.childThenSignal") { (_: JSONValue, ctx) -> JSONValue in
                    let c: N = try await ctx.child("wf.sequence", N(n: 5))
                    let go: JSONValue = try await ctx.signal("go")
                    return ["child": JSONValue(c.n), "go": go]
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await waitForWorkers(endpoint, 1)
                    try await body(endpoint, counter)
                }
            }
        }
    }

    func startSuspended(_ endpoint: Endpoint, _ name: String, id: String) async throws {
        _ = try await start(endpoint, name, [:], id: id)
        #expect(try await eventually {
            try await rpc(endpoint, "workflow/describe", ["workflowId": .string(id)])["status"] == "suspended"
        })
    }

    @Test func aSuspendedExecutionWakesWithItsStoredStepsAndRunsNoActivityAgain() async throws {
        try await withWorker { endpoint, counter in
            try await startSuspended(endpoint, "wf.stepsThenSignal", id: "trim-signal")
            let described = try await rpc(endpoint, "workflow/describe", ["workflowId": "trim-signal"])
            #expect(described["steps"] == 3, "\(described)")
            #expect(described["pendingSteps"]?.arrayValue?.map { $0["kind"] } == ["signal"])
            _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "trim-signal", "name": "go", "payload": 7])
            let r = try await result(endpoint, "trim-signal")
            #expect(r["output"] == ["a": ["n": 1], "b": ["n": 2], "go": 7], "\(r)")
            #expect(counter.get("ran") == 2)
        }
    }

    @Test func resettingASuspendedExecutionKeepsTheStepsItAskedFor() async throws {
        try await withWorker { endpoint, counter in
            try await startSuspended(endpoint, "wf.stepsThenSignal", id: "trim-reset")
            _ = try await rpc(endpoint, "workflow/reset", ["workflowId": "trim-reset", "toStep": 1, "reason": "test"])
            // Step 1 is kept, step 2 runs again, then the signal wait.
            #expect(try await eventually { counter.get("ran") == 3 })
            #expect(try await eventually {
                try await rpc(endpoint, "workflow/describe", ["workflowId": "trim-reset"])["status"] == "suspended"
            })
            _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "trim-reset", "name": "go", "payload": "again"])
            let r = try await result(endpoint, "trim-reset")
            #expect(r["output"] == ["a": ["n": 1], "b": ["n": 2], "go": "again"], "\(r)")
        }
    }

    @Test func cancellingASuspendedExecutionFailsItsWaitingStep() async throws {
        try await withWorker { endpoint, _ in
            try await startSuspended(endpoint, "wf.stepsThenSignal", id: "trim-cancel")
            _ = try await rpc(endpoint, "workflow/cancel", ["workflowId": "trim-cancel", "reason": "test"])
            #expect(try await result(endpoint, "trim-cancel")["status"] == "cancelled")
        }
    }

    @Test func terminatingASuspendedParentLooksAtItsEndedChildStep() async throws {
        try await withWorker { endpoint, _ in
            _ = try await start(endpoint, "wf.childThenSignal", [:], id: "trim-parent")
            // The child exists once the parent's first run recorded its step.
            #expect(try await eventually { (try? await result(endpoint, "trim-parent/1"))?["status"] == "completed" })
            // Suspended on its signal, not on its child (a slow machine may suspend it on both).
            #expect(try await eventually {
                let d = try await rpc(endpoint, "workflow/describe", ["workflowId": "trim-parent"])
                return d["status"] == "suspended" && d["pendingSteps"]?.arrayValue?.map { $0["kind"] } == ["signal"]
            })
            _ = try await rpc(endpoint, "workflow/terminate", ["workflowId": "trim-parent", "reason": "test"])
            #expect(try await result(endpoint, "trim-parent")["status"] == "terminated")
            // The child had ended before: it stays completed.
            #expect(try await result(endpoint, "trim-parent/1")["status"] == "completed")
        }
    }
}

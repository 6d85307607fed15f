import Foundation
import KeelClient
import KeelCore
import KeelEngine
import KeelServer
import KeelTesting
import Testing

/// A deploy of `deploy.flow`: step 1 charges (counted), step 2 ships. Version 1's ship has a bug.
func makeDeployWorker(_ endpoint: Endpoint, counter: Counter, version: Int) -> Worker {
    let w = Worker(name: "deploy-v\(version)", endpoint: endpoint)
    w.activity("deploy.charge") { (input: JSONValue, _) -> JSONValue in
        counter.bump("charge")
        return ["charged": input["amount"] ?? .null]
    }
    w.activity("deploy.ship") { (_: JSONValue, _) -> JSONValue in
        counter.bump("ship-v\(version)")
        if version == 1 { throw ActivityFailure("nil address in v1", type: "BugInV1", retryable: false) }
        return ["shipped": true]
    }
    w.workflow("deploy.flow") { (input: JSONValue, ctx) -> JSONValue in
        let charged = try await ctx.activity("deploy.charge", input, as: JSONValue.self)
        let shipped = try await ctx.activity("deploy.ship", charged, as: JSONValue.self)
        return ["charge": charged, "ship": shipped]
    }
    w.workflow("deploy.approval") { (_: JSONValue, ctx) -> JSONValue in
        let first: Approval = try await ctx.signal("approve")
        let second: Approval = try await ctx.signal("approve")
        return ["first": .bool(first.approved), "second": .bool(second.approved)]
    }
    w.workflow("deploy.parent") { (_: JSONValue, ctx) -> JSONValue in
        try await ctx.child("deploy.flow", ["amount": 1] as JSONValue, as: JSONValue.self)
    }
    return w
}

/// The error a request gets, or nil when it succeeds.
func rpcError(_ endpoint: Endpoint, _ method: String, _ params: JSONValue) async throws -> KeelError? {
    do {
        _ = try await rpc(endpoint, method, params)
        return nil
    } catch let e as KeelError {
        return e
    }
}

@Suite("workflow/reset (issue 13)", .serialized, .timeLimit(.minutes(3)))
struct WorkflowResetTests {
    func withServer(_ body: @escaping @Sendable (Endpoint) async throws -> Void) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: { $0.engine.stepHoldMs = 5_000 }) { endpoint, _ in
                try await body(endpoint)
            }
        }
    }

    func workerCount(_ endpoint: Endpoint) async throws -> Int {
        try await KeelClient.withClient(endpoint) { try await $0.workers().count }
    }

    @Test func aWorkflowFailedByABugInV1ResetToStepOneCompletesOnV2WithoutRunningStepOneAgain() async throws {
        try await withServer { endpoint in
            let counter = Counter()
            try await LiveOrchestrator.withWorker(makeDeployWorker(endpoint, counter: counter, version: 1)) {
                try await waitForWorkers(endpoint, 1)
                _ = try await start(endpoint, "deploy.flow", ["amount": 42], id: "order-1")
                let failed = try await result(endpoint, "order-1")
                #expect(failed["status"] == "failed")
                #expect(failed["failure"]?["type"] == "BugInV1")
            }
            #expect(try await eventually(timeout: .seconds(30)) { try await workerCount(endpoint) == 0 })
            #expect(counter.get("charge") == 1 && counter.get("ship-v1") == 1)

            try await LiveOrchestrator.withWorker(makeDeployWorker(endpoint, counter: counter, version: 2)) {
                try await waitForWorkers(endpoint, 1)
                let reset = try await rpc(endpoint, "workflow/reset", ["workflowId": "order-1", "toStep": 1, "reason": "ship fixed in v2"])
                #expect(reset["generation"] == 1)
                #expect(reset["previousGeneration"] == 0)
                #expect(reset["previousStatus"] == "failed")
                #expect(reset["keptSteps"] == 1)
                let done = try await result(endpoint, "order-1")
                #expect(done["status"] == "completed")
                #expect(done["output"] == ["charge": ["charged": 42], "ship": ["shipped": true]])
            }
            // Step 1 replayed from the journal; only step 2 ran again, on v2.
            #expect(counter.get("charge") == 1)
            #expect(counter.get("ship-v1") == 1)
            #expect(counter.get("ship-v2") == 1)

            let now = try await rpc(endpoint, "workflow/history", ["workflowId": "order-1"])
            #expect(now["generation"] == 1)
            #expect(now["status"] == "completed")
            #expect(now["entries"]?.arrayValue?.map { $0["status"] } == ["completed", "completed"])
            let from = now["events"]?.arrayValue?.first
            #expect(from?["type"] == "resetFrom")
            #expect(from?["generation"] == 0)
            #expect(from?["toStep"] == 1)
            #expect(from?["reason"] == "ship fixed in v2")

            let old = try await rpc(endpoint, "workflow/history", ["workflowId": "order-1", "generation": 0])
            #expect(old["generation"] == 0)
            #expect(old["status"] == "failed")
            #expect(old["entries"]?.arrayValue?.map { $0["status"] } == ["completed", "failed"])
            let to = old["events"]?.arrayValue?.first
            #expect(to?["type"] == "resetTo")
            #expect(to?["generation"] == 1)
            #expect(to?["failure"]?["type"] == "BugInV1")
            #expect(to?["message"]?.stringValue?.contains("reset to step 1 by") == true)

            let d = try await rpc(endpoint, "workflow/describe", ["workflowId": "order-1"])
            #expect(d["generation"] == 1)
            #expect(d["status"] == "completed")
            #expect(d["resets"]?.arrayValue?.count == 1)
            #expect(d["resets"]?.arrayValue?.first?["toStep"] == 1)
            #expect(d["resets"]?.arrayValue?.first?["previousStatus"] == "failed")
        }
    }

    @Test func aRunningWorkflowResetToZeroStopsItsRunAndGetsItsConsumedSignalBack() async throws {
        try await withServer { endpoint in
            let counter = Counter()
            try await LiveOrchestrator.withWorker(makeDeployWorker(endpoint, counter: counter, version: 2)) {
                try await waitForWorkers(endpoint, 1)
                _ = try await start(endpoint, "deploy.approval", [:], id: "appr")
                _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "appr", "name": "approve", "payload": ["approved": true]])
                #expect(try await eventually(timeout: .seconds(30)) {
                    try await rpc(endpoint, "workflow/describe", ["workflowId": "appr"])["pendingSteps"]?.arrayValue?.first?["seq"] == 2
                })
                // Step 2 waits for its signal: it has no outcome, so it is not a reset point.
                let inside = try await rpcError(endpoint, "workflow/reset", ["workflowId": "appr", "toStep": 2])
                #expect(inside?.code == .resetNotAtStepBoundary)
                #expect(inside?.data?["seq"] == 2)
                let reset = try await rpc(endpoint, "workflow/reset", ["workflowId": "appr", "toStep": 0])
                #expect(reset["keptSteps"] == 0)
                #expect(reset["generation"] == 1)
                // The new run's step 1 takes the first signal again; step 2 waits for a new one.
                #expect(try await eventually(timeout: .seconds(30)) {
                    let d = try await rpc(endpoint, "workflow/describe", ["workflowId": "appr"])
                    return d["generation"] == 1 && d["pendingSteps"]?.arrayValue?.first?["seq"] == 2
                })
                _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "appr", "name": "approve", "payload": ["approved": false]])
                let r = try await result(endpoint, "appr")
                #expect(r["status"] == "completed")
                #expect(r["output"] == ["first": true, "second": false])
                let old = try await rpc(endpoint, "workflow/history", ["workflowId": "appr", "generation": 0])
                #expect(old["status"] == "running" || old["status"] == "suspended")
                #expect(old["events"]?.arrayValue?.first?["type"] == "resetTo")
            }
        }
    }

    @Test func badResetPointsGetPreciseCodedErrors() async throws {
        try await withServer { endpoint in
            let counter = Counter()
            try await LiveOrchestrator.withWorker(makeDeployWorker(endpoint, counter: counter, version: 2)) {
                try await waitForWorkers(endpoint, 1)
                let unknown = try await rpcError(endpoint, "workflow/reset", ["workflowId": "nobody", "toStep": 1])
                #expect(unknown?.code == .workflowNotFound)

                _ = try await start(endpoint, "deploy.flow", ["amount": 1], id: "done")
                #expect(try await result(endpoint, "done")["status"] == "completed")
                let beyond = try await rpcError(endpoint, "workflow/reset", ["workflowId": "done", "toStep": 5])
                #expect(beyond?.code == .resetStepOutOfRange)
                #expect(beyond?.code.rpcCode == 1010)
                #expect(beyond?.data?["lastStep"] == 2)
                #expect(beyond?.message.contains("from 0 to 2") == true)
                let missing = try await rpcError(endpoint, "workflow/reset", ["workflowId": "done"])
                #expect(missing?.code == .invalidParams)

                _ = try await start(endpoint, "deploy.parent", [:], id: "parent")
                #expect(try await result(endpoint, "parent")["status"] == "completed")
                let child = try await rpcError(endpoint, "workflow/reset", ["workflowId": "parent", "toStep": 0])
                #expect(child?.code == .resetRefused)
                #expect(child?.data?["seq"] == 1)
                // Nothing changed: the refused resets left the executions as they were.
                #expect(try await rpc(endpoint, "workflow/describe", ["workflowId": "done"])["generation"] == 0)
                #expect(try await rpc(endpoint, "workflow/describe", ["workflowId": "parent"])["generation"] == 0)

                // A completed workflow reset to its last step replays every step and runs no activity.
                let charges = counter.get("charge"), ships = counter.get("ship-v2")
                let again = try await rpc(endpoint, "workflow/reset", ["workflowId": "done", "toStep": 2])
                #expect(again["previousStatus"] == "completed")
                #expect(try await result(endpoint, "done")["output"] == ["charge": ["charged": 1], "ship": ["shipped": true]])
                #expect(counter.get("charge") == charges && counter.get("ship-v2") == ships)
            }
        }
    }
}

/// What a reset does to a live run, seen from the worker's side of the wire.
@Suite("workflow/reset of a live run, on the wire", .serialized, .timeLimit(.minutes(3)))
struct WorkflowResetWireTests {
    /// Reads until every predicate matched a line (or `limit` lines passed); returns the matches.
    func collect(_ worker: RawWorker, _ wanted: [String: @Sendable (JSONValue) -> Bool], limit: Int = 20) async -> [String: JSONValue] {
        var found: [String: JSONValue] = [:]
        for _ in 0..<limit where found.count < wanted.count {
            guard let line = await worker.raw.readLine() else { break }
            for (key, matches) in wanted where found[key] == nil && matches(line) { found[key] = line }
        }
        return found
    }

    @Test func theOldRunIsAnsweredSuspendItsActivityCancelledItsLateStepsRefusedAndItsAnswerIgnored() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: { $0.engine.stepHoldMs = 60_000 }) { endpoint, _ in
                let worker = try await RawWorker.connect(dir, activities: ["raw.slow"], workflows: ["raw.flow"])
                _ = try await rpc(endpoint, "workflow/start", ["name": "raw.flow", "workflowId": "wf-1"])
                let run1 = try #require(await worker.nextRequest("workflow/run"))
                let p1 = try #require(run1["params"])
                let step: JSONValue = [
                    "workflowId": "wf-1", "runId": p1["runId"]!, "attemptToken": p1["attemptToken"]!, "seq": 1,
                    "kind": "activity", "name": "raw.slow", "input": [:],
                ]
                await worker.send(JSONWriter.string(["jsonrpc": "2.0", "id": "s1", "method": "workflow/step", "params": step]))
                let execute = try #require(await worker.nextRequest("activity/execute"))
                let taskId = try #require(execute["params"]?["taskId"]?.stringValue)

                let reset = try await rpc(endpoint, "workflow/reset", ["workflowId": "wf-1", "toStep": 0, "reason": "bad deploy"])
                #expect(reset["previousStatus"] == "running")
                let seen = await collect(worker, [
                    "held": { $0["id"] == "s1" },
                    "cancel": { $0["method"] == "activity/cancel" },
                    "run2": { $0["method"] == "workflow/run" },
                ])
                #expect(seen["held"]?["result"] == ["status": "suspend"])
                #expect(seen["cancel"]?["params"]?["taskId"]?.stringValue == taskId)
                let p2 = try #require(seen["run2"]?["params"])
                #expect(p2["journal"] == [])
                #expect((p2["runId"]?.int64Value ?? 0) > (p1["runId"]?.int64Value ?? 0))

                // The old run's late step is refused by the epoch; its late answers change nothing.
                await worker.send(JSONWriter.string(["jsonrpc": "2.0", "id": "s2", "method": "workflow/step", "params": step]))
                let late = await collect(worker, ["s2": { $0["id"] == "s2" }])
                #expect(late["s2"]?["error"]?["code"] == 2006)
                await worker.send(JSONWriter.string(["jsonrpc": "2.0", "id": execute["id"]!, "result": ["output": "late"]]))
                await worker.send(JSONWriter.string(["jsonrpc": "2.0", "id": run1["id"]!, "result": ["status": "completed", "output": "old run"]]))
                let d = try await rpc(endpoint, "workflow/describe", ["workflowId": "wf-1"])
                #expect(d["status"] == "running")
                #expect(d["generation"] == 1)
                let task = try await rpc(endpoint, "activity/result", ["taskId": .string(taskId), "waitTimeoutMs": 0])
                #expect(task["status"] == "cancelled")

                await worker.send(JSONWriter.string(["jsonrpc": "2.0", "id": seen["run2"]!["id"]!, "result": ["status": "completed", "output": "new run"]]))
                #expect(try await result(endpoint, "wf-1")["output"] == "new run")
            }
        }
    }
}

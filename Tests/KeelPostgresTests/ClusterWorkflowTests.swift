import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Workflows on several `keel serve` nodes sharing one PostgreSQL (docs/scaling.md, "Workflows
/// across nodes"): an execution started on one node runs on a workflow worker of another, its
/// activity runs on a worker of a third, its signal and its cancel are sent to yet another, and
/// a node killed mid-run hands its executions over. Real processes, real sockets, real PostgreSQL.
@Suite("Workflows across nodes on one PostgreSQL", .serialized, .timeLimit(.minutes(6)))
struct ClusterWorkflowTests {
    /// Serves `cw.order` (activity, sleep, signal, child) and `cw.child`, and the activity
    /// `cw.work`, as the flags say, recording who ran each activity attempt in `log`.
    static func worker(
        _ name: String, on node: ClusterNodeProcess, log: ExecutionLog, orders: Bool = false, children: Bool = false,
        work: Bool = false, workMs: Int = 0
    ) -> Worker {
        let w = Worker(name: name, endpoints: [node.endpoint], maxConcurrent: 32)
        if work {
            w.activity("cw.flaky") { (_: JSONValue, ctx: ActivityContext) -> Int in
                if ctx.attempt < 3 { throw ActivityFailure("attempt \(ctx.attempt) failed", type: "Transient", retryable: true) }
                return ctx.attempt
            }
            w.activity("cw.work") { (input: JSONValue, ctx: ActivityContext) -> JSONValue in
                log.record(ctx.taskId, "\(name)#\(ctx.attempt)")
                if workMs > 0 { try await Task.sleep(for: .milliseconds(workMs)) }
                return ["by": .string(name), "n": input["n"] ?? .null]
            }
        }
        if orders {
            w.workflow("cw.order") { (input: JSONValue, ctx) -> JSONValue in
                let n = input["n"] ?? 0
                let worked: JSONValue = try await ctx.activity("cw.work", ["n": n] as JSONValue)
                try await ctx.sleep(for: .milliseconds(300))
                let approval: JSONValue = try await ctx.signal("approve")
                let child: JSONValue = try await ctx.child("cw.child", ["n": n] as JSONValue)
                return ["n": n, "workedBy": worked["by"] ?? .null, "approval": approval, "child": child, "ranOn": .string(name)]
            }
            w.workflow("cw.impatient") { (_: JSONValue, ctx) -> String in
                do {
                    let _: JSONValue = try await ctx.signal("never", timeout: .milliseconds(500))
                    return "got it"
                } catch let f as ActivityFailure where f.type == "TimedOut" {
                    return "timed out"
                }
            }
            w.workflow("cw.waiter") { (_: JSONValue, ctx) -> String in
                let _: JSONValue = try await ctx.signal("never")
                return "signalled"
            }
            w.workflow("cw.retrying") { (_: JSONValue, ctx) -> Int in
                try await ctx.activity("cw.flaky", [:] as JSONValue, retryPolicy: ["initialIntervalMs": 10, "maximumAttempts": 5])
            }
            w.workflow("cw.parent") { (_: JSONValue, ctx) -> JSONValue in
                try await ctx.child("cw.waiter", [:] as JSONValue)
            }
        }
        if children {
            w.workflow("cw.child") { (input: JSONValue, ctx) -> JSONValue in
                let worked: JSONValue = try await ctx.activity("cw.work", ["n": input["n"] ?? 0] as JSONValue)
                return ["childOf": input["n"] ?? .null, "workedBy": worked["by"] ?? .null, "ranOn": .string(name)]
            }
        }
        return w
    }

    @Test func aWorkflowStartedOnOneNodeRunsOnAnotherAndTakesItsSignalFromAThird() async throws {
        try await withClusterNodes(["a", "b", "c"]) { nodes in
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let log = ExecutionLog()
            // cw.order runs only on A, its activity only on B, its child only on C.
            let workers = [
                Self.worker("flows-a", on: a, log: log, orders: true),
                Self.worker("work-b", on: b, log: log, work: true),
                Self.worker("children-c", on: c, log: log, children: true),
            ]
            let running = workers.map { w in Task { try await w.run() } }
            defer { for t in running { t.cancel() } }
            #expect(try await a.hasWorker("flows-a"))
            #expect(try await b.hasWorker("work-b"))
            #expect(try await c.hasWorker("children-c"))

            // Started on C, which has no worker for cw.order.
            let started = try await c.call("workflow/start", ["name": "cw.order", "workflowId": "order-1", "input": ["n": 7]])
            #expect(started["started"] == .bool(true))

            // Waiting for its signal, as any node sees it.
            let waiting = try await eventually {
                let d = try await b.call("workflow/describe", ["workflowId": "order-1"])
                return d["pendingSteps"]?.arrayValue?.contains { $0["kind"] == "signal" } ?? false
            }
            #expect(waiting, "the workflow never reached its signal step")
            let approve: JSONValue = ["workflowId": "order-1", "name": "approve", "payload": ["ok": true], "requestId": "approve-1"]
            let signalled = try await b.call("workflow/signal", approve)
            #expect(signalled["delivered"] == .bool(true))
            // The waiting step (its run on A) took it in the signal's own transaction on B.
            #expect(signalled["consumed"] == .bool(true), "\(signalled)")
            // Sent again to another node (a client that lost its connection): delivered once.
            let resent = try await c.call("workflow/signal", approve)
            #expect(resent["duplicate"] == .bool(true), "\(resent)")

            let result = try await c.call("workflow/result", ["workflowId": "order-1", "waitTimeoutMs": 60_000])
            #expect(result["status"]?.stringValue == "completed", "\(result)")
            let output = result["output"]
            #expect(output?["n"] == 7)
            #expect(output?["workedBy"]?.stringValue == "work-b")
            #expect(output?["approval"]?["ok"] == .bool(true))
            #expect(output?["ranOn"]?.stringValue == "flows-a")
            #expect(output?["child"]?["ranOn"]?.stringValue == "children-c")
            #expect(output?["child"]?["workedBy"]?.stringValue == "work-b")
            // Each activity ran once: two steps (the order's and the child's), one attempt each.
            #expect(log.all.count == 2)
            #expect(log.all.values.allSatisfy { $0.count == 1 })

            // An activity retried twice on B, for a workflow run on A: C's history has each
            // failed attempt, with its start and its error.
            _ = try await c.call("workflow/start", ["name": "cw.retrying", "workflowId": "retrying-1", "input": [:]])
            let retried = try await c.call("workflow/result", ["workflowId": "retrying-1", "waitTimeoutMs": 60_000])
            #expect(retried["output"] == 3, "\(retried)")
            let retriedHistory = try await c.call("workflow/history", ["workflowId": "retrying-1"])
            let failures = retriedHistory["entries"]?.arrayValue?.first?["attemptFailures"]?.arrayValue ?? []
            #expect(failures.map { $0["attempt"] } == [1, 2], "\(retriedHistory)")
            #expect(failures.map { $0["failure"]?["message"]?.stringValue } == ["attempt 1 failed", "attempt 2 failed"])
            #expect(failures.allSatisfy { $0["startedAtMs"] != nil && $0["failedAtMs"] != nil }, "\(failures)")

            // The journal, from a node that never ran it.
            let history = try await b.call("workflow/history", ["workflowId": "order-1"])
            let kinds = history["entries"]?.arrayValue?.compactMap { $0["kind"]?.stringValue }
            #expect(kinds == ["activity", "sleep", "signal", "child"])
            #expect(history["entries"]?.arrayValue?.allSatisfy { $0["status"] == "completed" } == true)

            // A signal wait with a timeout times out on a shared store too.
            _ = try await b.call("workflow/start", ["name": "cw.impatient", "workflowId": "impatient-1", "input": [:]])
            let impatient = try await b.call("workflow/result", ["workflowId": "impatient-1", "waitTimeoutMs": 60_000])
            #expect(impatient["output"]?.stringValue == "timed out", "\(impatient)")

            // A cancel sent to a node that does not run the workflow reaches it.
            _ = try await c.call("workflow/start", ["name": "cw.waiter", "workflowId": "waiter-1", "input": [:]])
            #expect(try await eventually {
                let d = try await c.call("workflow/describe", ["workflowId": "waiter-1"])
                return d["pendingSteps"]?.arrayValue?.isEmpty == false
            })
            _ = try await b.call("workflow/cancel", ["workflowId": "waiter-1", "reason": "no longer needed"])
            let cancelled = try await c.call("workflow/result", ["workflowId": "waiter-1", "waitTimeoutMs": 60_000])
            #expect(cancelled["status"]?.stringValue == "cancelled", "\(cancelled)")

            // Every node lists the whole cluster's executions.
            let listed = try await a.call("workflow/list", ["limit": 10])
            let listedIds = Set(listed["workflows"]?.arrayValue?.compactMap { $0["workflowId"]?.stringValue } ?? [])
            #expect(listedIds.isSuperset(of: ["order-1", "order-1/4", "impatient-1", "waiter-1"]), "\(listed)")
            #expect(listed["workflows"]?.arrayValue?.first { $0["workflowId"] == "order-1" }?["status"] == "completed")

            // An identifier PostgreSQL's text cannot hold is invalid params, not a store failure
            // that no retry would ever get past; the node goes on serving.
            let unstorable: [(String, JSONValue, String)] = [
                ("workflow/start", ["name": "cw.order", "workflowId": "a\u{0}b", "input": [:]], "workflowId"),
                ("workflow/signal", ["workflowId": "order\u{0}1", "name": "go", "payload": 1], "workflowId"),
                ("activity/call", ["name": "cw.work", "input": [:], "idempotencyKey": "k\u{0}"], "idempotencyKey"),
            ]
            for (method, params, field) in unstorable {
                do {
                    _ = try await a.call(method, params)
                    Issue.record("\(method) with U+0000 in \(field) must be refused")
                } catch let error as KeelError {
                    #expect(error.code == .invalidParams, "\(method): \(error)")
                    #expect(error.data?["field"]?.stringValue == field)
                    #expect(error.message.contains("U+0000"))
                }
            }
            #expect(try await a.call("workflow/describe", ["workflowId": "order-1"])["status"] == "completed")
        }
    }

    /// `workflow/terminate` sent to a node that does not run the workflow ends it at once, and its
    /// child with it; the node that ran both stops their runs, frees its worker and goes on serving.
    @Test func aTerminateOnAnyNodeEndsAWorkflowRunningOnAnotherAndItsChild() async throws {
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let worker = Self.worker("flows-a", on: a, log: ExecutionLog(), orders: true)
            let running = Task { try await worker.run() }
            defer { running.cancel() }
            #expect(try await a.hasWorker("flows-a"))

            _ = try await b.call("workflow/start", ["name": "cw.parent", "workflowId": "p-1", "input": [:]])
            // The child waits for a signal that never comes; the parent waits for the child.
            #expect(try await eventually {
                // Not found until the parent's run starts it.
                let d = try? await b.call("workflow/describe", ["workflowId": "p-1/1"])
                return d?["pendingSteps"]?.arrayValue?.contains { $0["kind"] == "signal" } ?? false
            })

            let terminated = try await b.call("workflow/terminate", ["workflowId": "p-1", "reason": "operator said so"])
            #expect(terminated["status"] == "terminated", "\(terminated)")
            // Every node sees both ended, with the reason.
            let parent = try await a.call("workflow/result", ["workflowId": "p-1", "waitTimeoutMs": 60_000])
            #expect(parent["status"] == "terminated", "\(parent)")
            #expect(parent["failure"]?["message"]?.stringValue == "operator said so")
            let child = try await a.call("workflow/result", ["workflowId": "p-1/1", "waitTimeoutMs": 60_000])
            #expect(child["status"] == "terminated", "\(child)")
            #expect(child["failure"]?["message"]?.stringValue?.contains("parent workflow p-1 ended") == true, "\(child)")
            // Node A, which ran both, learns of it from the store and lets both runs go (their
            // writes are refused by the raised epoch), rather than holding them forever.
            let droppedOnA = try await eventually { a.logLines(containing: "no longer owns was refused") >= 2 }
            #expect(droppedOnA, "\(a.log)")
            // Terminating again answers the ended execution.
            #expect(try await b.call("workflow/terminate", ["workflowId": "p-1"])["status"] == "terminated")
            do {
                _ = try await b.call("workflow/terminate", ["workflowId": "no-such-workflow"])
                Issue.record("terminating an unknown workflow must fail")
            } catch let error as KeelError {
                #expect(error.code == .workflowNotFound)
            }

            // A signal for the terminated child is refused; node A still runs new work.
            do {
                _ = try await b.call("workflow/signal", ["workflowId": "p-1/1", "name": "never", "payload": 1])
                Issue.record("a signal to a terminated workflow must be refused")
            } catch is KeelError {}
            _ = try await b.call("workflow/start", ["name": "cw.waiter", "workflowId": "after-1", "input": [:]])
            #expect(try await eventually {
                let d = try await b.call("workflow/describe", ["workflowId": "after-1"])
                return d["pendingSteps"]?.arrayValue?.contains { $0["kind"] == "signal" } ?? false
            })
            _ = try await b.call("workflow/signal", ["workflowId": "after-1", "name": "never", "payload": 1])
            let after = try await a.call("workflow/result", ["workflowId": "after-1", "waitTimeoutMs": 60_000])
            #expect(after["output"] == "signalled", "\(after)")

            // workflow/batch terminates what a query matches, across the cluster.
            for i in 1...3 { _ = try await a.call("workflow/start", ["name": "cw.waiter", "workflowId": .string("batch-\(i)"), "input": [:]]) }
            let dry = try await b.call("workflow/batch", ["operation": "terminate", "query": "workflowId=batch-* AND status=open", "dryRun": true])
            #expect(dry["matched"] == 3, "\(dry)")
            let batch = try await b.call(
                "workflow/batch", ["operation": "terminate", "query": "workflowId=batch-* AND status=open", "dryRun": false, "reason": "batch"])
            #expect(batch["applied"] == 3, "\(batch)")
            for i in 1...3 {
                let r = try await a.call("workflow/result", ["workflowId": .string("batch-\(i)"), "waitTimeoutMs": 60_000])
                #expect(r["status"] == "terminated", "\(r)")
            }
        }
    }

    /// An execution claimed by a node whose only worker for it leaves is given back, and a node
    /// that has a worker runs it (rather than it waiting for a worker on the first node forever).
    @Test func anExecutionWhoseWorkerLeftIsGivenBackToTheCluster() async throws {
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            func serving(_ name: String, on node: ClusterNodeProcess, stuck: Bool) -> Worker {
                let w = Worker(name: name, endpoints: [node.endpoint], maxConcurrent: 4)
                w.workflow("cw.handoff") { (_: JSONValue, ctx) -> JSONValue in
                    let now = try await ctx.now()
                    // The first worker never gets further: it leaves while running.
                    if stuck { try await Task.sleep(for: .seconds(600)) }
                    return ["ranOn": .string(name), "now": JSONValue(now)]
                }
                return w
            }
            let onA = Task { try await serving("stuck-a", on: a, stuck: true).run() }
            #expect(try await a.hasWorker("stuck-a"))
            _ = try await b.call("workflow/start", ["name": "cw.handoff", "workflowId": "handoff-1", "input": [:]])
            let started = try await eventually {
                let h = try await b.call("workflow/history", ["workflowId": "handoff-1"])
                return h["entries"]?.arrayValue?.isEmpty == false
            }
            #expect(started, "the first run never recorded its step")
            onA.cancel()
            let onB = Task { try await serving("worker-b", on: b, stuck: false).run() }
            defer { onB.cancel() }
            let done = try await b.call("workflow/result", ["workflowId": "handoff-1", "waitTimeoutMs": 60_000])
            #expect(done["status"]?.stringValue == "completed", "\(done)\n\(a.log)")
            #expect(done["output"]?["ranOn"]?.stringValue == "worker-b")
        }
    }

    /// With a poll interval of 10 s, work accepted by one node still starts at once on another:
    /// the commit's NOTIFY wakes the other node's loop (LISTEN/NOTIFY as a hint; polling the truth).
    @Test func aWakeUpHintStartsWorkOnAnotherNodeLongBeforeItsNextPoll() async throws {
        try await withClusterNodes(["a", "b"], pollMs: 10_000) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let log = ExecutionLog()
            let onA = Task { try await ClusterWorkflowTests.worker("flows-a", on: a, log: log, orders: true, children: true, work: true).run() }
            defer { onA.cancel() }
            #expect(try await a.hasWorker("flows-a"))
            // Let A's loop settle into its 10 s wait.
            try await Task.sleep(for: .seconds(1))
            let clock = ContinuousClock()
            let started = clock.now
            _ = try await b.call("workflow/start", ["name": "cw.impatient", "workflowId": "hinted-1", "input": [:]])
            let done = try await b.call("workflow/result", ["workflowId": "hinted-1", "waitTimeoutMs": 60_000])
            let took = clock.now - started
            // Its 500 ms signal timeout fires on time too: the node that stored the timer wakes for it.
            #expect(done["output"]?.stringValue == "timed out", "\(done)")
            // Without the hint: A claims it at its next poll (up to 10 s), and B sees the end at
            // its own (up to another 10 s). The bound leaves room for a loaded machine.
            #expect(took < .seconds(6), "took \(took): the wake-up hint did not reach the other node")
            print("cluster: a workflow started on B ran on A and its result reached B in \(took) with 10 s polls")
        }
    }
}

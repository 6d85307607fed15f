import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Workflows in flight on 3 nodes when nodes die (docs/scaling.md, "The failure model"): kill -9
/// one node, then another, while executions run activities, sleep, wait for a signal and start
/// children. CI runs this suite in the "PostgreSQL failure runs" stage.
@Suite("Workflows on 3 nodes when nodes die", .serialized, .timeLimit(.minutes(8)))
struct ClusterWorkflowFailureTests {
    /// How many executions are in flight (`KEEL_CLUSTER_WORKFLOWS`, default 300).
    static let count = ProcessInfo.processInfo.environment["KEEL_CLUSTER_WORKFLOWS"].flatMap(Int.init) ?? 300

    /// A worker on `home` that fails over to the other nodes, serving everything `cw.order` needs;
    /// each activity answers which attempt of it ran.
    static func worker(_ name: String, home: Int, nodes: [ClusterNodeProcess], log: ExecutionLog) -> Worker {
        let endpoints = (0..<nodes.count).map { nodes[(home + $0) % nodes.count].endpoint }
        let w = Worker(name: name, endpoints: endpoints, maxConcurrent: 64)
        w.activity("cw.work") { (input: JSONValue, ctx: ActivityContext) -> JSONValue in
            log.record(ctx.taskId, "\(name)#\(ctx.attempt)")
            try await Task.sleep(for: .milliseconds(100))
            return ["by": .string(name), "n": input["n"] ?? .null, "attempt": JSONValue(ctx.attempt)]
        }
        w.workflow("cw.order") { (input: JSONValue, ctx) -> JSONValue in
            let n = input["n"] ?? 0
            let worked: JSONValue = try await ctx.activity("cw.work", ["n": n] as JSONValue)
            try await ctx.sleep(for: .milliseconds(500))
            let approval: JSONValue = try await ctx.signal("approve")
            let child: JSONValue = try await ctx.child("cw.child", ["n": n] as JSONValue)
            return ["n": n, "worked": worked["n"] ?? .null, "approval": approval, "child": child["childOf"] ?? .null]
        }
        w.workflow("cw.steps") { (input: JSONValue, ctx) -> JSONValue in
            var total: Int64 = 0
            for i in 0..<5 {
                let worked: JSONValue = try await ctx.activity("cw.work", ["n": JSONValue(i)] as JSONValue)
                total += worked["n"]?.int64Value ?? 0
                try await ctx.sleep(for: .milliseconds(100))
            }
            return ["n": input["n"] ?? .null, "total": JSONValue(total)]
        }
        w.workflow("cw.child") { (input: JSONValue, ctx) -> JSONValue in
            let worked: JSONValue = try await ctx.activity("cw.work", ["n": input["n"] ?? 0] as JSONValue)
            return ["childOf": worked["n"] ?? .null]
        }
        return w
    }

    @Test func killingTwoOfThreeNodesLosesNoWorkflowAndRepeatsNoRecordedStep() async throws {
        try await withClusterNodes(["a", "b", "c"]) { nodes in
            let log = ExecutionLog()
            let workers = nodes.indices.map { i in Self.worker("worker-\(nodes[i].name)", home: i, nodes: nodes, log: log) }
            let running = workers.map { w in Task { try await w.run() } }
            defer { for t in running { t.cancel() } }
            for node in nodes { #expect(try await node.hasWorker("worker-\(node.name)")) }
            let ids = (0..<Self.count).map { "order-\($0)" }
            for (i, id) in ids.enumerated() {
                _ = try await nodes[i % 3].call("workflow/start", ["name": "cw.order", "workflowId": .string(id), "input": ["n": JSONValue(i)]])
            }

            // Kill A while the executions run their first steps, then B once the rest has moved on.
            let clock = ContinuousClock()
            try await Task.sleep(for: .milliseconds(1_500))
            nodes[0].kill9()
            let firstKill = clock.now
            let c = nodes[2]
            let waitingAfterFirst = try await Self.waitUntilAllWaitForTheSignal(ids, on: c)
            let firstTakeover = clock.now - firstKill
            nodes[1].kill9()
            let secondKill = clock.now

            // Everything is signalled through the last node; every execution ends with its own result.
            for id in ids { _ = try await c.call("workflow/signal", ["workflowId": .string(id), "name": "approve", "payload": ["ok": true]]) }
            var lost: [String] = []
            var wrong: [String] = []
            for (i, id) in ids.enumerated() {
                let r = try await c.call("workflow/result", ["workflowId": .string(id), "waitTimeoutMs": 120_000])
                guard r["status"]?.stringValue == "completed" else {
                    lost.append("\(id): \(r)")
                    continue
                }
                let o = r["output"]
                if o?["n"] != JSONValue(i) || o?["worked"] != JSONValue(i) || o?["child"] != JSONValue(i) || o?["approval"]?["ok"] != .bool(true) {
                    wrong.append("\(id): \(r)")
                }
            }
            let allDone = clock.now - secondKill
            #expect(lost.isEmpty, "\(lost.count) executions did not complete: \(lost.prefix(3))")
            #expect(wrong.isEmpty, "\(wrong.count) executions completed with a wrong result: \(wrong.prefix(3))")

            // No step recorded complete ran again: each recorded activity result is of the last
            // attempt any worker started for its task.
            var repeated: [String] = []
            var steps = 0
            for id in ids + ids.map({ "\($0)/4" }) {
                let history = try await c.call("workflow/history", ["workflowId": .string(id)])
                for e in history["entries"]?.arrayValue ?? [] where e["kind"] == "activity" {
                    steps += 1
                    guard let task = e["taskId"]?.stringValue, let attempt = e["result"]?["attempt"]?.int64Value else {
                        repeated.append("\(id): step without a task or result: \(e)")
                        continue
                    }
                    let started = log.of(task)
                    if started.count != Int(attempt) { repeated.append("\(id) \(task): recorded attempt \(attempt), started \(started)") }
                }
            }
            #expect(steps == 2 * ids.count)
            #expect(repeated.isEmpty, "\(repeated.count) recorded steps ran again: \(repeated.prefix(3))")
            let refused = nodes.map { $0.logLines(containing: "no longer owns was refused") }.reduce(0, +)
            print("""
                cluster workflows: \(ids.count) executions on 3 nodes; kill -9 A, then B; \
                all waiting for the signal \(firstTakeover) after the first kill (\(waitingAfterFirst) polls), \
                all completed \(allDone) after the second; lost \(lost.count), wrong \(wrong.count), \
                recorded steps run again \(repeated.count) of \(steps), late writes refused \(refused)
                """)
        }
    }

    /// A fast restart of PostgreSQL (every connection cut) while 3 nodes run executions of 5
    /// activities and 5 sleeps: steps answered 4001 meanwhile make their runs replay, not fail;
    /// every execution completes with its result, no recorded step runs again, no node exits.
    @Test func aPostgresRestartUnderLoadLosesNoWorkflow() async throws {
        let server = try await offCooperativePool { try PostgresCluster() }
        try await withClusterNodes(["a", "b", "c"], on: server) { nodes in
            let log = ExecutionLog()
            let workers = nodes.indices.map { i in Self.worker("worker-\(nodes[i].name)", home: i, nodes: nodes, log: log) }
            let running = workers.map { w in Task { try await w.run() } }
            defer { for t in running { t.cancel() } }
            for node in nodes { #expect(try await node.hasWorker("worker-\(node.name)")) }
            let ids = (0..<60).map { "steps-\($0)" }
            for (i, id) in ids.enumerated() {
                _ = try await nodes[i % 3].call("workflow/start", ["name": "cw.steps", "workflowId": .string(id), "input": ["n": JSONValue(i)]])
            }
            try await Task.sleep(for: .milliseconds(800))
            try await offCooperativePool { try server.restart() }

            var failed: [String] = []
            for (i, id) in ids.enumerated() {
                // A call in flight during the restart may get a 4001 or a closed connection: ask again.
                var result: JSONValue?
                for _ in 0..<10 where result == nil {
                    result = try? await nodes[i % 3].call("workflow/result", ["workflowId": .string(id), "waitTimeoutMs": 60_000])
                    if result == nil { try await Task.sleep(for: .milliseconds(500)) }
                }
                if result?["status"]?.stringValue != "completed" || result?["output"]?["total"] != 10 || result?["output"]?["n"] != JSONValue(i) {
                    failed.append("\(id): \(result ?? "no answer")")
                }
            }
            #expect(failed.isEmpty, "\(failed.count) executions did not complete right: \(failed.prefix(3))")
            var repeated = 0
            for id in ids {
                let history = try await nodes[0].call("workflow/history", ["workflowId": .string(id)])
                for e in history["entries"]?.arrayValue ?? [] where e["kind"] == "activity" {
                    if let task = e["taskId"]?.stringValue, let attempt = e["result"]?["attempt"]?.int64Value,
                        log.of(task).count != Int(attempt)
                    {
                        repeated += 1
                    }
                }
            }
            #expect(repeated == 0, "\(repeated) recorded steps ran again")
            for node in nodes { #expect(node.process?.isRunning == true, "node \(node.name) exited:\n\(node.log)") }
            let replays = nodes.map { $0.logLines(containing: "a step of this run was not recorded") }.reduce(0, +)
            print("cluster workflows: PostgreSQL restart under 60 executions on 3 nodes: failed \(failed.count), recorded steps run again \(repeated), runs replayed after a step the store did not record \(replays)")
        }
    }

    /// SIGSTOP of the node that runs an execution, past its lease: another node takes the
    /// execution over (its epoch raised) and completes it; when the paused node resumes, its late
    /// writes for the execution are refused by the epoch (counted in its log) and it rejoins.
    @Test func aPausedNodesLateWorkflowWritesAreRefusedAndItRejoins() async throws {
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let log = ExecutionLog()
            func serving(_ name: String, on node: ClusterNodeProcess, workMs: Int) -> Worker {
                let w = Worker(name: name, endpoints: [node.endpoint], maxConcurrent: 8)
                w.activity("cw.slow") { (_: JSONValue, ctx: ActivityContext) -> JSONValue in
                    log.record(ctx.taskId, "\(name)#\(ctx.attempt)")
                    try await Task.sleep(for: .milliseconds(workMs))
                    return ["by": .string(name)]
                }
                w.workflow("cw.pausable") { (_: JSONValue, ctx) -> JSONValue in
                    let worked: JSONValue = try await ctx.activity("cw.slow", [:] as JSONValue)
                    return ["workedBy": worked["by"] ?? .null, "ranOn": .string(name)]
                }
                return w
            }
            let onA = Task { try await serving("worker-a", on: a, workMs: 3_000).run() }
            defer { onA.cancel() }
            #expect(try await a.hasWorker("worker-a"))
            _ = try await b.call("workflow/start", ["name": "cw.pausable", "workflowId": "paused-1", "input": [:]])
            let started = try await eventually { log.all.values.contains { $0 == ["worker-a#1"] } }
            #expect(started, "worker-a did not start the activity: \(log.all)")

            a.pause()
            var resumed = false
            defer { if !resumed { a.resume() } }
            let onB = Task { try await serving("worker-b", on: b, workMs: 0).run() }
            defer { onB.cancel() }
            let done = try await b.call("workflow/result", ["workflowId": "paused-1", "waitTimeoutMs": 120_000])
            #expect(done["status"]?.stringValue == "completed", "\(done)")
            #expect(done["output"]?["ranOn"]?.stringValue == "worker-b")
            #expect(done["output"]?["workedBy"]?.stringValue == "worker-b")

            a.resume()
            resumed = true
            let refused = try await eventually { a.logLines(containing: "a write for a workflow this node no longer owns was refused") >= 1 }
            #expect(refused, "no late workflow write was refused:\n\(a.log)")
            #expect(try await eventually { a.logLines(containing: "rejoining") >= 1 })
            let after = try await a.call("workflow/result", ["workflowId": "paused-1"])
            #expect(after["output"] == done["output"], "a late write changed the result: \(after)")
            print("cluster workflows: late writes refused after SIGCONT: workflow \(a.logLines(containing: "a write for a workflow this node no longer owns was refused")), task \(a.logLines(containing: "a write for a task this node no longer owns was refused"))")
        }
    }

    /// Polls `node` until every execution waits for its signal; answers the number of polls.
    static func waitUntilAllWaitForTheSignal(_ ids: [String], on node: ClusterNodeProcess) async throws -> Int {
        var polls = 0
        var remaining = ids
        let deadline = ContinuousClock.now + .seconds(240)
        while !remaining.isEmpty, ContinuousClock.now < deadline {
            polls += 1
            var still: [String] = []
            for id in remaining {
                let d = try await node.call("workflow/describe", ["workflowId": .string(id)])
                if d["pendingSteps"]?.arrayValue?.contains(where: { $0["kind"] == "signal" }) != true { still.append(id) }
            }
            remaining = still
            if !remaining.isEmpty { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(remaining.isEmpty, "\(remaining.count) executions never reached their signal: \(remaining.prefix(5))")
        return polls
    }
}

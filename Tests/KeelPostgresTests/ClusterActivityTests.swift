import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Several `keel serve` nodes on one PostgreSQL (docs/scaling.md, "Activities across nodes"): real
/// processes, real sockets, in-process Swift workers connected to one node each, kill -9 and
/// SIGSTOP. A 2 s node lease keeps takeovers short; the waits are generous for loaded CI machines.
@Suite("Activities across nodes on one PostgreSQL", .serialized, .timeLimit(.minutes(4)))
struct ClusterActivityTests {
    /// A worker named `name` on `node` serving `cluster.work`: it records each attempt it runs
    /// in `log` as "NAME#ATTEMPT", sleeps the input's `ms` (unless `fast`), and answers who ran it.
    /// Runs `worker-a` on node `a` and `worker-b` on node `b` until the tasks are cancelled.
    static func runWorkerOnEach(_ a: ClusterNodeProcess, _ b: ClusterNodeProcess) -> [Task<Void, any Error>] {
        let log = ExecutionLog()
        return [Task { try await worker("worker-a", on: a, log: log).run() }, Task { try await worker("worker-b", on: b, log: log).run() }]
    }

    /// The worker names `worker/list` on `node` shows, in its order.
    static func listedWorkers(on node: ClusterNodeProcess) async throws -> [String] {
        try await node.call("worker/list", [:])["workers"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
    }

    static func worker(_ name: String, on node: ClusterNodeProcess, log: ExecutionLog, fast: Bool = false, slots: Int = 8)
        -> Worker
    {
        let w = Worker(name: name, endpoints: [node.endpoint], maxConcurrent: slots)
        w.activity("cluster.work") { (input: JSONValue, ctx: ActivityContext) -> JSONValue in
            log.record(ctx.taskId, "\(name)#\(ctx.attempt)")
            if !fast, let ms = input["ms"]?.int64Value, ms > 0 { try await Task.sleep(for: .milliseconds(ms)) }
            return ["by": .string(name), "n": input["n"] ?? .null]
        }
        return w
    }

    @Test func aCallOnOneNodeIsServedByAWorkerOnAnother() async throws {
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let log = ExecutionLog()
            let onA = Task { try await Self.worker("worker-a", on: a, log: log).run() }
            defer { onA.cancel() }
            #expect(try await a.hasWorker("worker-a"))

            // Accepted by B, which has no worker: A claims it from the store and runs it.
            let first = try await b.call(
                "activity/call", ["name": "cluster.work", "input": ["n": 1], "idempotencyKey": "k-1", "waitTimeoutMs": 60_000])
            #expect(first["status"]?.stringValue == "completed")
            #expect(first["output"]?["by"]?.stringValue == "worker-a")

            // The same key on the other node answers the stored task; nothing runs again.
            let again = try await a.call(
                "activity/call", ["name": "cluster.work", "input": ["n": 1], "idempotencyKey": "k-1", "waitTimeoutMs": 60_000])
            #expect(again["taskId"] == first["taskId"])
            #expect(log.of(first["taskId"]?.stringValue ?? "").count == 1)
            do {
                _ = try await b.call("activity/call", ["name": "cluster.work", "input": ["n": 2], "idempotencyKey": "k-1"])
                Issue.record("a key reused for another input must be refused")
            } catch let error as KeelError {
                #expect(error.code == .idempotencyConflict)
            }

            // activity/result for a task accepted elsewhere, by id and by key.
            let byKey = try await b.call("activity/result", ["idempotencyKey": "k-1"])
            #expect(byKey["output"]?["by"]?.stringValue == "worker-a")

            // A reset of an unknown execution is a coded error, not a 4001 or a hang.
            do {
                _ = try await a.call("workflow/reset", ["workflowId": "any", "toStep": 1])
                Issue.record("a reset of an unknown workflow must be refused")
            } catch let error as KeelError {
                #expect(error.code == .workflowNotFound)
            }
        }
    }

    @Test func everyNodeListsTheWorkersOfTheWholeCluster() async throws {
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let running = Self.runWorkerOnEach(a, b)
            defer { for t in running { t.cancel() } }
            for node in nodes {
                let both = try await eventually { Set(try await Self.listedWorkers(on: node)) == ["worker-a", "worker-b"] }
                let seen = try await node.call("worker/list", [:])
                #expect(both, "node \(node.name) does not list both workers: \(seen)")
            }
            let listed = try await a.call("worker/list", [:])["workers"]?.arrayValue ?? []
            let nodeOf = Dictionary(uniqueKeysWithValues: listed.compactMap { w in
                w["name"]?.stringValue.map { ($0, w["node"]?.stringValue ?? "") }
            })
            #expect(nodeOf["worker-a"] != nodeOf["worker-b"], "each worker must name its own node: \(listed)")
            #expect(listed.first?["name"]?.stringValue == "worker-a", "the asked node's own workers come first")
            // A node that dies leaves the listings once its lease lapses.
            b.kill9()
            let gone = try await eventually { try await Self.listedWorkers(on: a) == ["worker-a"] }
            #expect(gone, "a dead node's workers are still listed")
        }
    }

    /// A node stopped by SIGTERM leaves the cluster as it ends: with a lease of a minute, its
    /// workers leave the other node's listing at once, not a minute later (docs/scaling.md,
    /// "Operating several nodes").
    @Test func aNodeThatStopsLeavesTheClusterAtOnce() async throws {
        try await withClusterNodes(["a", "b"], leaseMs: 60_000) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let running = Self.runWorkerOnEach(a, b)
            defer { for t in running { t.cancel() } }
            let both = try await eventually { Set(try await Self.listedWorkers(on: a)) == ["worker-a", "worker-b"] }
            #expect(both, "node a does not list both workers")
            try await offCooperativePool { b.stop() }
            let gone = try await eventually(timeout: .seconds(10)) { try await Self.listedWorkers(on: a) == ["worker-a"] }
            let listed = try await a.call("worker/list", [:])
            #expect(gone, "a stopped node's workers are still listed: \(listed)")
        }
    }

    @Test func aCancelOnOneNodeStopsATaskQueuedForAnother() async throws {
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            // No worker anywhere: the task waits in the store.
            let queued = try await a.call("activity/call", ["name": "cluster.work", "input": ["n": 1], "wait": false])
            #expect(queued["status"]?.stringValue == "scheduled")
            let id = try #require(queued["taskId"]?.stringValue)
            // `keel task list` on the other node shows it: open tasks are listed from the store.
            let listed = try await b.call("activity/list", [:])
            #expect(listed["tasks"]?.arrayValue?.map { $0["taskId"]?.stringValue } == [id], "\(listed)")
            #expect(listed["count"] == 1)
            // So does the backlog of `keel workers` on either node (the whole cluster's, from the store).
            for node in [a, b] {
                let workers = try await node.call("worker/list", [:])
                #expect(workers["backlog"]?["activities"] == ["cluster.work": 1], "\(workers)")
            }
            let cancelled = try await b.call("activity/cancel", ["taskId": .string(id)])
            #expect(cancelled["status"]?.stringValue == "cancelled")
            // A worker that comes later does not run it.
            let log = ExecutionLog()
            let onA = Task { try await Self.worker("worker-a", on: a, log: log).run() }
            defer { onA.cancel() }
            #expect(try await a.hasWorker("worker-a"))
            let probe = try await a.call("activity/call", ["name": "cluster.work", "input": ["n": 2], "waitTimeoutMs": 60_000])
            #expect(probe["status"]?.stringValue == "completed")
            #expect(log.of(id).isEmpty, "a cancelled task ran: \(log.of(id))")
            #expect(try await a.call("activity/result", ["taskId": .string(id)])["status"]?.stringValue == "cancelled")
        }
    }

    /// kill -9 of the node whose worker runs 8 long attempts: after its lease the others take the
    /// attempts over; tasks it had completed do not run again.
    @Test func aKilledNodesAttemptsAreTakenOverAndNothingCompletedRunsAgain() async throws {
        try await withClusterNodes(["a", "b", "c"]) { nodes in
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let log = ExecutionLog()
            let onA = Task { try await Self.worker("worker-a", on: a, log: log).run() }
            defer { onA.cancel() }
            #expect(try await a.hasWorker("worker-a"))

            var quick: [String] = []
            for n in 0..<8 {
                let r = try await c.call("activity/call", ["name": "cluster.work", "input": ["n": JSONValue(n)], "waitTimeoutMs": 60_000])
                #expect(r["status"]?.stringValue == "completed")
                quick.append(try #require(r["taskId"]?.stringValue))
            }
            var slow: [String] = []
            for n in 0..<8 {
                let r = try await c.call(
                    "activity/call", ["name": "cluster.work", "input": ["n": JSONValue(100 + n), "ms": 600_000], "wait": false])
                slow.append(try #require(r["taskId"]?.stringValue))
            }
            let slowIds = slow
            let allStarted = try await eventually { slowIds.allSatisfy { log.of($0) == ["worker-a#1"] } }
            #expect(allStarted, "worker-a did not start every long attempt: \(log.all)")

            a.kill9()
            let killedAt = ContinuousClock.now
            let onB = Task { try await Self.worker("worker-b", on: b, log: log, fast: true).run() }
            defer { onB.cancel() }
            #expect(try await b.hasWorker("worker-b"))
            for id in slow {
                let r = try await c.call("activity/result", ["taskId": .string(id), "waitTimeoutMs": 120_000])
                #expect(r["status"]?.stringValue == "completed", "\(id): \(r)")
                #expect(r["output"]?["by"]?.stringValue == "worker-b")
                #expect(log.of(id) == ["worker-a#1", "worker-b#2"], "\(id) ran as \(log.of(id))")
            }
            let takeover = ContinuousClock.now - killedAt
            print("cluster: 8 attempts of a killed node taken over within \(takeover) (lease 2 s)")
            for id in quick { #expect(log.of(id).count == 1, "completed task \(id) ran again: \(log.of(id))") }
            #expect(b.logLines(containing: "took over dead nodes' work") + c.logLines(containing: "took over dead nodes' work") >= 1)
        }
    }

    /// SIGSTOP of the node whose worker holds 4 attempts, past its lease: another node takes them
    /// over; when the paused node resumes, its late ends are refused by the attempt fence (counted
    /// in its log) and it rejoins under a new id.
    @Test func aPausedNodesLateEndsAreRefusedAndItRejoins() async throws {
        // Long enough that none of A's attempts ends before A is paused, even when a loaded machine
        // takes seconds between the first start and the pause (3 s was once not enough).
        let attemptMs = 8_000
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let log = ExecutionLog()
            let onA = Task { try await Self.worker("worker-a", on: a, log: log, slots: 4).run() }
            defer { onA.cancel() }
            #expect(try await a.hasWorker("worker-a"))
            var ids: [String] = []
            for n in 0..<4 {
                let r = try await b.call(
                    "activity/call", ["name": "cluster.work", "input": ["n": JSONValue(n), "ms": JSONValue(attemptMs)], "wait": false])
                ids.append(try #require(r["taskId"]?.stringValue))
            }
            let taskIds = ids
            let started = try await eventually { taskIds.allSatisfy { log.of($0) == ["worker-a#1"] } }
            #expect(started, "worker-a did not start the attempts: \(log.all)")
            a.pause()
            let pausedAt = ContinuousClock.now
            var resumed = false
            defer { if !resumed { a.resume() } }
            let onB = Task { try await Self.worker("worker-b", on: b, log: log, fast: true).run() }
            defer { onB.cancel() }
            for id in ids {
                let r = try await b.call("activity/result", ["taskId": .string(id), "waitTimeoutMs": 120_000])
                #expect(r["output"]?["by"]?.stringValue == "worker-b", "\(id): \(r)")
            }
            // worker-a's attempts end while A is still frozen: their answers wait in A's socket.
            try await Task.sleep(until: pausedAt + .milliseconds(attemptMs + 1_000), clock: .continuous)
            a.resume()
            resumed = true
            let refused = try await eventually { a.logLines(containing: "no longer owns was refused") >= 4 }
            #expect(refused, "late ends refused: \(a.logLines(containing: "no longer owns was refused"))\n\(a.log)")
            print("cluster: late writes refused after SIGCONT: \(a.logLines(containing: "no longer owns was refused"))")
            #expect(try await eventually { a.logLines(containing: "rejoining") >= 1 })
            for id in ids {
                let r = try await a.call("activity/result", ["taskId": .string(id)])
                #expect(r["output"]?["by"]?.stringValue == "worker-b", "a late end overwrote \(id): \(r)")
            }
            // A serves again under its new id.
            let after = try await a.call("activity/call", ["name": "cluster.work", "input": ["n": 9], "waitTimeoutMs": 60_000])
            #expect(after["status"]?.stringValue == "completed")
        }
    }
}

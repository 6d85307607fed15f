import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// `keel serve` nodes when their PostgreSQL fails (docs/scaling.md, "The failure model"): a server
/// that stops answering, and a fast restart under load. Each test starts a PostgreSQL of its own,
/// since stopping the shared one would stall every other suite. CI runs this suite in the
/// "PostgreSQL failure runs" stage.
@Suite("keel serve nodes when PostgreSQL fails", .serialized, .timeLimit(.minutes(4)))
struct ClusterFailureTests {
    /// While the database does not answer, a node stops acknowledging work — requests get 4001
    /// with a reason instead of being accepted on state it cannot check — and serves again after.
    @Test func aNodeThatCannotReachPostgresRefusesWorkThenServesAgain() async throws {
        let server = try await offCooperativePool { try PostgresCluster() }
        try await withClusterNodes(["a"], on: server) { nodes in
            let a = nodes[0]
            let log = ExecutionLog()
            let worker = Task { try await ClusterActivityTests.worker("worker-a", on: a, log: log, fast: true).run() }
            defer { worker.cancel() }
            #expect(try await a.hasWorker("worker-a"))
            let before = try await a.call("activity/call", ["name": "cluster.work", "input": ["n": 1], "waitTimeoutMs": 60_000])
            #expect(before["status"]?.stringValue == "completed")

            try await offCooperativePool { try server.pause(true) }
            var paused = true
            defer { if paused { try? server.pause(false) } }
            let reasons = Locked<[String]>([])
            let refused = try await eventually {
                do {
                    _ = try await a.callOnce("activity/call", ["name": "cluster.work", "input": ["n": 2], "wait": false])
                    return false
                } catch let error as KeelError where error.code == .storageFailure {
                    reasons.withLock { $0.append(error.data?["reason"]?.stringValue ?? "?") }
                    return error.data?["reason"]?.stringValue == "leaseNotHeld"
                }
            }
            #expect(refused, "the node kept accepting work with its database stopped: \(reasons.withLock { $0 })")
            #expect(try await a.call("ping", [:]) == [:], "the node must stay up and answer what needs no store")

            try await offCooperativePool { try server.pause(false) }
            paused = false
            let back = try await eventually {
                let r = try? await a.call("activity/call", ["name": "cluster.work", "input": ["n": 3], "waitTimeoutMs": 30_000])
                return r?["status"]?.stringValue == "completed"
            }
            #expect(back, "the node did not serve again after its database came back:\n\(a.log)")
            #expect(a.process?.isRunning == true)
        }
    }

    /// A fast restart of PostgreSQL (every connection cut) while 3 nodes take calls: callers that
    /// got a 4001 call again with the same key; every call completes once, no node exits.
    @Test func aPostgresRestartUnderLoadLosesNothing() async throws {
        let server = try await offCooperativePool { try PostgresCluster() }
        try await withClusterNodes(["a", "b", "c"], on: server) { nodes in
            let log = ExecutionLog()
            let workers = nodes.prefix(2).map { node in
                Task { try await ClusterActivityTests.worker("worker-\(node.name)", on: node, log: log, fast: true).run() }
            }
            defer { for w in workers { w.cancel() } }
            #expect(try await nodes[0].hasWorker("worker-a"))
            #expect(try await nodes[1].hasWorker("worker-b"))

            let calls = 120
            let retried = Locked(0)
            let restart = Task {
                try await Task.sleep(for: .milliseconds(300))
                try await offCooperativePool { try server.restart() }
            }
            let results = try await withThrowingTaskGroup(of: (String, JSONValue).self) { group in
                for n in 0..<calls {
                    let node = nodes[n % nodes.count]
                    group.addTask {
                        let key = "restart-\(n)"
                        let deadline = ContinuousClock.now + .seconds(120)
                        while true {
                            do {
                                let r = try await node.call(
                                    "activity/call",
                                    ["name": "cluster.work", "input": ["n": JSONValue(n)], "idempotencyKey": .string(key),
                                     "waitTimeoutMs": 30_000])
                                if r["status"]?.stringValue == "completed" || ContinuousClock.now > deadline { return (key, r) }
                            } catch let error as KeelError
                                where [.storageFailure, .connectionClosed].contains(error.code) && ContinuousClock.now < deadline
                            {
                                retried.withLock { $0 += 1 }
                            }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                }
                var out: [(String, JSONValue)] = []
                for try await r in group { out.append(r) }
                return out
            }
            try await restart.value
            #expect(results.count == calls)
            #expect(results.allSatisfy { $0.1["status"]?.stringValue == "completed" },
                "not completed: \(results.filter { $0.1["status"]?.stringValue != "completed" })")
            // At least once by contract; but once a task's end was recorded nothing ran it again:
            // the attempt that completed it is the last attempt any worker ran.
            for (key, r) in results {
                let id = r["taskId"]?.stringValue ?? ""
                let ran = log.of(id)
                let completing = r["attempts"]?.int64Value ?? 0
                #expect(ran.last?.hasSuffix("#\(completing)") == true, "\(key) completed by attempt \(completing) but ran \(ran)")
            }
            let twice = results.filter { log.of($0.1["taskId"]?.stringValue ?? "").count > 1 }.count
            print("cluster: PostgreSQL restarted under \(calls) calls on 3 nodes: \(retried.withLock { $0 }) calls retried by their callers, \(twice) tasks ran more than one attempt, 0 lost")
            for node in nodes { #expect(node.process?.isRunning == true, "node \(node.name) exited:\n\(node.log)") }
        }
    }
}

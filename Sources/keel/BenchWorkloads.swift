import Foundation
import KeelClient
import KeelBench
import KeelCore
import KeelProtocol
import Synchronization

/// A fixed set of client connections shared by the workloads, calls spread round-robin.
actor ClientPool {
    private var clients: [KeelClient] = []
    private var holders: [Task<Void, any Error>] = []
    private var next = 0

    static func open(_ endpoint: Endpoint, size: Int) async throws -> ClientPool {
        try await open([endpoint], size: size)
    }

    /// `size` connections spread over `endpoints` in turn (several nodes of one store).
    static func open(_ endpoints: [Endpoint], size: Int) async throws -> ClientPool {
        let pool = ClientPool()
        for i in 0..<size { try await pool.add(endpoints[i % endpoints.count]) }
        return pool
    }

    private func add(_ endpoint: Endpoint) async throws {
        let ready = AsyncStream<KeelClient>.makeStream()
        // Holds the connection open until the pool closes; cancelled by close().
        let holder = Task {
            try await KeelClient.withClient(endpoint, name: "keel-bench") { client in
                ready.continuation.yield(client)
                while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
            }
        }
        holders.append(holder)
        var it = ready.stream.makeAsyncIterator()
        guard let client = await it.next() else { throw KeelError(.connectionClosed, "bench connection failed") }
        clients.append(client)
    }

    func client() -> KeelClient {
        defer { next = (next + 1) % clients.count }
        return clients[next]
    }

    func close() {
        for h in holders { h.cancel() }
    }
}

enum Workloads {
    static let payload: JSONValue = ["orderId": 12345, "sku": "KEEL-1", "quantity": 2, "note": "bench"]
    static let counter = Atomic<Int>(0)

    static func uniqueID(_ prefix: String) -> String {
        "\(prefix)-\(ProcessInfo.processInfo.processIdentifier)-\(counter.wrappingAdd(1, ordering: .relaxed).oldValue)"
    }

    static func startAndWait(_ pool: ClientPool, activities: Int) async throws {
        let id = JSONValue.string(uniqueID("wf"))
        _ = try await pool.client().call(
            "workflow/start", ["name": "bench.flow", "workflowId": id, "input": ["activities": JSONValue(activities), "payload": payload]])
        let r = try await pool.client().call("workflow/result", ["workflowId": id, "waitTimeoutMs": 120_000])
        guard r["status"] == "completed" else { throw KeelError(.workflowFailed, "bench workflow ended \(r)") }
    }

    /// W1: `count` workflows started at once; returns seconds from the first start to the last result.
    static func concurrentWorkflows(_ pool: ClientPool, count: Int, activities: Int) async throws -> Double {
        let start = ContinuousClock.now
        try await withThrowingDiscardingTaskGroup { group in
            for _ in 0..<count { group.addTask { try await startAndWait(pool, activities: activities) } }
        }
        return seconds(since: start)
    }

    /// W2: workflows one after another; returns each one's start→result latency in ms.
    static func sequentialWorkflows(_ pool: ClientPool, count: Int) async throws -> [Double] {
        var latencies: [Double] = []
        for _ in 0..<count {
            let start = ContinuousClock.now
            try await startAndWait(pool, activities: 1)
            latencies.append(seconds(since: start) * 1000)
        }
        return latencies
    }

    /// W3: one workflow running `steps` sequential activities; returns seconds.
    static func longWorkflow(_ pool: ClientPool, steps: Int) async throws -> Double {
        let start = ContinuousClock.now
        try await startAndWait(pool, activities: steps)
        return seconds(since: start)
    }

    /// W3 again in a workflow of `plan.w3LongSteps` activities, once per repetition, beside the
    /// `shortMs` of ``longWorkflow(_:steps:)`` at `plan.w3Steps`: near 1× while a step's cost does
    /// not grow with the journal before it (a copy of the journal per step made it 1.8× at 6,000
    /// steps; docs/performance.md, "A step's cost and its journal").
    static func addLongW3(to column: inout BenchColumn, _ pool: ClientPool, plan: BenchPlan, shortMs: [Double]) async throws {
        var long: [Double] = [], growth: [Double] = []
        for short in shortMs {
            let ms = try await longWorkflow(pool, steps: plan.w3LongSteps) * 1000 / Double(plan.w3LongSteps)
            long.append(ms)
            growth.append(ms / short)
        }
        column.add("W3 ms per activity, \(plan.w3LongSteps) steps", long)
        column.add("W3 \(plan.w3LongSteps) steps ÷ \(plan.w3Steps) steps (×)", growth)
    }

    /// W4: `activity/call` from `clients` connections, each sequential, spread over `endpoints`
    /// in turn; returns seconds and latencies (ms).
    static func oneShotCalls(_ endpoints: [Endpoint], clients: Int, callsPerClient: Int) async throws -> (Double, [Double]) {
        let start = ContinuousClock.now
        let all = try await withThrowingTaskGroup(of: [Double].self) { group in
            for c in 0..<clients {
                let endpoint = endpoints[c % endpoints.count]
                group.addTask {
                    try await KeelClient.withClient(endpoint, name: "keel-bench") { client in
                        var lat: [Double] = []
                        lat.reserveCapacity(callsPerClient)
                        for _ in 0..<callsPerClient {
                            let t = ContinuousClock.now
                            let r = try await client.call("activity/call", ["name": "bench.echo", "input": payload])
                            guard r["status"] == "completed" else { throw KeelError(.activityFailed, "bench call ended \(r)") }
                            lat.append(seconds(since: t) * 1000)
                        }
                        return lat
                    }
                }
            }
            var out: [Double] = []
            for try await l in group { out += l }
            return out
        }
        return (seconds(since: start), all)
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = start.duration(to: .now)
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

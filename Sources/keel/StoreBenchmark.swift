#if canImport(KeelPostgres)
import Foundation
import KeelCore
import KeelStorage

/// `keel store bench`: what the store costs per activity task, below the engine — enqueue, claim
/// and finish through the ``Store`` intents — with one or several nodes (store instances with
/// their own leases and connections) on one database. Prints medians of repetitions.
struct StoreBenchmark {
    var tasks: Int
    var enqueueBatch: Int
    var claimLimit: Int
    var latencySamples: Int

    /// One throughput run: `nodes` claim and finish `tasks` tasks enqueued in batches.
    struct Throughput {
        var tasksPerSecond: Double
        var commitsPerTask: Double
    }

    func throughput(_ stores: [any Store], run: Int) async throws -> Throughput {
        let names = ["bench.\(run)"]
        let leases = try await stores.enumerated().asyncMap { index, store in
            try await store.join(nodeId: "bench-\(run)-\(index)-\(UUID().uuidString.prefix(8))", leaseMillis: 60_000)
        }
        let start = ContinuousClock.now
        let commits = Locked(0)
        let finished = Locked(0)
        // Producer: one apply per batch, spread over the nodes as clients would be.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var next = 0
                var node = 0
                while next < tasks {
                    let now = try await stores[node].now()
                    let batch = (next..<min(next + enqueueBatch, tasks)).map {
                        Change.enqueueTask(Self.task("r\(run)-\($0)", name: names[0], now: now))
                    }
                    _ = try await stores[node].apply(batch)
                    commits.withLock { $0 += 1 }
                    next += batch.count
                    node = (node + 1) % stores.count
                }
            }
            for (store, lease) in zip(stores, leases) {
                for _ in 0..<2 {
                    group.addTask {
                        var idle = 0
                        while true {
                            let claimed = try await store.claimTasks(TaskClaim(names: names, limit: claimLimit), node: lease)
                            commits.withLock { $0 += 1 }
                            if claimed.isEmpty {
                                if finished.withLock({ $0 }) >= tasks { return }
                                idle += 1
                                try await Task.sleep(for: .milliseconds(min(idle, 5)))
                                continue
                            }
                            idle = 0
                            let outcomes = try await store.apply(
                                claimed.map {
                                    .finishTask(id: $0.id, attempt: $0.attempt, status: .completed, output: .null, failure: nil)
                                })
                            commits.withLock { $0 += 1 }
                            finished.withLock { $0 += outcomes.count }
                            guard outcomes.allSatisfy({ $0 == .applied }) else {
                                throw KeelError(.internalError, "bench: a claimed task's finish was refused: \(outcomes)")
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = Self.seconds(ContinuousClock.now - start)
        return Throughput(
            tasksPerSecond: Double(tasks) / seconds, commitsPerTask: Double(commits.withLock { $0 }) / Double(tasks))
    }

    /// p50 and p99 of one task's round through the store: enqueue, claim, finish, one after another.
    func latency(_ store: any Store, run: Int) async throws -> (p50: Double, p99: Double) {
        let lease = try await store.join(nodeId: "bench-latency-\(run)-\(UUID().uuidString.prefix(8))", leaseMillis: 60_000)
        var samples: [Double] = []
        for i in 0..<latencySamples {
            let name = "latency.\(run)"
            let start = ContinuousClock.now
            let now = try await store.now()
            _ = try await store.apply([.enqueueTask(Self.task("l\(run)-\(i)", name: name, now: now))])
            let claimed = try await store.claimTasks(TaskClaim(names: [name], limit: 1), node: lease)
            guard let task = claimed.first else { throw KeelError(.internalError, "bench: the task was not claimable") }
            _ = try await store.apply([
                .finishTask(id: task.id, attempt: task.attempt, status: .completed, output: .null, failure: nil)
            ])
            samples.append(Self.seconds(ContinuousClock.now - start) * 1000)
        }
        samples.sort()
        return (samples[samples.count / 2], samples[min(samples.count - 1, samples.count * 99 / 100)])
    }

    static func task(_ id: String, name: String, now: EpochMillis) -> ActivityTaskRecord {
        ActivityTaskRecord(
            id: id, name: name, input: .object(["n": .string(id)]), idempotencyKey: nil, retryPolicy: RetryPolicy(),
            timeouts: ActivityTimeouts(), contractHash: nil, now: now)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
#endif

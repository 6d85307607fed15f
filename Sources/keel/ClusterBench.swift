#if canImport(KeelPostgres)
import ArgumentParser
import Foundation
import KeelBench
import KeelClient
import KeelCore
import KeelPostgres
import KeelStorage

/// `keel bench --store postgres://… --nodes 1,3`: W1–W3 (workflows) and W4 (`activity/call`, 8
/// clients) through 1 and through N `keel serve` nodes on one PostgreSQL, beside one node on a
/// SQLite file, with the write transactions each workflow and each call costs the database
/// (docs/scaling.md, "Measured: nodes"). Clients spread over the nodes; a workflow is started
/// on one node and its result asked of another.
struct ClusterBench {
    let root: String
    let storeURL: String
    let nodeCounts: [Int]
    /// Each node's `--commit-slots`: one column per value and node count.
    let commitSlots: [Int]
    let plan: BenchPlan

    func run() async throws -> [BenchColumn] {
        guard case .postgres(let location) = try StoreURL(parsing: storeURL) else {
            throw ValidationError("--nodes needs a postgres:// store")
        }
        var columns: [BenchColumn] = [try await column(title: Self.sqliteTitle, nodes: 1, store: nil, slots: 0)]
        let probe = try await PostgresStore(location, maximumConnections: 1)
        defer { Task { await probe.close() } }
        for n in nodeCounts {
            for slots in commitSlots {
                FileHandle.standardError.write(Data("bench: \(n) node(s) on PostgreSQL, \(slots) commit slots…\n".utf8))
                columns.append(try await column(title: title(nodes: n, slots: slots), nodes: n, store: probe, slots: slots))
            }
        }
        return columns
    }

    static let sqliteTitle = "sqlite/1 node"

    /// The PostgreSQL column of `nodes` nodes with `slots` commit slots each.
    func title(nodes n: Int, slots: Int) -> String {
        "postgres/\(n) node\(n == 1 ? "" : "s")" + (commitSlots.count > 1 ? ", \(slots) slots" : "")
    }

    /// Every column's title, in the order `run` measures them (`--compare` checks them first).
    var titles: [String] {
        [Self.sqliteTitle] + nodeCounts.flatMap { n in commitSlots.map { title(nodes: n, slots: $0) } }
    }

    /// One column: `nodes` orchestrators (on the SQLite file when `store` is nil), one Python
    /// worker on each, W4's clients spread over the nodes.
    private func column(title: String, nodes: Int, store: PostgresStore?, slots: Int) async throws -> BenchColumn {
        let dir = NSTemporaryDirectory() + "keel-cluster-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var processes: [Process] = []
        defer { for p in processes.reversed() { BenchProcesses.stop(p) } }
        var endpoints: [Endpoint] = []
        for i in 0..<nodes {
            let socket = "\(dir)/n\(i).sock"
            let where_ = store == nil ? ["--db", "\(dir)/keel.db"] : ["--store", storeURL, "--commit-slots", "\(slots)"]
            processes.append(
                try BenchProcesses.spawn(
                    [BenchEnvironment.keelBinary, "serve", "--socket", socket, "--log-level", "error"] + where_,
                    log: "\(dir)/keel-\(i).log"))
            endpoints.append(.unixSocket(path: socket))
        }
        for endpoint in endpoints {
            try await BenchProcesses.waitUntil { (try? await KeelClient.withClient(endpoint) { try await $0.call("ping") }) != nil }
        }
        for (i, endpoint) in endpoints.enumerated() {
            guard case .unixSocket(let path) = endpoint else { continue }
            processes.append(
                try BenchProcesses.spawn(
                    ["/usr/bin/env", "python3", root + "/examples/bench/worker.py"], log: "\(dir)/worker-\(i).log",
                    env: ["KEEL_SOCKET": path]))
        }
        // The round-trip floor's peer: the Python bench worker in echo mode, on a socket of its own.
        let echo = try BenchEcho(path: "\(dir)/e.sock")
        processes.append(
            try BenchProcesses.spawn(
                ["/usr/bin/env", "python3", root + "/examples/bench/worker.py"], log: "\(dir)/echo.log",
                env: ["KEEL_BENCH_ECHO_SOCKET": echo.path]))
        try echo.accept()
        let first = endpoints[0]
        try await BenchProcesses.waitUntil {
            ((try? await KeelClient.withClient(first) { try await $0.workers() })?.count ?? 0) >= nodes
        }
        try await Task.sleep(for: .milliseconds(300))

        var column = BenchColumn(title: title)
        try await workflows(into: &column, endpoints: endpoints, store: store, nodePids: processes.prefix(nodes).map(\.processIdentifier))
        // Floors, between the workloads: a commit of this column's store, a round trip to the worker.
        var floors = FloorSamples(commitKind: store == nil ? "WAL commit" : "PostgreSQL commit")
        for i in 0..<plan.repetitions {
            let commits = try await store?.commitLatencies(count: plan.floorCommits)
                ?? SQLiteCommitProbe.commitLatencies(directory: dir, durability: .full, count: plan.floorCommits)
            let trips = try echo.roundTrips(count: plan.floorRoundTrips, payload: Workloads.payload, firstID: i * plan.floorRoundTrips)
            floors.add(commits: commits, roundTrips: trips)
        }
        var rate: [Double] = [], p50: [Double] = [], p99: [Double] = [], writes: [Double] = []
        let calls = plan.w4Clients * plan.w4CallsPerClient
        for _ in 0..<plan.repetitions {
            let before = try await store?.nextTransactionId()
            let (secs, latencies) = try await Workloads.oneShotCalls(
                endpoints, clients: plan.w4Clients, callsPerClient: plan.w4CallsPerClient)
            if let store, let before {
                let after = try await store.nextTransactionId()
                writes.append(Double(after - before) / Double(calls))
            }
            rate.append(Double(calls) / secs)
            p50.append(percentile(latencies, 0.5))
            p99.append(percentile(latencies, 0.99))
        }
        column.add("W4 activity/call: calls/s (8 clients)", rate)
        column.add("W4 p50 (ms)", p50)
        column.add("W4 p99 (ms)", p99)
        // SQLite has no transaction counter to read here: its row shows "-".
        column.add("database write transactions per call", writes.isEmpty ? [.nan] : writes)
        column.addFloors(floors)
        return column
    }

    /// W1 (`plan.w1Small` workflows of 3 activities at once), W2 (one workflow of 1 activity after
    /// another) and W3 (one workflow of `plan.w3Steps` activities, then of `plan.w3LongSteps`), with
    /// the write transactions per W1 workflow.
    private func workflows(
        into column: inout BenchColumn, endpoints: [Endpoint], store: PostgresStore?, nodePids: [Int32]
    ) async throws {
        let pool = try await ClientPool.open(endpoints, size: 16)
        defer { Task { await pool.close() } }
        var w1: [Double] = [], w1Writes: [Double] = [], w2p50: [Double] = [], w2p99: [Double] = [], w3: [Double] = []
        var w1Large: [Double] = [], w1LargeWrites: [Double] = [], w1LargeCPU: [Double] = []
        // The nodes' own CPU (the database's is not theirs to read: it may be on another machine).
        let nodesCPU = { nodePids.map(ProcStats.cpuSeconds).reduce(0, +) }
        for _ in 0..<plan.repetitions {
            // Many at once: what shared commits are for (the small W1 is bound by each one's latency).
            let beforeLarge = try await store?.nextTransactionId()
            let cpuBefore = nodesCPU()
            let large = try await Workloads.concurrentWorkflows(pool, count: plan.w1Large, activities: 3)
            w1LargeCPU.append((nodesCPU() - cpuBefore) * 1000 / Double(plan.w1Large))
            if let store, let beforeLarge {
                w1LargeWrites.append(Double(try await store.nextTransactionId() - beforeLarge) / Double(plan.w1Large))
            }
            w1Large.append(Double(plan.w1Large) / large)
            let before = try await store?.nextTransactionId()
            let secs = try await Workloads.concurrentWorkflows(pool, count: plan.w1Small, activities: 3)
            if let store, let before {
                w1Writes.append(Double(try await store.nextTransactionId() - before) / Double(plan.w1Small))
            }
            w1.append(Double(plan.w1Small) / secs)
            let latencies = try await Workloads.sequentialWorkflows(pool, count: plan.w2Count)
            w2p50.append(percentile(latencies, 0.5))
            w2p99.append(percentile(latencies, 0.99))
            w3.append(try await Workloads.longWorkflow(pool, steps: plan.w3Steps) * 1000 / Double(plan.w3Steps))
        }
        column.add("W1 \(plan.w1Small) wf: workflows/s", w1)
        column.add("database write transactions per W1 workflow", w1Writes.isEmpty ? [.nan] : w1Writes)
        column.add("W1 \(plan.w1Large) wf: workflows/s", w1Large)
        column.add("nodes' CPU per workflow (ms, W1 \(plan.w1Large))", w1LargeCPU)
        column.add("database write transactions per W1 \(plan.w1Large) workflow", w1LargeWrites.isEmpty ? [.nan] : w1LargeWrites)
        column.add("W2 latency p50 (ms)", w2p50)
        column.add("W2 latency p99 (ms)", w2p99)
        column.add("W3 ms per sequential activity", w3)
        try await Workloads.addLongW3(to: &column, pool, plan: plan, shortMs: w3)
    }
}
#endif

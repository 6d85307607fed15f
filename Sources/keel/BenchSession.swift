import ArgumentParser
import Foundation
import KeelBench
import KeelClient
import KeelCore
import KeelStorage

/// Where the bench finds its workers and the `keel` binary.
enum BenchEnvironment {
    /// The repository root: the folder holding examples/bench, searched upward from the binary and the cwd.
    static func findRoot() throws -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        for start in [URL(fileURLWithPath: exe).deletingLastPathComponent(), URL(fileURLWithPath: FileManager.default.currentDirectoryPath)] {
            var url = start
            for _ in 0..<6 {
                if FileManager.default.fileExists(atPath: url.path + "/examples/bench/worker.py") { return url.path }
                url.deleteLastPathComponent()
            }
        }
        throw ValidationError("cannot find examples/bench; run from the repository or pass --root")
    }

    static var keelBinary: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// One orchestrator process plus one worker process, and the workloads run against them.
struct BenchSession {
    let root: String
    let language: String
    let sync: String
    let plan: BenchPlan

    func run() async throws -> BenchColumn {
        let dir = NSTemporaryDirectory() + "keel-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let socket = dir + "/k.sock"
        let keel = try BenchProcesses.spawn([BenchEnvironment.keelBinary, "serve", "--db", dir + "/keel.db", "--socket", socket, "--sync", sync, "--log-level", "error"], log: dir + "/keel.log")
        defer { BenchProcesses.stop(keel) }
        let endpoint = Endpoint.unixSocket(path: socket)
        try await BenchProcesses.waitUntil { (try? await KeelClient.withClient(endpoint) { try await $0.call("ping") }) != nil }
        let workerArgv = try workerCommand(dir: dir)
        let worker = try BenchProcesses.spawn(workerArgv, log: dir + "/worker.log", env: ["KEEL_SOCKET": socket])
        defer { BenchProcesses.stop(worker) }
        // The round-trip floor's peer: the same worker program in echo mode, on a socket of its own.
        let echo = try BenchEcho(path: dir + "/e.sock")
        let echoPeer = try BenchProcesses.spawn(workerArgv, log: dir + "/echo.log", env: ["KEEL_BENCH_ECHO_SOCKET": echo.path])
        defer { BenchProcesses.stop(echoPeer) }
        try echo.accept()
        try await BenchProcesses.waitUntil { ((try? await KeelClient.withClient(endpoint) { try await $0.workers() })?.count ?? 0) >= 1 }
        try await Task.sleep(for: .milliseconds(300))

        var column = BenchColumn(title: Self.title(language: language, sync: sync))
        let pid = keel.processIdentifier
        column.add("RSS idle (MiB)", [ProcStats.rssMiB(pid)])
        let pool = try await ClientPool.open(endpoint, size: 16)
        defer { Task { await pool.close() } }
        let r = plan.repetitions

        var w1s: [Double] = [], w1a: [Double] = []
        for _ in 0..<r {
            let secs = try await Workloads.concurrentWorkflows(pool, count: plan.w1Small, activities: 3)
            w1s.append(Double(plan.w1Small) / secs)
            w1a.append(Double(plan.w1Small * 3) / secs)
        }
        column.add("W1 \(plan.w1Small) wf: workflows/s", w1s)
        column.add("W1 \(plan.w1Small) wf: activities/s", w1a)

        var w1l: [Double] = []
        var w1CPU = CPUShares([
            ("CPU per workflow (ms, W1 \(plan.w1Large))", pid),
            ("W1 \(plan.w1Large) CPU per workflow (ms): worker", worker.processIdentifier),
            ("W1 \(plan.w1Large) CPU per workflow (ms): clients", getpid()),
        ])
        for _ in 0..<r {
            w1CPU.start()
            let secs = try await Workloads.concurrentWorkflows(pool, count: plan.w1Large, activities: 3)
            w1CPU.stop(units: Double(plan.w1Large))
            w1l.append(Double(plan.w1Large) / secs)
        }
        column.add("W1 \(plan.w1Large) wf: workflows/s", w1l)
        w1CPU.add(to: &column)
        column.add("W1 \(plan.w1Large) ceiling at that CPU on \(Self.cores) cores (workflows/s)", w1CPU.ceiling(cores: Self.cores))
        column.add("RSS peak (MiB, after W1 \(plan.w1Large))", [ProcStats.peakRSSMiB(pid)])

        // Floors, measured here between the workloads, on the store's disk and the worker's runtime.
        var floors = FloorSamples(commitKind: "WAL commit")
        for i in 0..<r {
            let commits = try SQLiteCommitProbe.commitLatencies(
                directory: dir, durability: sync == "full" ? .full : .normal, count: plan.floorCommits)
            let trips = try echo.roundTrips(count: plan.floorRoundTrips, payload: Workloads.payload, firstID: i * plan.floorRoundTrips)
            floors.add(commits: commits, roundTrips: trips)
        }

        var p50: [Double] = [], p99: [Double] = []
        var w2CPU = Self.cpuShares("W2 CPU per workflow (ms)", node: pid, worker: worker.processIdentifier)
        for _ in 0..<r {
            w2CPU.start()
            let lat = try await Workloads.sequentialWorkflows(pool, count: plan.w2Count)
            w2CPU.stop(units: Double(plan.w2Count))
            p50.append(percentile(lat, 0.5))
            p99.append(percentile(lat, 0.99))
        }
        column.add("W2 latency p50 (ms)", p50)
        column.add("W2 latency p99 (ms)", p99)
        w2CPU.add(to: &column)

        var w3: [Double] = [], w3Switches: [Double] = []
        for _ in 0..<r {
            let before = ProcStats.contextSwitches(pid)
            let secs = try await Workloads.longWorkflow(pool, steps: plan.w3Steps)
            w3.append(secs * 1000 / Double(plan.w3Steps))
            w3Switches.append((ProcStats.contextSwitches(pid) - before) / Double(plan.w3Steps))
        }
        column.add("W3 ms per sequential activity", w3)
        column.add("W3 thread switches per activity", w3Switches)

        try await Workloads.addLongW3(to: &column, pool, plan: plan, shortMs: w3)

        var w4: [Double] = [], w4p50: [Double] = [], w4p99: [Double] = [], w4Switches: [Double] = []
        var w4CPU = Self.cpuShares("W4 CPU per call (ms)", node: pid, worker: worker.processIdentifier)
        for _ in 0..<r {
            let before = ProcStats.contextSwitches(pid)
            w4CPU.start()
            let (secs, lat) = try await Workloads.oneShotCalls([endpoint], clients: plan.w4Clients, callsPerClient: plan.w4CallsPerClient)
            let calls = Double(plan.w4Clients * plan.w4CallsPerClient)
            w4CPU.stop(units: calls)
            w4.append(calls / secs)
            w4p50.append(percentile(lat, 0.5))
            w4p99.append(percentile(lat, 0.99))
            w4Switches.append((ProcStats.contextSwitches(pid) - before) / calls)
        }
        column.add("W4 activity/call: calls/s (8 clients)", w4)
        column.add("W4 p50 (ms)", w4p50)
        column.add("W4 p99 (ms)", w4p99)
        column.add("W4 thread switches per call", w4Switches)
        w4CPU.add(to: &column)
        column.add("W4 ceiling at that CPU on \(Self.cores) cores (calls/s)", w4CPU.ceiling(cores: Self.cores))
        column.add("RSS peak (MiB, end)", [ProcStats.peakRSSMiB(pid)])
        column.addFloors(floors)
        return column
    }

    /// The cores the node, the worker and the clients share: a ceiling row is what they allow.
    private static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Where a workload's CPU goes: the node, the worker, and this process (the clients).
    private static func cpuShares(_ prefix: String, node: Int32, worker: Int32) -> CPUShares {
        CPUShares([("\(prefix): node", node), ("\(prefix): worker", worker), ("\(prefix): clients", getpid())])
    }

    /// The column's heading: `python/full`.
    static func title(language: String, sync: String) -> String { "\(language)/\(sync)" }

    /// The bench worker's command line in `language` (a Go worker is built into `dir` first).
    private func workerCommand(dir: String) throws -> [String] {
        switch language {
        case "python":
            return ["/usr/bin/env", "python3", root + "/examples/bench/worker.py"]
        case "go":
            let binary = dir + "/bench-go-worker"
            let build = try BenchProcesses.spawn(["/usr/bin/env", "go", "build", "-o", binary, "."], log: dir + "/go-build.log", cwd: root + "/examples/bench/go-worker")
            build.waitUntilExit()
            guard build.terminationStatus == 0 else {
                throw ValidationError("go build of examples/bench/go-worker failed: \((try? String(contentsOfFile: dir + "/go-build.log", encoding: .utf8)) ?? "")")
            }
            return [binary]
        default:
            throw ValidationError("unknown worker language \(language); use python or go")
        }
    }

}

/// Starting, stopping and waiting for the processes a bench runs.
enum BenchProcesses {
    /// SIGTERM, then SIGKILL if the process is still there after 3 s.
    static func stop(_ p: Process) {
        p.terminate()
        for _ in 0..<60 where p.isRunning { usleep(50_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    static func spawn(_ argv: [String], log: String, env: [String: String] = [:], cwd: String? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }

    static func waitUntil(_ condition: @Sendable () async -> Bool) async throws {
        for _ in 0..<300 {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ValidationError("the bench orchestrator or worker did not start")
    }
}

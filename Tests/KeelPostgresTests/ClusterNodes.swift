import Foundation
import KeelClient
import KeelCore
import KeelTesting

/// A `keel serve --store postgres://…` node in a child process, for the cluster tests: killable
/// with kill -9, pausable with SIGSTOP, restartable.
final class ClusterNodeProcess: @unchecked Sendable {
    // @unchecked: used from one test task.
    let name: String
    let dir: TemporaryDirectory
    let storeURL: String
    let leaseMs: Int
    /// `--cluster-poll-ms`, when not the default.
    let pollMs: Int?
    private(set) var process: ChildProcess?
    private var lives = 0

    init(name: String, dir: TemporaryDirectory, storeURL: String, leaseMs: Int = 2_000, pollMs: Int? = nil) {
        self.pollMs = pollMs
        self.name = name
        self.dir = dir
        self.storeURL = storeURL
        self.leaseMs = leaseMs
    }

    deinit { process?.kill9() }

    var socket: String { dir.file("\(name).sock") }
    var endpoint: Endpoint { .unixSocket(path: socket) }
    var log: String { process?.log ?? "" }

    /// Starts the node and waits until it answers ping.
    func start() async throws {
        lives += 1
        let argv = [
            PackagePaths.keelBinary, "serve", "--store", storeURL, "--socket", socket,
            "--node-lease-ms", String(leaseMs), "--handshake-timeout", "60",
        ] + (pollMs.map { ["--cluster-poll-ms", String($0)] } ?? [])
            // To compare shared commits on and off in the failure runs (docs/scaling.md).
            + (ProcessInfo.processInfo.environment["KEEL_TEST_COMMIT_SLOTS"].map { ["--commit-slots", $0] } ?? [])
        process = try ChildProcess(argv, logPath: dir.file("\(name)-\(lives).log"))
        let up = try await eventually(timeout: .seconds(60)) {
            (try? await KeelClient.withClient(self.endpoint) { try await $0.call("ping") }) != nil
        }
        if !up { throw KeelError(.internalError, "node \(name) did not start: \(log)") }
    }

    func kill9() { process?.kill9() }
    func pause() { process?.pause() }
    func resume() { process?.resume() }
    func stop() { process?.terminate() }

    /// Sends a request as a client of a cluster does: a refusal because the node could not prove
    /// its lease just then (4001, `reason: leaseNotHeld` — a renewal late on a loaded machine;
    /// nothing of the request was done) is sent again, for up to 15 s.
    func call(_ method: String, _ params: JSONValue) async throws -> JSONValue {
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            do {
                return try await callOnce(method, params)
            } catch let error as KeelError
                where error.data?["reason"]?.stringValue == "leaseNotHeld" && ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Sends a request once, whatever the answer (for tests that expect a node to refuse).
    func callOnce(_ method: String, _ params: JSONValue) async throws -> JSONValue {
        try await KeelClient.withClient(endpoint) { try await $0.call(method, params) }
    }

    /// True once a worker named `worker` is registered on this node.
    func hasWorker(_ worker: String) async throws -> Bool {
        try await eventually {
            let list = try await self.call("worker/list", [:])
            return list["workers"]?.arrayValue?.contains { $0["name"]?.stringValue == worker } ?? false
        }
    }

    /// How many lines of this node's current log contain `text`.
    func logLines(containing text: String) -> Int {
        log.split(separator: "\n").filter { $0.contains(text) }.count
    }
}

/// Runs `body` with one node per name on a fresh database of `cluster` (default: the test run's
/// shared PostgreSQL; a test that stops or restarts the server passes one of its own).
func withClusterNodes(
    _ names: [String], leaseMs: Int = 2_000, pollMs: Int? = nil, on server: PostgresCluster? = nil,
    _ body: ([ClusterNodeProcess]) async throws -> Void
) async throws {
    let cluster: PostgresCluster
    if let server { cluster = server } else { cluster = try await PostgresCluster.shared() }
    let database = try await offCooperativePool { try cluster.createDatabase() }
    try await TemporaryDirectory.with { dir in
        let nodes = names.map { ClusterNodeProcess(name: $0, dir: dir, storeURL: cluster.url(database: database), leaseMs: leaseMs, pollMs: pollMs) }
        defer { for node in nodes { node.kill9() } }
        for node in nodes { try await node.start() }
        try await body(nodes)
    }
}

/// Which worker ran which attempt of which task, as the workers saw it.
final class ExecutionLog: Sendable {
    private let entries = Locked<[String: [String]]>([:])

    func record(_ taskId: String, _ entry: String) { entries.withLock { $0[taskId, default: []].append(entry) } }
    func of(_ taskId: String) -> [String] { entries.withLock { $0[taskId] ?? [] } }
    var all: [String: [String]] { entries.withLock { $0 } }
}

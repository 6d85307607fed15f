import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Every end-to-end suite runs one test at a time: each spawns an orchestrator and several
/// workers, and on 2 cores they would otherwise starve each other and the other targets.
@Suite(.serialized) struct EndToEnd {}

/// A `keel serve` process on a directory's database and socket, restartable after kill -9.
final class KeelProcess: @unchecked Sendable {
    // @unchecked: used from one test task.
    let dir: TemporaryDirectory
    let workers: [String]
    /// More `keel serve` flags, after the ones every test needs.
    let arguments: [String]
    var process: ChildProcess?
    var lives = 0

    init(dir: TemporaryDirectory, workers: [String] = [], arguments: [String] = []) {
        self.dir = dir
        self.workers = workers
        self.arguments = arguments
    }

    /// A failed test must not leave its orchestrator (and its workers) behind.
    deinit { process?.kill9() }

    var socket: String { dir.file("k.sock") }
    var endpoint: Endpoint { .unixSocket(path: socket) }

    /// Starts keel and waits until it answers ping.
    func start(environment: [String: String] = [:]) async throws {
        lives += 1
        // A long handshake deadline: under the sanitizers on two loaded cores, an answer to
        // `initialize` can take longer than the 10 s default (the deadline has tests of its own).
        var argv = [
            PackagePaths.keelBinary, "serve", "--db", dir.file("keel.db"), "--socket", socket, "--handshake-timeout", "60",
        ]
        for w in workers { argv += ["--worker", w] }
        argv += arguments
        process = try ChildProcess(argv, logPath: dir.file("keel-\(lives).log"), environment: environment)
        let up = try await eventually(timeout: .seconds(20)) {
            (try? await KeelClient.withClient(self.endpoint) { try await $0.call("ping") }) != nil
        }
        if !up { throw KeelError(.internalError, "keel did not start: \(process?.log ?? "")") }
    }

    func kill9() { process?.kill9() }
    func stop() {
        process?.terminate()
        process = nil
    }

    func call(_ method: String, _ params: JSONValue) async throws -> JSONValue {
        try await KeelClient.withClient(endpoint) { try await $0.call(method, params) }
    }

    func waitForWorkers(_ n: Int) async throws {
        let ok = try await eventually(timeout: .seconds(90)) {
            ((try? await self.call("worker/list", [:]))?["workers"]?.arrayValue?.count ?? 0) >= n
        }
        if !ok { throw KeelError(.internalError, "workers did not register: \(process?.log ?? "")") }
    }
}

/// Lines of a JSON Lines side-effect log.
func sideEffects(_ path: String) -> [JSONValue] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
}

let repositoryRoot = PackagePaths.root

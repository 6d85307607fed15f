import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
/// docs/clients.md "Several endpoints": two independent `keel serve` processes A and B (two
/// SQLite files, two sockets), the Swift worker and client given both; A is killed with kill -9.
@Suite("Swift client and worker fail over between endpoints", .serialized, .timeLimit(.minutes(3)))
struct FailoverTests {
    /// Generous: CI runs on 2 busy cores.
    static let within: Duration = .seconds(30)

    /// A worker on `endpoints` that answers `whoami` with `id`.
    func makeWorker(_ endpoints: [Endpoint], id: String) -> Worker {
        let w = Worker(name: "failover-swift", endpoints: endpoints)
        w.activity("whoami") { (_: JSONValue, _) -> JSONValue in ["worker": .string(id)] }
        return w
    }

    func registered(on keel: KeelProcess, within timeout: Duration = within) async throws -> Bool {
        try await eventually(timeout: timeout) {
            let list = try await keel.call("worker/list", [:])
            return list["workers"]?.arrayValue?.contains { $0["name"]?.stringValue == "failover-swift" } ?? false
        }
    }

    /// The id of the worker that served `whoami` called through `keel`.
    func whoami(_ keel: KeelProcess) async throws -> String? {
        let result = try await keel.call("activity/call", ["name": "whoami", "input": [:], "waitTimeoutMs": 30_000])
        return result["output"]?["worker"]?.stringValue
    }

    /// Runs `body` with A and B started, each in its own directory; stops them afterwards.
    func withPair(_ body: (KeelProcess, KeelProcess) async throws -> Void) async throws {
        try await TemporaryDirectory.with { dirA in
            try await TemporaryDirectory.with { dirB in
                let a = KeelProcess(dir: dirA), b = KeelProcess(dir: dirB)
                try await a.start()
                try await b.start()
                defer {
                    a.stop()
                    b.stop()
                }
                try await body(a, b)
            }
        }
    }

    @Test func aWorkerServesTheFirstEndpointThenFailsOverAndRegistersOnTheNext() async throws {
        try await withPair { (a, b) async throws in
            let worker = makeWorker([a.endpoint, b.endpoint], id: "worker-1")
            let workerTask = Task { try await worker.run() }
            defer { workerTask.cancel() }
            #expect(try await registered(on: a))
            #expect(try await !registered(on: b, within: .zero), "the worker should use the first endpoint only")
            #expect(try await whoami(a) == "worker-1")
            a.kill9()
            #expect(try await registered(on: b), "the worker did not register on B after A died")
            #expect(try await whoami(b) == "worker-1")
        }
    }

    @Test func aWorkerKeepsRetryingWhileEveryEndpointIsDownAndServesWhenOneIsBack() async throws {
        try await withPair { (a, b) async throws in
            let worker = makeWorker([a.endpoint, b.endpoint], id: "worker-2")
            let workerTask = Task { try await worker.run() }
            defer { workerTask.cancel() }
            #expect(try await registered(on: a))
            a.kill9()
            b.kill9()
            try await Task.sleep(for: .seconds(1))  // a few rounds of refused connects
            try await b.start()
            #expect(try await registered(on: b), "the worker did not come back to B")
            #expect(try await whoami(b) == "worker-2")
        }
    }

    @Test func aClientMovesToTheNextEndpointAndNamesEachWhenAllAreDown() async throws {
        try await withPair { (a, b) async throws in
            let client = try await ReconnectingClient.connect([a.endpoint, b.endpoint], reconnectTimeout: .seconds(5))
            _ = try await client.call("ping")
            a.kill9()
            _ = try await client.workers()  // sent after A died: reaches B
            await client.close()
            b.kill9()
            do {
                _ = try await ReconnectingClient.connect([a.endpoint, b.endpoint])
                Issue.record("connect succeeded with every endpoint down")
            } catch let error as KeelError {
                #expect(error.code == .connectionClosed)
                #expect(error.message.contains("no Keel endpoint is reachable"), "\(error.message)")
                #expect(error.message.contains(a.socket) && error.message.contains(b.socket), "\(error.message)")
            }
        }
    }

    /// `keel workers --socket A,B` (and `$KEEL_SOCKET=A,B`): the CLI tries the endpoints in
    /// order, and names every one when none answers (exit 3).
    @Test func theCLITriesEachSocketInTurnAndNamesThemAllWhenNoneAnswers() async throws {
        try await withPair { (a, b) async throws in
            let both = "\(a.socket),\(b.socket)"
            let up = try await keelCLI(["workers", "--socket", both, "--format", "json"])
            #expect(up.0 == 0, "\(up.2)")
            a.kill9()
            let failedOver = try await keelCLI(["workers", "--socket", both, "--format", "json"])
            #expect(failedOver.0 == 0, "the CLI did not move on to B: \(failedOver.2)")
            let fromEnv = try await keelCLI(["workers", "--format", "json"], env: ["KEEL_SOCKET": both])
            #expect(fromEnv.0 == 0, "\(fromEnv.2)")
            b.kill9()
            let down = try await keelCLI(["workers", "--socket", both])
            #expect(down.0 == 3)
            #expect(down.2.contains(a.socket) && down.2.contains(b.socket), "\(down.2)")
        }
    }

    @Test func keelSocketAndKeelTCPTakeCommaSeparatedLists() {
        #expect(
            Endpoint.listFromEnvironment(["KEEL_SOCKET": "a.sock, b.sock"])
                == [.unixSocket(path: "a.sock"), .unixSocket(path: "b.sock")])
        #expect(
            Endpoint.listFromEnvironment(["KEEL_TCP": "h1:7000,h2:7001", "KEEL_TOKEN": "t"])
                == [.tcp(host: "h1", port: 7000, token: "t"), .tcp(host: "h2", port: 7001, token: "t")])
        #expect(Endpoint.fromEnvironment(["KEEL_SOCKET": "a.sock,b.sock"]) == .unixSocket(path: "a.sock"))
        #expect(Endpoint.listFromEnvironment([:]) == [.unixSocket(path: "keel.sock")])
    }
}
}

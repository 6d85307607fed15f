import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
/// docs/protocol.md "Worker lifecycle": a graceful stop of `keel serve` (SIGTERM) sends
/// `shutdown` only to the workers it spawned. A socket worker is not Keel's to stop: it sees its
/// connection close and reconnects. Before issue 13 every registered worker got `shutdown`, and a
/// socket worker that obeyed it (every client library did) never came back after the restart.
@Suite("Socket workers across a graceful restart", .serialized, .timeLimit(.minutes(3)))
struct GracefulRestartTests {
    /// Generous: CI runs on 2 busy cores; the reconnect backoff itself is capped at 2 s.
    static let backWithin: Duration = .seconds(30)

    static let registerLine =
        #"{"jsonrpc":"2.0","id":1,"method":"worker/register","params":{"name":"raw-socket","activities":[{"name":"raw.echo"}]}}"#
        + "\n"

    func registered(_ keel: KeelProcess, _ name: String) async throws -> Bool {
        try await eventually(timeout: Self.backWithin) {
            let list = try await keel.call("worker/list", [:])
            return list["workers"]?.arrayValue?.contains { $0["name"]?.stringValue == name } ?? false
        }
    }

    @Test func aSocketWorkerIsSentNoShutdownWhenKeelStopsGracefully() async throws {
        try await TemporaryDirectory.with { dir in
            let keel = KeelProcess(dir: dir)
            try await keel.start()
            let raw = try RawSocket(path: keel.socket)
            await raw.initialize()
            await raw.send(Self.registerLine)
            let answer = await raw.readLine()
            #expect(answer?["result"]?["workerId"] != nil, "\(String(describing: answer))")
            keel.stop()  // SIGTERM: drain, then close every connection
            var received: [JSONValue] = []
            while let line = await raw.readLine() { received.append(line) }
            #expect(
                !received.contains { $0["method"]?.stringValue == "shutdown" },
                "a socket worker was told to shut down: \(received)")
        }
    }

    @Test func aSwiftSocketWorkerServesAgainAfterAGracefulRestart() async throws {
        try await TemporaryDirectory.with { dir in
            let keel = KeelProcess(dir: dir)
            try await keel.start()
            let worker = Worker(name: "graceful-swift", endpoint: keel.endpoint)
            worker.activity("echo") { (input: JSONValue, _) -> JSONValue in input }
            let workerTask = Task { try await worker.run() }
            defer { workerTask.cancel() }
            #expect(try await registered(keel, "graceful-swift"))
            keel.stop()
            try await keel.start()
            #expect(try await registered(keel, "graceful-swift"), "the worker did not come back after a graceful restart")
            let result = try await keel.call(
                "activity/call", ["name": "echo", "input": ["after": "restart"], "waitTimeoutMs": 20_000])
            #expect(result["status"] == "completed" && result["output"] == ["after": "restart"], "\(result)")
            keel.stop()
        }
    }

    @Test func aPythonSocketWorkerServesAgainAfterAGracefulRestart() async throws {
        try await TemporaryDirectory.with { dir in
            let keel = KeelProcess(dir: dir)
            try await keel.start()
            let worker = try ChildProcess(
                ["python3", "\(repositoryRoot)/Tests/EndToEndTests/workers/py_activities.py"],
                logPath: dir.file("py-worker.log"),
                environment: ["KEEL_SOCKET": keel.socket, "KEEL_E2E_LOG": dir.file("effects.jsonl"), "KEEL_E2E_SLEEP": "0"])
            defer { worker.kill9() }
            #expect(try await registered(keel, "e2e-py"))
            keel.stop()
            try await keel.start()
            #expect(try await registered(keel, "e2e-py"), "the worker did not come back: \(worker.log)")
            #expect(worker.isRunning, "the Python worker exited on a graceful stop of Keel: \(worker.log)")
            let result = try await keel.call(
                "activity/call", ["name": "e2e.double", "input": ["n": 21], "waitTimeoutMs": 20_000])
            #expect(result["status"] == "completed" && result["output"] == ["n": 42], "\(result)")
            keel.stop()
        }
    }
}
}

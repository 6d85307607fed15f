import Foundation
import KeelClient
import KeelCore
import KeelEngine
import KeelTesting
import Testing

/// A worker that answers with bytes no client library would send, over a real socket.
struct RawWorker {
    let raw: RawSocket

    /// Connects, initializes and registers `activities` and `workflows` (names only).
    static func connect(_ dir: TemporaryDirectory, activities: [String] = [], workflows: [String] = []) async throws -> RawWorker {
        let raw = try RawSocket(path: dir.file("k.sock"))
        await raw.initialize()
        let params: JSONValue = [
            "name": "raw", "maxConcurrent": 4,
            "activities": .array(activities.map { ["name": .string($0)] }),
            "workflows": .array(workflows.map { ["name": .string($0)] }),
        ]
        await raw.send(JSONWriter.string(["jsonrpc": "2.0", "id": "reg", "method": "worker/register", "params": params]) + "\n")
        let answer = await raw.readLine()
        guard answer?["result"]?["workerId"] != nil else {
            throw KeelError(.internalError, "register failed: \(String(describing: answer))")
        }
        return RawWorker(raw: raw)
    }

    /// The next request Keel sends with `method` (skipping anything else), or nil on EOF/timeout.
    func nextRequest(_ method: String) async -> JSONValue? {
        for _ in 0..<20 {
            guard let line = await raw.readLine() else { return nil }
            if line["method"]?.stringValue == method, line["id"] != nil { return line }
        }
        return nil
    }

    /// Sends one raw line (a `\n` is added).
    func send(_ line: String) async { await raw.send(line + "\n") }
}

@Suite("Malformed answers fail fast", .serialized, .timeLimit(.minutes(3)))
struct MalformedAnswerTests {
    /// One attempt, no retry, so the call ends with the first attempt's recorded failure.
    let once: JSONValue = ["maximumAttempts": 1]

    @Test(arguments: [
        (#"{"code":"boom","message":"x"}"#, "error.code"),
        (#"{"code":1.5,"message":"x"}"#, "error.code"),
        (#"{"code":-32000}"#, "error.message"),
        (#""just a string""#, "\"error\" must be an object"),
    ])
    func anErrorAnswerThatBreaksTheSpecFailsTheAttemptAtOnceNamingTheField(_ error: String, _ named: String) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let worker = try await RawWorker.connect(dir, activities: ["raw.task"])
                let start = ContinuousClock.now
                // A 10-minute attempt timeout: ending within the suite's 3-minute limit proves the
                // answer ended the attempt, not the timeout (no tight bound: CI machines are busy).
                async let result = call(endpoint, "raw.task", [:],
                    extra: ["retryPolicy": once, "timeouts": ["startToCloseMs": 600_000]])
                let request = try #require(await worker.nextRequest("activity/execute"))
                let id = JSONWriter.string(request["id"]!)
                await worker.send(#"{"jsonrpc":"2.0","id":\#(id),"error":\#(error)}"#)
                let r = try await result
                #expect(r["status"] == "failed")
                #expect(r["failure"]?["type"] == "ProtocolError")
                #expect(r["failure"]?["message"]?.stringValue?.contains(named) == true, "\(r)")
                #expect(ContinuousClock.now - start < .seconds(170), "failed at once, not at the attempt's 10-minute timeout")
            }
        }
    }

    @Test func aMalformedErrorAnswerIsRetriedPerThePolicy() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let worker = try await RawWorker.connect(dir, activities: ["raw.task"])
                async let result = call(
                    endpoint, "raw.task", [:], extra: ["retryPolicy": ["maximumAttempts": 2, "initialIntervalMs": 10]])
                let first = try #require(await worker.nextRequest("activity/execute"))
                await worker.send(#"{"jsonrpc":"2.0","id":\#(JSONWriter.string(first["id"]!)),"error":{"code":"x","message":"m"}}"#)
                let second = try #require(await worker.nextRequest("activity/execute"))
                #expect(second["params"]?["attempt"] == 2)
                await worker.send(#"{"jsonrpc":"2.0","id":\#(JSONWriter.string(second["id"]!)),"result":{"output":"ok"}}"#)
                let r = try await result
                #expect(r["status"] == "completed")
                #expect(r["attempts"] == 2)
            }
        }
    }

    @Test(arguments: [
        (#"{"status":42}"#, "must be a string"),
        (#"{"status":"done"}"#, "\"done\" is unknown"),
        (#"{"output":1}"#, "has no \"status\""),
        (#"[1,2]"#, "must be an object"),
    ])
    func aMalformedRunAnswerParksTheWorkflowWithLastError(_ answer: String, _ named: String) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let worker = try await RawWorker.connect(dir, workflows: ["raw.flow"])
                _ = try await KeelClient.withClient(endpoint) {
                    try await $0.call("workflow/start", ["name": "raw.flow", "workflowId": "wf-1"])
                }
                let run = try #require(await worker.nextRequest("workflow/run"))
                await worker.send(#"{"jsonrpc":"2.0","id":\#(JSONWriter.string(run["id"]!)),"result":\#(answer)}"#)
                let describe: @Sendable () async throws -> JSONValue = {
                    try await KeelClient.withClient(endpoint) {
                        try await $0.call("workflow/describe", ["workflowId": "wf-1"])
                    }
                }
                let parked = try await eventually { try await describe()["status"] == "parked" }
                let described = try await describe()
                #expect(parked, "\(described)")
                #expect(described["lastError"]?["type"] == "ProtocolError")
                #expect(described["lastError"]?["message"]?.stringValue?.contains(named) == true, "\(described)")
            }
        }
    }

    /// `depth` levels of `[...]` around `inner`.
    static func nested(_ depth: Int, _ inner: String = "1") -> String {
        String(repeating: "[", count: depth) + inner + String(repeating: "]", count: depth)
    }

    @Test func anInputDeeperThanTheLimitIsRefusedAndOneAtTheLimitEchoedDeeperIsRead() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let worker = try await RawWorker.connect(dir, activities: ["raw.echo"])
                let limit = PayloadDepth.maximumInputDepth
                let client = try RawSocket(path: dir.file("k.sock"))
                await client.initialize()
                let tooDeep = #"{"jsonrpc":"2.0","id":1,"method":"activity/call","params":{"name":"raw.echo","input":\#(Self.nested(limit + 1))}}"#
                await client.send(tooDeep + "\n")
                let refused = await client.readLine()
                #expect(refused?["error"]?["code"] == -32602)
                #expect(refused?["error"]?["data"]?["maximumDepth"] == JSONValue(limit))

                let atLimit = #"{"jsonrpc":"2.0","id":2,"method":"activity/call","params":{"name":"raw.echo","input":\#(Self.nested(limit)),"retryPolicy":{"maximumAttempts":1}}}"#
                await client.send(atLimit + "\n")
                let run = try #require(await worker.nextRequest("activity/execute"))
                // The worker wraps what it got in 200 more levels: still read, recorded and answered.
                let echo = Self.nested(200, JSONWriter.string(run["params"]!["input"]!))
                await worker.send(#"{"jsonrpc":"2.0","id":\#(JSONWriter.string(run["id"]!)),"result":{"output":\#(echo)}}"#)
                let answer = await client.readLine()
                #expect(answer?["result"]?["status"] == "completed", "\(String(describing: answer?["error"]))")
                #expect(answer.map { PayloadDepth.depth(of: $0["result"]?["output"] ?? .null) } == limit + 200)
            }
        }
    }
    @Test func anAnswerTooDeepToParseFailsItsAttemptAtOnce() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let worker = try await RawWorker.connect(dir, activities: ["raw.deep"])
                let start = ContinuousClock.now
                async let result = call(endpoint, "raw.deep", [:],
                    extra: ["retryPolicy": once, "timeouts": ["startToCloseMs": 600_000]])
                let run = try #require(await worker.nextRequest("activity/execute"))
                // The id comes first here and last in the next case: both must be found.
                let deep = Self.nested(JSONParser.defaultMaximumDepth + 100)
                await worker.send(#"{"jsonrpc":"2.0","id":\#(JSONWriter.string(run["id"]!)),"result":{"output":\#(deep)}}"#)
                let r = try await result
                #expect(r["status"] == "failed")
                #expect(r["failure"]?["type"] == "ProtocolError")
                #expect(r["failure"]?["message"]?.stringValue?.contains("cannot be read") == true, "\(r)")
                #expect(ContinuousClock.now - start < .seconds(170), "failed at once, not at the attempt's 10-minute timeout")

                async let second = call(endpoint, "raw.deep", [:], extra: ["retryPolicy": once])
                let run2 = try #require(await worker.nextRequest("activity/execute"))
                await worker.send(#"{"jsonrpc":"2.0","result":{"output":\#(deep)},"id":\#(JSONWriter.string(run2["id"]!))}"#)
                #expect(try await second["failure"]?["type"] == "ProtocolError")
            }
        }
    }
}

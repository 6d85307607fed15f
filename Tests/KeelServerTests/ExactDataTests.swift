import Foundation
import KeelClient
import KeelCore
import KeelEngine
import KeelServer
import KeelTesting
import Testing

/// Issue 10, items 1 and 7, against a real orchestrator over a real socket: hostile numbers get
/// coded errors instead of crashing the process, and distinct data stays distinct through the
/// wire, the engine and SQLite.
@Suite("Exact data and bounded numbers over a real socket", .serialized, .timeLimit(.minutes(3)))
struct ExactDataTests {
    static let nfc = "\u{E9}"
    static let nfd = "e\u{301}"

    /// Runs `body` with a raw connection, then proves the orchestrator still serves a client.
    func withRaw(_ body: @escaping @Sendable (RawSocket, Endpoint) async throws -> Void) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let raw = try RawSocket(path: dir.file("k.sock"))
                try await body(raw, endpoint)
                let pong = try await KeelClient.withClient(endpoint) { try await $0.call("ping") }
                #expect(pong == [:])
            }
        }
    }

    func request(_ raw: RawSocket, _ id: Int, _ method: String, _ params: String) async -> JSONValue? {
        await raw.send(#"{"jsonrpc":"2.0","id":\#(id),"method":"\#(method)","params":\#(params)}"# + "\n")
        return await raw.readLine()
    }

    @Test func aHugeExponentResponseIdBeforeInitializeIsACodedErrorNotACrash() async throws {
        try await withRaw { raw, _ in
            // Beyond the bound: refused by the parser with its reason.
            await raw.send(#"{"jsonrpc":"2.0","id":1e9223372036854775807,"result":1}"# + "\n")
            let refused = await raw.readLine()
            #expect(refused?["error"]?["code"] == -32700)
            #expect(refused?["error"]?["message"]?.stringValue?.contains("exponent") == true)
            // Within the bound: a response to an id nobody asked for is dropped, silently.
            await raw.send(#"{"jsonrpc":"2.0","id":-1e999999999,"result":1}"# + "\n")
            await raw.send(#"{"jsonrpc":"2.0","id":"next","method":"ping"}"# + "\n")
            #expect(await raw.readLine()?["id"] == "next")  // the first answer after the dropped response
        }
    }

    @Test(arguments: [
        "1e9223372036854775807", "-1e9223372036854775807", "1e999999999999999999", "1e999999999",
        "9223372036854775808", "-1e-999999999",
    ])
    func aHugeWaitTimeoutIsACodedError(_ timeout: String) async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            let answer = await request(raw, 7, "activity/call", #"{"name":"x.y","waitTimeoutMs":\#(timeout)}"#)
            let code = answer?["error"]?["code"]?.int64Value
            #expect(code == -32700 || code == -32602, "\(timeout) → \(String(describing: answer))")
        }
    }

    @Test func hugeDurationsInWorkflowStepsAndRetryHintsDoNotCrash() async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            let a = await request(raw, 8, "activity/call", #"{"name":"x.y","wait":false,"retryPolicy":{"backoffCoefficient":1e999999999}}"#)
            #expect(a?["error"]?["code"] == -32602)
        }
    }

    @Test func workflowIdsThatDifferAfterANulStayDistinct() async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            for (i, who) in ["alice", "mallory"].enumerated() {
                let a = await request(
                    raw, 10 + i, "workflow/start",
                    #"{"name":"acct.open","workflowId":"acct\u0000\#(who)","input":"\#(who)","conflictPolicy":"fail"}"#)
                #expect(a?["result"]?["started"] == true, "\(who): \(String(describing: a))")
                #expect(a?["result"]?["workflowId"] == .string("acct\u{0}\(who)"))
            }
            for (i, who) in ["alice", "mallory"].enumerated() {
                let d = await request(raw, 20 + i, "workflow/describe", #"{"workflowId":"acct\u0000\#(who)"}"#)
                #expect(d?["result"]?["input"] == .string(who), "\(String(describing: d))")
            }
        }
    }

    @Test func aWorkflowIdNotInNFCIsRefusedSoTwinsCannotShareOneLiveWorkflow() async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            let nfc = await request(raw, 1, "workflow/start", #"{"name":"acct.open","workflowId":"caf\#(Self.nfc)"}"#)
            #expect(nfc?["result"]?["started"] == true, "\(String(describing: nfc))")
            let nfd = await request(raw, 2, "workflow/start", #"{"name":"acct.open","workflowId":"caf\#(Self.nfd)"}"#)
            #expect(nfd?["error"]?["code"] == -32602, "\(String(describing: nfd))")
            #expect(nfd?["error"]?["message"]?.stringValue?.contains("NFC") == true)
        }
    }

    @Test func idempotencyKeysThatDifferAfterANulStayDistinct() async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            let a = await request(raw, 1, "activity/call", #"{"name":"x.y","input":1,"idempotencyKey":"k\u0000a","wait":false}"#)
            let b = await request(raw, 2, "activity/call", #"{"name":"x.y","input":2,"idempotencyKey":"k\u0000b","wait":false}"#)
            let again = await request(raw, 3, "activity/call", #"{"name":"x.y","input":1,"idempotencyKey":"k\u0000a","wait":false}"#)
            let taskA = try #require(a?["result"]?["taskId"]?.stringValue, "\(String(describing: a))")
            let taskB = try #require(b?["result"]?["taskId"]?.stringValue, "\(String(describing: b))")
            #expect(taskA != taskB)
            #expect(again?["result"]?["taskId"]?.stringValue == taskA)
            #expect(b?["result"]?["idempotencyKey"] == "k\u{0}b")
            let long = String(repeating: "k", count: 513)
            let tooLong = await request(raw, 4, "activity/call", #"{"name":"x.y","idempotencyKey":"\#(long)","wait":false}"#)
            #expect(tooLong?["error"]?["code"] == -32602)
        }
    }

    @Test func anIdempotencyKeyReusedWithOtherBytesOrAHugeNumberIsNotTheStoredCall() async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            let first = await request(raw, 1, "activity/call", #"{"name":"x.y","input":{"\#(Self.nfc)":1},"idempotencyKey":"n","wait":false}"#)
            #expect(first?["result"]?["taskId"] != nil)
            let nfd = await request(raw, 2, "activity/call", #"{"name":"x.y","input":{"\#(Self.nfd)":1},"idempotencyKey":"n","wait":false}"#)
            #expect(nfd?["error"]?["code"] == 4002, "\(String(describing: nfd))")
            _ = await request(raw, 3, "activity/call", #"{"name":"x.y","input":1,"idempotencyKey":"h","wait":false}"#)
            let huge = await request(raw, 4, "activity/call", #"{"name":"x.y","input":1e99999999999999999999,"idempotencyKey":"h","wait":false}"#)
            #expect(huge?["error"]?["code"] == -32700)
        }
    }

    @Test func aNotificationWithArrayParamsGetsNoAnswer() async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            await raw.send(#"{"jsonrpc":"2.0","method":"activity/call","params":[1,2]}"# + "\n")
            await raw.send(#"{"jsonrpc":"2.0","method":"whatever","params":"x"}"# + "\n")
            await raw.send(#"[{"jsonrpc":"2.0","method":"n","params":[1]}]"# + "\n")
            await raw.send(#"{"jsonrpc":"2.0","id":"after","method":"ping"}"# + "\n")
            #expect(await raw.readLine()?["id"] == "after")
        }
    }

    @Test func aTinyRateLimitPostponesInsteadOfTrapping() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: {
                $0.engine.activityLimits = ["echo": ActivityLimit(ratePerMinute: 1e-300)]
            }) { endpoint, _ in
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: Counter())) {
                    try await waitForWorkers(endpoint, 1)
                    let first = try await call(endpoint, "echo", 1)
                    #expect(first["status"] == "completed")
                    // The second start would wait 6e304 ms: it stays scheduled, the process lives.
                    let second = try await call(endpoint, "echo", 2, extra: ["wait": false])
                    #expect(second["status"] == "scheduled")
                    let pong = try await KeelClient.withClient(endpoint) { try await $0.call("ping") }
                    #expect(pong == [:])
                }
            }
        }
    }

    @Test func nfcAndNfdKeysAndNegativeZeroSurviveAWorkerRoundTrip() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: Counter())) {
                    try await waitForWorkers(endpoint, 1)
                    let input = try JSONParser.parse(#"{"\#(Self.nfc)":1,"\#(Self.nfd)":2,"z":-0}"#)
                    let r = try await call(endpoint, "echo", input)
                    #expect(r["status"] == "completed")
                    let output = try #require(r["output"]?.objectValue)
                    #expect(output.count == 3)
                    #expect(output[Self.nfc] == 1 && output[Self.nfd] == 2)
                    #expect(output["z"]?.numberValue?.literal == "-0")
                }
            }
        }
    }
}

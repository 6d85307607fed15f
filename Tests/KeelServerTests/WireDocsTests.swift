import Foundation
import KeelCore
import KeelTesting
import Testing

/// Issue 13, "docs that match the wire": what docs/protocol.md says a worker written from the docs
/// alone will see, checked against a real orchestrator over a raw socket.
@Suite("The wire does what docs/protocol.md says", .serialized, .timeLimit(.minutes(2)))
struct WireDocsTests {
    static let initialize: JSONValue = ["protocolVersion": "1"]

    /// A raw client and a raw worker serving `activities` on a fresh orchestrator.
    func withPeers(
        _ activities: JSONValue,
        _ body: @escaping @Sendable (_ client: WirePeer, _ worker: WirePeer) async throws -> Void
    ) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let path = dir.file("k.sock")
                let worker = try WirePeer(path: path)
                _ = await worker.call("initialize", Self.initialize)
                let registered = await worker.call("worker/register", ["name": "wire-docs", "activities": activities])
                #expect(registered?["result"]?["workerId"] != nil, "\(String(describing: registered))")
                let client = try WirePeer(path: path)
                _ = await client.call("initialize", Self.initialize)
                try await body(client, worker)
            }
        }
    }

    // MARK: - timeouts.heartbeatTimeoutMs (one name for one thing)

    @Test func theHeartbeatTimeoutHasOneWireNameAndTheOldOneStillWorks() async throws {
        try await withPeers([
            ["name": "hb.contract", "timeouts": ["heartbeatTimeoutMs": 4_000]],
            ["name": "hb.call"],
        ]) { client, worker in
            func executed(_ params: JSONValue) async -> JSONValue? {
                let called = await client.call("activity/call", params)
                #expect(called?["result"] != nil, "\(String(describing: called))")
                guard let execute = await worker.request("activity/execute") else { return nil }
                await worker.reply(to: execute, result: ["output": [:]])
                return execute["params"]?["heartbeatTimeoutMs"]
            }
            // From the contract, from the call, and from the call under the deprecated name.
            #expect(await executed(["name": "hb.contract", "input": [:], "wait": false]) == 4_000)
            #expect(await executed(["name": "hb.call", "input": [:], "wait": false, "timeouts": ["heartbeatTimeoutMs": 5_000]]) == 5_000)
            #expect(await executed(["name": "hb.call", "input": [:], "wait": false, "timeouts": ["heartbeatMs": 3_000]]) == 3_000)
            let both = await client.call(
                "activity/call",
                ["name": "hb.call", "input": [:], "wait": false, "timeouts": ["heartbeatTimeoutMs": 5_000, "heartbeatMs": 3_000]])
            #expect(both?["error"]?["code"] == -32602, "\(String(describing: both))")
            #expect(both?["error"]?["data"]?["field"] == "timeouts.heartbeatMs")
        }
    }

    // MARK: - activity/call and activity/cancel answers

    @Test func callWithoutWaitAnswersRunningWhenAWorkerIsFreeAndCancelAnswersTheWholeTask() async throws {
        try await withPeers([["name": "doc.held"]]) { client, worker in
            let called = await client.call("activity/call", ["name": "doc.held", "input": [:], "wait": false])
            #expect(called?["result"]?["status"] == "running", "\(String(describing: called))")
            let taskId = called?["result"]?["taskId"] ?? .null
            let execute = await worker.request("activity/execute")
            #expect(execute != nil)

            // attempt may be null: the heartbeat is for the current attempt, if this connection holds it.
            let beat = await worker.call("activity/heartbeat", ["taskId": taskId, "attempt": nil, "details": ["page": 1]])
            #expect(beat?["result"] == ["cancelled": false], "\(String(describing: beat))")
            let stranger = await client.call("activity/heartbeat", ["taskId": taskId])
            #expect(stranger?["error"]?["code"] == 2006, "\(String(describing: stranger))")

            let cancelled = await client.call("activity/cancel", ["taskId": taskId])
            #expect(
                cancelled?["result"] == [
                    "taskId": taskId, "name": "doc.held", "status": "cancelled", "attempts": 1,
                    "failure": ["type": "Cancelled", "message": "cancelled by a client", "retryable": false],
                ], "\(String(describing: cancelled))")
            let notice = await worker.notification("activity/cancel")
            #expect(notice?["method"] == "activity/cancel" && notice?["params"]?["attempt"] == 1, "\(String(describing: notice))")

            // A heartbeat for the ended task says stop; one for an unknown task gets 2006, not 2004.
            let late = await worker.call("activity/heartbeat", ["taskId": taskId, "attempt": nil])
            #expect(late?["result"] == ["cancelled": true], "\(String(describing: late))")
            let unknown = await worker.call("activity/heartbeat", ["taskId": "t-never"])
            #expect(unknown?["error"]?["code"] == 2006 && unknown?["error"]?["data"] == ["taskId": "t-never"])
            let gone = await client.call("activity/cancel", ["taskId": "t-never"])
            #expect(gone?["error"]?["code"] == 2004, "\(String(describing: gone))")
        }
    }

    @Test func cancellingAnEndedTaskReturnsItsEndUnchanged() async throws {
        try await withPeers([["name": "doc.quick"]]) { client, worker in
            let called = await client.call("activity/call", ["name": "doc.quick", "input": [:], "wait": false])
            let taskId = called?["result"]?["taskId"] ?? .null
            if let execute = await worker.request("activity/execute") {
                await worker.reply(to: execute, result: ["output": ["done": true]])
            }
            let ended = await client.call("activity/result", ["taskId": taskId, "waitTimeoutMs": 30_000])
            #expect(ended?["result"]?["status"] == "completed")
            let cancelled = await client.call("activity/cancel", ["taskId": taskId])
            #expect(cancelled?["result"]?["status"] == "completed", "\(String(describing: cancelled))")
            #expect(cancelled?["result"]?["output"] == ["done": true])
        }
    }

    // MARK: - errors and framing

    @Test func invalidParamsDataListsTheSchemaErrorsOrNamesTheField() async throws {
        try await withPeers([["name": "doc.any"]]) { client, _ in
            // A rule only the engine checks: data.field is the field's path inside params.
            let twice = await client.call("worker/register", ["activities": [["name": "doc.x"], ["name": "doc.x"]]])
            #expect(twice?["error"]?["code"] == -32602)
            #expect(twice?["error"]?["data"] == ["field": "activities"], "\(String(describing: twice))")
            // A rule the protocol schema checks: data.errors, one entry per violation.
            let typed = await client.call("activity/call", ["name": 5])
            #expect(typed?["error"]?["code"] == -32602)
            let first = typed?["error"]?["data"]?["errors"]?.arrayValue?.first
            #expect(first?["instanceLocation"] == "/name", "\(String(describing: typed))")
            #expect(first?["keyword"] != nil && first?["keywordLocation"] != nil && first?["message"] != nil)
        }
    }

    @Test func theNameRuleIsForActivitiesNotForTheWorkersOwnName() async throws {
        try await withPeers([["name": "doc.any"]]) { client, _ in
            let free = await client.call("worker/register", ["name": "Ada's worker #2 (béta)", "activities": []])
            #expect(free?["result"]?["workerId"] != nil, "\(String(describing: free))")
            let bad = await client.call("worker/register", ["name": "ok", "activities": [["name": "not a name"]]])
            #expect(bad?["error"]?["code"] == -32602, "\(String(describing: bad))")
        }
    }

    @Test func blankLinesAreKeepAlivesThatGetNoAnswer() async throws {
        try await withPeers([["name": "doc.any"]]) { client, _ in
            await client.socket.send("\n   \n\t\n\r\n")
            let pong = await client.call("ping")
            #expect(pong?["result"] == [:], "a blank line was answered: \(String(describing: pong))")
        }
    }

    // MARK: - deadlineMs and retryAfterMs

    @Test func deadlineMsIsWhenTheAttemptsStartToCloseFiresAndRetryAfterMsLengthensTheBackoff() async throws {
        try await withPeers([["name": "doc.retry"]]) { client, worker in
            let before = Int64(Date().timeIntervalSince1970 * 1000)
            _ = await client.call(
                "activity/call",
                [
                    "name": "doc.retry", "input": [:], "wait": false, "timeouts": ["startToCloseMs": 600_000],
                    "retryPolicy": ["initialIntervalMs": 100, "maximumAttempts": 2],
                ])
            guard let first = await worker.request("activity/execute") else { return }
            let after = Int64(Date().timeIntervalSince1970 * 1000)
            let deadline = first["params"]?["deadlineMs"]?.int64Value ?? 0
            #expect(deadline >= before + 600_000 && deadline <= after + 600_000, "deadlineMs \(deadline)")

            let failedAt = ContinuousClock.now
            await worker.reply(
                to: first,
                result: ["failure": ["type": "RateLimited", "message": "429", "retryable": true, "retryAfterMs": 1_500]])
            let second = await worker.request("activity/execute")
            #expect(second?["params"]?["attempt"] == 2)
            // The policy's backoff is 100 ms; retryAfterMs is longer, so it decides.
            #expect(ContinuousClock.now - failedAt >= .milliseconds(1_400), "the retry came before retryAfterMs")
            if let second { await worker.reply(to: second, result: ["output": [:]]) }
        }
    }
}

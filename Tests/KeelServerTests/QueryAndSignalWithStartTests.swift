import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelTesting
import Testing

/// Issue 17, item 2 (first part): query values a workflow publishes, read with or without a
/// worker, and signal-with-start (docs/protocol.md, "Queries and signal-with-start"). A real
/// orchestrator on a real SQLite file, a Swift worker on a real socket.
@Suite("Queries and signal-with-start", .serialized, .timeLimit(.minutes(3)))
struct QueryAndSignalWithStartTests {
    static func worker(_ endpoint: Endpoint) -> Worker {
        let w = Worker(name: "query-worker", endpoint: endpoint)
        w.workflow("order.progress") { (_: JSONValue, ctx) -> JSONValue in
            try await ctx.setQueryValue("stage", "packed")
            let payload: JSONValue = try await ctx.signal("go")
            try await ctx.setQueryValue("stage", ["shipped": payload])
            return payload
        }
        return w
    }

    static func query(_ client: KeelClient, _ id: String, _ name: String = "stage") async throws -> JSONValue {
        let answer = try await client.call("workflow/query", ["workflowId": .string(id), "name": .string(name)])
        #expect(ProtocolValidator.shared.checkResult(method: "workflow/query", result: answer) == nil, "\(answer)")
        return answer
    }

    static func signalWithStart(_ client: KeelClient, _ id: String, payload: JSONValue, requestId: String? = nil) async throws -> JSONValue {
        var signal: JSONObject = ["name": "go", "payload": payload]
        if let requestId { signal["requestId"] = .string(requestId) }
        let answer = try await client.call("workflow/start", [
            "name": "order.progress", "workflowId": .string(id), "signal": .object(signal),
        ])
        #expect(ProtocolValidator.shared.checkResult(method: "workflow/start", result: answer) == nil, "\(answer)")
        return answer
    }

    static func result(_ client: KeelClient, _ id: String) async throws -> JSONValue {
        try await client.call("workflow/result", ["workflowId": .string(id), "waitTimeoutMs": 30_000])
    }

    @Test func signalWithStartStartsOrSignalsAndAQueryReadsThePublishedValue() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(Self.worker(endpoint)) {
                    try await KeelClient.withClient(endpoint) { client in
                        // A new id: started, with its signal waiting for it.
                        let fresh = try await Self.signalWithStart(client, "sws-1", payload: ["n": 1])
                        #expect(fresh["started"] == true && fresh["signal"] == ["delivered": true, "duplicate": false], "\(fresh)")
                        #expect(try await Self.result(client, "sws-1")["output"] == ["n": 1])
                        let shipped = try await Self.query(client, "sws-1")
                        #expect(shipped["value"] == ["shipped": ["n": 1]] && shipped["seq"] == 3 && shipped["status"] == "completed", "\(shipped)")

                        // An open execution: signalled, not started again.
                        _ = try await client.call("workflow/start", ["name": "order.progress", "workflowId": "sws-2"])
                        _ = try await eventually { (try? await Self.query(client, "sws-2")["value"]) == "packed" }
                        #expect(try await Self.query(client, "sws-2")["value"] == "packed")
                        let existing = try await Self.signalWithStart(client, "sws-2", payload: ["n": 2], requestId: "r-2")
                        #expect(existing["started"] == false && existing["signal"] == ["delivered": true, "duplicate": false], "\(existing)")
                        #expect(try await Self.result(client, "sws-2")["output"] == ["n": 2])

                        // The same request again (a client's resend): delivered once.
                        let first = try await Self.signalWithStart(client, "sws-3", payload: ["n": 3], requestId: "r-3")
                        let resent = try await Self.signalWithStart(client, "sws-3", payload: ["n": 3], requestId: "r-3")
                        #expect(first["started"] == true && resent["started"] == false)
                        #expect(resent["signal"]?["duplicate"] == true, "\(resent)")
                        #expect(try await Self.result(client, "sws-3")["output"] == ["n": 3])

                        // Ended: refused as a signal to it is.
                        let ended = await #expect(throws: KeelError.self) { _ = try await Self.signalWithStart(client, "sws-1", payload: 9) }
                        #expect(ended?.code == .workflowNotFound && ended?.message.contains("has ended") == true, "\(String(describing: ended))")
                        let failPolicy = await #expect(throws: KeelError.self) {
                            _ = try await client.call("workflow/start", [
                                "name": "order.progress", "workflowId": "sws-9", "conflictPolicy": "fail", "signal": ["name": "go"],
                            ])
                        }
                        #expect(failPolicy?.code == .invalidParams && failPolicy?.message.contains("conflictPolicy") == true)

                        let unknown = await #expect(throws: KeelError.self) { _ = try await Self.query(client, "sws-1", "eta") }
                        #expect(unknown?.code == .queryNotFound && unknown?.data?["known"] == ["stage"], "\(String(describing: unknown))")
                        let noWorkflow = await #expect(throws: KeelError.self) { _ = try await Self.query(client, "nope") }
                        #expect(noWorkflow?.code == .workflowNotFound)
                    }
                }
            }
            // No worker, a new orchestrator on the same file: the values are read from the store.
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    #expect(try await Self.query(client, "sws-2")["value"] == ["shipped": ["n": 2]])
                    let history = try await client.call("workflow/history", ["workflowId": "sws-3"])
                    let kinds = (history["entries"]?.arrayValue ?? []).map { "\($0["kind"]?.stringValue ?? "") \($0["name"]?.stringValue ?? "")" }
                    #expect(kinds == ["query stage", "signal go", "query stage"], "\(kinds)")
                }
            }
        }
    }

    @Test func aBadQueryStepIsRefusedNamingTheField() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let w = Worker(name: "bad-query", endpoint: endpoint)
                w.workflow("query.bad") { (_: JSONValue, ctx) -> JSONValue in
                    do {
                        _ = try await ctx.step("query", name: "stage", input: "packed")  // not {"value": …}
                        return "accepted"
                    } catch let error as KeelError {
                        return .string(error.message)
                    }
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await KeelClient.withClient(endpoint) { client in
                        _ = try await client.call("workflow/start", ["name": "query.bad", "workflowId": "qb"])
                        let r = try await Self.result(client, "qb")
                        #expect(r["output"]?.stringValue?.contains("input") == true, "\(r)")
                    }
                }
            }
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelEngine
import KeelServer
import KeelTesting
import Testing

// Beside the whole suite on CI's two cores its paging test took 150 s, then past 180 s.
@Suite("workflow/batch (issue 13)", .serialized, .timeLimit(.minutes(5)))
struct WorkflowBatchTests {
    func withHolders(_ count: Int, _ body: @escaping @Sendable (Endpoint) async throws -> Void) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: { $0.engine.stepHoldMs = 200 }) { endpoint, _ in
                let w = Worker(name: "holder", endpoint: endpoint)
                for name in ["order.hold", "invoice.hold"] {
                    w.workflow(name) { (_: JSONValue, ctx) -> JSONValue in
                        let go: JSONValue = try await ctx.signal("go")
                        return ["go": go]
                    }
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await waitForWorkers(endpoint, 1)
                    for i in 0..<count {
                        _ = try await start(endpoint, "order.hold", [:], id: "order-\(i)")
                        _ = try await start(endpoint, "invoice.hold", [:], id: "invoice-\(i)")
                    }
                    try await body(endpoint)
                }
            }
        }
    }

    func batch(_ endpoint: Endpoint, _ params: JSONValue) async throws -> JSONValue {
        try await rpc(endpoint, "workflow/batch", params)
    }

    @Test func pagesFollowTheCursorAndCancelExactlyTheMatches() async throws {
        try await withHolders(10) { endpoint in
            var cursor: JSONValue = .null
            var counted: [Int64] = []
            repeat {
                let page = try await batch(endpoint, ["operation": "cancel", "query": "name=order.*", "dryRun": true, "limit": 4, "cursor": cursor])
                counted.append(page["matched"]?.int64Value ?? -1)
                #expect(page["applied"] == 0)
                cursor = page["nextCursor"] ?? .null
            } while cursor != .null && counted.count < 10
            #expect(counted.reduce(0, +) == 10)
            #expect(counted.prefix(2) == [4, 4])
            let none = try await rpc(endpoint, "workflow/list", ["status": "cancelled"])
            #expect(none["workflows"]?.arrayValue?.isEmpty == true)

            let applied = try await batch(endpoint, ["operation": "cancel", "query": "name=order.*", "dryRun": false, "reason": "batch test"])
            #expect(applied["matched"] == 10)
            #expect(applied["applied"] == 10)
            #expect(applied["failed"] == [])
            for i in 0..<10 {
                #expect(try await result(endpoint, "order-\(i)")["status"] == "cancelled")
            }
            let invoices = try await rpc(endpoint, "workflow/list", ["name": "invoice.hold"])
            #expect(invoices["workflows"]?.arrayValue?.allSatisfy { $0["status"] != "cancelled" } == true)
            // Again: all ended now, so nothing matches an open status.
            let again = try await batch(endpoint, ["operation": "cancel", "query": "name=order.* AND status=open", "dryRun": false])
            #expect(again["matched"] == 0)

            // A cancelled workflow reset to its start runs again, no longer cancelled.
            let reset = try await rpc(endpoint, "workflow/reset", ["workflowId": "order-4", "toStep": 0])
            #expect(reset["previousStatus"] == "cancelled")
            _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "order-4", "name": "go", "payload": "again"])
            let rerun = try await result(endpoint, "order-4")
            #expect(rerun["status"] == "completed")
            #expect(rerun["output"] == ["go": "again"])
        }
    }

    @Test func aSignalBatchReachesEachMatchAndATerminateBatchEndsTheOthers() async throws {
        try await withHolders(3) { endpoint in
            let dry = try await batch(endpoint, ["operation": "terminate", "query": "workflowId=invoice-*", "dryRun": true])
            #expect(dry["matched"] == 3)
            #expect(dry["sample"] == ["invoice-0", "invoice-1", "invoice-2"])
            #expect(try await rpc(endpoint, "workflow/describe", ["workflowId": "invoice-0"])["status"] != "terminated")
            let noSignal = try await rpcError(endpoint, "workflow/batch", ["operation": "signal", "query": "name=invoice.hold", "dryRun": false])
            #expect(noSignal?.code == .invalidParams)

            let sent = try await batch(endpoint, [
                "operation": "signal", "query": "name=invoice.hold", "dryRun": false, "signal": ["name": "go", "payload": 7],
            ])
            #expect(sent["applied"] == 3)
            for i in 0..<3 { #expect(try await result(endpoint, "invoice-\(i)")["output"] == ["go": 7]) }
            #expect(try await rpc(endpoint, "workflow/describe", ["workflowId": "order-0"])["status"] != "completed")

            let ended = try await batch(endpoint, [
                "operation": "terminate", "query": "workflowId=order-*", "dryRun": false, "reason": "bad deploy",
            ])
            #expect(ended["matched"] == 3 && ended["applied"] == 3 && ended["failedCount"] == 0)
            for i in 0..<3 {
                let r = try await result(endpoint, "order-\(i)")
                #expect(r["status"] == "terminated")
                #expect(r["failure"]?["message"] == "bad deploy")
            }
            // Ended ones are skipped by a second pass, not terminated again.
            let again = try await batch(endpoint, ["operation": "terminate", "query": "workflowId=order-*", "dryRun": false])
            #expect(again["applied"] == 0)
        }
    }

    @Test func queriesSelectByStatusAlternativesIdPrefixTimeAndQuotedValues() async throws {
        try await withHolders(2) { endpoint in
            let expected: [(String, Int64)] = [
                ("status=running|suspended|pending", 4),
                ("status=completed", 0),
                (#"name="order.hold" and workflowId=order-1"#, 1),
                ("workflowId=invoice-* AND status=open", 2),
                ("createdAfter=2999-01-01T00:00:00Z", 0),
                ("createdBefore=2999-01-01T00:00:00.000Z AND createdAfter=0", 4),
            ]
            for (query, matched) in expected {
                let page = try await batch(endpoint, ["operation": "cancel", "query": .string(query), "dryRun": true])
                #expect(page["matched"]?.int64Value == matched, "\(query)")
            }
            // The position points at the bad term, for the CLI to show where.
            let bad = try await rpcError(endpoint, "workflow/batch", ["operation": "cancel", "query": "name=a AND stauts=x", "dryRun": true])
            #expect(bad?.data?["position"] == 11)
            #expect(bad?.data?["term"] == "stauts=x")
        }
    }

    @Test(arguments: [
        ("", "the query is empty"),
        ("stauts=running", "unknown key `stauts` (did you mean status?)"),
        ("status=runing", "status `runing` is not one of"),
        ("name=a.* OR name=b.*", "OR is not supported"),
        ("name=a AND", "AND needs a term on each side"),
        ("name=a AND  AND status=open", "AND needs a term on each side"),
        ("createdBefore=yesterday", "is not a time"),
        ("status>running", "only = is supported"),
        ("name=a AND name=b", "name is given twice"),
        ("name='unclosed", "a quote is not closed"),
    ])
    func badQueriesGetInvalidQueryWithThePosition(query: String, message: String) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let e = try await rpcError(endpoint, "workflow/batch", ["operation": "cancel", "query": .string(query), "dryRun": true])
                #expect(e?.code == .invalidQuery, "\(query): \(String(describing: e))")
                #expect(e?.message.contains(message) == true, "\(query): \(e?.message ?? "")")
                #expect(e?.data?["position"]?.int64Value != nil)
            }
        }
    }
}

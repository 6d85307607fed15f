import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Search attributes across nodes on one PostgreSQL (docs/protocol.md, "Search attributes and
/// memo"): a workflow that runs on one node upserts; a query on another finds it; the owner's
/// node dies and the next run on the other node keeps what was upserted and upserts on.
@Suite("Search attributes across nodes on one PostgreSQL", .serialized, .timeLimit(.minutes(4)))
struct ClusterSearchAttributeTests {
    static func ids(_ node: ClusterNodeProcess, _ query: String) async throws -> [String] {
        let list = try await node.call("workflow/list", ["query": .string(query), "limit": 1000])
        return (list["workflows"]?.arrayValue ?? []).compactMap { $0["workflowId"]?.stringValue }.sorted()
    }

    @Test func aQueryOnAnyNodeFindsWhatAWorkflowOnAnotherUpserted() async throws {
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            func worker(_ name: String, _ node: ClusterNodeProcess) -> Worker {
                let w = Worker(name: name, endpoints: [node.endpoint])
                w.workflow("csa.order") { (_: JSONValue, ctx) -> JSONValue in
                    try await ctx.upsertSearchAttributes(["stage": "packed"])
                    let _: JSONValue = try await ctx.signal("go")
                    return try await ctx.upsertSearchAttributes(["stage": "shipped"])
                }
                return w
            }
            let onA = Task { try await worker("flows-a", a).run() }
            defer { onA.cancel() }
            #expect(try await a.hasWorker("flows-a"))
            for i in 0..<5 {
                _ = try await b.call("workflow/start", [
                    "name": "csa.order", "workflowId": .string("c\(i)"), "searchAttributes": ["customer": .string(i < 3 ? "acme" : "globex")],
                    "memo": ["by": "b"],
                ])
            }
            let acme = ["c0", "c1", "c2"]
            #expect(try await eventually { try await Self.ids(b, #"customer = "acme" AND stage = "packed""#) == acme })
            #expect(try await Self.ids(a, #"customer = "globex""#) == ["c3", "c4"])
            let d = try await b.call("workflow/describe", ["workflowId": "c0"])
            #expect(d["searchAttributes"] == ["customer": "acme", "stage": "packed"] && d["memo"] == ["by": "b"], "\(d)")
            // A dies; the runs move to B's worker, which upserts on from what A's runs stored.
            onA.cancel()
            a.kill9()
            let onB = Task { try await worker("flows-b", b).run() }
            defer { onB.cancel() }
            #expect(try await b.hasWorker("flows-b"))
            for i in 0..<5 { _ = try await b.call("workflow/signal", ["workflowId": .string("c\(i)"), "name": "go"]) }
            for i in 0..<5 {
                let r = try await b.call("workflow/result", ["workflowId": .string("c\(i)"), "waitTimeoutMs": 60_000])
                #expect(r["status"] == "completed", "c\(i): \(r)")
            }
            #expect(try await Self.ids(b, #"stage = "shipped" AND customer IN ("acme", "globex")"#) == acme + ["c3", "c4"])
            #expect(try await Self.ids(b, #"stage = "packed""#) == [])
        }
    }
}

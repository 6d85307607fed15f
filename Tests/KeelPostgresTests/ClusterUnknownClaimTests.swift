import Foundation
import KeelClient
import KeelCore
import KeelPostgres
import KeelStorage
import KeelTesting
import Testing

/// An execution the store says a live node holds, that the node never heard of — the answer of
/// its claim or owned start was lost — is given back by that node and runs (docs/scaling.md,
/// "Workflows across nodes"). Before, it waited for the node's lease to lapse, which a live
/// node's never does. A real `keel serve` on a real PostgreSQL; the lost answer is a start
/// committed for the node by another connection.
@Suite("Executions held by a node that does not know it", .serialized, .timeLimit(.minutes(3)))
struct ClusterUnknownClaimTests {
    @Test func anExecutionHeldUnknownIsGivenBackAndRuns() async throws {
        try await withClusterNodes(["a"], pollMs: 100) { nodes in
            let a = nodes[0]
            let worker = Worker(name: "unknown-claim-worker", endpoints: [a.endpoint])
            worker.workflow("uc.add") { (input: JSONValue, _) -> JSONValue in
                .number(JSONNumber((input["n"]?.int64Value ?? 0) + 1))
            }
            let running = Task { try await worker.run() }
            defer { running.cancel() }
            #expect(try await a.hasWorker("unknown-claim-worker"))

            guard case .postgres(let location) = try StoreURL(parsing: a.storeURL) else {
                Issue.record("not a PostgreSQL URL: \(a.storeURL)")
                return
            }
            let store = try await PostgresStore(location, operationTimeout: .seconds(60))
            defer { Task { await store.close() } }
            let node = try #require(try await store.nodes().first { $0.alive })
            let now = try await store.now()
            var record = WorkflowRecord(id: "held-unknown", name: "uc.add", input: ["n": 41], contractHash: nil, now: now)
            record.status = .running
            record.epoch = 1
            #expect(try await store.apply([.startClaimedExecution(record, node: node.nodeId)]) == [.applied])
            #expect(try await store.execution(id: "held-unknown")?.ownerNode == node.nodeId)

            let done = try await a.call("workflow/result", ["workflowId": "held-unknown", "waitTimeoutMs": 60_000])
            #expect(done["status"] == "completed", "\(done)")
            #expect(done["output"] == 42, "\(done)")
            #expect(a.logLines(containing: "gave back a workflow this node held without running it") == 1, "\(a.log)")
        }
    }
}

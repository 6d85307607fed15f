import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Worker builds across nodes on one PostgreSQL (docs/versioning.md): a node claims an execution
/// only for a build one of its workers can run. Real `keel serve` processes, real PostgreSQL.
@Suite("Worker builds across nodes on one PostgreSQL", .serialized, .timeLimit(.minutes(4)))
struct ClusterVersioningTests {
    /// Serves `cv.versioned`: waits for signal `go`, answers with the worker's name.
    static func worker(_ name: String, on node: ClusterNodeProcess, build: String, compatible: [String] = []) -> Worker {
        let w = Worker(name: name, endpoints: [node.endpoint], buildId: build, compatibleBuildIds: compatible)
        w.workflow("cv.versioned") { (_: JSONValue, ctx) -> JSONValue in
            let go: JSONValue = try await ctx.signal("go")
            return ["ranOn": .string(name), "go": go]
        }
        return w
    }

    func describe(_ node: ClusterNodeProcess, _ id: String) async throws -> JSONValue {
        try await node.call("workflow/describe", ["workflowId": .string(id)])
    }

    @Test func anExecutionPinnedToABuildIsClaimedOnlyByANodeThatRunsIt() async throws {
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            // v1 on A runs the first execution (started on B) to its signal wait: pinned to v1.
            let v1 = Task { try await Self.worker("v1-a", on: a, build: "v1").run() }
            #expect(try await a.hasWorker("v1-a"))
            _ = try await b.call("workflow/start", ["name": "cv.versioned", "workflowId": "pinned-1", "input": [:]])
            #expect(try await eventually { try await describe(b, "pinned-1")["pendingSteps"]?.arrayValue?.isEmpty == false })
            #expect(try await describe(b, "pinned-1")["buildId"] == "v1")
            v1.cancel()
            #expect(try await eventually {
                let workers = try await a.call("worker/list", [:])["workers"]?.arrayValue ?? []
                return !workers.contains { $0["name"] == "v1-a" }
            })

            // v2 on B does not continue v1: signalled, the execution stays unclaimed (B's claims
            // skip it) while a new execution runs on v2.
            let v2 = Task { try await Self.worker("v2-b", on: b, build: "v2").run() }
            defer { v2.cancel() }
            #expect(try await b.hasWorker("v2-b"))
            _ = try await a.call("workflow/signal", ["workflowId": "pinned-1", "name": "go", "payload": 1])
            _ = try await a.call("workflow/start", ["name": "cv.versioned", "workflowId": "new-1", "input": [:]])
            #expect(try await eventually { try await describe(a, "new-1")["pendingSteps"]?.arrayValue?.isEmpty == false })
            _ = try await a.call("workflow/signal", ["workflowId": "new-1", "name": "go", "payload": 2])
            let new = try await a.call("workflow/result", ["workflowId": "new-1", "waitTimeoutMs": 60_000])
            #expect(new["output"] == ["ranOn": "v2-b", "go": 2], "\(new)")
            #expect(try await describe(a, "new-1")["buildId"] == "v2")
            // Several of B's poll rounds (--cluster-poll-ms) later, still not run.
            try await Task.sleep(for: .seconds(2))
            let waiting = try await describe(b, "pinned-1")
            #expect(waiting["status"] != "completed" && waiting["status"] != "parked", "\(waiting)")
            #expect(waiting["buildId"] == "v1")

            // v3 on A continues v1's executions: it takes the waiting one, which stays pinned to v1.
            let v3 = Task { try await Self.worker("v3-a", on: a, build: "v3", compatible: ["v1"]).run() }
            defer { v3.cancel() }
            let old = try await b.call("workflow/result", ["workflowId": "pinned-1", "waitTimeoutMs": 60_000])
            #expect(old["output"] == ["ranOn": "v3-a", "go": 1], "\(old)")
            #expect(try await describe(b, "pinned-1")["buildId"] == "v1")
            let listed = try await b.call("workflow/list", ["limit": 10])["workflows"]?.arrayValue ?? []
            #expect(Set(listed.compactMap { $0["buildId"]?.stringValue }) == ["v1", "v2"], "\(listed)")
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Changing workflow code safely (docs/versioning.md): patch markers recorded in the journal, and
/// executions pinned to the worker build that first ran them.
@Suite("Versioning: patch markers and worker builds", .timeLimit(.minutes(3)))
struct VersioningTests {
    /// A worker of `build` serving `wf.versioned`: waits for signal `go`, answers with its build.
    func versionedWorker(_ endpoint: Endpoint, build: String?, compatible: [String] = []) -> Worker {
        let w = Worker(
            name: "worker-\(build ?? "unversioned")", endpoint: endpoint, buildId: build, compatibleBuildIds: compatible)
        w.workflow("wf.versioned") { (_: JSONValue, ctx) -> JSONValue in
            let go: JSONValue = try await ctx.signal("go")
            return ["ranOn": build.map { .string($0) } ?? .null, "go": go]
        }
        w.workflow("wf.patchedTwice") { (_: JSONValue, ctx) -> JSONValue in
            let first = try await ctx.patched("fraud-check")
            let second = try await ctx.patched("fraud-check")
            let now = try await ctx.now()
            return ["first": .bool(first), "second": .bool(second), "now": JSONValue(now)]
        }
        return w
    }

    func workerCount(_ endpoint: Endpoint) async throws -> Int {
        try await KeelClient.withClient(endpoint) { try await $0.workers().count }
    }

    func describe(_ endpoint: Endpoint, _ id: String) async throws -> JSONValue {
        try await rpc(endpoint, "workflow/describe", ["workflowId": .string(id)])
    }

    @Test func aPatchMarkerIsRecordedOnceAndAnsweredTrue() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(versionedWorker(endpoint, build: nil)) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await start(endpoint, "wf.patchedTwice", [:], id: "patched-1")
                    let r = try await result(endpoint, "patched-1")
                    #expect(r["output"]?["first"] == true)
                    #expect(r["output"]?["second"] == true)
                    let h = try await rpc(endpoint, "workflow/history", ["workflowId": "patched-1"])
                    let entries = h["entries"]?.arrayValue ?? []
                    // One marker for two calls, then the `now` step at seq 2.
                    #expect(entries.map { $0["kind"] } == ["patch", "now"])
                    #expect(entries.first?["name"] == "fraud-check")
                    #expect(entries.first?["result"] == true)
                    #expect(entries.first?["status"] == "completed")
                }
            }
        }
    }

    @Test func anExecutionKeepsRunningOnItsBuildAndNewOnesGoToTheNewest() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                // v1 runs the first execution up to its signal wait: it is pinned to v1.
                try await LiveOrchestrator.withWorker(versionedWorker(endpoint, build: "v1")) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await start(endpoint, "wf.versioned", [:], id: "old")
                    #expect(try await eventually { try await describe(endpoint, "old")["status"] == "suspended" })
                    #expect(try await describe(endpoint, "old")["buildId"] == "v1")
                }
                #expect(try await eventually { try await workerCount(endpoint) == 0 })
                // v2 does not declare v1 compatible: the old execution waits for a v1 worker; a new
                // one runs on v2.
                try await LiveOrchestrator.withWorker(versionedWorker(endpoint, build: "v2")) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "old", "name": "go", "payload": 1])
                    let waitsForV1 = "a worker of build v1 for workflow wf.versioned"
                    #expect(try await eventually(timeout: .seconds(10)) { try await describe(endpoint, "old")["waitingFor"] == .string(waitsForV1) })
                    try await Task.sleep(for: .milliseconds(300))
                    let waiting = try await describe(endpoint, "old")
                    #expect(waiting["waitingFor"] == .string(waitsForV1))
                    #expect(waiting["steps"] == 1)
                    _ = try await start(endpoint, "wf.versioned", [:], id: "new")
                    _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "new", "name": "go", "payload": 2])
                    let new = try await result(endpoint, "new")
                    #expect(new["output"] == ["ranOn": "v2", "go": 2])
                    #expect(try await describe(endpoint, "new")["buildId"] == "v2")
                    // v3 continues v1's executions (its code replays them): the old one finishes
                    // there, still pinned to v1; v3 connected last, so new executions go to it.
                    try await LiveOrchestrator.withWorker(versionedWorker(endpoint, build: "v3", compatible: ["v1"])) {
                        try await waitForWorkers(endpoint, 2)
                        let old = try await result(endpoint, "old")
                        #expect(old["output"] == ["ranOn": "v3", "go": 1])
                        #expect(try await describe(endpoint, "old")["buildId"] == "v1")
                        let workers = try await rpc(endpoint, "worker/list", [:])["workers"]?.arrayValue ?? []
                        #expect(Set(workers.compactMap { $0["buildId"]?.stringValue }) == ["v2", "v3"])
                        #expect(workers.first { $0["buildId"] == "v3" }?["compatibleBuildIds"] == ["v1"])
                        _ = try await start(endpoint, "wf.versioned", [:], id: "newest")
                        #expect(try await eventually { try await describe(endpoint, "newest")["status"] == "suspended" })
                        #expect(try await describe(endpoint, "newest")["buildId"] == "v3")
                    }
                }
            }
        }
    }

    @Test func anUnversionedWorkerRunsOnlyUnpinnedExecutions() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(versionedWorker(endpoint, build: "v1")) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await start(endpoint, "wf.versioned", [:], id: "pinned")
                    #expect(try await eventually { try await describe(endpoint, "pinned")["status"] == "suspended" })
                }
                #expect(try await eventually { try await workerCount(endpoint) == 0 })
                try await LiveOrchestrator.withWorker(versionedWorker(endpoint, build: nil)) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await start(endpoint, "wf.versioned", [:], id: "loose")
                    _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "loose", "name": "go", "payload": 3])
                    #expect(try await result(endpoint, "loose")["output"] == ["ranOn": .null, "go": 3])
                    #expect(try await describe(endpoint, "loose")["buildId"] == nil)
                    _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "pinned", "name": "go", "payload": 4])
                    let waitsForV1: JSONValue = "a worker of build v1 for workflow wf.versioned"
                    #expect(try await eventually(timeout: .seconds(10)) { try await describe(endpoint, "pinned")["waitingFor"] == waitsForV1 })
                    try await Task.sleep(for: .milliseconds(300))
                    let pinned = try await describe(endpoint, "pinned")
                    #expect(pinned["waitingFor"] == waitsForV1)
                    #expect(pinned["status"] != "completed")
                }
            }
        }
    }

    @Test func aCompatibleBuildListWithoutABuildIsRefused() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let error = await #expect(throws: KeelError.self) {
                    _ = try await rpc(endpoint, "worker/register", ["name": "w", "compatibleBuildIds": ["v1"]])
                }
                #expect(error?.code == .invalidParams)
                #expect(error?.message.contains("needs buildId") == true)
                let bad = await #expect(throws: KeelError.self) {
                    _ = try await rpc(endpoint, "worker/register", ["name": "w", "buildId": "has space"])
                }
                #expect(bad?.code == .invalidParams)
            }
        }
    }
}

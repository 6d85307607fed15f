import KeelClient
import KeelCore
import KeelStorage
import KeelTesting
import Testing

@testable import KeelEngine

/// A graceful stop drains what runs (docs/guarantees.md): an attempt whose worker has answered is
/// drained once its end is committed. Seen once in CLITests (`sigtermDrainsRunningWorkThenExits`):
/// the stopping node gave the attempt's claim back while the end's write was away, the give-back
/// committed first, the end was refused, and the task that had run stayed `scheduled`, to run
/// again. Here the end's commit is held back (a test hook) so that the stop lands inside it.
@Suite("A graceful stop and an end being committed", .serialized, .timeLimit(.minutes(2)))
struct ShutdownDrainTests {
    @Test func aStopWaitsForAnEndBeingCommittedAndLeavesItsClaimAlone() async throws {
        _EngineTestHooks.delayTaskEnds(ofActivity: "drain.ends", by: .milliseconds(800))
        defer { _EngineTestHooks.delayTaskEnds(ofActivity: "drain.ends", by: nil) }
        try await TemporaryDirectory.with { dir in
            let taskId = try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let worker = Worker(name: "drain", endpoint: endpoint)
                worker.activity("drain.ends") { (input: JSONValue, _) -> JSONValue in input }
                return try await LiveOrchestrator.withWorker(worker) {
                    try await waitForWorkers(endpoint, 1)
                    let call = try await KeelClient.withClient(endpoint) {
                        try await $0.call("activity/call", ["name": "drain.ends", "input": 7, "wait": false])
                    }
                    // The worker answered; its end's commit is being held back: stop now.
                    let ending = try await eventually(timeout: .seconds(30)) {
                        _EngineTestHooks.taskEndsDelayed(ofActivity: "drain.ends") > 0
                    }
                    #expect(ending, "the worker's answer never reached the end's commit")
                    return try #require(call["taskId"]?.stringValue)
                }
            }
            let storage = try SQLiteStorage(path: dir.file("keel.db"))
            let task = try await storage.read { try $0.activityTask(id: taskId) }
            await storage.close()
            #expect(task?.status == .completed, "the end was refused: \(String(describing: task?.status))")
            #expect(task?.output == 7)
            #expect(task?.attempt == 1)
        }
    }
}

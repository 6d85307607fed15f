import Foundation
import KeelClient
import KeelCore
import KeelStorage
import KeelTesting
import Testing

extension EndToEnd {
    /// Issue 13's stuck workflows: each used to stay open with nothing to move it on.
    @Suite("No workflow is left waiting for nothing", .serialized, .timeLimit(.minutes(4)))
    struct StuckWorkflowTests {
        static let script = "\(repositoryRoot)/Tests/EndToEndTests/workers/py_stuck_workflows.py"

        /// A Python worker of `stuck.busy` on `keel`'s socket, not supervised by it.
        func pythonWorker(_ keel: KeelProcess, hang: Bool, life: Int) throws -> ChildProcess {
            try ChildProcess(
                ["python3", Self.script], logPath: keel.dir.file("py-\(life).log"),
                environment: [
                    "KEEL_SOCKET": keel.socket, "KEEL_E2E_HANG": hang ? "1" : "0", "KEEL_E2E_MARK": keel.dir.file("mark"),
                    "KEEL_E2E_DRAIN": "1",
                ])
        }

        @Test func aWorkerWhoseDrainTimesOutLeavesItsRunToTheNextWorker() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir)
                try await keel.start()
                let s = ["--socket", keel.socket]
                let first = try pythonWorker(keel, hang: true, life: 1)
                defer { if first.isRunning { first.kill9() } }
                try await keel.waitForWorkers(1)
                let start = try await keelCLI(["workflow", "start", "stuck.busy", "--id", "wf-drain"] + s)
                #expect(start.0 == 0, "\(start)")
                let hanging = try await eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: dir.file("mark")) }
                #expect(hanging, "the run reached the workflow's own code: \(first.log)")
                first.terminate()  // SIGTERM: drain 1 s, then the run is cut off
                #expect(first.log.contains("drain timed out"), "\(first.log)")
                // Before: suspended with pendingSteps [] and no later worker ever picked it up.
                let second = try pythonWorker(keel, hang: false, life: 2)
                defer { if second.isRunning { second.kill9() } }
                let result = try await keelCLI(["workflow", "result", "wf-drain", "--timeout", "60s"] + s)
                #expect(result.0 == 0, "\(result) \(keel.process?.log ?? "")")
                let described = try await keel.call("workflow/describe", ["workflowId": "wf-drain"])
                #expect(described["status"] == "completed")
                #expect(described["output"]?["pid"] == JSONValue(Int64(second.pid)))
                let late = try await keelCLI(["workflow", "terminate", "wf-drain"] + s)
                #expect(late.0 == 1)
                #expect(late.2 == "keel: workflow wf-drain had already ended (completed); nothing to terminate\n", "\(late)")
                second.terminate()
                keel.stop()
            }
        }

        @Test func aSuspendedExecutionWithNothingToWakeItIsReportedAndRunAtStart() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir)
                try await keel.start()
                let s = ["--socket", keel.socket]
                _ = try await keelCLI(["workflow", "start", "stuck.busy", "--id", "wf-lost"] + s)
                keel.stop()
                // The state issue 13 found: suspended, no step pending, nothing queued. Written into
                // the stopped orchestrator's real database file.
                let store = try SQLiteStorage(path: dir.file("keel.db"))
                let outcome = try await store.write { tx -> WriteOutcome in
                    guard var w = try tx.workflow(id: "wf-lost") else { return .notFound }
                    w.status = .suspended
                    w.epoch = 1
                    return try tx.updateWorkflow(w, expectedEpoch: 0)
                }
                await store.close()
                #expect(outcome == .applied)
                let restarted = KeelProcess(dir: dir, workers: ["python3 \(Self.script)"])
                try await restarted.start()
                let result = try await keelCLI(["workflow", "result", "wf-lost", "--timeout", "60s"] + s)
                #expect(result.0 == 0, "\(result)")
                let r = try await restarted.call("workflow/result", ["workflowId": "wf-lost", "waitTimeoutMs": 0])
                #expect(r["output"]?["done"] == true, "\(r)")
                let log = restarted.process?.log ?? ""
                #expect(log.contains("invariant violated: workflow wf-lost: it was stored suspended with no pending step that can wake it"), "\(log)")
                restarted.stop()
            }
        }

        @Test func cancelLeavesANeverSteppingWorkflowRunningAndTerminateEndsIt() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir)
                try await keel.start()
                let s = ["--socket", keel.socket]
                let worker = try pythonWorker(keel, hang: true, life: 1)
                defer { if worker.isRunning { worker.kill9() } }
                try await keel.waitForWorkers(1)
                _ = try await keelCLI(["workflow", "start", "stuck.busy", "--id", "wf-term"] + s)
                let hanging = try await eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: dir.file("mark")) }
                #expect(hanging, "\(worker.log)")
                // What issue 13 saw: cancel is a request to the code, which never reaches a step to hear it.
                let cancel = try await keelCLI(["workflow", "cancel", "wf-term"] + s)
                #expect(cancel.0 == 0, "\(cancel)")
                #expect(try await keel.call("workflow/describe", ["workflowId": "wf-term"])["status"] == "running")
                let terminate = try await keelCLI(["workflow", "terminate", "wf-term", "--reason", "stuck in a loop"] + s)
                #expect(terminate.0 == 0, "\(terminate)")
                #expect(terminate.1 == "workflow wf-term terminated: stuck in a loop\n")
                let result = try await keelCLI(["workflow", "result", "wf-term", "--timeout", "5s"] + s)
                #expect(result.0 == 1, "\(result)")
                #expect(result.2.contains("Terminated: stuck in a loop"), "\(result)")
                let history = try await keel.call("workflow/history", ["workflowId": "wf-term"])
                #expect(history["failure"]?["type"] == "Terminated")
                #expect(history["failure"]?["message"] == "stuck in a loop")
                // The worker was told to stop the run and is still there for new work.
                #expect(worker.isRunning)
                #expect(((try await keel.call("worker/list", [:]))["workers"]?.arrayValue?.count ?? 0) == 1)
                let done = try await keelCLI(["workflow", "terminate", "wf-term"] + s)
                #expect(done.0 == 0)
                worker.terminate()
                keel.stop()
            }
        }

        @Test func anExecutionTimeoutStillFiresAfterTheOrchestratorIsKilled() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir)
                try await keel.start()
                let s = ["--socket", keel.socket]
                let worker = try pythonWorker(keel, hang: true, life: 1)
                defer { if worker.isRunning { worker.kill9() } }
                try await keel.waitForWorkers(1)
                let started = ContinuousClock.now
                let start = try await keelCLI(["workflow", "start", "stuck.busy", "--id", "wf-late", "--execution-timeout", "6s"] + s)
                #expect(start.0 == 0, "\(start)")
                let hanging = try await eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: dir.file("mark")) }
                #expect(hanging, "\(worker.log)")
                keel.kill9()
                try await keel.start()
                let result = try await keelCLI(["workflow", "result", "wf-late", "--timeout", "60s"] + s)
                #expect(result.0 == 1, "\(result)")
                #expect(result.2.contains("WorkflowExecutionTimeout"), "\(result)")
                #expect(ContinuousClock.now - started >= .seconds(6))
                let r = try await keel.call("workflow/result", ["workflowId": "wf-late", "waitTimeoutMs": 0])
                #expect(r["status"] == "timedOut")
                // A run timeout from the CLI: it fires whether or not a worker runs the workflow yet.
                let short = try await keelCLI(["workflow", "start", "stuck.busy", "--id", "wf-run", "--run-timeout", "1s"] + s)
                #expect(short.0 == 0, "\(short)")
                let run = try await keel.call("workflow/result", ["workflowId": "wf-run", "waitTimeoutMs": 60_000])
                #expect(run["status"] == "timedOut")
                #expect(run["failure"]?["type"] == "WorkflowRunTimeout")
                worker.terminate()
                keel.stop()
            }
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// `keel workflow reset ID --to-step N` (issue 13): the way out after a bad deploy, across a
    /// restart of `keel serve` with the fixed worker.
    @Suite("Reset from the CLI", .serialized, .timeLimit(.minutes(4)))
    struct ResetCLITests {
        func deploy(_ version: Int, log: String) -> String {
            "python3 \(repositoryRoot)/Tests/EndToEndTests/workers/py_deploy.py \(version) \(log)"
        }

        @Test func aBadDeployIsResetToTheLastGoodStepAndFinishesOnTheFixedWorker() async throws {
            try await TemporaryDirectory.with { dir in
                let log = dir.file("effects.jsonl")
                let v1 = KeelProcess(dir: dir, workers: [deploy(1, log: log)])
                try await v1.start()
                try await v1.waitForWorkers(1)
                var s = ["--socket", v1.socket]
                let started = try await keelCLI(["workflow", "start", "deploy.flow", #"{"amount":42}"#, "--id", "order-1", "--wait"] + s)
                #expect(started.0 == 1)
                #expect(started.2.contains("BugInV1"), "\(started.2)")
                let unknown = try await keelCLI(["workflow", "reset", "nobody", "--to-step", "1"] + s)
                #expect(unknown.0 == 2)
                #expect(unknown.2.contains("1001"))
                let beyond = try await keelCLI(["workflow", "reset", "order-1", "--to-step", "3"] + s)
                #expect(beyond.0 == 2)
                #expect(beyond.2.contains("reset to a step from 0 to 2 (code 1010)"), "\(beyond.2)")
                v1.stop()

                // The fixed deploy: same database, worker version 2.
                let v2 = KeelProcess(dir: dir, workers: [deploy(2, log: log)])
                v2.lives = 1
                try await v2.start()
                try await v2.waitForWorkers(1)
                s = ["--socket", v2.socket]
                let reset = try await keelCLI(["workflow", "reset", "order-1", "--to-step", "1", "--reason", "ship fixed in v2"] + s)
                #expect(reset.0 == 0, "\(reset.2)")
                #expect(reset.1.contains("reset to step 1: generation 0 (failed) → generation 1"), "\(reset.1)")
                let done = try await keelCLI(["workflow", "result", "order-1"] + s)
                #expect(done.0 == 0, "\(done.2)")
                #expect(done.1 == #"{"charge":{"charged":42},"ship":{"shipped":true}}"# + "\n")

                // Step 1 ran once (on v1); step 2 ran on v1, then again on v2.
                let effects = sideEffects(log).map { "\($0["event"]?.stringValue ?? "")@v\($0["version"]?.int64Value ?? 0)" }
                #expect(effects == ["charge@v1", "ship@v1", "ship@v2"])

                let now = try await keelCLI(["workflow", "history", "order-1"] + s)
                #expect(now.1.hasPrefix("order-1 deploy.flow completed (run ") && now.1.contains(", generation 1)\n"), "\(now.1)")
                #expect(now.1.contains("↺ reset from generation 0 at step 1 by "), "\(now.1)")
                #expect(now.1.contains(": ship fixed in v2"))
                let old = try await keelCLI(["workflow", "history", "order-1", "--generation", "0"] + s)
                #expect(old.1.hasPrefix("order-1 deploy.flow failed (run ") && old.1.contains(", generation 0)\n"), "\(old.1)")
                #expect(old.1.contains("✗ BugInV1: nil address in v1"))
                #expect(old.1.contains("(ship fixed in v2); new run: generation 1"), "\(old.1)")
                let describe = try await keelCLI(["workflow", "describe", "order-1"] + s)
                #expect(describe.1.contains("reset     generation 0 → 1 at step 1 by "), "\(describe.1)")
                v2.stop()
            }
        }
    }
}

import Foundation
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// Two `keel serve` on one SQLite file split-brained (issue 12): both recovered the same
    /// workflows and disagreed about them. The second is now refused, naming the first's pid.
    @Suite("One orchestrator per database file", .serialized, .timeLimit(.minutes(3)))
    struct OneOrchestratorPerFileTests {
        @Test func aSecondServeOnTheSameFileIsRefusedNamingTheHolder() async throws {
            try await TemporaryDirectory.with { dir in
                let first = KeelProcess(dir: dir)
                try await first.start()
                let holder = try #require(first.process?.pid)

                let second = try ChildProcess(
                    [PackagePaths.keelBinary, "serve", "--db", dir.file("keel.db"), "--socket", dir.file("other.sock")],
                    logPath: dir.file("second.log"))
                let exited = try await eventually(timeout: .seconds(30)) { !second.isRunning }
                if !exited { second.kill9() }
                #expect(exited, "the second orchestrator kept running: \(second.log)")
                #expect(second.exitStatus == 1, "\(second.log)")
                #expect(second.log.contains("in use by another orchestrator (pid \(holder)"), "\(second.log)")
                // It never listened, and the first still serves.
                #expect(!FileManager.default.fileExists(atPath: dir.file("other.sock")))
                #expect(try await first.call("ping", [:]) == [:])
                first.stop()
            }
        }

        @Test func theLockDiesWithItsHolderEvenByKill9() async throws {
            try await TemporaryDirectory.with { dir in
                let first = KeelProcess(dir: dir)
                try await first.start()
                first.kill9()
                // The kernel drops a dead process's flock: the next orchestrator starts on the file.
                let next = KeelProcess(dir: dir)
                try await next.start()
                #expect(try await next.call("ping", [:]) == [:])
                next.stop()
            }
        }
    }
}

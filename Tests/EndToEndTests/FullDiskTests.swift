import Foundation
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// The `keel` binary on a database SQLite itself keeps from growing (`KEEL_TEST_MAX_DB_PAGES`,
    /// read only by the storage layer): `keel call` fails with 4001 instead of hanging, and a
    /// restart on the same file without the cap serves again.
    @Suite("keel call on a full disk", .serialized, .timeLimit(.minutes(3)))
    struct FullDiskTests {
        let hello = "python3 \(repositoryRoot)/examples/hello/worker.py"

        @Test func keelCallFailsWith4001AtOnceAndServiceResumesAfterARestart() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [hello])
                try await keel.start(environment: ["KEEL_TEST_MAX_DB_PAGES": "1"])
                try await keel.waitForWorkers(1)
                let s = ["--socket", keel.socket]
                let big = #"{"name":""# + String(repeating: "x", count: 64 * 1024) + #""}"#
                let start = ContinuousClock.now
                let full = try await keelCLI(["call", "greet.hello", big] + s)
                #expect(full.0 == 2, "\(full)")
                #expect(full.2.contains("code 4001"), "\(full.2)")
                #expect(full.2.contains("the disk is full"), "\(full.2)")
                #expect(full.2.contains("[incident inc-"), "\(full.2)")
                #expect(ContinuousClock.now - start < .seconds(30), "keel call must fail, not hang")
                #expect(keel.process?.log.contains("store write failed") == true)
                keel.stop()

                try await keel.start()
                try await keel.waitForWorkers(1)
                let ok = try await keelCLI(["call", "greet.hello", big] + s)
                #expect(ok.0 == 0, "\(ok.2)")
                #expect(ok.1.hasPrefix(#"{"greeting":"Hello, xxx"#))
                keel.stop()
            }
        }
    }
}

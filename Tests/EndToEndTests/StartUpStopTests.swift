import Foundation
import KeelTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
/// docs/guarantees.md "Stopping": SIGTERM and SIGINT are watched from the first moment of
/// start-up. Before, `keel serve` installed its handlers only once the store was open and every
/// listener bound, and a SIGTERM during a slow start ended the process at once (status 143),
/// possibly leaving a half-bound socket's staging directory behind.
@Suite("A stop during start-up", .timeLimit(.minutes(2)))
struct StartUpStopTests {
    @Test func aSignalWhileTheStoreOpensWaitsForStartUpAndASecondEndsAtOnce() async throws {
        try await TemporaryDirectory.with { dir in
            // A database that takes the connection and never answers (`keel serve` gives up on it after
            // its 5 s connect timeout).
            let database = try LoopbackListener()
            let process = try ChildProcess(
                [
                    PackagePaths.keelBinary, "serve", "--store", "postgres://keel@127.0.0.1:\(database.port)/keel",
                    "--socket", dir.file("keel.sock"),
                ], logPath: dir.file("keel.log"))
            defer { process.kill9() }
            // The store's connection is opened inside start-up, after the signal watch began.
            let connection = try await database.acceptOne()
            defer { close(connection) }
            kill(process.pid, SIGTERM)
            let noticed = try await eventually(timeout: .seconds(3)) { process.log.contains("stopping when start-up ends") }
            #expect(noticed, "no notice of the signal during start-up: \(process.log)")
            #expect(process.isRunning, "the first SIGTERM during start-up ended the process: \(process.log)")
            kill(process.pid, SIGTERM)
            let exited = try await eventually(timeout: .seconds(3)) { !process.isRunning }
            #expect(exited, "the second SIGTERM did not end start-up: \(process.log)")
            #expect(process.exitStatus == 1, "ended by the signal, not by keel: \(process.log)")
            #expect(process.log.contains("stopped during start-up"), "\(process.log)")
        }
    }
}
}

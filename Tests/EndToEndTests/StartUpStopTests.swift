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
    /// A TCP listener that accepts and never answers: a database whose start-up never ends
    /// (`keel serve` gives up on it after its 5 s connect timeout).
    final class SilentDatabase {
        let fd: Int32
        let port: Int

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                    bind(fd, pointer, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, pointer, &length) == 0
                }
            }
            guard bound else {
                close(fd)
                throw POSIXError(.EADDRINUSE)
            }
            self.fd = fd
            port = Int(UInt16(bigEndian: address.sin_port))
        }

        /// Waits (off the cooperative pool) until a client connected; keeps its connection open.
        func acceptOne() async throws -> Int32 {
            let fd = fd
            return try await offCooperativePool { accept(fd, nil, nil) }
        }

        deinit { close(fd) }
    }

    @Test func aSignalWhileTheStoreOpensWaitsForStartUpAndASecondEndsAtOnce() async throws {
        try await TemporaryDirectory.with { dir in
            let database = try SilentDatabase()
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

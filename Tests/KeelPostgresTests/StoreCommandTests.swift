import Foundation
import KeelCore
import KeelTesting
import Testing

/// `keel store …` and `keel serve --store` as an operator meets them: real `keel` processes
/// against a real PostgreSQL.
@Suite(.timeLimit(.minutes(3))) struct StoreCommandTests {
    /// Runs `keel ARGS` to its end; its exit status and its output.
    static func keel(_ arguments: [String], in dir: TemporaryDirectory, log: String) async throws -> (Int32, String) {
        let process = try ChildProcess([PackagePaths.keelBinary] + arguments, logPath: dir.file(log))
        let exited = try await eventually(timeout: .seconds(60)) { !process.isRunning }
        if !exited { process.kill9() }
        return (process.exitStatus ?? -1, process.log)
    }

    @Test func migrateThenListNodesOnARealDatabase() async throws {
        let cluster = try await PostgresCluster.shared()
        let url = cluster.url(database: try await offCooperativePool { try cluster.createDatabase() })
        try await TemporaryDirectory.with { dir in
            let (status, output) = try await Self.keel(["store", "migrate", "--store", url], in: dir, log: "migrate.log")
            #expect(status == 0, "\(output)")
            #expect(output.contains("migrated \(url)"))
            let (listed, nodes) = try await Self.keel(
                ["store", "nodes", "--store", url, "--format", "json"], in: dir, log: "nodes.log")
            #expect(listed == 0, "\(nodes)")
            // The driver may log on stderr (merged here) that a connection it was opening was closed.
            let printed = nodes.split(separator: "\n").filter { !$0.contains(" info ") }
            #expect(printed == ["[]"], "\(nodes)")
        }
    }

    @Test func anUnreachableStoreIsOneLineAndExitOne() async throws {
        try await TemporaryDirectory.with { dir in
            let (status, output) = try await Self.keel(
                ["store", "migrate", "--store", "postgres://keel:hunter2@127.0.0.1:1/keel"], in: dir, log: "out.log")
            #expect(status == 1)
            let lines = output.split(separator: "\n").filter { !$0.contains(" info ") }
            #expect(lines.count == 1, "\(output)")
            #expect(lines.first?.hasPrefix("keel store: cannot use postgres://keel@127.0.0.1:1/keel: cannot connect") == true)
            #expect(!output.contains("hunter2"))
        }
    }

    @Test func badStoreURLsAreRefusedBeforeAnythingStarts() async throws {
        try await TemporaryDirectory.with { dir in
            for (url, reason) in [
                ("mysql://x@y/z", "expected sqlite:PATH or postgres://"),
                ("postgres://keel@localhost:99999/keel", "the port '99999' is not 1-65535"),
                ("postgres://localhost/keel", "it names no user"),
                ("postgres://keel@localhost/keel?sslmode=maybe", "sslmode 'maybe'"),
            ] {
                let (status, output) = try await Self.keel(["store", "migrate", "--store", url], in: dir, log: "bad.log")
                #expect(status == 1, "\(url): \(output)")
                #expect(output.contains(reason), "\(url): \(output)")
            }
        }
    }

    @Test func serveOnAnUnreachablePostgresExitsWithOneLineAndServeOnSqliteStoreWorks() async throws {
        try await TemporaryDirectory.with { dir in
            let (status, output) = try await Self.keel(
                ["serve", "--store", "postgres://keel@localhost/keel?host=\(dir.file("no-server"))", "--socket",
                 dir.file("k.sock")], in: dir, log: "serve.log")
            #expect(status == 1)
            #expect(output.contains("cannot use postgres://keel@localhost"), "\(output)")
            #expect(output.contains("cannot connect"), "\(output)")
            #expect(output.split(separator: "\n").filter { $0.hasPrefix("keel serve:") }.count == 1, "\(output)")
            #expect(!FileManager.default.fileExists(atPath: dir.file("k.sock")))

            let serve = try ChildProcess(
                [PackagePaths.keelBinary, "serve", "--store", "sqlite:" + dir.file("via-store.db"), "--socket",
                 dir.file("s.sock")], logPath: dir.file("sqlite.log"))
            let listening = try await eventually(timeout: .seconds(60)) {
                FileManager.default.fileExists(atPath: dir.file("s.sock"))
            }
            #expect(listening, "\(serve.log)")
            #expect(FileManager.default.fileExists(atPath: dir.file("via-store.db")))
            serve.terminate()
        }
    }
}

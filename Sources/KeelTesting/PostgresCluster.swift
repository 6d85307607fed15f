import Foundation
import KeelCore

/// A throwaway PostgreSQL server for one test process: `initdb` + `pg_ctl` in a temp dir, listening
/// on a Unix socket in that dir only (no TCP port to collide with), stopped at exit. As root (CI),
/// the server runs as the `postgres` user via `runuser`, since PostgreSQL refuses root. Durability
/// is off (fsync, synchronous_commit): tests check behaviour; `keel bench` measures with it on.
///
/// Missing binaries are an error, not a skip: `.ci/setup` installs Debian's `postgresql`.
public final class PostgresCluster: @unchecked Sendable {
    // @unchecked: immutable after init but for `databaseCount`, which is Locked.
    public let directory: String
    private let bin: String
    private let asUser: [String]
    private let databaseCount = Locked(0)

    /// The one cluster of this test process, started on first use.
    public static func shared() async throws -> PostgresCluster {
        try await offCooperativePool { try sharedCluster.get() }
    }

    private static let sharedCluster = Result { try PostgresCluster() }

    public init() throws {
        bin = try Self.findBinaries()
        let template = "/tmp/keel-pg-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else { throw ClusterError("cannot create a temp dir for PostgreSQL") }
        directory = String(cString: made)
        if getuid() == 0 {
            try Self.run(["/bin/chown", "postgres:", directory])
            asUser = ["/usr/sbin/runuser", "-u", "postgres", "--"]
        } else {
            asUser = []
        }
        try Self.run(
            asUser + [
                "\(bin)/initdb", "-D", "\(directory)/data", "-U", "keel", "--auth=trust", "-E", "UTF8",
                "--locale=C.UTF-8", "--no-sync",
            ])
        // Trust on the socket, but the role `keel_password` must give its password (start-error tests).
        try "local all keel_password scram-sha-256\nlocal all all trust\n".write(
            toFile: "\(directory)/data/pg_hba.conf", atomically: false, encoding: .utf8)
        try Self.run(
            asUser + [
                "\(bin)/pg_ctl", "-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "60", "start",
                "-o",
                "-c listen_addresses='' -k \(directory) -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            ])
        let first = Self.stopAtExit.withLock {
            $0.append((asUser + ["\(bin)/pg_ctl", "-D", "\(directory)/data", "-m", "immediate", "stop"], directory))
            return $0.count == 1
        }
        guard first else { return }
        atexit {
            for (stop, directory) in PostgresCluster.stopAtExit.withLock({ $0 }) {
                // Best effort at exit: a server left running dies with the CI container.
                _ = try? PostgresCluster.run(stop)
                _ = try? FileManager.default.removeItem(atPath: directory)
            }
        }
    }

    private static let stopAtExit = Locked<[([String], String)]>([])

    /// A new empty database's name; ``url(database:user:)`` makes its URL.
    public func createDatabase() throws -> String {
        let name = "keel_" + String(databaseCount.withLock { $0 += 1; return $0 })
        try psql("CREATE DATABASE \(name)")
        return name
    }

    /// `postgres://keel@localhost/DATABASE?host=SOCKETDIR`.
    public func url(database: String, user: String = "keel") -> String {
        "postgres://\(user)@localhost/\(database)?host=\(directory)"
    }

    /// Runs one SQL statement as the superuser on database `postgres`.
    public func psql(_ sql: String, database: String = "postgres") throws {
        try Self.run(["\(bin)/psql", "-h", directory, "-U", "keel", "-d", database, "-v", "ON_ERROR_STOP=1", "-qc", sql])
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`) to the server and all its processes: a database that
    /// stops answering without closing a connection, as behind a network partition.
    public func pause(_ stopped: Bool) throws {
        let pidFile = try String(contentsOfFile: "\(directory)/data/postmaster.pid", encoding: .utf8)
        guard let postmaster = pidFile.split(separator: "\n").first.flatMap({ Int32($0) }) else {
            throw ClusterError("no postmaster pid in \(directory)/data/postmaster.pid")
        }
        let signal = stopped ? "-STOP" : "-CONT"
        // Children first when stopping, the postmaster first when resuming.
        if stopped { try Self.run(["/usr/bin/pkill", signal, "-P", String(postmaster)]) }
        guard kill(postmaster, stopped ? SIGSTOP : SIGCONT) == 0 else {
            throw ClusterError("cannot signal the postmaster \(postmaster): \(String(cString: strerror(errno)))")
        }
        if !stopped { try Self.run(["/usr/bin/pkill", signal, "-P", String(postmaster)]) }
    }

    /// `pg_ctl restart -m fast`: every connection is cut; the server is back when this returns.
    public func restart() throws {
        try Self.run(asUser + ["\(bin)/pg_ctl", "-D", "\(directory)/data", "-m", "fast", "-w", "-t", "60", "restart"])
    }

    private static func findBinaries() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        let found = versions.compactMap(Int.init).sorted().last.map { "\(root)/\($0)/bin" }
        guard let found, FileManager.default.isExecutableFile(atPath: "\(found)/initdb") else {
            throw ClusterError(
                "PostgreSQL's server is not installed (no \(root)/*/bin/initdb): run .ci/setup, which installs "
                    + "Debian's postgresql package")
        }
        return found
    }

    /// Runs `argv` to its end with posix_spawn and waitpid. Output goes to a file, not a pipe: the
    /// server that `pg_ctl start` forks inherits the descriptors, and a pipe would never reach its
    /// end (Foundation's Process also failed to reap `runuser` here).
    private static func run(_ argv: [String]) throws {
        let outputPath = NSTemporaryDirectory() + "keel-pg-command-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).log"
        defer { _ = try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // No descriptor but 0, 1, 2: the server pg_ctl starts lives as long as the test run, and
        // were it to inherit this process's descriptors, it would hold copies of every test's open
        // sockets, so a client closing its end would never be seen by the server at the other.
        ChildSpawn.sendOutput(&actions, toFile: outputPath, append: false)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard spawned == 0 else {
            throw ClusterError("cannot start \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw ClusterError("\(argv.joined(separator: " ")) failed (status \(status)): \(text)")
        }
    }

    public struct ClusterError: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }
}

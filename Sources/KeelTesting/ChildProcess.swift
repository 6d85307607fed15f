import Foundation
import KeelCore

/// A real child process for end-to-end tests: the `keel` binary, or a worker in any language.
///
/// Started with posix_spawn, not Foundation's `Process`: that one let the child inherit open
/// sockets of this process (another test's connections), which then never closed.
public final class ChildProcess: Sendable {
    public let pid: Int32
    public let logPath: String
    /// The wait status once reaped.
    private let reaped = Locked<Int32?>(nil)

    /// Starts `argv` with stdout and stderr appended to `logPath`, stdin from /dev/null, and
    /// descriptors 0, 1 and 2 only. A bare program name is looked up in `PATH`.
    public init(_ argv: [String], logPath: String, environment: [String: String] = [:], directory: String? = nil) throws {
        precondition(!argv.isEmpty, "ChildProcess needs a program")
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        ChildSpawn.sendOutput(&actions, toFile: logPath, append: true)
        if let directory, !ChildSpawn.changeDirectory(&actions, to: directory) {
            throw KeelError(.internalError, "cannot set the working directory \(directory) for \(argv[0])")
        }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in cArgs + cEnv { free(p) } }
        var pid: pid_t = 0
        let rc = ChildSpawn.withAttributes(defaultSignals: [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD], newProcessGroup: false) {
            posix_spawnp(&pid, argv[0], &actions, &$0, cArgs, cEnv)
        }
        guard rc == 0 else { throw KeelError(.internalError, "cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        self.pid = pid
        self.logPath = logPath
    }

    /// A child nobody asked about again is reaped whenever it ends (no zombie for the rest of
    /// the test run); one still running is left running, as Foundation's `Process` left it.
    deinit {
        guard reaped.withLock({ $0 == nil }) else { return }
        let pid = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
    }

    /// True until the process exits.
    public var isRunning: Bool { reap(blocking: false) == nil }

    /// The exit status once it exited (nil while it runs); 128 + the signal when a signal ended it.
    public var exitStatus: Int32? {
        guard let status = reap(blocking: false) else { return nil }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + status & 0x7f
    }

    /// Reaps the child once; later calls return the stored status. The wait itself runs outside
    /// the lock: a caller blocked on a child that takes seconds to stop must not block another
    /// that only asks whether it still runs (both may be on the cooperative pool's two threads).
    private func reap(blocking: Bool) -> Int32? {
        if let stored = reaped.withLock({ $0 }) { return stored }
        var status: Int32 = 0
        var r: pid_t
        repeat { r = waitpid(pid, &status, blocking ? 0 : WNOHANG) } while r < 0 && errno == EINTR
        if r == pid { reaped.withLock { if $0 == nil { $0 = status } } }
        // 0: still running; -1 (ECHILD): another caller reaped it and stores its status.
        return reaped.withLock { $0 }
    }

    /// SIGKILL, as a crash, and wait for the end.
    public func kill9() {
        if isRunning { kill(pid, SIGKILL) }
        _ = reap(blocking: true)
    }

    /// SIGSTOP: the process stays, frozen (a long GC pause, a VM stall), until ``resume()``.
    public func pause() { kill(pid, SIGSTOP) }

    /// SIGCONT after ``pause()``.
    public func resume() { kill(pid, SIGCONT) }

    /// SIGTERM, then wait.
    public func terminate() {
        if isRunning { kill(pid, SIGTERM) }
        _ = reap(blocking: true)
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// Paths inside the package, for tests that run the built binary or a client's files.
public enum PackagePaths {
    /// The package root, found from this file's location.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The `keel` binary of this build (debug unless `KEEL_BINARY` says otherwise).
    public static var keelBinary: String {
        if let b = ProcessInfo.processInfo.environment["KEEL_BINARY"] { return b }
        for config in ["debug", "release"] {
            let p = root + "/.build/\(config)/keel"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return root + "/.build/debug/keel"
    }
}

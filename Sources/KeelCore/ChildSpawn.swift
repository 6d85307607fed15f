import Foundation
#if canImport(Glibc)
public import Glibc
#endif

/// What every child process Keel spawns shares (a stdio worker, an MCP server): it leads a process
/// group of its own — so a Ctrl-C at the terminal reaches Keel, which then stops its children in
/// order, and a wedged child and whatever it started can be killed together — with no signal
/// blocked and `defaultSignals` back at their default action (a parent's ignored SIGPIPE would
/// otherwise carry over into the child).
public enum ChildSpawn {
    /// Runs `body` with spawn attributes set up as above; they are destroyed afterwards.
    public static func withAttributes<T>(
        defaultSignals: [Int32], _ body: (inout posix_spawnattr_t) throws -> T
    ) rethrows -> T {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in defaultSignals { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        return try body(&attributes)
    }

    /// Reaps child `pid` and returns its wait status. waitpid blocks, so it waits on a thread of
    /// its own, never on one of the cooperative pool's.
    public static func waitForExit(_ pid: pid_t) async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: status)
            }
        }
    }
}

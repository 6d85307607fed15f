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
    /// Runs `body` with spawn attributes set up as above (without the process group of its own
    /// when `newProcessGroup` is false); they are destroyed afterwards.
    public static func withAttributes<T>(
        defaultSignals: [Int32], newProcessGroup: Bool = true, _ body: (inout posix_spawnattr_t) throws -> T
    ) rethrows -> T {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        let group = newProcessGroup ? POSIX_SPAWN_SETPGROUP : 0
        posix_spawnattr_setflags(&attributes, Int16(group | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        if newProcessGroup { posix_spawnattr_setpgroup(&attributes, 0) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in defaultSignals { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        return try body(&attributes)
    }

    /// Adds to `actions` the closing of every descriptor from 3 up in the child, so a child gets
    /// 0, 1, 2 and nothing else: no other connection's socket (which would keep that connection
    /// open after its peer closed it), no listening socket, no database file. Uses glibc's
    /// `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does not
    /// export; false when this libc lacks it.
    @discardableResult
    public static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) -> Bool {
        guard let addCloseFrom else { return false }
        return addCloseFrom(&actions, 3) == 0
    }

    /// Adds to `actions` what a child whose output goes to a file gets: stdin from /dev/null, stdout
    /// and stderr to `path` (created 0644, appended to or truncated), and no other descriptor
    /// (``closeInheritedDescriptors(_:)``).
    public static func sendOutput(_ actions: inout posix_spawn_file_actions_t, toFile path: String, append: Bool) {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        closeInheritedDescriptors(&actions)
    }

    /// Adds a change of working directory to `actions` (glibc's `posix_spawn_file_actions_addchdir_np`,
    /// 2.29+); false when this libc lacks it or refuses.
    public static func changeDirectory(_ actions: inout posix_spawn_file_actions_t, to directory: String) -> Bool {
        guard let addChdir else { return false }
        return addChdir(&actions, directory) == 0
    }

    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    private static let addChdir: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32)? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self)
    }()

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

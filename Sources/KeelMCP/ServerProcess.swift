import Foundation
import Glibc
import KeelCore

/// An MCP server started over stdio: its stdin and stdout are pipes to us, its stderr is ours (so
/// `keel serve` logs it with the bridge's), and it leads a process group of its own so a wedged
/// server and anything it started can be killed together.
struct ServerProcess: Sendable {
    let pid: pid_t
    /// Our ends: write to the server's stdin, read its stdout.
    let stdinWrite: Int32
    let stdoutRead: Int32

    /// Starts `argv` with this process's environment.
    /// - Throws: `KeelError(.invalidParams)` when the program cannot be started.
    static func spawn(argv: [String]) throws -> ServerProcess {
        guard let program = argv.first else { throw KeelError(.invalidParams, "an MCP server command is empty") }
        var stdinPipe: [Int32] = [0, 0], stdoutPipe: [Int32] = [0, 0]
        guard pipe(&stdinPipe) == 0 else { throw KeelError(.internalError, "cannot create a pipe: \(String(cString: strerror(errno)))") }
        guard pipe(&stdoutPipe) == 0 else {
            close(stdinPipe[0])
            close(stdinPipe[1])
            throw KeelError(.internalError, "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        for fd in stdinPipe + stdoutPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        // 0, 1 and 2 only: an MCP server never holds a copy of another connection's socket.
        ChildSpawn.closeInheritedDescriptors(&actions)
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = ChildSpawn.withAttributes(defaultSignals: [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD]) { attributes in
            posix_spawnp(&pid, program, &actions, &attributes, cArgs, environ)
        }
        close(stdinPipe[0])
        close(stdoutPipe[1])
        guard rc == 0 else {
            close(stdinPipe[1])
            close(stdoutPipe[0])
            throw KeelError(.invalidParams, "cannot start the MCP server \(program): \(String(cString: strerror(rc)))")
        }
        return ServerProcess(pid: pid, stdinWrite: stdinPipe[1], stdoutRead: stdoutPipe[0])
    }

    /// SIGKILLs the server's whole process group: for a server that ignores stdin EOF and cancels.
    func kill() {
        _ = Glibc.kill(-pid, SIGKILL)
        _ = Glibc.kill(pid, SIGKILL)
    }

    /// Reaps the process on a thread of its own (waitpid blocks); returns its wait status.
    func waitForExit() async -> Int32 { await ChildSpawn.waitForExit(pid) }
}

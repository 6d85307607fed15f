import Foundation
import Glibc
import KeelCore

/// A spawned worker process with pipes for stdin, stdout and stderr.
struct WorkerProcess: Sendable {
    let pid: pid_t
    /// Our ends: write to the child's stdin, read its stdout and stderr.
    let stdinWrite: Int32
    let stdoutRead: Int32
    let stderrRead: Int32

    /// Variables passed through to workers; everything else is dropped (STYLE.md §8).
    static let inheritedEnvironment: Set<String> = [
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "TERM", "SHELL", "PYTHONPATH", "PYTHONUNBUFFERED",
        "NODE_PATH", "GOPATH", "GOCACHE", "GOFLAGS", "GEM_HOME", "GEM_PATH", "RUBYLIB", "LD_LIBRARY_PATH",
        "VIRTUAL_ENV", "PYENV_ROOT", "PYENV_VERSION",
    ]

    /// Keel's own secrets, never passed to a worker even when named by `--pass-env`: `KEEL_TOKEN`
    /// and any `KEEL_*` variable whose name says it holds a credential (docs/security.md).
    static func isSecret(_ key: String) -> Bool {
        guard key.hasPrefix("KEEL_") else { return false }
        return ["TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "KEY"].contains { key.dropFirst(5).contains($0) }
    }

    /// Starts `argv` with the allow-listed environment plus `extra`.
    /// - Throws: `KeelError` when the program cannot be started.
    static func spawn(argv: [String], extraEnvironment: [String: String], passEnvironment: Set<String>, directory: String? = nil)
        throws -> WorkerProcess
    {
        guard !argv.isEmpty else { throw KeelError(.invalidParams, "a worker command is empty") }
        var stdinPipe: [Int32] = [0, 0], stdoutPipe: [Int32] = [0, 0], stderrPipe: [Int32] = [0, 0]
        guard pipe(&stdinPipe) == 0, pipe(&stdoutPipe) == 0, pipe(&stderrPipe) == 0
        else { throw KeelError(.internalError, "cannot create pipes: \(String(cString: strerror(errno)))") }
        // Close-on-exec, so other children never inherit these pipes (dup2 clears it on 0, 1, 2).
        for fd in stdinPipe + stdoutPipe + stderrPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        // The child gets 0, 1, 2 and nothing else: no inherited listening socket or database fd
        // (a worker outliving a killed orchestrator must not keep its socket accepting).
        ChildSpawn.closeInheritedDescriptors(&actions)
        if let directory {
            guard ChildSpawn.changeDirectory(&actions, to: directory) else {
                throw KeelError(.internalError, "cannot set the working directory \(directory) for a worker")
            }
        }


        var env: [String: String] = [:]
        let allowed = inheritedEnvironment.union(passEnvironment)
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                let key = String(s[..<eq])
                if !isSecret(key), allowed.contains(key) || key.hasPrefix("KEEL_") || key.hasPrefix("LC_") {
                    env[key] = String(s[s.index(after: eq)...])
                }
            }
            p += 1
        }
        for (k, v) in extraEnvironment { env[k] = v }

        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var pid: pid_t = 0
        // Its own process group, so a Ctrl-C at the terminal reaches Keel, which then stops workers in order.
        let rc = ChildSpawn.withAttributes(defaultSignals: [SIGPIPE, SIGINT, SIGTERM, SIGHUP]) { attributes in
            posix_spawnp(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        }
        close(stdinPipe[0])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        guard rc == 0 else {
            close(stdinPipe[1])
            close(stdoutPipe[0])
            close(stderrPipe[0])
            throw KeelError(.invalidParams, "cannot start worker \(argv[0]): \(String(cString: strerror(rc)))")
        }
        return WorkerProcess(pid: pid, stdinWrite: stdinPipe[1], stdoutRead: stdoutPipe[0], stderrRead: stderrPipe[0])
    }

    /// Waits for the process to exit on a dedicated thread (waitpid blocks) and returns its status.
    func waitForExit() async -> Int32 { await ChildSpawn.waitForExit(pid) }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// Splits a command line into argv, honouring single and double quotes and backslashes (no
    /// other shell features: use `sh -c '…'` explicitly for those).
    static func split(_ command: String) throws -> [String] {
        var args: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escape = false
        for c in command {
            if escape { current.append(c); escape = false; inWord = true; continue }
            if c == "\\" && quote != "'" { escape = true; continue }
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
                continue
            }
            if c == "'" || c == "\"" { quote = c; inWord = true; continue }
            if c == " " || c == "\t" {
                if inWord { args.append(current); current = ""; inWord = false }
                continue
            }
            current.append(c)
            inWord = true
        }
        guard quote == nil, !escape else { throw KeelError(.invalidParams, "unbalanced quote in worker command: \(command)") }
        if inWord { args.append(current) }
        return args
    }
}

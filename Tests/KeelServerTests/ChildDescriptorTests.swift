import Foundation
import KeelCore
@testable import KeelServer
import KeelTesting
import Testing

/// A child process gets 0, 1 and 2 and nothing else. A child holding a copy of another
/// connection's socket keeps that connection open after its peer closed it: the orchestrator then
/// never sees a worker leave (found when the test run's PostgreSQL server, started while in-process
/// workers were connected, held their sockets for the rest of the run).
@Suite("Children inherit no descriptors")
struct ChildDescriptorTests {
    /// A connected socket pair that any child would inherit (no close-on-exec), for the length of `body`.
    func withInheritableSockets<T>(_ body: () async throws -> T) async rethrows -> T {
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { for fd in pair { close(fd) } }
        #expect(fcntl(pair[0], F_GETFD) & FD_CLOEXEC == 0)
        return try await body()
    }

    /// What `ls -l /proc/self/fd` printed in a child: one line per open descriptor.
    static let listDescriptors = ["/bin/sh", "-c", "ls -l /proc/self/fd"]

    func sockets(in listing: String) -> [Substring] {
        listing.split(separator: "\n").filter { $0.contains("socket:") }
    }

    /// Spawns `listDescriptors` with posix_spawn, closing inherited descriptors or not, and returns its output.
    func spawnListing(closingInherited: Bool, in dir: TemporaryDirectory) throws -> String {
        let output = dir.file("fds.txt")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if closingInherited { #expect(ChildSpawn.closeInheritedDescriptors(&actions)) }
        let cArgs = Self.listDescriptors.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var pid: pid_t = 0
        #expect(posix_spawn(&pid, "/bin/sh", &actions, nil, cArgs, environ) == 0)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return try String(contentsOfFile: output, encoding: .utf8)
    }

    @Test func withoutTheCloseAChildSeesTheSocketsSoTheseTestsCanFail() async throws {
        try await TemporaryDirectory.with { dir in
            try await withInheritableSockets {
                let listing = try spawnListing(closingInherited: false, in: dir)
                #expect(sockets(in: listing).count >= 2)
            }
        }
    }

    @Test func closeInheritedDescriptorsLeavesTheChildNoSocket() async throws {
        try await TemporaryDirectory.with { dir in
            try await withInheritableSockets {
                let listing = try spawnListing(closingInherited: true, in: dir)
                #expect(sockets(in: listing).isEmpty, "\(listing)")
                #expect(listing.contains(" 1 -> "))
            }
        }
    }

    @Test func aSpawnedWorkerInheritsNoSocket() async throws {
        try await withInheritableSockets {
            let worker = try WorkerProcess.spawn(argv: Self.listDescriptors, extraEnvironment: [:], passEnvironment: ["PATH"])
            close(worker.stdinWrite)
            var listing = Data()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(worker.stdoutRead, &buffer, buffer.count)
                if n <= 0 { break }
                listing.append(contentsOf: buffer[0..<n])
            }
            close(worker.stdoutRead)
            close(worker.stderrRead)
            _ = await worker.waitForExit()
            let text = String(decoding: listing, as: UTF8.self)
            // 0 and 1 are the worker's pipes to Keel; no other socket or pipe of the orchestrator's.
            #expect(sockets(in: text).isEmpty, "\(text)")
            #expect(text.contains(" 0 -> pipe:"))
        }
    }

    @Test func aChildOfTheTestHarnessInheritsNoSocket() async throws {
        try await TemporaryDirectory.with { dir in
            try await withInheritableSockets {
                let child = try ChildProcess(Self.listDescriptors, logPath: dir.file("child.log"))
                #expect(try await eventually(timeout: .seconds(30)) { !child.isRunning })
                #expect(sockets(in: child.log).isEmpty, "\(child.log)")
            }
        }
    }
}

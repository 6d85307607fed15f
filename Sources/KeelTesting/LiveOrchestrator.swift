import Foundation
public import KeelClient
public import KeelCore
public import KeelEngine
public import KeelServer
import Logging

/// Runs a real orchestrator in this process on a per-test socket and SQLite file, and hands the
/// test its endpoint once it is bound (STYLE.md §9, level 4).
public enum LiveOrchestrator {
    /// Starts a server in `dir` (database `keel.db`, socket `k.sock`), runs `body`, stops the server.
    public static func with<T: Sendable>(
        in dir: TemporaryDirectory, clock: any WallClock = SystemClock(),
        configure: (inout KeelServer.Options) -> Void = { _ in },
        _ body: @escaping @Sendable (Endpoint, KeelServer) async throws -> T
    ) async throws -> T {
        var options = KeelServer.Options(databasePath: dir.file("keel.db"))
        options.socketPath = dir.file("k.sock")
        options.engine.drainTimeoutMs = 2_000
        // A test connection is never idle on purpose; on busy CI cores its `initialize` can take
        // seconds to be answered. Tests of the deadline itself set their own.
        options.connections.handshakeTimeoutMs = 60_000
        // A test that moves its clock by hand (ManualClock) sees its timers fire soon after.
        if !(clock is SystemClock) { options.engine.maxTimerSleepMs = 20 }
        configure(&options)
        var logger = Logger(label: "keel-test")
        logger.logLevel = ProcessInfo.processInfo.environment["KEEL_TEST_LOG"] == "1" ? .debug : .critical
        let server = KeelServer(options: options, clock: clock, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await server.run()
                return nil
            }
            let endpoints = try await server.ready()
            let socket = endpoints.socketPath ?? dir.file("k.sock")
            group.addTask {
                defer { server.stop() }
                return try await body(.unixSocket(path: socket), server)
            }
            var result: T?
            while let r = try await group.next() {
                if let r { result = r }
            }
            guard let result else { throw KeelError(.internalError, "the test body did not return") }
            return result
        }
    }

    /// Runs `worker` until `body` returns.
    public static func withWorker<T: Sendable>(_ worker: Worker, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await worker.run()
                return nil
            }
            group.addTask { try await body() }
            defer { group.cancelAll() }
            while let r = try await group.next() {
                if let r { return r }
            }
            throw KeelError(.internalError, "the worker stopped first")
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes.
public func eventually(timeout: Duration = .seconds(60), _ condition: @Sendable () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

import Foundation
import KeelClient
import KeelCore
import KeelEngine
import KeelServer
import KeelTesting
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// The server's parts as services of one `ServiceGroup` (ServerServices.swift, docs/architecture.md
/// "Shutdown"): the order they stop in, and what ends them — a stop request, a cancelled task, a
/// listener that stops on its own. Each test checks the store was closed by opening the same file
/// with a second server (the file lock refuses a second server while the first holds it).
@Suite("The server's parts as services", .serialized, .timeLimit(.minutes(2)))
struct ServerServicesTests {
    static func options(_ dir: TemporaryDirectory) -> KeelServer.Options {
        var options = KeelServer.Options(databasePath: dir.file("keel.db"))
        options.socketPath = dir.file("k.sock")
        options.engine.drainTimeoutMs = 2_000
        return options
    }

    /// True when a second server opens the same file: the first closed its store.
    static func storeWasClosed(_ dir: TemporaryDirectory) async throws -> Bool {
        var options = options(dir)
        options.socketPath = dir.file("second.sock")
        let second = KeelServer(options: options, logger: Logger(label: "second"))
        let parts: [ServiceGroupConfiguration.ServiceConfiguration]
        do { parts = try await second.start() } catch {
            print("ServerServicesTests: a second server did not start: \(error)")
            return false
        }
        second.stop()
        try await ServiceGroup(configuration: .init(services: parts, logger: Logger(label: "second"))).run()
        return true
    }

    @Test func thePartsStopInReverseOfTheirStartOrderTheEngineFirstTheStoreLast() async throws {
        try await TemporaryDirectory.with { dir in
            let server = KeelServer(options: Self.options(dir), logger: Logger(label: "test"))
            let parts = try await server.start()
            #expect(
                parts.map(\.serviceName) == [
                    "store", "worker supervisor", "unix listener", "heap trim", "timers", "engine", "stop request",
                ])
            #expect(FileManager.default.fileExists(atPath: dir.file("k.sock")), "bound before start() returns")
            #expect(try await !Self.storeWasClosed(dir), "the file is held while the parts run")

            let group = ServiceGroup(configuration: .init(services: parts, logger: Logger(label: "test")))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let endpoint = Endpoint.unixSocket(path: dir.file("k.sock"))
                let pong = try await KeelClient.withClient(endpoint) { try await $0.call("ping") }
                #expect(pong != .null)
                server.stop()
                try await tasks.waitForAll()
            }
            #expect(!FileManager.default.fileExists(atPath: dir.file("k.sock")), "the listener removed its socket")
            #expect(try await Self.storeWasClosed(dir))
        }
    }

    @Test func aClientsShutdownRequestStopsEveryPart() async throws {
        try await TemporaryDirectory.with { dir in
            let server = KeelServer(options: Self.options(dir), logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await server.run() }
                _ = try await server.ready()
                let endpoint = Endpoint.unixSocket(path: dir.file("k.sock"))
                try await KeelClient.withClient(endpoint) { client in
                    _ = try await client.call("shutdown")
                }
                try await tasks.waitForAll()
            }
            #expect(!FileManager.default.fileExists(atPath: dir.file("k.sock")))
            #expect(try await Self.storeWasClosed(dir))
        }
    }

    @Test func aCancelledServerStillStopsInOrderAndClosesItsStore() async throws {
        try await TemporaryDirectory.with { dir in
            let server = KeelServer(options: Self.options(dir), logger: Logger(label: "test"))
            let running = Task { try await server.run() }
            _ = try await server.ready()
            running.cancel()
            try await running.value
            #expect(!FileManager.default.fileExists(atPath: dir.file("k.sock")))
            #expect(try await Self.storeWasClosed(dir))
        }
    }

    @Test func aListenerThatStopsOnItsOwnIsLoggedAndStopsTheServer() async throws {
        try await TemporaryDirectory.with { dir in
            var options = Self.options(dir)
            options.sidecars = [StopsAtOnceSidecar()]
            let log = LogLines()
            let server = KeelServer(options: options, logger: Logger(label: "test") { _ in log })
            // Returns by itself: nobody asked it to stop.
            try await server.run()
            #expect(log.lines.contains { $0.contains("a listener stopped on its own; the server stops") && $0.contains("ends sidecar") })
            #expect(log.lines.contains { $0.contains("keel stopped") })
            #expect(try await Self.storeWasClosed(dir))
        }
    }
}

/// A sidecar whose serving ends at once, as a listener whose socket failed would.
private struct StopsAtOnceSidecar: Sidecar {
    var name: String { "ends" }
    var servesMetrics: Bool { false }
    func start(engine: Engine, logger: Logger) async throws -> Int { 0 }
    func run() async {}
    func close() {}
}

/// Keeps every log line, for tests that read what was logged.
private final class LogLines: LogHandler, Sendable {
    private let stored = Mutex<[String]>([])
    var lines: [String] { stored.withLock { $0 } }

    var logLevel: Logger.Level {
        get { .info }
        set {}
    }
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
        function: String, line: UInt
    ) {
        let fields = (metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        stored.withLock { $0.append("\(level) \(message) \(fields)") }
    }
}

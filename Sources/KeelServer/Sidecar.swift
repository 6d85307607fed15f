public import KeelEngine
public import Logging

/// A listener that runs beside the orchestrator's own and reads its engine, such as the web UI
/// (KeelWeb, `keel serve --http`). `KeelServer` starts it after the engine recovered and before
/// it reports ready, and closes it at shutdown with the other listeners.
public protocol Sidecar: Sendable {
    /// A short name for logs and ``KeelServer/Endpoints/sidecarPorts`` (e.g. `http`).
    var name: String { get }
    /// True when it serves `/metrics`: the Prometheus backend is then set up before anything
    /// records a metric.
    var servesMetrics: Bool { get }
    /// Binds its address and starts serving.
    /// - Returns: the bound port (the real one when port 0 was asked for).
    /// - Throws: a one-sentence `KeelError` when it cannot start, so `keel serve` stops at once.
    func start(engine: Engine, logger: Logger) async throws -> Int
    /// Returns once it has stopped serving (after ``close()``).
    func run() async
    /// Stops serving.
    func close()
}

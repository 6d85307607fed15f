public import KeelEngine
import Prometheus

/// The `/metrics` body for any HTTP listener (the metrics listener and the web UI): the engine's
/// gauges set from its state now, then every registered metric in the Prometheus text format.
public enum MetricsExposition {
    /// The Prometheus text exposition format, version 0.0.4.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Sets up the Prometheus backend; call before anything records a metric (swift-metrics
    /// binds each metric object to the backend of the moment it was made).
    public static func bootstrap() { _ = PrometheusBackend.registry }

    /// Renders every metric after publishing the engine's gauges.
    public static func render(engine: Engine) async -> [UInt8] {
        await engine.gauges().publish()
        PrometheusBackend.process.update()
        return PrometheusBackend.registry.emitToBuffer()
    }
}

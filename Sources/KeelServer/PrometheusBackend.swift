import KeelEngine
import KeelStorage
import Metrics
public import Prometheus

/// The process's one Prometheus registry, installed as the swift-metrics backend on first use.
/// swift-metrics allows one bootstrap per process, so this is the only place that does it.
enum PrometheusBackend {
    /// Latency buckets from 1 ms to 1 h: schedule-to-start spans a hot worker pool (ms) to a
    /// backlog nobody serves (minutes); alerts usually sit at 200 ms–1 s (docs/metrics.md).
    static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(900), .seconds(3_600),
    ]
    /// Commit buckets from 0.25 ms (no fsync, `--sync normal`) to 1 s (a stalled disk).
    static let commitBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1),
    ]
    /// Batch-size buckets up to the writer's cap of 1,024 writes per commit.
    static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_024]

    /// The registry `/metrics` renders. The first read bootstraps swift-metrics (once per process).
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = latencyBuckets
        factory.durationHistogramBuckets = [StoreMetrics.commitSeconds: commitBuckets]
        factory.valueHistogramBuckets = [StoreMetrics.commitBatchSize: batchBuckets]
        MetricsSystem.bootstrap(factory)
        MetricsBackend.didBootstrap()
        return registry
    }()

    /// The `process_*` metrics, on the same registry.
    static let process = ProcessMetrics(registry: registry)
}

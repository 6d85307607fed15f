import Metrics
public import KeelStorage
import Synchronization

/// Counts store writes that did not commit: `keel_store_write_failures_total{reason, path}` through
/// swift-metrics (whatever backend `keel` bootstraps), mirrored in a process-wide total that
/// tests and `keel` can read without a metrics backend.
public enum StoreFailureMetrics {
    /// The metric's name.
    public static let label = "keel_store_write_failures_total"

    private static let total = Atomic<Int>(0)

    /// Every failed store write in this process so far (monotonic).
    public static var failures: Int { total.load(ordering: .relaxed) }

    /// Records one failed write. `path`: `request` (answered with 4001) or `background` (retried).
    static func record(_ reason: StorageFailureReason, path: String) {
        total.add(1, ordering: .relaxed)
        Counter(label: label, dimensions: [("reason", reason.rawValue), ("path", path)]).increment()
    }
}

import Metrics
import Synchronization

/// Counts repairs of the open-execution invariant (docs/execution-model.md, "No execution waits
/// for nothing"): `keel_invariant_repairs_total{kind}` through swift-metrics, mirrored in a
/// process-wide total that tests can read without a metrics backend.
public enum InvariantMetrics {
    /// The metric's name.
    public static let label = "keel_invariant_repairs_total"

    private static let total = Atomic<Int>(0)

    /// Every repair in this process so far (monotonic).
    public static var repairs: Int { total.load(ordering: .relaxed) }

    /// Records one repair of `kind` (an ``Engine/InvariantViolation`` raw value).
    static func record(_ kind: String) {
        total.add(1, ordering: .relaxed)
        Counter(label: label, dimensions: [("kind", kind)]).increment()
    }
}

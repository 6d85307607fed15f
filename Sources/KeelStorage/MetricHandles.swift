import Synchronization

/// Bounds a metric label to at most ``limit`` distinct values: the first `limit` names seen keep
/// their own series, later ones are all reported as ``other``. Workflow and activity names come
/// from users and workers; without a cap one buggy worker registering a name per request would
/// grow the exposition (and Prometheus' memory) without end (docs/metrics.md, "Label bounds").
public final class MetricLabelBound: Sendable {
    /// The label value every name past the limit is reported under.
    public static let other = "other"
    /// Default cap on distinct names per label (activity names, workflow names).
    public static let defaultLimit = 1_000

    /// How many distinct names keep their own label value.
    public let limit: Int
    private let admitted = Mutex<Set<String>>([])

    /// - Parameter limit: distinct names that keep their own series; later names become ``other``.
    public init(limit: Int = MetricLabelBound.defaultLimit) { self.limit = limit }

    /// The label value for `name`: itself while fewer than ``limit`` names were seen (or it was one
    /// of them), else ``other``. Safe from any thread.
    public func label(_ name: String) -> String {
        admitted.withLock { seen in
            if seen.contains(name) { return name }
            guard seen.count < limit else { return Self.other }
            seen.insert(name)
            return name
        }
    }
}

/// Metric objects made once per label value and reused, so a hot path does not look its metric up
/// in the backend's registry on every event. The cache is dropped when a backend is bootstrapped:
/// swift-metrics binds an object to the backend of the moment it was made, and one made before
/// `keel serve --metrics-listen` set up Prometheus would report nowhere.
public final class MetricHandles<Handles: Sendable>: Sendable {
    private let make: @Sendable (String) -> Handles
    private let state = Mutex<(generation: Int, byLabel: [String: Handles])>((0, [:]))

    /// - Parameter make: builds the metric objects for one (already bounded) label value.
    public init(make: @escaping @Sendable (String) -> Handles) { self.make = make }

    /// The objects for `label`, made on first use (and again after a bootstrap).
    public func callAsFunction(_ label: String) -> Handles {
        let generation = MetricsBackend.generation
        return state.withLock { s in
            if s.generation != generation {
                s = (generation, [:])
            }
            if let found = s.byLabel[label] { return found }
            let made = make(label)
            s.byLabel[label] = made
            return made
        }
    }
}

/// Tells metric caches that the swift-metrics backend changed.
public enum MetricsBackend {
    private static let counter = Atomic<Int>(0)

    /// Bumped by every bootstrap; caches made under an older value are rebuilt.
    public static var generation: Int { counter.load(ordering: .acquiring) }

    /// Call right after `MetricsSystem.bootstrap`: every ``MetricHandles`` rebuilds its objects.
    public static func didBootstrap() { counter.add(1, ordering: .releasing) }
}

public import KeelStorage
import Metrics
import Synchronization

/// The engine's current state as gauges (docs/metrics.md), read from the engine actor when
/// `/metrics` is scraped rather than kept up to date on every event: exact at scrape time, and no
/// cost on the hot path.
public struct EngineGauges: Sendable, Equatable {
    /// Open executions in memory (pending, running, suspended, parked).
    public var workflowsOpen = 0
    /// Of those, parked by a non-determinism error (they will not clear on their own).
    public var workflowsParked = 0
    /// Connections that registered as workers.
    public var workersConnected = 0
    /// Open protocol connections (workers, clients, the CLI).
    public var connectionsOpen = 0
    /// Activity name → connected workers that serve it.
    public var workersByActivity: [String: Int] = [:]
    /// Activity name → attempts runnable now and waiting for a worker slot.
    public var backlogByActivity: [String: Int] = [:]

    public init() {}

    /// Gauge names.
    public static let workflowsOpenName = "keel_workflows_open"
    public static let workflowsParkedName = "keel_workflows_parked"
    public static let workersConnectedName = "keel_workers_connected"
    public static let connectionsOpenName = "keel_connections_open"
    public static let activityWorkersName = "keel_activity_workers"
    public static let activityBacklogName = "keel_activity_backlog"

    private static let plain = MetricHandles { Gauge(label: $0) }
    private static let workers = MetricHandles { Gauge(label: activityWorkersName, dimensions: [("activity", $0)]) }
    private static let backlog = MetricHandles { Gauge(label: activityBacklogName, dimensions: [("activity", $0)]) }
    /// Activity labels reported by the previous publish: a name no longer present is set to 0.
    private static let reported = Mutex<Set<String>>([])

    /// Sets every gauge to this snapshot. Activity names go through the shared name cap, so names
    /// past it add up under "other". Call from one scraper at a time or not: each set is atomic.
    public func publish() {
        Self.plain(Self.workflowsOpenName).record(workflowsOpen)
        Self.plain(Self.workflowsParkedName).record(workflowsParked)
        Self.plain(Self.workersConnectedName).record(workersConnected)
        Self.plain(Self.connectionsOpenName).record(connectionsOpen)
        var workerCounts: [String: Int] = [:]
        var backlogCounts: [String: Int] = [:]
        for (name, n) in workersByActivity { workerCounts[ActivityMetrics.names.label(name), default: 0] += n }
        for (name, n) in backlogByActivity { backlogCounts[ActivityMetrics.names.label(name), default: 0] += n }
        let labels = Set(workerCounts.keys).union(backlogCounts.keys)
        let stale = Self.reported.withLock { previous in
            defer { previous = labels }
            return previous.subtracting(labels)
        }
        for label in labels.union(stale) {
            Self.workers(label).record(workerCounts[label] ?? 0)
            Self.backlog(label).record(backlogCounts[label] ?? 0)
        }
    }
}

extension Engine {
    /// The gauges' values now. Cheap: a pass over in-memory state, no store read.
    public func gauges() -> EngineGauges {
        var g = EngineGauges()
        g.workflowsOpen = workflows.count
        g.workflowsParked = workflows.values.count { if case .parked = $0.phase { true } else { false } }
        g.workersConnected = registry.workers.count
        g.connectionsOpen = sessions.count
        for worker in registry.workers.values {
            for name in Set(worker.activities) { g.workersByActivity[name, default: 0] += 1 }
        }
        for (name, queue) in ready where queue.count > 0 { g.backlogByActivity[name] = queue.count }
        return g
    }
}

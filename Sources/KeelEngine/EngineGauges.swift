import KeelStorage
import KeelCore
import Metrics
import Synchronization

/// The engine's current state as gauges (docs/metrics.md), read from the engine actor when
/// `/metrics` is scraped rather than kept up to date on every event: exact at scrape time, and no
/// cost on the hot path.
public struct EngineGauges: Sendable, Equatable {
    /// Open executions (pending, running, suspended, parked): the cluster's, read from the store.
    public var workflowsOpen = 0
    /// Of those, parked by a non-determinism error (they will not clear on their own).
    public var workflowsParked = 0
    /// Connections that registered as workers.
    public var workersConnected = 0
    /// Open protocol connections (workers, clients, the CLI).
    public var connectionsOpen = 0
    /// Timers this node holds: attempts' timeouts, held steps, callers' waits, schedules.
    public var timersPending = 0
    /// Activity name → connected workers that serve it.
    public var workersByActivity: [String: Int] = [:]
    /// Activity name → attempts runnable now and waiting for a worker slot.
    public var backlogByActivity: [String: Int] = [:]
    /// Workflow name → connected workers that serve it.
    public var workersByWorkflow: [String: Int] = [:]
    /// Workflow name → runs queued for a worker.
    public var backlogByWorkflow: [String: Int] = [:]
    /// Activity name → seconds the oldest attempt of its backlog has been runnable.
    public var oldestByActivity: [String: Double] = [:]
    /// Workflow name → seconds the oldest queued run has waited for a worker.
    public var oldestByWorkflow: [String: Double] = [:]

    public init() {}

    /// Gauge names.
    public static let workflowsOpenName = "keel_workflows_open"
    public static let workflowsParkedName = "keel_workflows_parked"
    public static let workersConnectedName = "keel_workers_connected"
    public static let connectionsOpenName = "keel_connections_open"
    public static let timersPendingName = "keel_timers_pending"

    private static let plain = MetricHandles { Gauge(label: $0) }
    private static let activities = PerName(
        label: "activity", workers: "keel_activity_workers", backlog: "keel_activity_backlog",
        oldest: "keel_activity_backlog_oldest_seconds", bound: ActivityMetrics.names)
    private static let workflows = PerName(
        label: "workflow", workers: "keel_workflow_workers", backlog: "keel_workflow_backlog",
        oldest: "keel_workflow_backlog_oldest_seconds", bound: WorkflowMetrics.names)

    /// Sets every gauge to this snapshot. Names go through the shared name caps, so names past
    /// them add up under "other".
    public func publish() {
        Self.plain(Self.workflowsOpenName).record(workflowsOpen)
        Self.plain(Self.workflowsParkedName).record(workflowsParked)
        Self.plain(Self.workersConnectedName).record(workersConnected)
        Self.plain(Self.connectionsOpenName).record(connectionsOpen)
        Self.plain(Self.timersPendingName).record(timersPending)
        Self.activities.publish(workers: workersByActivity, backlog: backlogByActivity, oldest: oldestByActivity)
        Self.workflows.publish(workers: workersByWorkflow, backlog: backlogByWorkflow, oldest: oldestByWorkflow)
    }

    /// The workers and backlog gauges of one kind of name (activity or workflow).
    private final class PerName: Sendable {
        let bound: MetricLabelBound
        let workers: MetricHandles<Gauge>
        let backlog: MetricHandles<Gauge>
        let oldest: MetricHandles<Gauge>
        /// Labels reported by the previous publish: a name no longer present is set to 0.
        let reported = Mutex<Set<String>>([])

        init(label: String, workers: String, backlog: String, oldest: String, bound: MetricLabelBound) {
            self.bound = bound
            self.workers = MetricHandles { Gauge(label: workers, dimensions: [(label, $0)]) }
            self.backlog = MetricHandles { Gauge(label: backlog, dimensions: [(label, $0)]) }
            self.oldest = MetricHandles { Gauge(label: oldest, dimensions: [(label, $0)]) }
        }

        func publish(workers byName: [String: Int], backlog queued: [String: Int], oldest ages: [String: Double]) {
            var workerCounts: [String: Int] = [:]
            var backlogCounts: [String: Int] = [:]
            var oldestAges: [String: Double] = [:]
            for (name, n) in byName { workerCounts[bound.label(name), default: 0] += n }
            for (name, n) in queued { backlogCounts[bound.label(name), default: 0] += n }
            for (name, age) in ages { oldestAges[bound.label(name)] = max(oldestAges[bound.label(name)] ?? 0, age) }
            let labels = Set(workerCounts.keys).union(backlogCounts.keys)
            let stale = reported.withLock { previous in
                defer { previous = labels }
                return previous.subtracting(labels)
            }
            for label in labels.union(stale) {
                workers(label).record(workerCounts[label] ?? 0)
                backlog(label).record(backlogCounts[label] ?? 0)
                oldest(label).record(oldestAges[label] ?? 0)
            }
        }
    }
}

extension Engine {
    /// The gauges' values now: the backlog and open executions are the cluster's, read from the
    /// store (``sharedFigures(into:_:)``); the worker and connection gauges are this node's.
    public func gauges() async -> EngineGauges {
        var g = memoryGauges()
        await sharedFigures(into: &g)
        return g
    }

    /// The gauges from this node's memory alone (what a store that cannot be read leaves shown).
    private func memoryGauges() -> EngineGauges {
        var g = EngineGauges()
        g.workflowsOpen = workflows.count
        g.workflowsParked = workflows.values.count { $0.phase.isParked }
        g.workersConnected = registry.workers.count
        g.connectionsOpen = sessions.count
        g.timersPending = timers.count
        for worker in registry.workers.values {
            for name in Set(worker.activities) { g.workersByActivity[name, default: 0] += 1 }
            for name in Set(worker.workflows) { g.workersByWorkflow[name, default: 0] += 1 }
        }
        let now = clock.now()
        for (name, queue) in workflowQueue where queue.count > 0 {
            g.backlogByWorkflow[name] = queue.count
            if let oldest = queue.ids.lazy.compactMap({ self.workflows[$0] }).first {
                g.oldestByWorkflow[name] = Double(max(0, now - oldest.queuedAt)) / 1000
            }
        }
        return g
    }
}

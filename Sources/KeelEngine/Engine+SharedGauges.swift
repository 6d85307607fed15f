import KeelCore
import KeelStorage
import Logging

/// The gauges on a shared store (docs/metrics.md, "On a shared store"): a node's memory holds only
/// what it runs now, while the backlog waits in the store and a parked or suspended execution is
/// let go to it. So every node reports the cluster's backlog and open executions, read at scrape
/// time (three indexed reads per scrape, none per request); its workers and connections are its own.
extension Engine {
    /// Replaces `g`'s backlog and execution figures by the store's. A store that cannot be read
    /// leaves this node's own figures, with a warning.
    func sharedFigures(into g: inout EngineGauges) async {
        do {
            let backlog = try await cluster.store.backlog()
            let open = try await cluster.store.openExecutionCounts()
            let now = try await cluster.store.now()
            func age(_ since: EpochMillis) -> Double { Double(max(0, now - since)) / 1000 }
            g.backlogByActivity = backlog.activities
            g.backlogByWorkflow = backlog.workflows
            g.oldestByActivity = backlog.oldestActivities.mapValues(age)
            g.oldestByWorkflow = backlog.oldestWorkflows.mapValues(age)
            g.workflowsOpen = open.values.reduce(0, +)
            g.workflowsParked = open[.parked] ?? 0
        } catch {
            logger.warning(
                "cannot read the cluster's backlog for the gauges; this node's own figures are shown",
                metadata: ["error": "\(error)"])
        }
    }
}

import KeelCore
import KeelStorage
import Logging

/// The open-execution invariant at a shared-store node's start (docs/execution-model.md, "No
/// execution waits for nothing"). A node's memory holds only the runs it has now, so the check
/// that the local path makes over memory after recovery reads the store here: every execution
/// stored suspended, with its journal. One with no pending step that can wake it is reported and
/// woken (``Change/wakeExecution(workflowId:epoch:)``), for whichever node has a worker to claim.
extension Engine {
    /// How many suspended executions one read of the check takes.
    static let storedSuspensionsPage = 200

    /// Checks every execution the store holds suspended; logs a store that cannot be read and
    /// goes on (the node still starts: the check is a repair, not a precondition).
    func checkStoredSuspensions() async {
        guard let cluster else { return }
        var filter = WorkflowFilter()
        filter.status = .suspended
        filter.limit = Self.storedSuspensionsPage
        do {
            while true {
                let page = try await cluster.store.executions(filter)
                for state in page { try await checkStoredSuspension(state.record, cluster) }
                guard page.count == filter.limit, let last = page.last else { return }
                filter.after = (last.record.createdAt, last.record.id)
            }
        } catch {
            logger.warning(
                "cannot check the stored suspended executions at start; the periodic checks of the runs go on",
                metadata: ["error": "\(error)"])
        }
    }

    /// Wakes `record` when nothing in its journal can: no scheduled step with a wake condition.
    private func checkStoredSuspension(_ record: WorkflowRecord, _ cluster: ClusterNode) async throws {
        let journal = try await cluster.store.journal(workflowId: record.id, generation: record.generation)
        let stored = LiveWorkflow(
            record: record, journal: Dictionary(journal.map { ($0.seq, $0) }) { _, last in last }, phase: .suspended)
        guard wakeCondition(of: stored) == nil else { return }
        // The store decides: a run that claimed or ended it meanwhile moved its epoch or status.
        guard try await cluster.store.apply([.wakeExecution(workflowId: record.id, epoch: record.epoch)]).first == .applied
        else { return }
        report(.suspendedWithoutWake, record.id, check: .recovery,
            missing: "it was stored suspended with no pending step that can wake it")
        cluster.trigger.fire()
    }
}

import KeelCore
import KeelStorage
import Logging

/// The open-execution invariant for what the store holds suspended (docs/execution-model.md, "No
/// execution waits for nothing"). A node's memory holds only the runs it has now, so at start it
/// reads the store: every execution stored suspended, with its journal. One with no pending step
/// that can wake it is reported and woken (``Change/wakeExecution(workflowId:epoch:)``), for
/// whichever node has a worker to claim. `workflow/resume` of a suspended execution asks the same.
extension Engine {
    /// How many suspended executions one read of the check takes.
    static let storedSuspensionsPage = 200

    /// Checks every execution the store holds suspended; logs a store that cannot be read and
    /// goes on (the node still starts: the check is a repair, not a precondition).
    func checkStoredSuspensions() async {
        var filter = WorkflowFilter()
        filter.status = .suspended
        filter.limit = Self.storedSuspensionsPage
        do {
            while true {
                let page = try await cluster.store.executions(filter)
                for state in page { try await wakeIfNothingWill(state.record, check: .recovery) }
                guard page.count == filter.limit, let last = page.last else { return }
                filter.after = (last.record.createdAt, last.record.id)
            }
        } catch {
            logger.warning(
                "cannot check the stored suspended executions at start; the periodic checks of the runs go on",
                metadata: ["error": "\(error)"])
        }
    }

    /// Wakes suspended `record` when nothing in its journal can (no scheduled step with a wake
    /// condition): true when this call woke it.
    @discardableResult
    func wakeIfNothingWill(_ record: WorkflowRecord, check: InvariantCheck) async throws -> Bool {
        let journal = try await cluster.store.journal(workflowId: record.id, generation: record.generation)
        guard Self.wakeCondition(ofJournal: journal) == nil else { return false }
        // The store decides: a run that claimed or ended it meanwhile moved its epoch or status.
        guard try await cluster.store.apply([.wakeExecution(workflowId: record.id, epoch: record.epoch)]).first == .applied
        else { return false }
        report(.suspendedWithoutWake, record.id, check: check,
            missing: "it was stored suspended with no pending step that can wake it")
        cluster.trigger.fire()
        return true
    }
}

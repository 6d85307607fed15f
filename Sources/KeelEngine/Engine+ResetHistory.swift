import KeelCore
import KeelProtocol
import KeelStorage

/// How resets show in `workflow/describe` and `workflow/history` (docs/protocol.md, "workflow/reset").
extension Engine {
    /// Every reset of execution `id`, oldest first, as `workflow/describe` lists them; nil when it was never reset.
    func typedResets(_ id: String) async throws -> [WorkflowDescribeResult.Reset]? {
        let resets = try await ledger.resets(id)
        guard !resets.isEmpty else { return nil }
        return resets.map { r in
            WorkflowDescribeResult.Reset(
                fromGeneration: Int64(r.fromGeneration), toGeneration: Int64(r.toGeneration), toStep: Int64(r.toStep),
                reason: r.reason, requestedBy: r.requestedBy, previousStatus: Wire.WorkflowStatus(r.previousStatus),
                atMs: r.createdAt)
        }
    }

    /// A generation's status and its reset events: `resetFrom` when a reset started it, `resetTo`
    /// when a reset replaced it (then its status is how it stood, and its outcome is listed).
    /// An older generation that no reset replaced ended by continue-as-new: `completed`.
    func runHistory(_ record: WorkflowRecord, generation: Int) async throws
        -> (status: WorkflowStatus, events: [WorkflowHistoryResult.Event])
    {
        let id = record.id
        let resets = try await ledger.resets(id)
        var events: [WorkflowHistoryResult.Event] = []
        var status = generation == record.generation ? record.status : .completed
        if let from = resets.first(where: { $0.toGeneration == generation }) {
            events.append(
                WorkflowHistoryResult.Event(
                    type: .resetFrom, generation: Int64(from.fromGeneration), toStep: Int64(from.toStep),
                    reason: from.reason, requestedBy: from.requestedBy, atMs: from.createdAt,
                    message: "reset from generation \(from.fromGeneration) at step \(from.toStep) by "
                        + "\(from.requestedBy): \(from.reason)"))
        }
        if let to = resets.first(where: { $0.fromGeneration == generation }) {
            status = to.previousStatus
            events.append(
                WorkflowHistoryResult.Event(
                    type: .resetTo, generation: Int64(to.toGeneration), toStep: Int64(to.toStep), reason: to.reason,
                    requestedBy: to.requestedBy, atMs: to.createdAt,
                    previousStatus: Wire.WorkflowStatus(to.previousStatus), output: to.previousOutput,
                    failure: to.previousFailure.flatMap(Self.keelFailure),
                    message: "reset to step \(to.toStep) by \(to.requestedBy) (\(to.reason)); new run: generation "
                        + "\(to.toGeneration)"))
        }
        return (status, events)
    }
}

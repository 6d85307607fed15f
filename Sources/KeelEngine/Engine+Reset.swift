import KeelCore
public import KeelProtocol
import KeelStorage
import Logging

/// `workflow/reset`: the way out after a bad deploy (docs/execution-model.md, "Reset"). The
/// execution's next generation starts with the journal's steps 1…N and runs again from there on
/// whatever worker serves the workflow now; completed steps replay from the journal.
extension Engine {
    /// How long a reset waits for a run's end that is being committed, in slices of
    /// ``resetSettleSliceMs``: the end is one store write, so this is generous.
    static let resetSettleMs: Int64 = 10_000
    static let resetSettleSliceMs: Int64 = 20

    /// `workflow/reset`: starts the execution's next generation with the current one's journal
    /// entries 1…`toStep`; it runs again from there (a live run is stopped first). Both
    /// generations' histories record the reset, by `session`'s identity.
    /// - Throws: `KeelError(.workflowNotFound)` for an unknown id, `.resetRefused` for a step the
    ///   journal cannot be cut at, a child whose open parent took its outcome, or an execution
    ///   that kept changing for ``resetSettleMs``.
    public func resetWorkflow(_ params: WorkflowResetParams, session: Session) async throws -> WorkflowResetResult {
        let id = params.workflowId
        let toStep = Int(params.toStep)
        let by = session.grant?.identity ?? session.label
        let reason = params.reason ?? "reset by \(by)"
        var waitedMs: Int64 = 0
        while true {
            // A run whose end is being committed: let it land, then reset what it left.
            if let live = workflows[id], live.phase.isEnding, waitedMs < Self.resetSettleMs {
                try await Task.sleep(for: .milliseconds(Self.resetSettleSliceMs))
                waitedMs += Self.resetSettleSliceMs
                continue
            }
            if let answer = try await resetOnce(id, toStep: toStep, reason: reason, by: by) { return answer }
            // The execution moved on between the check and the write (another reset, an end): look again.
            guard waitedMs < Self.resetSettleMs else {
                throw KeelError(.resetRefused, "workflow \(id) kept changing while it was being reset; try again",
                    data: ["workflowId": .string(id)])
            }
            try await Task.sleep(for: .milliseconds(Self.resetSettleSliceMs))
            waitedMs += Self.resetSettleSliceMs
        }
    }

    /// One try: checks `toStep` against the store's copy of the execution, then one write, fenced
    /// by the epoch read, from whichever node is asked. The new generation is
    /// unowned: the next claim round of a node with a free worker for it runs it (this node's is
    /// woken now). A run of the old generation on another node learns it was superseded at its
    /// next write. Nil when the execution moved on meanwhile.
    private func resetOnce(_ id: String, toStep: Int, reason: String, by: String) async throws -> WorkflowResetResult? {
        guard let record = try await ledger.execution(id) else {
            throw KeelError(.workflowNotFound, "no workflow \(id)", data: ["workflowId": .string(id)])
        }
        let generation = record.generation
        let journal = try await ledger.journal(id, generation: generation)
        try checkResetPoint(record, journal: journal, toStep: toStep)
        if let parent = record.parentId, record.status.isTerminal, let open = try await ledger.execution(parent),
            !open.status.isTerminal
        {
            throw KeelError(.resetRefused,
                "workflow \(id) is a child whose parent \(parent) already took its outcome and is still open; reset the parent instead",
                data: ["workflowId": .string(id), "parentId": .string(parent)])
        }
        let old = workflows[id]
        if let old, old.record.epoch != record.epoch || old.record.generation != generation { return nil }
        if let old, old.phase.isEnding { return nil }
        var reset = WorkflowReset(
            workflowId: id, fromGeneration: generation, toStep: toStep, reason: reason, requestedBy: by,
            previousStatus: record.status, previousOutput: record.output, previousFailure: record.failure, now: clock.now())
        reset.executionData = Self.executionDataAfterReset(record, kept: journal.filter { $0.seq <= toStep })
        if old != nil { detachForReset(id) }
        let outcome: ChangeOutcome?
        do {
            outcome = try await cluster.store.apply([.resetExecution(reset, expectedEpoch: record.epoch)]).first
        } catch {
            if let old { restoreAfterFailedReset(old) }
            throw error
        }
        switch outcome {
        case .applied?:
            break
        case .notFound?:
            if old != nil { forget(id) }
            throw KeelError(.workflowNotFound, "no workflow \(id)", data: ["workflowId": .string(id)])
        default:
            if let old { restoreAfterFailedReset(old) }
            return nil
        }
        cancelTasksOfResetRun(journal.filter { $0.seq > toStep }, reason: "workflow \(id) was reset to step \(toStep)")
        if old != nil { forget(id) }
        cluster.trigger.fire()
        let kept = journal.prefix { $0.seq <= toStep }.count
        logger.info("workflow reset", metadata: [
            "workflow": "\(id)", "toStep": "\(toStep)", "generation": "\(reset.toGeneration)", "by": "\(by)",
        ])
        // No runId: the run gets its id when a node claims the new generation.
        return WorkflowResetResult(
            workflowId: id, status: .pending, generation: Int64(reset.toGeneration),
            previousGeneration: Int64(generation), toStep: Int64(toStep), keptSteps: Int64(kept),
            previousStatus: Wire.WorkflowStatus(record.status))
    }

    /// Refuses a reset point that is past the journal, inside a step without an outcome, or
    /// before a child step (the child exists already and would be started twice).
    private func checkResetPoint(_ record: WorkflowRecord, journal: [JournalEntry], toStep: Int) throws {
        let id = record.id
        let lastStep = journal.last?.seq ?? 0
        guard toStep <= lastStep else {
            throw KeelError(.resetStepOutOfRange,
                "workflow \(id) has \(lastStep) journal step\(lastStep == 1 ? "" : "s"); reset to a step from 0 to \(lastStep)",
                data: ["workflowId": .string(id), "toStep": JSONValue(toStep), "lastStep": JSONValue(lastStep)])
        }
        let bySeq = Dictionary(journal.map { ($0.seq, $0) }, uniquingKeysWith: { a, _ in a })
        for seq in stride(from: 1, through: toStep, by: 1) {
            let problem: String? = switch bySeq[seq]?.status {
            case nil: "step \(seq) is not in the journal (a later step was recorded first)"
            case .scheduled?: "step \(seq) (\(bySeq[seq]!.kind) \(bySeq[seq]!.name)) has no outcome yet"
            default: nil
            }
            if let problem {
                throw KeelError(.resetNotAtStepBoundary,
                    "cannot reset workflow \(id) to step \(toStep): \(problem); pick a step whose steps up to it all ended",
                    data: ["workflowId": .string(id), "toStep": JSONValue(toStep), "seq": JSONValue(seq)])
            }
        }
        if let child = journal.first(where: { $0.seq > toStep && $0.kind == "child" }) {
            throw KeelError(.resetRefused,
                "cannot reset workflow \(id) to step \(toStep): step \(child.seq) started child workflow \(child.name), "
                    + "which would start again under the same id; reset to step \(child.seq) or later",
                data: ["workflowId": .string(id), "toStep": JSONValue(toStep), "seq": JSONValue(child.seq)])
        }
    }

    /// Stops the live run, if any, before the reset commits: its held steps are answered with
    /// suspend, its worker slot is freed, and the epoch in memory moves on so that its late steps
    /// and its answer are refused (the store's epoch moves on in the reset's own write).
    private func detachForReset(_ id: String) {
        // In place, not through a local copy: Swift 6.3's optimizer crashed on the copy
        // (CopyPropagation, "Found ownership error") and no release build could be made.
        guard workflows[id] != nil else { return }
        releaseHeld(id)
        workflows[id]?.held = [:]
        workflows[id]?.record.epoch += 1
        if let run = workflows[id]?.phase.close() {
            registry.adjustWorkflowsInFlight(run.connectionID, by: -1)
            afterSlotFreed(run.connectionID)
        }
    }

    /// The reset did not commit: the old generation is live again as it was, its run (if one was
    /// detached) queued to run again from its journal.
    private func restoreAfterFailedReset(_ old: LiveWorkflow) {
        var live = old
        live.held = [:]
        workflows[old.record.id] = live
        switch old.phase.state {
        case .running, .pending: requeue(old.record.id)
        case .parked, .ending: break
        }
    }

    /// The old generation's open activity tasks were cancelled in the reset's write: forget them
    /// and tell their workers.
    private func cancelTasksOfResetRun(_ dropped: [JournalEntry], reason: String) {
        for e in dropped where e.kind == "activity" && e.status == .scheduled {
            guard let taskId = e.taskId, tasks[taskId] != nil else { continue }
            let freed = stopRunningAttempt(taskId, reason: reason)
            tasks[taskId] = nil
            attemptTraceCancelled(taskId)
            if let freed { afterSlotFreed(freed) }
        }
    }
}

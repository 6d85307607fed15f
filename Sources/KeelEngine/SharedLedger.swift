import Foundation
import KeelCore
import KeelStorage

/// The workflow path on a ``Store`` shared by several nodes (docs/scaling.md, "Workflows across
/// nodes"). Every write is a ``Change`` carrying its own fence — the run's epoch, the execution's
/// event counter — so a node that lost its lease cannot overwrite the node that took over.
struct SharedLedger: WorkflowLedger {
    let store: any Store

    func execution(_ id: String) async throws -> WorkflowRecord? { try await store.execution(id: id)?.record }

    func executions(_ filter: WorkflowFilter) async throws -> [(record: WorkflowRecord, node: String?)] {
        try await store.executions(filter).map { ($0.record, $0.ownerNode) }
    }

    func searchAttributeKeys() async throws -> [String] { try await store.searchAttributeKeys() }

    func signalDelivered(_ id: String, key: String) async throws -> Bool {
        try await store.signalDelivered(workflowId: id, key: key)
    }

    func journal(_ id: String, generation: Int) async throws -> [JournalEntry] {
        try await store.journal(workflowId: id, generation: generation)
    }

    func task(_ id: String) async throws -> ActivityTaskRecord? { try await store.task(id: id) }

    /// A shared store keeps each task's latest failure only (docs/scaling.md): none per attempt.
    func attemptFailures(_ taskIds: [String]) async throws -> [String: [AttemptFailure]] {
        try await store.attemptFailures(taskIds: taskIds)
    }

    /// Resets do not run on a shared store yet (`workflow/reset` is refused there): there are none.
    func resets(_ id: String) async throws -> [WorkflowReset] { try await store.resets(workflowId: id) }

    func start(_ record: WorkflowRecord) async throws -> WriteOutcome {
        try await one(.startExecution(record))
    }

    /// One transaction either way: a new execution with its signal, or the signal delivered to
    /// the open execution that has the id.
    func start(_ record: WorkflowRecord, signal: StartSignal) async throws -> (start: WriteOutcome, signal: SignalDelivery?) {
        let outcomes = try await store.apply([
            .startExecution(record),
            .deliverSignal(workflowId: record.id, name: signal.name, payload: signal.payload,
                key: signal.key ?? UUID().uuidString.lowercased()),
        ])
        let start = Engine.writeOutcome(outcomes.first ?? .notFound)
        switch outcomes.last {
        case .applied: return (start, SignalDelivery())
        case .signalTaken(let seq):
            return (start, Self.taken(record.id, generation: record.generation, seq: seq, name: signal.name, payload: signal.payload))
        case .duplicate: return (start, SignalDelivery(duplicate: true))
        case .alreadyFinished:
            throw KeelError(.workflowNotFound, "workflow \(record.id) has ended; signals go to open workflows",
                data: ["workflowId": .string(record.id)])
        default:
            throw KeelError(.storageFailure, "the signal of workflow \(record.id) could not be stored")
        }
    }

    func update(_ record: WorkflowRecord, expectedEpoch: Int) async throws -> WriteOutcome {
        try await one(.updateExecution(record, expectedEpoch: expectedEpoch))
    }

    func suspend(_ record: WorkflowRecord, seenEvents: Int?) async throws -> ChangeOutcome {
        try await store.apply([.suspend(workflowId: record.id, epoch: record.epoch, seenEvents: seenEvents ?? 0)]).first
            ?? .notFound
    }

    func finish(_ record: WorkflowRecord, closing: ClosingSteps?) async throws -> WriteOutcome {
        var changes: [Change] = []
        if let closing {
            changes += closing.failing.map {
                .completeStep(workflowId: record.id, generation: $0.generation, seq: $0.seq, epoch: record.epoch,
                    status: .failed, result: nil, failure: closing.failure)
            }
            changes += closing.cancelledTasks.map { .cancelTask(id: $0) }
        }
        // The store completes the parent's step (with this failure) and wakes the parent in the
        // same transaction.
        let failure = record.status == .completed || record.parentId == nil ? record.failure : Engine.childFailure(record)
        changes.append(.finishExecution(
            workflowId: record.id, epoch: record.epoch, status: record.status, output: record.output, failure: failure))
        return Engine.writeOutcome(try await store.apply(changes).last ?? .notFound)
    }

    func append(_ entry: JournalEntry, epoch: Int, effect: StepEffect?) async throws -> WriteOutcome {
        var changes: [Change] = [.appendStep(entry, epoch: epoch)]
        if let wakeAt = entry.wakeAt, entry.status == .scheduled {
            changes.append(.scheduleTimer(workflowId: entry.workflowId, generation: entry.generation, seq: entry.seq, fireAt: wakeAt))
        }
        switch effect {
        case .task(let task, let node):
            changes.append(node.map { .enqueueClaimedTask(task, node: $0) } ?? .enqueueTask(task))
        case .child(let child):
            // A taken id is refused before anything is written: the transaction cannot be undone
            // by a later outcome. (A race with another start of the same id leaves the step waiting
            // for that execution's end.)
            if try await store.execution(id: child.id) != nil {
                throw KeelError(.workflowAlreadyExists, "a workflow \(child.id) already exists; give the child another id")
            }
            changes.append(.startExecution(child))
        case .publish(let event):
            changes.append(.publishEvent(event, epoch: epoch))
        case .searchAttributes(let attributes):
            changes.append(.setSearchAttributes(workflowId: entry.workflowId, epoch: epoch, attributes: attributes))
        case .executionData(let field, let value):
            changes.append(.setExecutionData(field, workflowId: entry.workflowId, epoch: epoch, value: value))
        case nil:
            break
        }
        let outcomes = try await store.apply(changes)
        if case .task(let task, let node?) = effect, outcomes.first == .applied, outcomes.last == .notFound {
            // The step is recorded but its task was not stored claimed (this node's lease lapsed):
            // store it unclaimed for any node, then refuse the step so that the run replays.
            var unclaimed = task
            unclaimed.status = .scheduled
            unclaimed.attempt = 0
            unclaimed.startedAt = nil
            _ = try await store.apply([.enqueueTask(unclaimed)])
            throw KeelError(.storageFailure, "this node lost its lease on the shared store while storing step \(entry.seq)",
                data: ["reason": "leaseNotHeld", "node": .string(node)])
        }
        return Engine.writeOutcome(outcomes.first ?? .notFound)
    }

    func receiveSignal(_ entry: JournalEntry, epoch: Int) async throws -> (WriteOutcome, JournalEntry) {
        if let signal = try await store.pendingSignals(workflowId: entry.workflowId).first(where: { $0.name == entry.name }) {
            var e = entry
            e.status = .completed
            e.result = signal.payload
            e.completedAt = entry.createdAt
            // Both in one transaction, both fenced by the epoch: only this run consumes signals of
            // this execution, and the engine records one step of a run at a time per seq.
            let outcomes = try await store.apply([
                .appendStep(e, epoch: epoch),
                .consumeSignal(signalId: signal.id, workflowId: e.workflowId, generation: e.generation, seq: e.seq, epoch: epoch),
            ])
            return (Engine.writeOutcome(outcomes.first ?? .notFound), e)
        }
        // Nothing buffered: the step waits (with its timeout's timer). A signal delivered meanwhile
        // raises the execution's event counter, so the run's suspend sees it and the next run
        // takes it (``takeSignal(_:epoch:)``).
        var changes: [Change] = [.appendStep(entry, epoch: epoch)]
        if let wakeAt = entry.wakeAt {
            changes.append(.scheduleTimer(workflowId: entry.workflowId, generation: entry.generation, seq: entry.seq, fireAt: wakeAt))
        }
        return (Engine.writeOutcome(try await store.apply(changes).first ?? .notFound), entry)
    }

    func takeSignal(_ entry: JournalEntry, epoch: Int) async throws -> JournalEntry? {
        guard let signal = try await store.pendingSignals(workflowId: entry.workflowId).first(where: { $0.name == entry.name })
        else { return nil }
        let outcomes = try await store.apply([
            .completeStep(workflowId: entry.workflowId, generation: entry.generation, seq: entry.seq, epoch: epoch,
                status: .completed, result: signal.payload, failure: nil),
            .consumeSignal(signalId: signal.id, workflowId: entry.workflowId, generation: entry.generation, seq: entry.seq,
                epoch: epoch),
        ])
        guard outcomes.first == .applied else { return nil }
        var e = entry
        e.status = .completed
        e.result = signal.payload
        return e
    }

    func completeStep(
        _ workflowId: String, generation: Int, seq: Int, epoch: Int, status: StepStatus, result: JSONValue?,
        failure: JSONValue?
    ) async throws -> WriteOutcome {
        try await one(.completeStep(
            workflowId: workflowId, generation: generation, seq: seq, epoch: epoch, status: status, result: result,
            failure: failure))
    }

    func deliverSignal(_ workflowId: String, name: String, payload: JSONValue, key: String?, generation: Int) async throws
        -> SignalDelivery
    {
        // Without the client's key, one of our own makes a re-send after an unknown commit outcome
        // a duplicate.
        let outcome = try await store.apply([.deliverSignal(workflowId: workflowId, name: name, payload: payload,
            key: key ?? UUID().uuidString.lowercased())]).first ?? .notFound
        switch outcome {
        case .notFound:
            throw KeelError(.workflowNotFound, "no workflow \(workflowId)", data: ["workflowId": .string(workflowId)])
        case .signalTaken(let seq):
            return Self.taken(workflowId, generation: generation, seq: seq, name: name, payload: payload)
        default:
            return SignalDelivery(duplicate: outcome == .duplicate)
        }
    }

    /// The step a delivered signal completed in its own transaction, as far as the answer tells:
    /// its seq, its status and its result (the engine keeps its own entry's other fields).
    private static func taken(_ workflowId: String, generation: Int, seq: Int, name: String, payload: JSONValue)
        -> SignalDelivery
    {
        var step = JournalEntry(
            workflowId: workflowId, generation: generation, seq: seq, kind: "signal", name: name, input: .null, now: 0)
        step.status = .completed
        step.result = payload
        return SignalDelivery(consumedBy: step)
    }

    func requestCancel(_ workflowId: String, reason: String) async throws {
        _ = try await one(.requestCancel(workflowId: workflowId, reason: reason))
    }

    func publish(_ event: StreamEvent) async throws -> ChangeOutcome {
        try await store.apply([.publishEvent(event, epoch: nil)]).first ?? .notFound
    }

    func streamEvents(_ id: String, after offset: Int64, limit: Int) async throws -> [StreamEvent] {
        try await store.streamEvents(workflowId: id, after: offset, limit: limit)
    }

    func cancelTask(_ id: String) async throws -> WriteOutcome {
        try await one(.cancelTask(id: id))
    }

    private func one(_ change: Change) async throws -> WriteOutcome {
        Engine.writeOutcome(try await store.apply([change]).first ?? .notFound)
    }
}

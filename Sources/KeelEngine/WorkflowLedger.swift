import Foundation
import KeelCore
import KeelStorage

/// Where the workflow path keeps its durable state: the node's ``Store``, a SQLite file's or the
/// PostgreSQL several nodes share (docs/scaling.md, "Workflows across nodes").
///
/// Each method is one intent of the engine, committed in one transaction. Every write is a
/// ``Change`` carrying its own fence — the run's epoch, the execution's event counter — so a node
/// that lost its lease cannot overwrite the node that took over: `.stale` means the write's fence
/// failed (another run or node owns the execution now, or the step already ended).
struct WorkflowLedger {
    let store: any Store

    func execution(_ id: String) async throws -> WorkflowRecord? { try await store.execution(id: id)?.record }

    /// Executions matching `filter`, each with the node that runs it now (nil while it waits).
    func executions(_ filter: WorkflowFilter) async throws -> [(record: WorkflowRecord, node: String?)] {
        try await store.executions(filter).map { ($0.record, $0.ownerNode) }
    }

    /// The search attribute keys some execution has.
    func searchAttributeKeys() async throws -> [String] { try await store.searchAttributeKeys() }

    /// Whether a signal with request key `key` was delivered to execution `id`, open or ended.
    func signalDelivered(_ id: String, key: String) async throws -> Bool {
        try await store.signalDelivered(workflowId: id, key: key)
    }

    /// A generation's journal in `seq` order.
    func journal(_ id: String, generation: Int) async throws -> [JournalEntry] {
        try await store.journal(workflowId: id, generation: generation)
    }

    func task(_ id: String) async throws -> ActivityTaskRecord? { try await store.task(id: id) }

    /// The failure of every retried attempt of each task, by task id, oldest attempt first.
    func attemptFailures(_ taskIds: [String]) async throws -> [String: [AttemptFailure]] {
        try await store.attemptFailures(taskIds: taskIds)
    }

    /// An execution's resets, oldest first.
    func resets(_ id: String) async throws -> [WorkflowReset] { try await store.resets(workflowId: id) }

    /// Stores a new execution; `.duplicate` if its id exists.
    func start(_ record: WorkflowRecord) async throws -> WriteOutcome {
        try await one(.startExecution(record))
    }

    /// Signal-with-start: stores a new execution with `signal` buffered for it, in one
    /// transaction. When the id exists the start is `.duplicate`, and the signal is delivered to
    /// the open execution in the same transaction, answered in `signal`.
    func start(_ record: WorkflowRecord, signal: StartSignal) async throws -> (start: WriteOutcome, signal: SignalDelivery) {
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

    /// Writes status, generation, epoch, input, output, failure and the cancel flag, fenced by
    /// `expectedEpoch`: a new run, a continue-as-new, a park, a resume.
    func update(_ record: WorkflowRecord, expectedEpoch: Int) async throws -> WriteOutcome {
        try await one(.updateExecution(record, expectedEpoch: expectedEpoch))
    }

    /// Parks a run that waits for something: `.changedMeanwhile` when an event came since the run
    /// saw `seenEvents` (shared stores only; run it again).
    func suspend(_ record: WorkflowRecord, seenEvents: Int?) async throws -> ChangeOutcome {
        try await store.apply([.suspend(workflowId: record.id, epoch: record.epoch, seenEvents: seenEvents ?? 0)]).first
            ?? .notFound
    }

    /// Ends the execution with `record`'s terminal status, completes its parent's step, and fails
    /// and cancels what `closing` lists, in one transaction.
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

    /// Appends a step fenced by the run's epoch, with what it sets going in the same transaction.
    /// - Throws: `workflowAlreadyExists` when a child's id is taken (nothing is stored).
    ///
    /// Its frame stays small (it is held by every step waiting for its commit, thousands under
    /// load): the changes are built by a synchronous function, the rare paths run out of line.
    func append(_ entry: JournalEntry, epoch: Int, effect: StepEffect?) async throws -> WriteOutcome {
        if case .child(let child) = effect { try await refuseTakenChildId(child.id) }
        let outcomes = try await store.apply(Self.changes(appending: entry, epoch: epoch, effect: effect))
        if let node = Self.lapsedLease(outcomes, effect: effect) { try await storeUnclaimed(effect, seq: entry.seq, node: node) }
        return Engine.writeOutcome(outcomes.first ?? .notFound)
    }

    /// ``append(_:epoch:effect:)`` of an activity step with its task, answered through
    /// `completion` (on the store's thread) rather than awaited, so that the step's request keeps
    /// no task while the commit runs (docs/performance.md, "Starts and steps keep no task while
    /// they commit").
    func append(
        _ entry: JournalEntry, epoch: Int, task: ActivityTaskRecord, claimedBy: String?,
        completion: @escaping @Sendable (Result<WriteOutcome, any Error>) -> Void
    ) {
        let effect = StepEffect.task(task, claimedBy: claimedBy)
        store.apply(Self.changes(appending: entry, epoch: epoch, effect: effect)) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success(let outcomes):
                guard let node = Self.lapsedLease(outcomes, effect: effect) else {
                    return completion(.success(Engine.writeOutcome(outcomes.first ?? .notFound)))
                }
                // Rare (the lease lapsed between the claim and the commit): a task for the write.
                Task {
                    do {
                        try await storeUnclaimed(effect, seq: entry.seq, node: node)
                        completion(.success(Engine.writeOutcome(outcomes.first ?? .notFound)))
                    } catch {
                        completion(.failure(error))
                    }
                }
            }
        }
    }

    /// The node whose claim on the step's task the store refused although the step was recorded
    /// (its lease lapsed meanwhile); nil when the task was stored as asked.
    private static func lapsedLease(_ outcomes: [ChangeOutcome], effect: StepEffect?) -> String? {
        guard case .task(_, let node?) = effect, outcomes.first == .applied, outcomes.last == .notFound else { return nil }
        return node
    }

    /// The changes of one step: its entry, its timer, what it sets going.
    @inline(never)
    private static func changes(appending entry: JournalEntry, epoch: Int, effect: StepEffect?) -> [Change] {
        var changes: [Change] = [.appendStep(entry, epoch: epoch)]
        if let wakeAt = entry.wakeAt, entry.status == .scheduled {
            changes.append(.scheduleTimer(workflowId: entry.workflowId, generation: entry.generation, seq: entry.seq, fireAt: wakeAt))
        }
        switch effect {
        case .task(let task, let node):
            changes.append(node.map { .enqueueClaimedTask(task, node: $0) } ?? .enqueueTask(task))
        case .child(let child):
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
        return changes
    }

    /// A taken id is refused before anything is written: the transaction cannot be undone by a
    /// later outcome. (A race with another start of the same id leaves the step waiting for that
    /// execution's end.)
    @inline(never)
    private func refuseTakenChildId(_ id: String) async throws {
        if try await store.execution(id: id) != nil {
            throw KeelError(.workflowAlreadyExists, "a workflow \(id) already exists; give the child another id")
        }
    }

    /// The step is recorded but its task was not stored claimed (this node's lease lapsed): it is
    /// stored unclaimed for any node, and the step refused so that the run replays.
    @inline(never)
    private func storeUnclaimed(_ effect: StepEffect?, seq: Int, node: String) async throws {
        guard case .task(var unclaimed, _) = effect else { return }
        unclaimed.status = .scheduled
        unclaimed.attempt = 0
        unclaimed.startedAt = nil
        _ = try await store.apply([.enqueueTask(unclaimed)])
        throw KeelError(.storageFailure, "this node lost its lease on the shared store while storing step \(seq)",
            data: ["reason": "leaseNotHeld", "node": .string(node)])
    }

    /// Appends a signal step: completed with the oldest buffered signal of its name (consumed in
    /// the same transaction), or scheduled to wait for one.
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

    /// Completes a waiting signal step with the oldest buffered signal of its name, if one is
    /// buffered; nil otherwise.
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

    /// Ends a scheduled step (a timer, a cancel, a child's end seen here), fenced by the run's epoch.
    func completeStep(
        _ workflowId: String, generation: Int, seq: Int, epoch: Int, status: StepStatus, result: JSONValue?,
        failure: JSONValue?
    ) async throws -> WriteOutcome {
        try await one(.completeStep(
            workflowId: workflowId, generation: generation, seq: seq, epoch: epoch, status: status, result: result,
            failure: failure))
    }

    /// Buffers a signal and wakes the execution. Where the store can, the signal completes a
    /// waiting step of the same transaction, answered here. A `key` the workflow's signals already
    /// hold makes it a resend: nothing is stored, `duplicate` is true.
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
        case .alreadyFinished:
            // Ended, before the caller read it or since (the signal's own run, often): a resend of
            // a signal delivered before the end, whose answer was lost, is a duplicate, as while
            // the workflow was open; any other is refused. Never "delivered": nothing was stored.
            if let key, try await store.signalDelivered(workflowId: workflowId, key: key) {
                return SignalDelivery(duplicate: true)
            }
            let status = try await store.execution(id: workflowId)?.record.status.rawValue ?? "ended"
            throw KeelError(.workflowNotFound, "workflow \(workflowId) has ended (\(status)); signals go to open workflows",
                data: ["workflowId": .string(workflowId), "status": .string(status)])
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

    /// Marks the execution's cancel as asked, with why; the first reason given stays.
    func requestCancel(_ workflowId: String, reason: String) async throws {
        _ = try await one(.requestCancel(workflowId: workflowId, reason: reason))
    }

    /// Appends an activity attempt's event to its execution's stream, fenced by the attempt.
    func publish(_ event: StreamEvent) async throws -> ChangeOutcome {
        try await store.apply([.publishEvent(event, epoch: nil)]).first ?? .notFound
    }

    /// Up to `limit` events of `id`'s stream after `offset`.
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

/// What a step stores with its journal entry.
///
/// Indirect for the same reason as ``Change``: it carries whole records through the async frames
/// of a step's commit.
indirect enum StepEffect: Sendable {
    /// The activity task of an `activity` step; `claimedBy`: stored claimed by this node.
    case task(ActivityTaskRecord, claimedBy: String?)
    /// The execution of a `child` step.
    case child(WorkflowRecord)
    /// The stream event of a `publish` step.
    case publish(StreamEvent)
    /// The execution's search attributes after an `upsert` step (nil: none left).
    case searchAttributes(JSONValue?)
    /// The execution's memo after an `upsert` step, or its query values after a `query` step
    /// (nil: none left).
    case executionData(ExecutionData, JSONValue?)
}

/// What an execution that ends at once (terminated, timed out) closes with it.
struct ClosingSteps: Sendable {
    /// Scheduled steps, failed with `failure`.
    var failing: [JournalEntry]
    var failure: JSONValue
    /// Activity tasks of those steps, cancelled.
    var cancelledTasks: [String]
}

/// The signal of a signal-with-start (`workflow/start`'s `signal`).
struct StartSignal: Sendable {
    var name: String
    var payload: JSONValue
    /// Deduplicates a resend, as `workflow/signal`'s `requestId`.
    var key: String?
}

/// What ``WorkflowLedger/deliverSignal(_:name:payload:key:generation:)`` did.
struct SignalDelivery {
    /// The waiting step the signal completed in the same write, if any.
    var consumedBy: JournalEntry?
    /// True when a signal with the same key was delivered before: this one was not stored.
    var duplicate = false
}

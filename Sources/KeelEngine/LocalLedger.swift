import KeelCore
import KeelStorage

/// The workflow path on this process's own SQLite ``Storage``: every intent one closure on the
/// single writer, so reads and the writes that depend on them are serialized.
struct LocalLedger: WorkflowLedger {
    let storage: any Storage
    /// The engine's clock: the times it writes are the ones it shows and tests pin.
    let clock: any WallClock

    func execution(_ id: String) async throws -> WorkflowRecord? { try await storage.read { try $0.workflow(id: id) } }

    func executions(_ filter: WorkflowFilter) async throws -> [(record: WorkflowRecord, node: String?)] {
        try await storage.read { try $0.workflows(filter) }.map { ($0, nil) }
    }

    func searchAttributeKeys() async throws -> [String] { try await storage.read { try $0.searchAttributeKeys() } }

    func signalDelivered(_ id: String, key: String) async throws -> Bool {
        try await storage.read { try $0.signalDelivered(workflowId: id, key: key) }
    }

    func journal(_ id: String, generation: Int) async throws -> [JournalEntry] {
        try await storage.read { try $0.journal(workflowId: id, generation: generation) }
    }

    func task(_ id: String) async throws -> ActivityTaskRecord? { try await storage.read { try $0.activityTask(id: id) } }

    func attemptFailures(_ taskIds: [String]) async throws -> [String: [AttemptFailure]] {
        try await storage.read { r in
            try Dictionary(uniqueKeysWithValues: taskIds.map { ($0, try r.attemptFailures(taskId: $0)) })
        }
    }

    func resets(_ id: String) async throws -> [WorkflowReset] { try await storage.read { try $0.workflowResets(workflowId: id) } }

    func start(_ record: WorkflowRecord) async throws -> WriteOutcome {
        try await storage.write { try $0.insertWorkflow(record) }
    }

    func start(_ record: WorkflowRecord, signal: StartSignal) async throws -> (start: WriteOutcome, signal: SignalDelivery?) {
        let now = record.createdAt
        let outcome = try await storage.write { tx -> WriteOutcome in
            let o = try tx.insertWorkflow(record)
            guard o == .applied else { return o }
            // A new execution holds no signal yet: the key cannot be a duplicate.
            guard try tx.insertSignal(workflowId: record.id, name: signal.name, payload: signal.payload, key: signal.key, now: now) != nil
            else { throw KeelError(.storageFailure, "the signal of new workflow \(record.id) could not be stored") }
            return o
        }
        return (outcome, outcome == .applied ? SignalDelivery() : nil)
    }

    func update(_ record: WorkflowRecord, expectedEpoch: Int) async throws -> WriteOutcome {
        try await storage.write { try $0.updateWorkflow(record, expectedEpoch: expectedEpoch) }
    }

    func suspend(_ record: WorkflowRecord, seenEvents: Int?) async throws -> ChangeOutcome {
        let outcome = try await storage.write { try $0.updateWorkflow(record, expectedEpoch: record.epoch) }
        return outcome == .applied ? .applied : .superseded(currentEpoch: record.epoch)
    }

    func finish(_ record: WorkflowRecord, closing: ClosingSteps?) async throws -> WriteOutcome {
        let now = record.updatedAt
        return try await storage.write { tx in
            let o = try tx.updateWorkflow(record, expectedEpoch: record.epoch)
            if o == .applied, let closing {
                for e in closing.failing {
                    _ = try tx.completeJournalEntry(workflowId: record.id, generation: e.generation, seq: e.seq, status: .failed,
                        result: nil, failure: closing.failure, now: now)
                }
                for t in closing.cancelledTasks { _ = try tx.cancelActivityTask(id: t, now: now) }
            }
            if o == .applied, let parent = record.parentId, let seq = record.parentSeq {
                let completed = record.status == .completed
                _ = try tx.completeJournalEntry(
                    workflowId: parent, generation: record.parentGeneration ?? 0, seq: seq,
                    status: completed ? .completed : .failed, result: completed ? record.output : nil,
                    failure: completed ? nil : Engine.childFailure(record), now: now)
            }
            return o
        }
    }

    func append(_ entry: JournalEntry, epoch: Int, effect: StepEffect?) async throws -> WriteOutcome {
        try await storage.write { tx in
            let o = try tx.insertJournalEntry(entry, epoch: epoch)
            guard o == .applied else { return o }
            switch effect {
            case .task(let task, _):
                _ = try tx.insertActivityTask(task)
            case .child(let child):
                if try tx.insertWorkflow(child) == .duplicate {
                    throw KeelError(.workflowAlreadyExists, "a workflow \(child.id) already exists; give the child another id")
                }
            case .publish(let event):
                _ = try tx.appendStreamEvent(event)
            case .searchAttributes(let attributes):
                // The entry was stored under `epoch` in this transaction, so the row is there at it.
                guard try tx.setSearchAttributes(workflowId: entry.workflowId, epoch: epoch, attributes) == .applied else {
                    throw KeelError(.storageFailure, "the search attributes of \(entry.workflowId) could not be stored")
                }
            case .executionData(let field, let value):
                guard try tx.setExecutionData(field, workflowId: entry.workflowId, epoch: epoch, value) == .applied else {
                    throw KeelError(.storageFailure, "the \(field.column) of \(entry.workflowId) could not be stored")
                }
            case nil:
                break
            }
            return o
        }
    }

    func receiveSignal(_ entry: JournalEntry, epoch: Int) async throws -> (WriteOutcome, JournalEntry) {
        let now = entry.createdAt
        // One transaction: either a buffered signal is consumed here, or the entry waits and the
        // signal's own transaction (serialized after this one) will find it. No wake-up is lost.
        return try await storage.write { tx -> (WriteOutcome, JournalEntry) in
            var e = entry
            if let s = try tx.pendingSignal(workflowId: entry.workflowId, name: entry.name) {
                e.status = .completed
                e.result = s.payload
                e.completedAt = now
                let o = try tx.insertJournalEntry(e, epoch: epoch)
                if o == .applied { _ = try tx.consumeSignal(id: s.id, generation: e.generation, seq: e.seq) }
                return (o, e)
            }
            return (try tx.insertJournalEntry(e, epoch: epoch), e)
        }
    }

    func takeSignal(_ entry: JournalEntry, epoch: Int) async throws -> JournalEntry? {
        // Signals complete waiting steps as they arrive (deliverSignal): nothing is ever left to take.
        nil
    }

    func completeStep(
        _ workflowId: String, generation: Int, seq: Int, epoch: Int, status: StepStatus, result: JSONValue?,
        failure: JSONValue?
    ) async throws -> WriteOutcome {
        let now = clock.now()
        return try await storage.write {
            try $0.completeJournalEntry(
                workflowId: workflowId, generation: generation, seq: seq, status: status, result: result, failure: failure,
                now: now)
        }
    }

    func deliverSignal(_ workflowId: String, name: String, payload: JSONValue, key: String?, generation: Int) async throws
        -> SignalDelivery
    {
        let now = clock.now()
        // Serialized with signal steps by the single writer: see receiveSignal.
        return try await storage.write { tx -> SignalDelivery in
            guard let signalId = try tx.insertSignal(workflowId: workflowId, name: name, payload: payload, key: key, now: now)
            else { return SignalDelivery(duplicate: true) }
            guard var waiting = try tx.scheduledEntry(workflowId: workflowId, generation: generation, kind: "signal", name: name)
            else { return SignalDelivery() }
            guard try tx.completeJournalEntry(workflowId: workflowId, generation: generation, seq: waiting.seq,
                status: .completed, result: payload, failure: nil, now: now) == .applied
            else { return SignalDelivery() }
            _ = try tx.consumeSignal(id: signalId, generation: generation, seq: waiting.seq)
            waiting.status = .completed
            waiting.result = payload
            return SignalDelivery(consumedBy: waiting)
        }
    }

    func requestCancel(_ workflowId: String, reason: String) async throws {
        let now = clock.now()
        _ = try await storage.write { try $0.requestWorkflowCancel(id: workflowId, reason: reason, now: now) }
    }

    func publish(_ event: StreamEvent) async throws -> ChangeOutcome {
        try await storage.write { tx in
            if try tx.appendStreamEvent(event) != nil { return .applied }
            return .stale(currentAttempt: try tx.activityTask(id: event.sourceColumns.taskId ?? "")?.attempt ?? 0)
        }
    }

    func streamEvents(_ id: String, after offset: Int64, limit: Int) async throws -> [StreamEvent] {
        try await storage.read { try $0.streamEvents(workflowId: id, after: offset, limit: limit) }
    }

    func cancelTask(_ id: String) async throws -> WriteOutcome {
        let now = clock.now()
        return try await storage.write { try $0.cancelActivityTask(id: id, now: now) }
    }
}

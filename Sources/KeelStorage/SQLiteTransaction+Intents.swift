import CSQLite
public import KeelCore

/// ``Change``s as conditional statements on SQLite (the same fences the PostgreSQL store writes).
extension SQLiteTransaction {
    func apply(_ change: Change, now: EpochMillis) throws -> ChangeOutcome {
        switch change {
        case .enqueueTask(let task):
            return try insertActivityTask(task) == .applied ? .applied : .duplicate
        case .enqueueClaimedTask(let task, let node):
            guard try leaseHeld(node, now: now) else { return .notFound }
            return try insertActivityTask(task, owner: node) == .applied ? .applied : .duplicate
        case .finishTask(let id, let attempt, let status, let output, let failure):
            return try finishTask(id: id, attempt: attempt, status: status, output: output, failure: failure, now: now)
        case .timeOutWaitingTask(let id, let attempt, let failure):
            return try finishTask(
                id: id, attempt: attempt, status: .timedOut, output: nil, failure: failure, from: .scheduled, now: now)
        case .retryTask(let id, let attempt, let runAt, let failure):
            let startedAt = try activityTask(id: id)?.startedAt
            let outcome = try taskFenced(
                """
                UPDATE activity_tasks SET status = 'scheduled', visible_at = ?, failure = ?, owner_node = NULL
                WHERE task_id = ? AND attempt = ? AND status = 'running'
                """, [.int(runAt), .json(failure), .text(id), .int(Int64(attempt))], id: id, attempt: attempt)
            // The row keeps only the latest failure; each retried attempt's is kept beside it.
            if outcome == .applied {
                try recordAttemptFailure(
                    AttemptFailure(taskId: id, attempt: attempt, failure: failure ?? .null, failedAt: now, startedAt: startedAt))
            }
            return outcome
        case .releaseTask(let id, let attempt, let node):
            return try taskFenced(
                """
                UPDATE activity_tasks SET status = 'scheduled', attempt = attempt - 1, visible_at = ?, owner_node = NULL
                WHERE task_id = ? AND attempt = ? AND status = 'running' AND owner_node = ?
                """, [.int(now), .text(id), .int(Int64(attempt)), .text(node)], id: id, attempt: attempt)
        case .recordHeartbeat(let id, let attempt, let details):
            return try taskFenced(
                "UPDATE activity_tasks SET heartbeat_details = ? WHERE task_id = ? AND attempt = ? AND status = 'running'",
                [.json(details), .text(id), .int(Int64(attempt))], id: id, attempt: attempt)
        case .cancelTask(let id):
            return try taskFenced(
                """
                UPDATE activity_tasks SET status = 'cancelled', completed_at = ?, owner_node = NULL
                WHERE task_id = ? AND status IN ('scheduled', 'running')
                """, [.int(now), .text(id)], id: id, attempt: nil)
        case .startExecution(let record):
            return try insertWorkflow(record) == .applied ? .applied : .duplicate
        case .startClaimedExecution(let record, let node):
            guard try leaseHeld(node, now: now) else { return .notFound }
            return try insertWorkflow(record, owner: node) == .applied ? .applied : .duplicate
        case .appendStep(let entry, let epoch):
            return try appendStep(entry, epoch: epoch)
        case .completeStep(let workflowId, let generation, let seq, let epoch, let status, let result, let failure):
            if let fence = try epochFence(workflowId, epoch) { return fence }
            return try completeJournalEntry(
                workflowId: workflowId, generation: generation, seq: seq, status: status, result: result, failure: failure,
                now: now) == .applied ? .applied : .duplicate
        case .updateExecution(let record, let expectedEpoch):
            return try updateExecution(record, expectedEpoch: expectedEpoch)
        case .scheduleTimer(let workflowId, let generation, let seq, let fireAt):
            return try scheduleTimer(workflowId: workflowId, generation: generation, seq: seq, fireAt: fireAt)
        case .deliverSignal(let workflowId, let name, let payload, let key):
            return try deliverSignal(workflowId: workflowId, name: name, payload: payload, key: key, now: now)
        case .consumeSignal(let signalId, let workflowId, let generation, let seq, let epoch):
            if let fence = try epochFence(workflowId, epoch) { return fence }
            try db.statement(
                """
                UPDATE signals SET consumed_generation = ?1, consumed_seq = ?2
                WHERE signal_id = ?3 AND workflow_id = ?4 AND consumed_seq IS NULL
                  AND EXISTS (
                    SELECT 1 FROM journal j WHERE j.workflow_id = ?4 AND j.generation = ?1 AND j.seq = ?2
                      AND j.status = 'completed' AND j.result = signals.payload)
                  AND NOT EXISTS (
                    SELECT 1 FROM signals held WHERE held.workflow_id = ?4 AND held.consumed_generation = ?1
                      AND held.consumed_seq = ?2)
                """
            ).bind([.int(Int64(generation)), .int(Int64(seq)), .int(signalId), .text(workflowId)]).run()
            return db.changes > 0 ? .applied : .duplicate
        case .suspend(let workflowId, let epoch, let seenEvents):
            return try suspend(workflowId: workflowId, epoch: epoch, seenEvents: seenEvents, now: now)
        case .finishExecution(let workflowId, let epoch, let status, let output, let failure):
            return try finishExecution(
                workflowId: workflowId, epoch: epoch, status: status, output: output, failure: failure, now: now)
        case .releaseExecution(let workflowId, let epoch):
            try db.statement(
                """
                UPDATE workflows SET status = 'pending', owner_node = NULL, updated_at = ?
                WHERE workflow_id = ? AND epoch = ? AND status IN ('pending', 'running')
                """
            ).bind([.int(now), .text(workflowId), .int(Int64(epoch))]).run()
            if db.changes > 0 { return .applied }
            if let fence = try epochFence(workflowId, epoch) { return fence }
            return .alreadyFinished
        case .resetExecution(let reset, let expectedEpoch):
            if let fence = try epochFence(reset.workflowId, expectedEpoch) { return fence }
            switch try resetWorkflow(reset, expectedEpoch: expectedEpoch, now: now) {
            case .applied:
                try db.statement("UPDATE workflows SET owner_node = NULL, event_seq = event_seq + 1 WHERE workflow_id = ?")
                    .bind([.text(reset.workflowId)]).run()
                try db.statement("DELETE FROM timers WHERE workflow_id = ? AND generation = ?")
                    .bind([.text(reset.workflowId), .int(Int64(reset.fromGeneration))]).run()
                return .applied
            case .notFound: return .notFound
            case .stale, .duplicate: return .changedMeanwhile
            }
        case .wakeExecution(let workflowId, let epoch):
            if let fence = try epochFence(workflowId, epoch) { return fence }
            try db.statement(
                """
                UPDATE workflows SET status = 'pending', owner_node = NULL, event_seq = event_seq + 1, updated_at = ?
                WHERE workflow_id = ? AND status = 'suspended'
                """
            ).bind([.int(now), .text(workflowId)]).run()
            if db.changes > 0 { return .applied }
            return try execution(workflowId)?.record.status.isTerminal == true ? .alreadyFinished : .duplicate
        case .resumeExecution(let workflowId):
            try db.statement(
                """
                UPDATE workflows SET status = 'pending', failure = NULL, owner_node = NULL, updated_at = ?
                WHERE workflow_id = ? AND status = 'parked'
                """
            ).bind([.int(now), .text(workflowId)]).run()
            if db.changes > 0 { return .applied }
            guard let current = try execution(workflowId) else { return .notFound }
            return current.record.status.isTerminal ? .alreadyFinished : .duplicate
        case .terminateExecution(let workflowId, let status, let failure):
            return try terminateExecution(workflowId: workflowId, status: status, failure: failure, now: now)
        case .publishEvent(let event, let epoch):
            if let epoch, let fence = try epochFence(event.workflowId, epoch) { return fence }
            if try appendStreamEvent(event) != nil { return .applied }
            if case .activity(let taskId, let attempt) = event.source { return try taskFenceOutcome(taskId, attempt: attempt) }
            return try execution(event.workflowId) == nil ? .notFound : .duplicate
        case .setSearchAttributes(let workflowId, let epoch, let attributes):
            if let fence = try epochFence(workflowId, epoch) { return fence }
            return try setSearchAttributes(workflowId: workflowId, epoch: epoch, attributes) == .applied ? .applied : .notFound
        case .setExecutionData(let field, let workflowId, let epoch, let value):
            if let fence = try epochFence(workflowId, epoch) { return fence }
            return try setExecutionData(field, workflowId: workflowId, epoch: epoch, value) == .applied ? .applied : .notFound
        case .requestCancel(let workflowId, let reason):
            try db.statement(
                """
                UPDATE workflows SET cancel_requested = 1, cancel_reason = ?, updated_at = ?
                WHERE workflow_id = ? AND cancel_requested = 0
                  AND status NOT IN ('completed', 'failed', 'cancelled', 'terminated', 'timedOut')
                """
            ).bind([.optional(reason), .int(now), .text(workflowId)]).run()
            guard db.changes > 0 else {
                guard let state = try execution(workflowId) else { return .notFound }
                return state.record.status.isTerminal ? .alreadyFinished : .duplicate
            }
            try wake(workflowId, now: now)
            return .applied
        case .pinContract(let pin):
            try db.statement(
                pin.version <= 1
                    ? """
                    INSERT OR IGNORE INTO contracts
                        (kind, name, contract_hash, input, output, owner, owner_worker, pinned_at, version)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
                    : """
                    UPDATE contracts SET kind = ?, name = ?, contract_hash = ?, input = ?, output = ?, owner = ?,
                        owner_worker = ?, pinned_at = ?, version = ?
                    WHERE kind = ?1 AND name = ?2 AND version = ?9 - 1
                    """
            ).bind([
                .text(pin.kind), .text(pin.name), .text(pin.hash), .json(pin.input), .json(pin.output),
                .text(pin.owner), .text(pin.ownerWorker), .int(pin.pinnedAt), .int(Int64(pin.version)),
            ]).run()
            return db.changes > 0 ? .applied : .duplicate
        case .releaseContract(let kind, let name):
            return try releaseContract(kind: kind, name: name) == .applied ? .applied : .notFound
        case .publishWorkers(let nodeId, let workers):
            try db.statement("UPDATE nodes SET workers = ? WHERE node_id = ?").bind([.json(workers), .text(nodeId)]).run()
            return db.changes > 0 ? .applied : .notFound
        case .createSchedule(let record):
            return try insertSchedule(record) == .applied ? .applied : .duplicate
        case .updateSchedule(let record, let expectedVersion):
            switch try updateSchedule(record, expectedVersion: expectedVersion) {
            case .applied: return .applied
            case .notFound: return .notFound
            default: return .changedMeanwhile
            }
        case .deleteSchedule(let id):
            return try deleteSchedule(id: id) == .applied ? .applied : .notFound
        }
    }

    /// Ends attempt `attempt` of a task that is `from` (running, or scheduled for a timeout while it waits).
    private func finishTask(
        id: String, attempt: Int, status: TaskStatus, output: JSONValue?, failure: JSONValue?,
        from: TaskStatus = .running, now: EpochMillis
    ) throws -> ChangeOutcome {
        precondition(status.isTerminal, "finishTask needs a terminal status")
        var step: (String, Int, Int)?
        var finished = false
        try db.statement(
            """
            UPDATE activity_tasks SET status = ?, output = ?, failure = ?, completed_at = ?, owner_node = NULL
            WHERE task_id = ? AND attempt = ? AND status = ?
            RETURNING workflow_id, generation, step_seq
            """
        ).bind([
            .text(status.rawValue), .json(output), .json(failure), .int(now), .text(id), .int(Int64(attempt)),
            .text(from.rawValue),
        ])
            .forEachRow { row in
                finished = true
                if let workflowId = row.optionalText(0), let generation = row.optionalInt(1), let seq = row.optionalInt(2) {
                    step = (workflowId, Int(generation), Int(seq))
                }
            }
        guard finished else { return try taskFenceOutcome(id, attempt: attempt) }
        if let (workflowId, generation, seq) = step {
            let stepStatus: StepStatus = status == .completed ? .completed : .failed
            if try completeJournalEntry(
                workflowId: workflowId, generation: generation, seq: seq, status: stepStatus, result: output,
                failure: failure, now: now) == .applied
            {
                try wake(workflowId, now: now)
            }
        }
        return .applied
    }

    private func appendStep(_ entry: JournalEntry, epoch: Int) throws -> ChangeOutcome {
        switch try insertJournalEntry(entry, epoch: epoch) {
        case .applied: return .applied
        case .duplicate: return .duplicate
        case .notFound: return .notFound
        case .stale: return try epochFence(entry.workflowId, epoch) ?? .duplicate
        }
    }

    private func updateExecution(_ record: WorkflowRecord, expectedEpoch: Int) throws -> ChangeOutcome {
        if try updateWorkflow(record, expectedEpoch: expectedEpoch) == .applied {
            if record.status == .parked {
                try db.statement("UPDATE workflows SET owner_node = NULL WHERE workflow_id = ?").bind([.text(record.id)]).run()
            }
            return .applied
        }
        if let fence = try epochFence(record.id, expectedEpoch) { return fence }
        return .alreadyFinished
    }

    /// The kind and name of a journal step, nil if there is no such step.
    func stepKind(_ workflowId: String, generation: Int, seq: Int) throws -> (String, String)? {
        var found: (String, String)?
        try db.statement("SELECT kind, name FROM journal WHERE workflow_id = ? AND generation = ? AND seq = ?")
            .bind([.text(workflowId), .int(Int64(generation)), .int(Int64(seq))]).forEachRow { found = ($0.text(0), $0.text(1)) }
        return found
    }

    private func scheduleTimer(workflowId: String, generation: Int, seq: Int, fireAt: EpochMillis) throws
        -> ChangeOutcome
    {
        guard try execution(workflowId) != nil else { return .notFound }
        try db.statement(
            """
            INSERT INTO timers (workflow_id, generation, seq, fire_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (workflow_id, generation, seq) DO NOTHING
            """
        ).bind([.text(workflowId), .int(Int64(generation)), .int(Int64(seq)), .int(fireAt)]).run()
        return db.changes > 0 ? .applied : .duplicate
    }

    private func deliverSignal(workflowId: String, name: String, payload: JSONValue, key: String?, now: EpochMillis)
        throws -> ChangeOutcome
    {
        guard let state = try execution(workflowId) else { return .notFound }
        if state.record.status.isTerminal { return .alreadyFinished }
        guard let signalId = try insertSignal(workflowId: workflowId, name: name, payload: payload, key: key, now: now)
        else { return .duplicate }
        try wake(workflowId, now: now)
        let generation = state.record.generation
        // The oldest buffered signal of the name is the next step's: only when it is this one.
        guard try pendingSignal(workflowId: workflowId, name: name)?.id == signalId,
            let waiting = try scheduledEntry(workflowId: workflowId, generation: generation, kind: "signal", name: name),
            try completeJournalEntry(
                workflowId: workflowId, generation: generation, seq: waiting.seq, status: .completed, result: payload,
                failure: nil, now: now) == .applied,
            try consumeSignal(id: signalId, generation: generation, seq: waiting.seq) == .applied
        else { return .applied }
        return .signalTaken(seq: waiting.seq)
    }

    private func suspend(workflowId: String, epoch: Int, seenEvents: Int, now: EpochMillis) throws -> ChangeOutcome {
        try db.statement(
            """
            UPDATE workflows SET status = 'suspended', owner_node = NULL, updated_at = ?
            WHERE workflow_id = ? AND epoch = ? AND event_seq = ? AND status IN ('pending', 'running')
            """
        ).bind([.int(now), .text(workflowId), .int(Int64(epoch)), .int(Int64(seenEvents))]).run()
        if db.changes > 0 { return .applied }
        if let fence = try epochFence(workflowId, epoch) { return fence }
        guard let state = try execution(workflowId) else { return .notFound }
        return state.eventSeq != seenEvents ? .changedMeanwhile : .duplicate
    }

    private func finishExecution(
        workflowId: String, epoch: Int, status: WorkflowStatus, output: JSONValue?, failure: JSONValue?,
        now: EpochMillis
    ) throws -> ChangeOutcome {
        precondition(status.isTerminal, "finishExecution needs a terminal status")
        var parent: (String, Int, Int)?
        var finished = false
        try db.statement(
            """
            UPDATE workflows SET status = ?, output = ?, failure = ?, owner_node = NULL, updated_at = ?
            WHERE workflow_id = ? AND epoch = ?
              AND status NOT IN ('completed', 'failed', 'cancelled', 'terminated', 'timedOut')
            RETURNING parent_id, parent_generation, parent_seq
            """
        ).bind([.text(status.rawValue), .json(output), .json(failure), .int(now), .text(workflowId), .int(Int64(epoch))])
            .forEachRow { row in
                finished = true
                if let id = row.optionalText(0), let generation = row.optionalInt(1), let seq = row.optionalInt(2) {
                    parent = (id, Int(generation), Int(seq))
                }
            }
        guard finished else { return try epochFence(workflowId, epoch) ?? .alreadyFinished }
        if let (parentId, generation, seq) = parent {
            if try completeJournalEntry(
                workflowId: parentId, generation: generation, seq: seq, status: status == .completed ? .completed : .failed,
                result: output, failure: failure, now: now) == .applied
            {
                try wake(parentId, now: now)
            }
        }
        return .applied
    }

    private func terminateExecution(
        workflowId: String, status: WorkflowStatus, failure: JSONValue, now: EpochMillis
    ) throws -> ChangeOutcome {
        precondition(status.isTerminal, "terminateExecution needs a terminal status")
        var ended: (generation: Int, parent: (String, Int, Int)?)?
        try db.statement(
            """
            UPDATE workflows SET status = ?, output = NULL, failure = ?, owner_node = NULL, epoch = epoch + 1,
                event_seq = event_seq + 1, updated_at = ?
            WHERE workflow_id = ? AND status NOT IN ('completed', 'failed', 'cancelled', 'terminated', 'timedOut')
            RETURNING generation, parent_id, parent_generation, parent_seq
            """
        ).bind([.text(status.rawValue), .json(failure), .int(now), .text(workflowId)]).forEachRow { row in
            var parent: (String, Int, Int)?
            if let id = row.optionalText(1), let generation = row.optionalInt(2), let seq = row.optionalInt(3) {
                parent = (id, Int(generation), Int(seq))
            }
            ended = (Int(row.int(0)), parent)
        }
        guard let ended else { return try execution(workflowId) == nil ? .notFound : .alreadyFinished }
        try db.statement(
            """
            UPDATE journal SET status = 'failed', failure = ?, completed_at = ?
            WHERE workflow_id = ? AND generation = ? AND status = 'scheduled'
            """
        ).bind([.json(failure), .int(now), .text(workflowId), .int(Int64(ended.generation))]).run()
        try db.statement(
            """
            UPDATE activity_tasks SET status = 'cancelled', completed_at = ?, owner_node = NULL
            WHERE workflow_id = ? AND status IN ('scheduled', 'running')
            """
        ).bind([.int(now), .text(workflowId)]).run()
        try db.statement("DELETE FROM timers WHERE workflow_id = ?").bind([.text(workflowId)]).run()
        if let (parentId, generation, seq) = ended.parent,
            try completeJournalEntry(
                workflowId: parentId, generation: generation, seq: seq, status: .failed, result: nil, failure: failure,
                now: now) == .applied
        {
            try wake(parentId, now: now)
        }
        return .applied
    }

    /// An event the execution must notice: raise its counter and make a suspended one claimable.
    func wake(_ workflowId: String, now: EpochMillis) throws {
        // Most wakes are of a running execution, whose run goes on in memory: counter and time
        // only. An update that does not set `status` leaves its indexes and CHECK alone, and
        // SQLite evaluates those `IN (…)` lists by building a temporary index each time (4.8 µs
        // against 16.7 µs an update, docs/performance.md). A suspended one becomes pending.
        let values: [SQLValue] = [.int(now), .text(workflowId)]
        try db.statement(
            "UPDATE workflows SET event_seq = event_seq + 1, updated_at = ? WHERE workflow_id = ? AND status <> 'suspended'"
        ).bind(values).run()
        if db.changes > 0 { return }
        try db.statement(
            """
            UPDATE workflows SET event_seq = event_seq + 1, updated_at = ?, status = 'pending'
            WHERE workflow_id = ? AND status = 'suspended'
            """
        ).bind(values).run()
    }

    /// Runs a task update fenced in its WHERE clause; when it changed nothing, says why.
    private func taskFenced(_ sql: String, _ values: [SQLValue], id: String, attempt: Int?) throws -> ChangeOutcome {
        try db.statement(sql).bind(values).run()
        return db.changes > 0 ? .applied : try taskFenceOutcome(id, attempt: attempt)
    }

    private func taskFenceOutcome(_ id: String, attempt: Int?) throws -> ChangeOutcome {
        guard let task = try activityTask(id: id) else { return .notFound }
        return ChangeOutcome.taskFence(attempt: attempt, currentAttempt: task.attempt, terminal: task.status.isTerminal)
    }

    /// nil when the execution exists at `epoch`; else why a change fenced by it cannot apply.
    private func epochFence(_ workflowId: String, _ epoch: Int) throws -> ChangeOutcome? {
        guard let current = try executionEpoch(workflowId) else { return .notFound }
        return current == Int64(epoch) ? nil : .superseded(currentEpoch: Int(current))
    }

    /// The execution `workflowId` if it has ended; an open or unknown one reads (and decodes)
    /// nothing.
    func endedExecution(_ workflowId: String) throws -> WorkflowRecord? {
        var found: WorkflowRecord?
        try db.statement(
            """
            SELECT \(Self.workflowColumns) FROM workflows
            WHERE workflow_id = ? AND status IN ('completed', 'failed', 'cancelled', 'terminated', 'timedOut')
            """
        ).bind([.text(workflowId)]).forEachRow { found = Self.workflow(from: $0) }
        return found
    }

    func execution(_ workflowId: String) throws -> ExecutionState? {
        var found: ExecutionState?
        try db.statement("SELECT \(Self.workflowColumns), owner_node, event_seq FROM workflows WHERE workflow_id = ?")
            .bind([.text(workflowId)]).forEachRow { row in
                found = ExecutionState(
                    record: Self.workflow(from: row), ownerNode: row.optionalText(Self.workflowColumnCount),
                    eventSeq: Int(row.int(Self.workflowColumnCount + 1)))
            }
        return found
    }
}

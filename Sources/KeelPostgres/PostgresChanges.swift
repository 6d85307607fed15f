import KeelCore
import KeelStorage
import Logging
import PostgresNIO

/// ``Change``s as conditional statements inside one PostgreSQL transaction: the same fences as
/// SQLite's (SQLiteTransaction+Intents.swift), each checked in the statement that writes.
struct PostgresChanges {
    let connection: PostgresConnection
    let logger: Logger
    /// The node this store runs for (its latest ``PostgresStore/join(nodeId:leaseMillis:)``), nil
    /// before it joins: a finish that wakes only this node's executions sends no hint.
    var selfNode: String? = nil

    func apply(_ change: Change) async throws -> ChangeOutcome {
        switch change {
        case .enqueueTask(let t):
            return try await insertTasks([t]).contains(t.id) ? .applied : .duplicate
        case .enqueueClaimedTask(let t, let node):
            if try await insertTasks([t], claimedBy: node).contains(t.id) { return .applied }
            return try await claimFence(.task(id: t.id, idempotencyKey: t.idempotencyKey), node: node)
        case .finishTask(let id, let attempt, let status, let output, let failure):
            return try await finishAll([Finish(id: id, attempt: attempt, status: status, output: output, failure: failure)])[0]
        case .timeOutWaitingTask(let id, let attempt, let failure):
            return try await finishAll([
                Finish(id: id, attempt: attempt, status: .timedOut, output: nil, failure: failure, from: .scheduled)
            ])[0]
        case .retryTask(let id, let attempt, let runAt, let failure):
            // The row keeps only the latest failure; each retried attempt's is kept beside it.
            let changed = try await count(
                """
                WITH t AS (
                    UPDATE activity_tasks SET status = 'scheduled', visible_at = \(runAt),
                        failure = \(PostgresRows.text(failure)), owner_node = NULL
                    WHERE task_id = \(id) AND attempt = \(Int64(attempt)) AND status = 'running'
                    RETURNING task_id, attempt, started_at)
                INSERT INTO attempt_failures (task_id, attempt, failure, failed_at, started_at)
                SELECT task_id, attempt, \(PostgresRows.text(failure ?? .null)), keel_now(), started_at FROM t
                ON CONFLICT (task_id, attempt) DO UPDATE SET failure = EXCLUDED.failure, failed_at = EXCLUDED.failed_at
                RETURNING 1
                """)
            return changed > 0 ? .applied : try await taskFence(id, attempt: attempt)
        case .releaseTask(let id, let attempt, let node):
            let changed = try await count(
                """
                UPDATE activity_tasks SET status = 'scheduled', attempt = attempt - 1, visible_at = keel_now(),
                    owner_node = NULL
                WHERE task_id = \(id) AND attempt = \(Int64(attempt)) AND status = 'running' AND owner_node = \(node)
                RETURNING 1
                """)
            return changed > 0 ? .applied : try await taskFence(id, attempt: attempt)
        case .recordHeartbeat(let id, let attempt, let details):
            let changed = try await count(
                """
                UPDATE activity_tasks SET heartbeat_details = \(PostgresRows.text(details))
                WHERE task_id = \(id) AND attempt = \(Int64(attempt)) AND status = 'running'
                RETURNING 1
                """)
            return changed > 0 ? .applied : try await taskFence(id, attempt: attempt)
        case .cancelTask(let id):
            let changed = try await count(
                """
                UPDATE activity_tasks SET status = 'cancelled', completed_at = keel_now(), owner_node = NULL
                WHERE task_id = \(id) AND status IN ('scheduled', 'running')
                RETURNING 1
                """)
            return changed > 0 ? .applied : try await taskFence(id, attempt: nil)
        case .startExecution(let w):
            return try await startExecution(w, owner: nil)
        case .startClaimedExecution(let w, let node):
            return try await startExecution(w, owner: node)
        case .appendStep(let e, let epoch):
            let inserted = try await count("\(appendingStep: e, epoch: epoch)")
            if inserted > 0 { return .applied }
            return try await epochFence(e.workflowId, epoch) ?? .duplicate
        case .completeStep(let workflowId, let generation, let seq, let epoch, let status, let result, let failure):
            if let fence = try await epochFence(workflowId, epoch) { return fence }
            let completed = try await completeScheduledStep(
                workflowId: workflowId, generation: generation, seq: seq, status: status, result: result, failure: failure)
            return completed ? .applied : .duplicate
        case .updateExecution(let w, let expectedEpoch):
            let changed = try await count(
                """
                UPDATE workflows SET status = \(w.status.rawValue), generation = \(Int64(w.generation)),
                    epoch = \(Int64(w.epoch)), input = \(PostgresRows.text(w.input)), output = \(PostgresRows.text(w.output)),
                    failure = \(PostgresRows.text(w.failure)), cancel_requested = \(w.cancelRequested),
                    updated_at = keel_now(), run_deadline = \(w.runDeadline),
                    build_id = COALESCE(build_id, \(w.buildId)),
                    owner_node = CASE WHEN \(w.status.rawValue) = 'parked' THEN NULL ELSE owner_node END
                WHERE workflow_id = \(w.id) AND epoch = \(Int64(expectedEpoch))
                  AND status NOT IN ('completed', 'failed', 'cancelled', 'terminated', 'timedOut')
                RETURNING 1
                """)
            if changed > 0 { return .applied }
            return try await epochFence(w.id, expectedEpoch) ?? .alreadyFinished
        case .scheduleTimer(let workflowId, let generation, let seq, let fireAt):
            let inserted = try await count(
                """
                INSERT INTO timers (workflow_id, generation, seq, fire_at)
                SELECT \(workflowId), \(Int64(generation)), \(Int64(seq)), \(fireAt)
                WHERE EXISTS (SELECT 1 FROM workflows WHERE workflow_id = \(workflowId))
                ON CONFLICT DO NOTHING
                RETURNING 1
                """)
            if inserted > 0 { return .applied }
            return try await executionStatus(workflowId) == nil ? .notFound : .duplicate
        case .deliverSignal(let workflowId, let name, let payload, let key):
            guard let status = try await executionStatus(workflowId) else { return .notFound }
            if status.isTerminal { return .alreadyFinished }
            var signalId: Int64?
            for try await id in try await connection.prepared(
                """
                INSERT INTO signals (workflow_id, name, payload, created_at, signal_key)
                VALUES (\(workflowId), \(name), \(PostgresRows.text(payload)), keel_now(), \(key))
                ON CONFLICT DO NOTHING
                RETURNING signal_id
                """, logger: logger
            ).decode(Int64.self) { signalId = id }
            guard let signalId else { return .duplicate }
            try await wake(workflowId)
            return try await handToWaitingStep(signalId, workflowId: workflowId, name: name).map { .signalTaken(seq: $0) }
                ?? .applied
        case .consumeSignal(let signalId, let workflowId, let generation, let seq, let epoch):
            if let fence = try await epochFence(workflowId, epoch) { return fence }
            // Only the step this signal completed consumes it: not one a delivery or a timer ended
            // meanwhile (the signal stays buffered for the next step).
            let changed = try await count(
                """
                UPDATE signals SET consumed_generation = \(Int64(generation)), consumed_seq = \(Int64(seq))
                WHERE signal_id = \(signalId) AND workflow_id = \(workflowId) AND consumed_seq IS NULL
                  AND EXISTS (
                    SELECT 1 FROM journal j WHERE j.workflow_id = \(workflowId) AND j.generation = \(Int64(generation))
                      AND j.seq = \(Int64(seq)) AND j.status = 'completed' AND j.result = signals.payload)
                  AND NOT EXISTS (
                    SELECT 1 FROM signals held WHERE held.workflow_id = \(workflowId)
                      AND held.consumed_generation = \(Int64(generation)) AND held.consumed_seq = \(Int64(seq)))
                RETURNING 1
                """)
            return changed > 0 ? .applied : .duplicate
        case .suspend(let workflowId, let epoch, let seenEvents):
            let changed = try await count(
                """
                UPDATE workflows SET status = 'suspended', owner_node = NULL, updated_at = keel_now()
                WHERE workflow_id = \(workflowId) AND epoch = \(Int64(epoch)) AND event_seq = \(Int64(seenEvents))
                  AND status IN ('pending', 'running')
                RETURNING 1
                """)
            if changed > 0 { return .applied }
            if let fence = try await epochFence(workflowId, epoch) { return fence }
            let rows = try await connection.prepared(
                "SELECT event_seq FROM workflows WHERE workflow_id = \(workflowId)", logger: logger)
            for try await current in rows.decode(Int64.self) where current != Int64(seenEvents) {
                return .changedMeanwhile
            }
            return .duplicate
        case .finishExecution(let workflowId, let epoch, let status, let output, let failure):
            precondition(status.isTerminal, "finishExecution needs a terminal status")
            // One statement: the end, a parent's step completed with it and the parent woken, and
            // the wake-up hint (its result may be awaited, or its parent run, on another node).
            // The hint names this node, which skips it (it told its own waiters, and a slot
            // freed here claims what may wait: Engine.claimBacklog), unless a parent woke.
            let parentStep: StepStatus = status == .completed ? .completed : .failed
            let rows = try await connection.prepared(
                """
                WITH f AS (
                    UPDATE workflows SET status = \(status.rawValue), output = \(PostgresRows.text(output)),
                        failure = \(PostgresRows.text(failure)), owner_node = NULL, updated_at = keel_now()
                    WHERE workflow_id = \(workflowId) AND epoch = \(Int64(epoch))
                      AND status NOT IN ('completed', 'failed', 'cancelled', 'terminated', 'timedOut')
                    RETURNING parent_id, parent_generation, parent_seq),
                step AS (
                    UPDATE journal j SET status = \(parentStep.rawValue), result = \(PostgresRows.text(output)),
                        failure = \(PostgresRows.text(failure)), completed_at = keel_now()
                    FROM f WHERE j.workflow_id = f.parent_id AND j.generation = f.parent_generation
                      AND j.seq = f.parent_seq AND j.status = 'scheduled'
                    RETURNING j.workflow_id),
                parent AS (
                    UPDATE workflows w SET event_seq = w.event_seq + 1, updated_at = keel_now(),
                        status = CASE WHEN w.status = 'suspended' THEN 'pending' ELSE w.status END
                    FROM step WHERE w.workflow_id = step.workflow_id
                    RETURNING 1),
                hint AS (
                    SELECT pg_notify(\(PostgresStore.readyChannel),
                        CASE WHEN \(selfNode)::text IS NULL OR EXISTS (SELECT 1 FROM parent) THEN '' ELSE \(selfNode) END)
                    WHERE EXISTS (SELECT 1 FROM f))
                SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM parent), (SELECT count(*) FROM hint)
                """, logger: logger)
            var finished = 0
            for try await (ended, _, _) in rows.decode((Int, Int, Int).self) { finished = ended }
            guard finished > 0 else { return try await epochFence(workflowId, epoch) ?? .alreadyFinished }
            return .applied
        case .releaseExecution(let workflowId, let epoch):
            let released = try await count(
                """
                UPDATE workflows SET status = 'pending', owner_node = NULL, updated_at = keel_now()
                WHERE workflow_id = \(workflowId) AND epoch = \(Int64(epoch)) AND status IN ('pending', 'running')
                RETURNING 1
                """)
            if released > 0 { return .applied }
            return try await epochFence(workflowId, epoch) ?? .alreadyFinished
        case .resetExecution(let reset, let expectedEpoch):
            return try await resetExecution(reset, expectedEpoch: expectedEpoch)
        case .resumeExecution(let workflowId):
            let resumed = try await count(
                """
                UPDATE workflows SET status = 'pending', failure = NULL, owner_node = NULL, updated_at = keel_now()
                WHERE workflow_id = \(workflowId) AND status = 'parked'
                RETURNING 1
                """)
            if resumed > 0 { return .applied }
            guard let status = try await executionStatus(workflowId) else { return .notFound }
            return status.isTerminal ? .alreadyFinished : .duplicate
        case .wakeExecution(let workflowId, let epoch):
            if let fence = try await epochFence(workflowId, epoch) { return fence }
            let woken = try await count(
                """
                UPDATE workflows SET status = 'pending', owner_node = NULL, event_seq = event_seq + 1, updated_at = keel_now()
                WHERE workflow_id = \(workflowId) AND status = 'suspended'
                RETURNING 1
                """)
            if woken > 0 { return .applied }
            return try await executionStatus(workflowId)?.isTerminal == true ? .alreadyFinished : .duplicate
        case .terminateExecution(let workflowId, let status, let failure):
            return try await terminateExecution(workflowId: workflowId, status: status, failure: failure)
        case .publishEvent(let event, let epoch):
            return try await publish(event, epoch: epoch)
        case .setSearchAttributes(let workflowId, let epoch, let attributes):
            let changed = try await count(
                """
                UPDATE workflows SET search_attributes = \(PostgresRows.text(attributes))
                WHERE workflow_id = \(workflowId) AND epoch = \(Int64(epoch))
                RETURNING 1
                """)
            guard changed > 0 else { return try await epochFence(workflowId, epoch) ?? .notFound }
            _ = try await count("DELETE FROM workflow_attributes WHERE workflow_id = \(workflowId) RETURNING 1")
            try await insertSearchAttributeRows(workflowId, attributes)
            return .applied
        case .setExecutionData(let field, let workflowId, let epoch, let value):
            let changed = try await setExecutionData(field, workflowId: workflowId, epoch: epoch, value)
            return changed ? .applied : try await epochFence(workflowId, epoch) ?? .notFound
        case .requestCancel(let workflowId, let reason):
            let changed = try await count(
                """
                UPDATE workflows SET cancel_requested = true, cancel_reason = \(reason), updated_at = keel_now()
                WHERE workflow_id = \(workflowId) AND NOT cancel_requested
                  AND status NOT IN ('completed', 'failed', 'cancelled', 'terminated', 'timedOut')
                RETURNING 1
                """)
            guard changed > 0 else {
                guard let status = try await executionStatus(workflowId) else { return .notFound }
                return status.isTerminal ? .alreadyFinished : .duplicate
            }
            try await wake(workflowId)
            return .applied
        case .pinContract(let pin):
            let written = try await count(
                pin.version <= 1
                    ? """
                    INSERT INTO contracts (kind, name, contract_hash, input, output, owner, owner_worker, pinned_at, version)
                    VALUES (\(pin.kind), \(pin.name), \(pin.hash), \(PostgresRows.text(pin.input)),
                            \(PostgresRows.text(pin.output)), \(pin.owner), \(pin.ownerWorker), \(pin.pinnedAt), 1)
                    ON CONFLICT DO NOTHING
                    RETURNING 1
                    """
                    : """
                    UPDATE contracts SET contract_hash = \(pin.hash), input = \(PostgresRows.text(pin.input)),
                        output = \(PostgresRows.text(pin.output)), owner = \(pin.owner), owner_worker = \(pin.ownerWorker),
                        pinned_at = \(pin.pinnedAt), version = \(Int64(pin.version))
                    WHERE kind = \(pin.kind) AND name = \(pin.name) AND version = \(Int64(pin.version - 1))
                    RETURNING 1
                    """)
            return written > 0 ? .applied : .duplicate
        case .createSchedule(let s):
            let inserted = try await count(
                """
                INSERT INTO schedules (schedule_id, definition, paused, next_slot_at, state, version, created_at, updated_at)
                VALUES (\(s.id), \(PostgresRows.text(s.definition)), \(s.paused), \(s.nextSlotAt), \(PostgresRows.text(s.state)),
                        \(Int64(s.version)), \(s.createdAt), \(s.updatedAt))
                ON CONFLICT DO NOTHING
                RETURNING 1
                """)
            return inserted > 0 ? .applied : .duplicate
        case .updateSchedule(let s, let expectedVersion):
            let updated = try await count(
                """
                UPDATE schedules SET definition = \(PostgresRows.text(s.definition)), paused = \(s.paused),
                    next_slot_at = \(s.nextSlotAt), state = \(PostgresRows.text(s.state)), version = \(Int64(s.version)),
                    updated_at = \(s.updatedAt)
                WHERE schedule_id = \(s.id) AND version = \(Int64(expectedVersion))
                RETURNING 1
                """)
            if updated > 0 { return .applied }
            return try await count("SELECT 1 FROM schedules WHERE schedule_id = \(s.id)") > 0 ? .changedMeanwhile : .notFound
        case .deleteSchedule(let id):
            let deleted = try await count("DELETE FROM schedules WHERE schedule_id = \(id) RETURNING 1")
            return deleted > 0 ? .applied : .notFound
        case .releaseContract(let kind, let name):
            let deleted = try await count(
                "DELETE FROM contracts WHERE kind = \(kind) AND name = \(name) RETURNING 1")
            return deleted > 0 ? .applied : .notFound
        case .publishWorkers(let nodeId, let workers):
            let updated = try await count(
                "UPDATE nodes SET workers = \(PostgresRows.text(workers)) WHERE node_id = \(nodeId) RETURNING 1")
            return updated > 0 ? .applied : .notFound
        }
    }

    /// Completes a scheduled step and, if it was still scheduled, wakes its execution.
    func completeStepAndWake(
        workflowId: String, generation: Int, seq: Int, status: StepStatus, result: JSONValue?, failure: JSONValue?
    ) async throws {
        if try await completeScheduledStep(
            workflowId: workflowId, generation: generation, seq: seq, status: status, result: result, failure: failure)
        {
            try await wake(workflowId)
        }
    }

    /// ``Change/resetExecution(_:expectedEpoch:)``: the guard and the move of the execution's row
    /// in one statement, then the new generation's journal, the old one's tasks, timers and
    /// signals, and the reset's record, in the same transaction.
    private func resetExecution(_ r: WorkflowReset, expectedEpoch: Int) async throws -> ChangeOutcome {
        let id = r.workflowId
        let from = Int64(r.fromGeneration), to = Int64(r.toGeneration), step = Int64(r.toStep)
        let moved = try await count(
            """
            UPDATE workflows SET status = 'pending', generation = \(to), epoch = epoch + 1, output = NULL, failure = NULL,
                cancel_requested = false, owner_node = NULL, event_seq = event_seq + 1, updated_at = keel_now()
            WHERE workflow_id = \(id) AND generation = \(from) AND epoch = \(Int64(expectedEpoch))
            RETURNING 1
            """)
        guard moved > 0 else { return try await epochFence(id, expectedEpoch) ?? .changedMeanwhile }
        try await connection.prepared(
            """
            INSERT INTO journal (workflow_id, generation, seq, kind, name, input, status, result, failure, task_id,
                                 wake_at, contract_hash, created_at, completed_at)
            SELECT workflow_id, \(to), seq, kind, name, input, status, result, failure, task_id, wake_at, contract_hash,
                   created_at, completed_at
            FROM journal WHERE workflow_id = \(id) AND generation = \(from) AND seq <= \(step)
            """, logger: logger)
        try await connection.prepared(
            """
            UPDATE activity_tasks SET status = 'cancelled', completed_at = keel_now(), owner_node = NULL
            WHERE workflow_id = \(id) AND generation = \(from) AND status IN ('scheduled', 'running')
            """, logger: logger)
        try await connection.prepared(
            "DELETE FROM timers WHERE workflow_id = \(id) AND generation = \(from)", logger: logger)
        // As on SQLite: signals the dropped steps consumed are pending again, in arrival order.
        try await connection.prepared(
            """
            UPDATE signals SET consumed_generation = NULL, consumed_seq = NULL
            WHERE workflow_id = \(id) AND consumed_generation = \(from) AND consumed_seq > \(step)
            """, logger: logger)
        for data in r.executionData {
            _ = try await setExecutionData(data.field, workflowId: id, epoch: expectedEpoch + 1, data.value)
        }
        try await connection.prepared(
            """
            INSERT INTO workflow_resets (workflow_id, from_generation, to_generation, to_step, reason, requested_by,
                                         previous_status, previous_output, previous_failure, created_at)
            VALUES (\(id), \(from), \(to), \(step), \(r.reason), \(r.requestedBy), \(r.previousStatus.rawValue),
                    \(PostgresRows.text(r.previousOutput)), \(PostgresRows.text(r.previousFailure)), keel_now())
            """, logger: logger)
        return .applied
    }

    /// Writes one execution data column of the execution's run `epoch`; false when the epoch
    /// moved on (or the execution is gone).
    private func setExecutionData(_ field: ExecutionData, workflowId: String, epoch: Int, _ value: JSONValue?) async throws -> Bool {
        var binds = PostgresBindings()
        if let text = PostgresRows.text(value) { binds.append(text) } else { binds.appendNull() }
        binds.append(workflowId)
        binds.append(Int64(epoch))
        return try await count(
            PostgresQuery(
                unsafeSQL: "UPDATE workflows SET \(field.column) = $1 WHERE workflow_id = $2 AND epoch = $3 RETURNING 1",
                binds: binds)) > 0
    }

    /// ``Change/terminateExecution(workflowId:status:failure:)``: unfenced, from any node.
    private func terminateExecution(workflowId: String, status: WorkflowStatus, failure: JSONValue) async throws
        -> ChangeOutcome
    {
        precondition(status.isTerminal, "terminateExecution needs a terminal status")
        let rows = try await connection.prepared(
            """
            UPDATE workflows SET status = \(status.rawValue), output = NULL, failure = \(PostgresRows.text(failure)),
                owner_node = NULL, epoch = epoch + 1, event_seq = event_seq + 1, updated_at = keel_now()
            WHERE workflow_id = \(workflowId) AND status NOT IN ('completed', 'failed', 'cancelled', 'terminated', 'timedOut')
            RETURNING generation, parent_id, parent_generation, parent_seq
            """, logger: logger)
        var ended: (generation: Int, parent: (String, Int, Int)?)?
        for try await (generation, id, parentGeneration, seq) in rows.decode((Int, String?, Int?, Int?).self) {
            var parent: (String, Int, Int)?
            if let id, let parentGeneration, let seq { parent = (id, parentGeneration, seq) }
            ended = (generation, parent)
        }
        guard let ended else { return try await executionStatus(workflowId) == nil ? .notFound : .alreadyFinished }
        try await connection.prepared(
            """
            UPDATE journal SET status = 'failed', failure = \(PostgresRows.text(failure)), completed_at = keel_now()
            WHERE workflow_id = \(workflowId) AND generation = \(Int64(ended.generation)) AND status = 'scheduled'
            """, logger: logger)
        try await connection.prepared(
            """
            UPDATE activity_tasks SET status = 'cancelled', completed_at = keel_now(), owner_node = NULL
            WHERE workflow_id = \(workflowId) AND status IN ('scheduled', 'running')
            """, logger: logger)
        try await connection.prepared("DELETE FROM timers WHERE workflow_id = \(workflowId)", logger: logger)
        if let (parentId, generation, seq) = ended.parent {
            try await completeStepAndWake(
                workflowId: parentId, generation: generation, seq: seq, status: .failed, result: nil, failure: failure)
        }
        return .applied
    }

    /// Ends a step that is still scheduled; false when it was not (ended already, or no such step).
    private func completeScheduledStep(
        workflowId: String, generation: Int, seq: Int, status: StepStatus, result: JSONValue?, failure: JSONValue?
    ) async throws -> Bool {
        try await count(
            """
            UPDATE journal SET status = \(status.rawValue), result = \(PostgresRows.text(result)),
                failure = \(PostgresRows.text(failure)), completed_at = keel_now()
            WHERE workflow_id = \(workflowId) AND generation = \(Int64(generation)) AND seq = \(Int64(seq))
              AND status = 'scheduled'
            RETURNING 1
            """) > 0
    }

    /// Completes the oldest step of the execution's current generation waiting for signal `name`
    /// with signal `signalId`, just stored, and marks it consumed; answers the step's seq. Nothing
    /// when an older signal of the name is still buffered (it is the step's) or no step waits.
    /// The step's row lock orders this against the owner's own writes to it (a timer, a take):
    /// the update re-checks `status = 'scheduled'` after the wait, and only a completed step
    /// consumes the signal.
    private func handToWaitingStep(_ signalId: Int64, workflowId: String, name: String) async throws -> Int? {
        let rows = try await connection.prepared(
            """
            WITH waiting AS (
              SELECT j.generation, j.seq FROM journal j JOIN workflows w USING (workflow_id)
              WHERE j.workflow_id = \(workflowId) AND j.generation = w.generation AND j.kind = 'signal'
                AND j.name = \(name) AND j.status = 'scheduled'
                AND NOT EXISTS (
                  SELECT 1 FROM signals older WHERE older.workflow_id = \(workflowId) AND older.name = \(name)
                    AND older.consumed_seq IS NULL AND older.signal_id < \(signalId))
              ORDER BY j.seq LIMIT 1
            ), step AS (
              UPDATE journal j SET status = 'completed', result = s.payload, completed_at = keel_now()
              FROM waiting, signals s
              WHERE j.workflow_id = \(workflowId) AND j.generation = waiting.generation AND j.seq = waiting.seq
                AND j.status = 'scheduled' AND s.signal_id = \(signalId)
              RETURNING j.generation, j.seq
            )
            UPDATE signals SET consumed_generation = step.generation, consumed_seq = step.seq
            FROM step WHERE signal_id = \(signalId)
            RETURNING step.seq
            """, logger: logger)
        for try await seq in rows.decode(Int64.self) { return Int(seq) }
        return nil
    }

    /// Ends the step of a fired timer as ``TimerOutcome`` says and, if it was still scheduled,
    /// wakes its execution.
    func fireTimerStep(_ timer: FiredTimer) async throws {
        let rows = try await connection.prepared(
            """
            SELECT kind, name FROM journal
            WHERE workflow_id = \(timer.workflowId) AND generation = \(Int64(timer.generation)) AND seq = \(Int64(timer.seq))
            """, logger: logger)
        var step: (kind: String, name: String)?
        for try await (kind, name) in rows.decode((String, String).self) { step = (kind, name) }
        if let step {
            let outcome = TimerOutcome.of(kind: step.kind, name: step.name)
            try await completeStepAndWake(
                workflowId: timer.workflowId, generation: timer.generation, seq: timer.seq, status: outcome.status,
                result: nil, failure: outcome.failure)
        }
    }

    /// An event the execution must notice: raise its counter and make a suspended one claimable.
    private func wake(_ workflowId: String) async throws {
        try await connection.prepared(
            """
            UPDATE workflows SET event_seq = event_seq + 1, updated_at = keel_now(),
                status = CASE WHEN status = 'suspended' THEN 'pending' ELSE status END
            WHERE workflow_id = \(workflowId)
            """, logger: logger)
    }

    /// Indexes an execution's search attributes: one row per attribute, in one statement.
    private func insertSearchAttributeRows(_ workflowId: String, _ attributes: JSONValue?) async throws {
        let rows = SearchAttributes.indexRows(attributes)
        guard !rows.isEmpty else { return }
        let json = JSONWriter.string(.array(rows.map { row in
            .object([
                "key": .string(row.key), "kind": .string(row.kind.rawValue), "text_value": row.text.map(JSONValue.string) ?? .null,
                "number_value": row.number.map { JSONValue($0) } ?? .null,
            ])
        }))
        _ = try await count(
            """
            INSERT INTO workflow_attributes (workflow_id, key, kind, text_value, number_value)
            SELECT \(workflowId), r.key, r.kind, r.text_value, r.number_value
            FROM jsonb_to_recordset(\(json)::jsonb) AS r(key text, kind text, text_value text, number_value double precision)
            RETURNING 1
            """)
    }

    /// Appends a stream event, numbered from the counter on its execution's row (the row lock
    /// orders concurrent publishers); fenced as ``Change/publishEvent(_:epoch:)`` says.
    private func publish(_ event: StreamEvent, epoch: Int?) async throws -> ChangeOutcome {
        let s = event.sourceColumns
        let w = event.workflowId
        let anyEpoch = epoch == nil
        let inserted = try await count(
            """
            WITH o AS (
                UPDATE workflows SET stream_offset = stream_offset + 1
                WHERE workflow_id = \(w) AND (\(anyEpoch) OR epoch = \(Int64(epoch ?? -1)))
                  AND CASE WHEN \(s.kind) = 'activity'
                      THEN EXISTS (SELECT 1 FROM activity_tasks WHERE task_id = \(s.taskId ?? "")
                                   AND attempt = \(Int64(s.attempt ?? -1)) AND status = 'running')
                      ELSE NOT EXISTS (SELECT 1 FROM stream_events WHERE workflow_id = \(w)
                                   AND step_generation = \(Int64(s.generation ?? -1)) AND step_seq = \(Int64(s.seq ?? -1)))
                  END
                RETURNING stream_offset)
            INSERT INTO stream_events (workflow_id, event_offset, name, event, created_at, source, step_generation, step_seq,
                task_id, attempt)
            SELECT \(w), o.stream_offset, \(event.name), \(PostgresRows.text(event.event)), keel_now(), \(s.kind),
                   \(s.generation.map(Int64.init)), \(s.seq.map(Int64.init)), \(s.taskId), \(s.attempt.map(Int64.init))
            FROM o
            ON CONFLICT DO NOTHING
            RETURNING 1
            """)
        if inserted > 0 { return .applied }
        if let epoch, let fence = try await epochFence(w, epoch) { return fence }
        if case .activity(let taskId, let attempt) = event.source { return try await taskFence(taskId, attempt: attempt) }
        return try await executionStatus(w) == nil ? .notFound : .duplicate
    }

    /// Inserts a new execution, unowned or (`owner`) already running under that node while its
    /// lease holds.
    private func startExecution(_ w: WorkflowRecord, owner: String?) async throws -> ChangeOutcome {
        let inserted = try await count(
            """
            INSERT INTO workflows (\(unescaped: PostgresRows.workflowColumns()), owner_node)
            SELECT \(w.id), \(w.name), \(PostgresRows.text(w.input)), \(w.status.rawValue), \(Int64(w.generation)),
                   \(Int64(w.epoch)), \(PostgresRows.text(w.output)), \(PostgresRows.text(w.failure)), \(w.parentId),
                   \(w.parentGeneration.map(Int64.init)), \(w.parentSeq.map(Int64.init)), \(w.cancelRequested),
                   \(w.contractHash), \(w.createdAt), \(w.updatedAt), \(w.executionDeadline), \(w.runTimeoutMs),
                   \(w.runDeadline), \(w.buildId), \(Int64(w.precedence.priority)), \(w.precedence.fairnessKey),
                   \(PostgresRows.text(w.searchAttributes)), \(PostgresRows.text(w.memo)),
                   \(PostgresRows.text(w.queryValues)), \(PostgresRows.text(w.updateOutcomes)), \(w.cancelReason),
                   \(owner)
            WHERE \(owner)::text IS NULL
               OR EXISTS (SELECT 1 FROM nodes WHERE node_id = \(owner) AND alive AND heartbeat_at + lease_ms >= keel_now())
            ON CONFLICT DO NOTHING
            RETURNING 1
            """)
        guard inserted > 0 else {
            guard let owner else { return .duplicate }
            return try await claimFence(.execution(id: w.id), node: owner)
        }
        try await insertSearchAttributeRows(w.id, w.searchAttributes)
        return .applied
    }

    /// A row a claimed insert would have repeated: a task's id or idempotency key, an execution's id.
    enum ClaimedRow {
        case task(id: String, idempotencyKey: String?)
        case execution(id: String)
    }

    /// Why `row`, stored claimed by `node`, was not inserted: a row it repeats is stored and the
    /// node's lease holds (`.duplicate`), or else the lease had lapsed (`.notFound`).
    ///
    /// The insert and this read are two statements, and the node's lease may be renewed between
    /// them (as after a restart of the server, when every lease lapsed). So the lease holding now
    /// proves no duplicate: the row it repeats must be there, read in the same statement.
    func claimFence(_ row: ClaimedRow, node: String) async throws -> ChangeOutcome {
        let duplicate: Int
        switch row {
        case .task(let id, let key):
            duplicate = try await count(
                """
                SELECT 1 FROM nodes WHERE node_id = \(node) AND alive AND heartbeat_at + lease_ms >= keel_now()
                   AND EXISTS (SELECT 1 FROM activity_tasks WHERE task_id = \(id) OR idempotency_key = \(key))
                """)
        case .execution(let id):
            duplicate = try await count(
                """
                SELECT 1 FROM nodes WHERE node_id = \(node) AND alive AND heartbeat_at + lease_ms >= keel_now()
                   AND EXISTS (SELECT 1 FROM workflows WHERE workflow_id = \(id))
                """)
        }
        return duplicate > 0 ? .duplicate : .notFound
    }

    func taskFence(_ id: String, attempt: Int?) async throws -> ChangeOutcome {
        let rows = try await connection.prepared(
            "SELECT attempt, status FROM activity_tasks WHERE task_id = \(id)", logger: logger)
        for try await (current, status) in rows.decode((Int, String).self) {
            let terminal = TaskStatus(rawValue: status)?.isTerminal ?? true
            return ChangeOutcome.taskFence(attempt: attempt, currentAttempt: current, terminal: terminal)
        }
        return .notFound
    }

    /// nil when the execution exists at `epoch`; else why a change fenced by it cannot apply.
    func epochFence(_ workflowId: String, _ epoch: Int) async throws -> ChangeOutcome? {
        let rows = try await connection.prepared(
            "SELECT epoch FROM workflows WHERE workflow_id = \(workflowId)", logger: logger)
        for try await current in rows.decode(Int.self) {
            return current == epoch ? nil : .superseded(currentEpoch: current)
        }
        return .notFound
    }

    private func executionStatus(_ workflowId: String) async throws -> WorkflowStatus? {
        let rows = try await connection.prepared(
            "SELECT status FROM workflows WHERE workflow_id = \(workflowId)", logger: logger)
        for try await status in rows.decode(String.self) { return WorkflowStatus(rawValue: status) ?? .failed }
        return nil
    }

    /// Runs a statement ending in `RETURNING 1` and counts the rows it touched.
    private func count(_ query: PostgresQuery) async throws -> Int {
        var n = 0
        for try await _ in try await connection.prepared(query, logger: logger) { n += 1 }
        return n
    }
}

extension PostgresQuery.StringInterpolation {
    /// The insert of journal step `e`, only while the execution's owner epoch is `epoch`,
    /// returning 1 when it inserted: one statement, or one CTE of a larger one.
    mutating func appendInterpolation(appendingStep e: JournalEntry, epoch: Int) {
        appendLiteral("INSERT INTO journal (")
        appendInterpolation(unescaped: PostgresRows.journalColumns)
        appendLiteral(")\nSELECT ")
        appendInterpolation(e.workflowId)
        appendLiteral(", ")
        appendInterpolation(Int64(e.generation))
        appendLiteral(", ")
        appendInterpolation(Int64(e.seq))
        appendLiteral(", ")
        appendInterpolation(e.kind)
        appendLiteral(", ")
        appendInterpolation(e.name)
        appendLiteral(", ")
        appendInterpolation(PostgresRows.text(e.input))
        appendLiteral(", ")
        appendInterpolation(e.status.rawValue)
        appendLiteral(", ")
        appendInterpolation(PostgresRows.text(e.result))
        appendLiteral(", ")
        appendInterpolation(PostgresRows.text(e.failure))
        appendLiteral(", ")
        appendInterpolation(e.taskId)
        appendLiteral(", ")
        appendInterpolation(e.wakeAt)
        appendLiteral(", ")
        appendInterpolation(e.contractHash)
        appendLiteral(", ")
        appendInterpolation(e.createdAt)
        appendLiteral(", ")
        appendInterpolation(e.completedAt)
        appendLiteral("\nWHERE EXISTS (SELECT 1 FROM workflows WHERE workflow_id = ")
        appendInterpolation(e.workflowId)
        appendLiteral(" AND epoch = ")
        appendInterpolation(Int64(epoch))
        appendLiteral(")\nON CONFLICT DO NOTHING\nRETURNING 1")
    }
}

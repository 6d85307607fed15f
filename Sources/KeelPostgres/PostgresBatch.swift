import KeelCore
import KeelStorage
import Logging
import PostgresNIO

/// Set-based writes for the two kinds of change that come in bulk — new tasks and finished
/// attempts: a run of them is one statement over `jsonb_to_recordset` instead of one statement
/// each. Outcomes are the same as change by change (the conformance suite runs both ways); only
/// a change the set statement did not apply is looked at again, alone, to say why.
extension PostgresChanges {
    /// What ``applyAll(_:)`` did: each change's outcome, and whether another node (or this one's
    /// cluster loop) may now have work it would not learn of without a wake-up hint that the
    /// statements did not send themselves.
    struct Applied {
        var outcomes: [ChangeOutcome] = []
        var needsHint = false
    }

    /// Applies `changes` in order, a run of two or more enqueues, starts or execution ends, or any
    /// run of finishes, or any run of steps each followed by its task, as one statement.
    ///
    /// A run of finishes sends its hint itself, and only when it woke an execution another node
    /// owns or none owns, or ended a task outside any workflow (its caller may wait on another
    /// node): the owner of a woken execution is the node that finished its task, in the common
    /// case, and it continues the run in memory. An execution's end sends its own hint too. Every
    /// other change that may make work ready needs one.
    func applyAll(_ changes: [Change]) async throws -> Applied {
        var applied = Applied()
        applied.outcomes.reserveCapacity(changes.count)
        var i = 0
        while i < changes.count {
            var end = i + 1
            switch changes[i] {
            case .enqueueTask:
                while end < changes.count, case .enqueueTask = changes[end] { end += 1 }
                if end - i > 1 {
                    applied.outcomes += try await enqueueAll(changes[i..<end].compactMap(\.enqueued))
                    applied.needsHint = true
                    i = end
                    continue
                }
            case .appendStep:
                let run = Self.stepsWithTasks(in: changes, from: i)
                if !run.isEmpty {
                    applied.outcomes += try await appendStepsWithTasks(run)
                    if run.contains(where: { $0.owner == nil }) { applied.needsHint = true }
                    i += 2 * run.count
                    continue
                }
            case .startExecution, .startClaimedExecution:
                while end < changes.count, changes[end].plainStart != nil { end += 1 }
                if changes[i].plainStart != nil, end - i > 1 {
                    applied.outcomes += try await startAll(changes[i..<end].compactMap(\.plainStart))
                    if changes[i..<end].contains(where: \.mayMakeWorkReady) { applied.needsHint = true }
                    i = end
                    continue
                }
            case .finishExecution:
                while end < changes.count, changes[end].executionEnd != nil { end += 1 }
                if end - i > 1 {
                    applied.outcomes += try await endAll(changes[i..<end].compactMap(\.executionEnd))
                    i = end
                    continue
                }
            case .finishTask, .timeOutWaitingTask:
                while end < changes.count, changes[end].finished != nil { end += 1 }
                applied.outcomes += try await finishAll(changes[i..<end].compactMap(\.finished))
                i = end
                continue
            default:
                break
            }
            applied.outcomes.append(try await apply(changes[i]))
            if changes[i].mayMakeWorkReady, !changes[i].sendsItsOwnHint { applied.needsHint = true }
            i += 1
        }
        return applied
    }

    /// True when ``applyAll(_:)`` sends `changes` as one statement (plus, for a change it did not
    /// apply, reads that say why): such a call needs no transaction around it.
    static func isOneStatement(_ changes: [Change]) -> Bool {
        guard let first = changes.first else { return false }
        switch first {
        case .finishTask, .timeOutWaitingTask:
            return changes.allSatisfy { $0.finished != nil }
        case .enqueueTask:
            return changes.allSatisfy { $0.enqueued != nil }
        case .finishExecution:
            return changes.allSatisfy { $0.executionEnd != nil }
        case .enqueueClaimedTask, .retryTask, .releaseTask, .recordHeartbeat, .cancelTask:
            return changes.count == 1
        case .startExecution, .startClaimedExecution:
            // One insert for a run of them (``startAll(_:)``), but search attributes' index rows are
            // a second statement.
            return changes.allSatisfy { $0.plainStart != nil }
        case .appendStep:
            // Steps each with the task that runs it (``appendStepsWithTasks(_:)``).
            return stepsWithTasks(in: changes, from: 0).count * 2 == changes.count
        default:
            return false
        }
    }

    private func enqueueAll(_ tasks: [ActivityTaskRecord]) async throws -> [ChangeOutcome] {
        var inserted = try await insertTasks(tasks)
        // The first occurrence of an inserted id applied; any repeat of it in the batch is a duplicate.
        return tasks.map { inserted.remove($0.id) != nil ? .applied : .duplicate }
    }

    /// Inserts `tasks` in one statement and answers the ids it inserted (an id or idempotency key
    /// already stored inserts nothing). `claimedBy` stores them running under that node, and only
    /// while its lease holds.
    ///
    /// Each task is numbered its fairness turn (docs/protocol.md, "Priorities and fairness"): one
    /// past the last turn its key holds among the waiting tasks of its name and priority, never
    /// behind the turn at their head; tasks of one key in this batch take the turns after that, in
    /// batch order. Claims take the lowest turn first.
    ///
    /// A key's last waiting turn is never behind the head, so the head is read only when the key
    /// has no task waiting: `COALESCE` stops at the first. The head is the costly read under load.
    /// Its index entries are the tasks just claimed, dead but not yet vacuumed, and each min scan
    /// steps over them (434 buffers a task in W1 2000, against 8 for the key's tail;
    /// docs/scaling.md, "The head of the queue").
    ///
    /// Both reads are `ORDER BY … LIMIT 1`, not `max`/`min`: the prepared plan is made once, while
    /// the table may be empty, and for an aggregate the planner then picks a scan of every waiting
    /// task of the name (952 rows a task in W1 2000), where a limit keeps it to the index's end.
    func insertTasks(_ tasks: [ActivityTaskRecord], claimedBy node: String? = nil) async throws -> Set<String> {
        let owned = tasks.map { OwnedTask(task: $0, owner: node) }
        let rows = try await connection.prepared("\(insertingTasks: owned)", logger: logger)
        var inserted = Set<String>()
        for try await id in rows.decode(String.self) { inserted.insert(id) }
        return inserted
    }

    /// Stores new executions in one statement, each unclaimed or owned by its node while that
    /// node's lease holds (``NewExecution``), as `apply(_:)` stores each alone; a start not
    /// applied says why on its own. Only starts without search attributes to index come here.
    private func startAll(_ starts: [NewExecution]) async throws -> [ChangeOutcome] {
        let records = starts.map { Self.record($0.record, owner: $0.owner) }
        let rows = try await connection.prepared(
            """
            INSERT INTO workflows (\(unescaped: PostgresRows.workflowColumns()), owner_node)
            SELECT \(unescaped: PostgresRows.workflowColumns()), owner_node
            FROM jsonb_populate_recordset(NULL::workflows, \(JSONWriter.string(.array(records)))::jsonb) AS r
            WHERE r.owner_node IS NULL
               OR EXISTS (SELECT 1 FROM nodes WHERE node_id = r.owner_node AND alive
                          AND heartbeat_at + lease_ms >= keel_now())
            ON CONFLICT DO NOTHING
            RETURNING workflow_id
            """, logger: logger)
        var inserted = Set<String>()
        for try await id in rows.decode(String.self) { inserted.insert(id) }
        return try await Self.outcomes(of: starts, applied: &inserted, key: \.record.id) { start in
            guard let owner = start.owner else { return .duplicate }
            return try await claimFence(.execution(id: start.record.id), node: owner)
        }
    }

    /// Ends executions in one statement, as `apply(_:)` ends each alone (PostgresChanges,
    /// `.finishExecution`): each end fenced by its owner epoch, a parent's step completed with its
    /// child's outcome and the parent woken, and the wake-up hint. A parent ended in the same run
    /// is not woken (one statement cannot update its row twice, and it has ended). Sent unnamed,
    /// planned per call, as ``finishAll(_:)`` and for the same reason: a join over the run.
    private func endAll(_ ends: [ExecutionEnd]) async throws -> [ChangeOutcome] {
        for end in ends { precondition(end.status.isTerminal, "finishExecution needs a terminal status") }
        let records: [JSONValue] = ends.enumerated().map { (ord, e) in
            var r = JSONObject()
            r["ord"] = Self.json(Int64(ord))
            r["workflow_id"] = .string(e.workflowId)
            r["epoch"] = Self.json(Int64(e.epoch))
            r["status"] = .string(e.status.rawValue)
            r["output"] = Self.json(PostgresRows.text(e.output))
            r["failure"] = Self.json(PostgresRows.text(e.failure))
            r["parent_status"] = .string((e.status == .completed ? StepStatus.completed : .failed).rawValue)
            return .object(r)
        }
        let rows = try await connection.query(
            """
            WITH r AS (
                -- A repeat of an execution in the run is left to the check below: the first one applies.
                SELECT DISTINCT ON (workflow_id) * FROM jsonb_to_recordset(\(JSONWriter.string(.array(records)))::jsonb)
                    AS r(ord bigint, workflow_id text, epoch bigint, status text, output text, failure text,
                         parent_status text)
                ORDER BY workflow_id, ord),
            f AS (
                UPDATE workflows w SET status = r.status, output = r.output, failure = r.failure, owner_node = NULL,
                    updated_at = keel_now()
                FROM r WHERE w.workflow_id = r.workflow_id AND w.epoch = r.epoch
                  AND w.status NOT IN ('completed', 'failed', 'cancelled', 'terminated', 'timedOut')
                RETURNING w.workflow_id, w.parent_id, w.parent_generation, w.parent_seq, r.parent_status, r.output, r.failure),
            step AS (
                UPDATE journal j SET status = f.parent_status, result = f.output, failure = f.failure,
                    completed_at = keel_now()
                FROM f WHERE j.workflow_id = f.parent_id AND j.generation = f.parent_generation
                  AND j.seq = f.parent_seq AND j.status = 'scheduled'
                RETURNING j.workflow_id),
            parent AS (
                UPDATE workflows w SET event_seq = w.event_seq + c.steps, updated_at = keel_now(),
                    status = CASE WHEN w.status = 'suspended' THEN 'pending' ELSE w.status END
                FROM (SELECT workflow_id, count(*) AS steps FROM step GROUP BY workflow_id) c
                WHERE w.workflow_id = c.workflow_id AND w.workflow_id NOT IN (SELECT workflow_id FROM f)
                RETURNING 1),
            hint AS (
                SELECT pg_notify(\(PostgresStore.readyChannel),
                    CASE WHEN \(selfNode)::text IS NULL OR EXISTS (SELECT 1 FROM parent) THEN '' ELSE \(selfNode) END)
                WHERE EXISTS (SELECT 1 FROM f))
            SELECT f.workflow_id, (SELECT count(*) FROM hint) FROM f
            """, logger: logger)
        var ended = Set<String>()
        for try await (id, _) in rows.decode((String, Int).self) { ended.insert(id) }
        return try await Self.outcomes(of: ends, applied: &ended, key: \.workflowId) { end in
            try await epochFence(end.workflowId, end.epoch) ?? .alreadyFinished
        }
    }

    /// An execution as one record of `jsonb_populate_recordset(NULL::workflows, …)`: keys are the
    /// table's columns; JSON columns travel as their text.
    static func record(_ w: WorkflowRecord, owner: String?) -> JSONValue {
        var r = JSONObject()
        r["workflow_id"] = .string(w.id)
        r["name"] = .string(w.name)
        r["input"] = .string(PostgresRows.text(w.input))
        r["status"] = .string(w.status.rawValue)
        r["generation"] = json(Int64(w.generation))
        r["epoch"] = json(Int64(w.epoch))
        r["output"] = json(PostgresRows.text(w.output))
        r["failure"] = json(PostgresRows.text(w.failure))
        r["parent_id"] = json(w.parentId)
        r["parent_generation"] = json(w.parentGeneration.map(Int64.init))
        r["parent_seq"] = json(w.parentSeq.map(Int64.init))
        r["cancel_requested"] = .bool(w.cancelRequested)
        r["contract_hash"] = json(w.contractHash)
        r["created_at"] = json(w.createdAt)
        r["updated_at"] = json(w.updatedAt)
        r["execution_deadline"] = json(w.executionDeadline)
        r["run_timeout_ms"] = json(w.runTimeoutMs)
        r["run_deadline"] = json(w.runDeadline)
        r["build_id"] = json(w.buildId)
        r["priority"] = json(Int64(w.precedence.priority))
        r["fairness_key"] = json(w.precedence.fairnessKey)
        r["search_attributes"] = json(PostgresRows.text(w.searchAttributes))
        r["memo"] = json(PostgresRows.text(w.memo))
        r["query_values"] = json(PostgresRows.text(w.queryValues))
        r["update_outcomes"] = json(PostgresRows.text(w.updateOutcomes))
        r["cancel_reason"] = json(w.cancelReason)
        r["owner_node"] = json(owner)
        return .object(r)
    }

    /// The longest run of `.appendStep` each followed by the task that runs it (`.enqueueTask` or
    /// `.enqueueClaimedTask`), from `start`: what a step of an activity applies, and what the
    /// shared commit of many concurrent steps applies in a row.
    static func stepsWithTasks(in changes: [Change], from start: Int) -> [StepWithTask] {
        var run: [StepWithTask] = []
        var i = start
        while i + 1 < changes.count, case .appendStep(let entry, let epoch) = changes[i] {
            switch changes[i + 1] {
            case .enqueueTask(let task):
                run.append(StepWithTask(entry: entry, epoch: epoch, task: OwnedTask(task: task, owner: nil)))
            case .enqueueClaimedTask(let task, let node):
                run.append(StepWithTask(entry: entry, epoch: epoch, task: OwnedTask(task: task, owner: node)))
            default:
                return run
            }
            i += 2
        }
        return run
    }

    /// Journal steps and the tasks that run them, as one statement however many: each step
    /// inserted only while its execution's owner epoch holds, each task stored unclaimed or
    /// claimed by its node while that node's lease holds, as `apply(_:)` makes of each change
    /// alone. Outcomes in the changes' order, step then task; a change not applied says why on
    /// its own.
    func appendStepsWithTasks(_ run: [StepWithTask]) async throws -> [ChangeOutcome] {
        let rows = try await connection.prepared(
            """
            WITH step AS (\(appendingSteps: run.map { ($0.entry, $0.epoch) })),
            task AS (\(insertingTasks: run.map(\.task)))
            SELECT 0, workflow_id, generation, seq FROM step
            UNION ALL SELECT 1, task_id, 0, 0 FROM task
            """, logger: logger)
        var steps = Set<String>()
        var tasks = Set<String>()
        for try await (kind, id, generation, seq) in rows.decode((Int, String, Int, Int).self) {
            if kind == 0 { steps.insert(Self.stepKey(id, generation, seq)) } else { tasks.insert(id) }
        }
        let stepOutcomes = try await Self.outcomes(of: run, applied: &steps, key: { Self.stepKey($0.entry) }) { pair in
            try await epochFence(pair.entry.workflowId, pair.epoch) ?? .duplicate
        }
        let taskOutcomes = try await Self.outcomes(of: run, applied: &tasks, key: \.task.task.id) { pair in
            guard let node = pair.owner else { return .duplicate }
            return try await claimFence(.task(id: pair.task.task.id, idempotencyKey: pair.task.task.idempotencyKey), node: node)
        }
        return zip(stepOutcomes, taskOutcomes).flatMap { [$0, $1] }
    }

    private static func stepKey(_ workflowId: String, _ generation: Int, _ seq: Int) -> String {
        "\(generation)#\(seq)#\(workflowId)"
    }

    private static func stepKey(_ e: JournalEntry) -> String {
        stepKey(e.workflowId, e.generation, e.seq)
    }

    /// Each change's outcome after a set statement that answered the keys it `applied`: applied
    /// for the first change of each such key (a repeat in the run is then not applied, as it would
    /// not be alone), else what `otherwise` finds on its own.
    static func outcomes<T>(
        of changes: [T], applied: inout Set<String>, key: (T) -> String,
        otherwise: (T) async throws -> ChangeOutcome
    ) async rethrows -> [ChangeOutcome] {
        var outcomes: [ChangeOutcome] = []
        outcomes.reserveCapacity(changes.count)
        for change in changes {
            outcomes.append(applied.remove(key(change)) != nil ? .applied : try await otherwise(change))
        }
        return outcomes
    }

    /// A task as one record of `jsonb_to_recordset`; JSON columns travel as their text.
    static func record(_ owned: OwnedTask, ord: Int) -> JSONValue {
        let t = owned.task
        var r = JSONObject()
        r["task_id"] = .string(t.id)
        r["name"] = .string(t.name)
        r["input"] = .string(PostgresRows.text(t.input))
        r["idempotency_key"] = json(t.idempotencyKey)
        r["status"] = .string(t.status.rawValue)
        r["attempt"] = json(Int64(t.attempt))
        r["retry_policy"] = .string(PostgresRows.text(t.retryPolicy.json))
        r["timeouts"] = .string(PostgresRows.text(t.timeouts.json))
        r["output"] = json(PostgresRows.text(t.output))
        r["failure"] = json(PostgresRows.text(t.failure))
        r["heartbeat_details"] = json(PostgresRows.text(t.heartbeatDetails))
        r["contract_hash"] = json(t.contractHash)
        r["created_at"] = json(t.createdAt)
        r["visible_at"] = json(t.visibleAt)
        r["started_at"] = json(t.startedAt)
        r["completed_at"] = json(t.completedAt)
        r["workflow_id"] = json(t.workflowId)
        r["generation"] = json(t.generation.map(Int64.init))
        r["step_seq"] = json(t.stepSeq.map(Int64.init))
        r["priority"] = json(Int64(t.precedence.priority))
        r["fairness_key"] = json(t.precedence.fairnessKey)
        r["owner_node"] = json(owned.owner)
        r["ord"] = json(Int64(ord))
        return .object(r)
    }

    /// A journal step as one record of `jsonb_to_recordset`, with the epoch that fences it.
    static func record(_ e: JournalEntry, epoch: Int) -> JSONValue {
        var r = JSONObject()
        r["workflow_id"] = .string(e.workflowId)
        r["generation"] = json(Int64(e.generation))
        r["seq"] = json(Int64(e.seq))
        r["kind"] = .string(e.kind)
        r["name"] = .string(e.name)
        r["input"] = .string(PostgresRows.text(e.input))
        r["status"] = .string(e.status.rawValue)
        r["result"] = json(PostgresRows.text(e.result))
        r["failure"] = json(PostgresRows.text(e.failure))
        r["task_id"] = json(e.taskId)
        r["wake_at"] = json(e.wakeAt)
        r["contract_hash"] = json(e.contractHash)
        r["created_at"] = json(e.createdAt)
        r["completed_at"] = json(e.completedAt)
        r["epoch"] = json(Int64(epoch))
        return .object(r)
    }

    private static func json(_ text: String?) -> JSONValue {
        text.map(JSONValue.string) ?? .null
    }

    private static func json(_ number: Int64?) -> JSONValue {
        number.map { .number(JSONNumber($0)) } ?? .null
    }

    /// A lone finish's journal step and execution, named by their keys as scalar subqueries of
    /// `t` (at most one row): the generic plan then reads both tables through their primary keys
    /// even when it is made on a table never analyzed, where a join with `t` scans the table and
    /// keeps scanning it as it grows, until the next analyze (seen as a W2 slower after W1 2000 in
    /// one `keel bench` run).
    static let loneFinishStepKey = """

                  AND j.workflow_id = (SELECT workflow_id FROM t) AND j.generation = (SELECT generation FROM t)
                  AND j.seq = (SELECT step_seq FROM t)
        """
    static let loneFinishExecutionKey = " AND w.workflow_id = (SELECT workflow_id FROM t)"

    /// Ends running attempts, completes the journal steps of workflow tasks and wakes their
    /// executions, in one statement (one round trip, however many finishes): the task update, the
    /// step update of each task that ended, and one wake per execution, as data-modifying CTEs.
    /// The statement sends its own wake-up hint when one is needed (``applyAll(_:)``).
    func finishAll(_ finishes: [Finish]) async throws -> [ChangeOutcome] {
        for finish in finishes { precondition(finish.status.isTerminal, "finishTask needs a terminal status") }
        let records: [JSONValue] = finishes.enumerated().map { (ord, f) in
            var record = JSONObject()
            record["ord"] = Self.json(Int64(ord))
            record["task_id"] = .string(f.id)
            record["attempt"] = Self.json(Int64(f.attempt))
            record["status"] = .string(f.status.rawValue)
            record["output"] = Self.json(PostgresRows.text(f.output))
            record["failure"] = Self.json(PostgresRows.text(f.failure))
            record["from_status"] = .string(f.from.rawValue)
            return .object(record)
        }
        // A run of several is sent unnamed, planned per call: PostgreSQL estimates a
        // `jsonb_to_recordset` at 100 rows, so a plan made while `activity_tasks` is small
        // hash-joins it over a scan of the whole table, and a prepared statement keeps that plan
        // as the table grows (3.6 ms a finish against 0.3 ms unnamed, `keel bench` W1 2000 + W4;
        // docs/scaling.md, "Prepared statements"). A single finish — every finish of a node with
        // one call in flight — reads its one record with `jsonb_to_record`, which PostgreSQL
        // estimates at one row, and names its step and execution by key (``loneFinishStepKey``):
        // its generic plan reads the three tables through their primary keys (checked with
        // `plan_cache_mode = force_generic_plan` on a database never analyzed and on one of 60,000
        // tasks; on a small analyzed one it scans them, as every named statement does, until the
        // next analyze), so it is a named prepared statement. Parsing and planning it on every
        // call made a lone finish wait 1.2 ms for PostgreSQL against 0.5 ms named (docs/scaling.md,
        // "One workflow at a time").
        let one = records.count == 1
        let finishQuery: PostgresQuery =
            """
            WITH r AS (
                -- A repeat of a (task, attempt) in the batch is left to the check below: the first one applies.
                SELECT DISTINCT ON (task_id, attempt) * FROM
                    \(unescaped: one ? "jsonb_to_record" : "jsonb_to_recordset")(\(JSONWriter.string(one ? records[0] : .array(records)))::jsonb)
                    AS r(ord bigint, task_id text, attempt bigint, status text, output text, failure text, from_status text)
                ORDER BY task_id, attempt, ord),
            t AS (
                UPDATE activity_tasks t SET status = r.status, output = r.output, failure = r.failure,
                    completed_at = keel_now(), owner_node = NULL
                FROM r WHERE t.task_id = r.task_id AND t.attempt = r.attempt AND t.status = r.from_status
                RETURNING t.task_id, t.attempt, t.workflow_id, t.generation, t.step_seq, r.status, r.output, r.failure),
            j AS (
                UPDATE journal j SET status = CASE WHEN t.status = 'completed' THEN 'completed' ELSE 'failed' END,
                    result = t.output, failure = t.failure, completed_at = keel_now()
                FROM t WHERE j.workflow_id = t.workflow_id AND j.generation = t.generation AND j.seq = t.step_seq
                  AND j.status = 'scheduled'\(unescaped: one ? Self.loneFinishStepKey : "")
                RETURNING j.workflow_id),
            w AS (
                UPDATE workflows w SET event_seq = w.event_seq + c.steps, updated_at = keel_now(),
                    status = CASE WHEN w.status = 'suspended' THEN 'pending' ELSE w.status END
                FROM (SELECT workflow_id, count(*) AS steps FROM j GROUP BY workflow_id) c
                WHERE w.workflow_id = c.workflow_id\(unescaped: one ? Self.loneFinishExecutionKey : "")
                RETURNING w.owner_node),
            -- The wake-up hint, in this statement (delivered at commit): only when another node
            -- may have work now (an execution it or no node owns woke; a caller of a task outside
            -- any workflow may wait there). Its payload names this node, which skips it, unless
            -- an execution no node owns woke (this node may claim it too).
            hint AS (
                SELECT pg_notify(\(PostgresStore.readyChannel),
                    CASE WHEN \(selfNode)::text IS NULL OR EXISTS (SELECT 1 FROM w WHERE w.owner_node IS NULL) THEN ''
                         ELSE \(selfNode) END)
                WHERE EXISTS (SELECT 1 FROM w WHERE \(selfNode)::text IS NULL OR w.owner_node IS DISTINCT FROM \(selfNode))
                   OR EXISTS (SELECT 1 FROM t WHERE t.workflow_id IS NULL))
            SELECT t.task_id, t.attempt, (SELECT count(*) FROM hint) FROM t
            """
        let rows: PreparedRows = one
            ? try await connection.prepared(finishQuery, logger: logger)
            : try await connection.query(finishQuery, logger: logger).map { (row) throws -> PostgresRow in row }
        var finished = Set<String>()
        for try await (id, attempt, _) in rows.decode((String, Int, Int).self) { finished.insert("\(attempt)#\(id)") }
        // A finish the statement did not apply (or a repeat of one it did) says why on its own.
        return try await Self.outcomes(of: finishes, applied: &finished, key: { "\($0.attempt)#\($0.id)" }) { finish in
            try await taskFence(finish.id, attempt: finish.attempt)
        }
    }
}

/// A task to store: unclaimed (`owner` nil), or running under `owner` while its lease holds.
struct OwnedTask {
    var task: ActivityTaskRecord
    var owner: String?
}

/// A new execution to store: unclaimed (`owner` nil), or owned by `owner` while its lease holds.
struct NewExecution {
    var record: WorkflowRecord
    var owner: String?
}

/// A journal step fenced by its execution's owner epoch, and the task that runs it.
struct StepWithTask {
    var entry: JournalEntry
    var epoch: Int
    var task: OwnedTask
    var owner: String? { task.owner }
}

/// The end of one execution (`finishExecution`).
struct ExecutionEnd {
    var workflowId: String
    var epoch: Int
    var status: WorkflowStatus
    var output: JSONValue?
    var failure: JSONValue?
}

/// The end of one attempt: of a running one (`finishTask`), or of a task timed out while it
/// waits `scheduled` (`timeOutWaitingTask`).
struct Finish {
    var id: String
    var attempt: Int
    var status: TaskStatus
    var output: JSONValue?
    var failure: JSONValue?
    /// The status the task must be in for the end to apply.
    var from: TaskStatus = .running
}

extension Change {
    /// True for the changes whose statement sends the wake-up hint itself, when one is needed.
    var sendsItsOwnHint: Bool {
        switch self {
        case .finishTask, .timeOutWaitingTask, .finishExecution: true
        default: false
        }
    }

    /// A start whose execution has no search attributes to index (those take a second
    /// statement), so a run of them can be one insert.
    var plainStart: NewExecution? {
        switch self {
        case .startExecution(let w) where SearchAttributes.indexRows(w.searchAttributes).isEmpty:
            NewExecution(record: w, owner: nil)
        case .startClaimedExecution(let w, let node) where SearchAttributes.indexRows(w.searchAttributes).isEmpty:
            NewExecution(record: w, owner: node)
        default:
            nil
        }
    }

    var executionEnd: ExecutionEnd? {
        guard case .finishExecution(let workflowId, let epoch, let status, let output, let failure) = self else { return nil }
        return ExecutionEnd(workflowId: workflowId, epoch: epoch, status: status, output: output, failure: failure)
    }

    var enqueued: ActivityTaskRecord? {
        if case .enqueueTask(let task) = self { task } else { nil }
    }

    var finished: Finish? {
        switch self {
        case .finishTask(let id, let attempt, let status, let output, let failure):
            Finish(id: id, attempt: attempt, status: status, output: output, failure: failure)
        case .timeOutWaitingTask(let id, let attempt, let failure):
            Finish(id: id, attempt: attempt, status: .timedOut, output: nil, failure: failure, from: .scheduled)
        default:
            nil
        }
    }
}

extension PostgresQuery.StringInterpolation {
    /// The insert of `tasks` (``PostgresChanges/insertTasks(_:claimedBy:)``), returning the ids
    /// it inserted: one statement, or one CTE of a larger one. A task with an owner is stored
    /// running under it, and only while that node's lease holds.
    mutating func appendInterpolation(insertingTasks tasks: [OwnedTask]) {
        let records: [JSONValue] = tasks.enumerated().map { PostgresChanges.record($1, ord: $0) }
        appendLiteral("INSERT INTO activity_tasks (")
        appendInterpolation(unescaped: PostgresRows.taskColumns())
        appendLiteral(
            """
            , turn)
            SELECT task_id, name, input, idempotency_key, status, attempt, retry_policy, timeouts, output, failure,
                   heartbeat_details, contract_hash, created_at, visible_at, started_at, completed_at, workflow_id,
                   generation, step_seq, owner_node, priority, fairness_key,
                   COALESCE(
                       (SELECT a.turn + 1 FROM activity_tasks a
                        WHERE a.status = 'scheduled' AND a.name = r.name AND a.priority = r.priority
                          AND COALESCE(a.fairness_key, '') = COALESCE(r.fairness_key, '')
                        ORDER BY a.turn DESC LIMIT 1),
                       (SELECT a.turn FROM activity_tasks a
                        WHERE a.status = 'scheduled' AND a.name = r.name AND a.priority = r.priority
                        ORDER BY a.turn LIMIT 1),
                       0)
                   + row_number() OVER (PARTITION BY r.name, r.priority, COALESCE(r.fairness_key, '') ORDER BY r.ord) - 1
            FROM jsonb_to_recordset(
            """)
        appendInterpolation(JSONWriter.string(.array(records)))
        appendLiteral(
            """
            ::jsonb) AS r(
                task_id text, name text, input text, idempotency_key text, status text, attempt bigint,
                retry_policy text, timeouts text, output text, failure text, heartbeat_details text,
                contract_hash text, created_at bigint, visible_at bigint, started_at bigint, completed_at bigint,
                workflow_id text, generation bigint, step_seq bigint, priority bigint, fairness_key text,
                owner_node text, ord bigint)
            WHERE r.owner_node IS NULL
               OR EXISTS (SELECT 1 FROM nodes WHERE node_id = r.owner_node AND alive AND heartbeat_at + lease_ms >= keel_now())
            ON CONFLICT DO NOTHING
            RETURNING task_id
            """)
    }

    /// The insert of journal steps, each only while its execution's owner epoch is the one given
    /// with it, returning the key of each it inserted: one CTE of a larger statement. The epoch is
    /// read by a scalar subquery, not `EXISTS`, so the prepared plan looks each execution up by its
    /// key however large `workflows` grows (an `EXISTS` becomes a join whose plan is chosen once).
    mutating func appendInterpolation(appendingSteps steps: [(JournalEntry, Int)]) {
        let records: [JSONValue] = steps.map { PostgresChanges.record($0.0, epoch: $0.1) }
        appendLiteral("INSERT INTO journal (")
        appendInterpolation(unescaped: PostgresRows.journalColumns)
        appendLiteral(")\nSELECT ")
        appendInterpolation(unescaped: PostgresRows.journalColumns)
        appendLiteral("\nFROM jsonb_to_recordset(")
        appendInterpolation(JSONWriter.string(.array(records)))
        appendLiteral(
            """
            ::jsonb) AS r(
                workflow_id text, generation bigint, seq bigint, kind text, name text, input text, status text,
                result text, failure text, task_id text, wake_at bigint, contract_hash text, created_at bigint,
                completed_at bigint, epoch bigint)
            WHERE (SELECT w.epoch FROM workflows w WHERE w.workflow_id = r.workflow_id) = r.epoch
            ON CONFLICT DO NOTHING
            RETURNING workflow_id, generation, seq
            """)
    }
}

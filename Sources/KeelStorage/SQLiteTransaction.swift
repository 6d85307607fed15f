import CSQLite
public import KeelCore

/// Reads and writes on one SQLite connection inside a transaction.
struct SQLiteTransaction: StorageTransaction {
    let db: SQLiteConnection

    static let taskColumns = """
        task_id, name, input, idempotency_key, status, attempt, retry_policy, timeouts, output, failure,
        heartbeat_details, contract_hash, created_at, visible_at, started_at, completed_at, workflow_id, generation,
        step_seq, priority, fairness_key
        """

    private func tasks(_ whereClause: String, _ values: [SQLValue]) throws -> [ActivityTaskRecord] {
        var out: [ActivityTaskRecord] = []
        try db.statement("SELECT \(Self.taskColumns) FROM activity_tasks \(whereClause)").bind(values).forEachRow {
            out.append(Self.task(from: $0))
        }
        return out
    }

    static func task(from row: Row) -> ActivityTaskRecord {
        var t = ActivityTaskRecord(
            id: row.text(0), name: row.text(1), input: row.json(2) ?? .null, idempotencyKey: row.optionalText(3),
            retryPolicy: (try? RetryPolicy.decode(row.json(6), field: "retryPolicy")) ?? RetryPolicy(),
            timeouts: (try? ActivityTimeouts.decode(row.json(7), field: "timeouts")) ?? ActivityTimeouts(),
            contractHash: row.optionalText(11), now: row.int(12))
        t.status = TaskStatus(rawValue: row.text(4)) ?? .failed
        t.attempt = Int(row.int(5))
        t.output = row.json(8)
        t.failure = row.json(9)
        t.heartbeatDetails = row.json(10)
        t.visibleAt = row.int(13)
        t.startedAt = row.optionalInt(14)
        t.completedAt = row.optionalInt(15)
        t.workflowId = row.optionalText(16)
        t.generation = row.optionalInt(17).map { Int($0) }
        t.stepSeq = row.optionalInt(18).map { Int($0) }
        t.precedence = Precedence(priority: Int(row.int(19)), fairnessKey: row.optionalText(20))
        return t
    }

    func activityTask(id: String) throws -> ActivityTaskRecord? {
        try tasks("WHERE task_id = ?", [.text(id)]).first
    }

    /// The task `id` if it has ended; an open or unknown task reads (and decodes) nothing.
    func endedActivityTask(id: String) throws -> ActivityTaskRecord? {
        try tasks("WHERE task_id = ? AND status NOT IN ('scheduled', 'running')", [.text(id)]).first
    }

    func activityTask(idempotencyKey: String) throws -> ActivityTaskRecord? {
        try tasks("WHERE idempotency_key = ?", [.text(idempotencyKey)]).first
    }

    /// Stores a new task, claimed by `owner` when given, numbered its fairness turn in the same
    /// statement (docs/protocol.md, "Priorities and fairness"): one past the last turn its key
    /// holds among the waiting tasks of its name and priority, but never behind the turn at their
    /// head; claims take the lowest turn first. A key's last waiting turn is never behind the
    /// head, so the head is read only when the key has no task waiting (`COALESCE` stops at the
    /// first), as on PostgreSQL. Both reads are `ORDER BY … LIMIT 1` at the end of an index
    /// (`activity_tasks_key_turns`, `activity_tasks_claim_order`), never a scan of the name's
    /// waiting tasks.
    func insertActivityTask(_ t: ActivityTaskRecord, owner: String?) throws -> WriteOutcome {
        do {
            try db.statement(
                """
                INSERT INTO activity_tasks (\(Self.taskColumns), owner_node, turn)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
                    COALESCE(
                        (SELECT turn + 1 FROM activity_tasks
                         WHERE status = 'scheduled' AND name = ?2 AND priority = ?20 AND fairness_key IS ?21
                         ORDER BY turn DESC LIMIT 1),
                        (SELECT turn FROM activity_tasks
                         WHERE status = 'scheduled' AND name = ?2 AND priority = ?20
                         ORDER BY turn LIMIT 1),
                        0))
                """
            ).bind([
                .text(t.id), .text(t.name), .json(t.input), .optional(t.idempotencyKey), .text(t.status.rawValue),
                .int(Int64(t.attempt)), .json(t.retryPolicy.json), .json(t.timeouts.json), .json(t.output),
                .json(t.failure), .json(t.heartbeatDetails), .optional(t.contractHash), .int(t.createdAt),
                .int(t.visibleAt), .optional(t.startedAt), .optional(t.completedAt), .optional(t.workflowId),
                .optional(t.generation.map(Int64.init)), .optional(t.stepSeq.map(Int64.init)),
                .int(Int64(t.precedence.priority)), .optional(t.precedence.fairnessKey), .optional(owner),
            ]).run()
            return .applied
        } catch let error as KeelError where (error.cause as? SQLiteError)?.isConstraint == true {
            return .duplicate
        }
    }

    /// A new task, stored unclaimed (``insertActivityTask(_:owner:)``).
    func insertActivityTask(_ t: ActivityTaskRecord) throws -> WriteOutcome {
        try insertActivityTask(t, owner: nil)
    }

    func recordHeartbeat(id: String, attempt: Int, details: JSONValue?) throws -> WriteOutcome {
        try update(
            """
            UPDATE activity_tasks SET heartbeat_details = ?
            WHERE task_id = ? AND attempt = ? AND status = 'running'
            """, [.json(details), .text(id), .int(Int64(attempt))], id: id)
    }

    /// Runs a guarded UPDATE: applied if a row changed, else stale (row exists) or notFound.
    func update(_ sql: String, _ values: [SQLValue], id: String, table: String = "activity_tasks", key: String = "task_id")
        throws -> WriteOutcome
    {
        try db.statement(sql).bind(values).run()
        if db.changes > 0 { return .applied }
        var exists = false
        try db.statement("SELECT 1 FROM \(table) WHERE \(key) = ?").bind([.text(id)]).forEachRow { _ in
            exists = true
        }
        return exists ? .stale : .notFound
    }
}

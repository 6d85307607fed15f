import CSQLite
public import KeelCore

/// Workflow executions, journals and signals.
extension SQLiteTransaction {
    static let workflowColumns = """
        workflow_id, name, input, status, generation, epoch, output, failure, parent_id, parent_generation,
        parent_seq, cancel_requested, contract_hash, created_at, updated_at, execution_deadline, run_timeout_ms,
        run_deadline, build_id, priority, fairness_key, search_attributes, memo, query_values, update_outcomes,
        cancel_reason
        """
    /// How many columns ``workflowColumns`` names: columns a query selects after them start here.
    static let workflowColumnCount = Int32(workflowColumns.split(separator: ",").count)

    static func workflow(from row: Row) -> WorkflowRecord {
        var w = WorkflowRecord(
            id: row.text(0), name: row.text(1), input: row.json(2) ?? .null, contractHash: row.optionalText(12),
            now: row.int(13))
        w.status = WorkflowStatus(rawValue: row.text(3)) ?? .failed
        w.generation = Int(row.int(4))
        w.epoch = Int(row.int(5))
        w.output = row.json(6)
        w.failure = row.json(7)
        w.parentId = row.optionalText(8)
        w.parentGeneration = row.optionalInt(9).map { Int($0) }
        w.parentSeq = row.optionalInt(10).map { Int($0) }
        w.cancelRequested = row.int(11) != 0
        w.updatedAt = row.int(14)
        w.executionDeadline = row.optionalInt(15)
        w.runTimeoutMs = row.optionalInt(16)
        w.runDeadline = row.optionalInt(17)
        w.buildId = row.optionalText(18)
        w.precedence = Precedence(priority: Int(row.int(19)), fairnessKey: row.optionalText(20))
        w.searchAttributes = row.json(21)
        w.memo = row.json(22)
        w.queryValues = row.json(23)
        w.updateOutcomes = row.json(24)
        w.cancelReason = row.optionalText(25)
        return w
    }

    private func workflows(_ whereClause: String, _ values: [SQLValue]) throws -> [WorkflowRecord] {
        var out: [WorkflowRecord] = []
        try db.statement("SELECT \(Self.workflowColumns) FROM workflows \(whereClause)").bind(values).forEachRow {
            out.append(Self.workflow(from: $0))
        }
        return out
    }

    func workflow(id: String) throws -> WorkflowRecord? {
        try workflows("WHERE workflow_id = ?", [.text(id)]).first
    }

    func workflows(_ f: WorkflowFilter) throws -> [WorkflowRecord] {
        let page = f.page(.sqlite)
        return try workflows(page.text, page.binds.map(SQLValue.init))
    }

    func journal(workflowId: String, generation: Int) throws -> [JournalEntry] {
        var out: [JournalEntry] = []
        try db.statement(
            """
            SELECT workflow_id, generation, seq, kind, name, input, status, result, failure, task_id, wake_at,
                   contract_hash, created_at, completed_at
            FROM journal WHERE workflow_id = ? AND generation = ? ORDER BY seq
            """
        ).bind([.text(workflowId), .int(Int64(generation))]).forEachRow { row in
            var e = JournalEntry(
                workflowId: row.text(0), generation: Int(row.int(1)), seq: Int(row.int(2)), kind: row.text(3),
                name: row.text(4), input: row.json(5) ?? .null, now: row.int(12))
            e.status = StepStatus(rawValue: row.text(6)) ?? .failed
            e.result = row.json(7)
            e.failure = row.json(8)
            e.taskId = row.optionalText(9)
            e.wakeAt = row.optionalInt(10)
            e.contractHash = row.optionalText(11)
            e.completedAt = row.optionalInt(13)
            out.append(e)
        }
        return out
    }

    func scheduledEntry(workflowId: String, generation: Int, kind: String, name: String) throws -> JournalEntry? {
        try journal(workflowId: workflowId, generation: generation)
            .first { $0.status == .scheduled && $0.kind == kind && $0.name == name }
    }

    func pendingSignal(workflowId: String, name: String) throws -> SignalRecord? {
        var found: SignalRecord?
        try db.statement(
            """
            SELECT signal_id, workflow_id, name, payload, created_at FROM signals
            WHERE workflow_id = ? AND name = ? AND consumed_seq IS NULL ORDER BY signal_id LIMIT 1
            """
        ).bind([.text(workflowId), .text(name)]).forEachRow { row in
            found = SignalRecord(
                id: row.int(0), workflowId: row.text(1), name: row.text(2), payload: row.json(3) ?? .null,
                createdAt: row.int(4))
        }
        return found
    }

    func insertWorkflow(_ w: WorkflowRecord) throws -> WriteOutcome {
        try insertWorkflow(w, owner: nil)
    }

    /// Stores a new execution, held by node `owner` when given (a start that runs at once).
    func insertWorkflow(_ w: WorkflowRecord, owner: String?) throws -> WriteOutcome {
        do {
            try db.statement(
                """
                INSERT INTO workflows (\(Self.workflowColumns), owner_node)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
            ).bind([
                .text(w.id), .text(w.name), .json(w.input), .text(w.status.rawValue), .int(Int64(w.generation)),
                .int(Int64(w.epoch)), .json(w.output), .json(w.failure), .optional(w.parentId),
                .optional(w.parentGeneration.map(Int64.init)), .optional(w.parentSeq.map(Int64.init)),
                .int(w.cancelRequested ? 1 : 0), .optional(w.contractHash), .int(w.createdAt), .int(w.updatedAt),
                .optional(w.executionDeadline), .optional(w.runTimeoutMs), .optional(w.runDeadline), .optional(w.buildId),
                .int(Int64(w.precedence.priority)), .optional(w.precedence.fairnessKey), .json(w.searchAttributes),
                .json(w.memo), .json(w.queryValues), .json(w.updateOutcomes), .optional(w.cancelReason), .optional(owner),
            ]).run()
            try insertSearchAttributeRows(w.id, w.searchAttributes)
            return .applied
        } catch let error as KeelError where (error.cause as? SQLiteError)?.isConstraint == true {
            return .duplicate
        }
    }

    func updateWorkflow(_ w: WorkflowRecord, expectedEpoch: Int) throws -> WriteOutcome {
        try update(
            """
            UPDATE workflows SET status = ?, generation = ?, epoch = ?, input = ?, output = ?, failure = ?,
                cancel_requested = ?, updated_at = ?, run_deadline = ?, build_id = COALESCE(build_id, ?)
            WHERE workflow_id = ? AND epoch = ? AND status NOT IN ('completed', 'failed', 'cancelled', 'terminated', 'timedOut')
            """,
            [
                .text(w.status.rawValue), .int(Int64(w.generation)), .int(Int64(w.epoch)), .json(w.input),
                .json(w.output), .json(w.failure), .int(w.cancelRequested ? 1 : 0), .int(w.updatedAt),
                .optional(w.runDeadline), .optional(w.buildId), .text(w.id), .int(Int64(expectedEpoch)),
            ], id: w.id, table: "workflows", key: "workflow_id")
    }

    /// Appends a journal step; with `epoch`, only while the execution's owner epoch is that one
    /// (fenced in the statement itself: only the current run may append). A step already there
    /// is `.duplicate`; a fenced one not inserted is `.notFound` or `.stale`, read after it.
    func insertJournalEntry(_ e: JournalEntry, epoch: Int?) throws -> WriteOutcome {
        do {
            try db.statement(
                """
                INSERT INTO journal (workflow_id, generation, seq, kind, name, input, status, result, failure, task_id,
                                     wake_at, contract_hash, created_at, completed_at)
                SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
                WHERE ?15 IS NULL OR (SELECT epoch FROM workflows WHERE workflow_id = ?1) = ?15
                """
            ).bind([
                .text(e.workflowId), .int(Int64(e.generation)), .int(Int64(e.seq)), .text(e.kind), .text(e.name),
                .json(e.input), .text(e.status.rawValue), .json(e.result), .json(e.failure), .optional(e.taskId),
                .optional(e.wakeAt), .optional(e.contractHash), .int(e.createdAt), .optional(e.completedAt),
                .optional(epoch.map(Int64.init)),
            ]).run()
        } catch let error as KeelError where (error.cause as? SQLiteError)?.isConstraint == true {
            // A step already there: a duplicate only for the run that may append it.
            guard let epoch else { return .duplicate }
            return try executionEpoch(e.workflowId).map { $0 == Int64(epoch) ? .duplicate : .stale } ?? .notFound
        }
        if db.changes > 0 { return .applied }
        return try executionEpoch(e.workflowId) == nil ? .notFound : .stale
    }

    /// The owner epoch of execution `workflowId`, nil if there is none: the one read of it
    /// behind every epoch fence, without decoding the rest of the execution.
    func executionEpoch(_ workflowId: String) throws -> Int64? {
        var current: Int64?
        try db.statement("SELECT epoch FROM workflows WHERE workflow_id = ?").bind([.text(workflowId)]).forEachRow {
            current = $0.int(0)
        }
        return current
    }

    func completeJournalEntry(
        workflowId: String, generation: Int, seq: Int, status: StepStatus, result: JSONValue?, failure: JSONValue?,
        now: EpochMillis
    ) throws -> WriteOutcome {
        try db.statement(
            """
            UPDATE journal SET status = ?, result = ?, failure = ?, completed_at = ?
            WHERE workflow_id = ? AND generation = ? AND seq = ? AND status = 'scheduled'
            """
        ).bind([
            .text(status.rawValue), .json(result), .json(failure), .int(now), .text(workflowId), .int(Int64(generation)),
            .int(Int64(seq)),
        ]).run()
        return db.changes > 0 ? .applied : .stale
    }

    func insertSignal(workflowId: String, name: String, payload: JSONValue, key: String?, now: EpochMillis) throws -> Int64? {
        try db.statement(
            """
            INSERT INTO signals (workflow_id, name, payload, created_at, signal_key) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (workflow_id, signal_key) WHERE signal_key IS NOT NULL DO NOTHING
            """
        ).bind([.text(workflowId), .text(name), .json(payload), .int(now), .optional(key)]).run()
        return db.changes > 0 ? db.lastInsertRowID : nil
    }

    /// Whether a signal with request key `key` was delivered to `workflowId` (``Store/signalDelivered(workflowId:key:)``).
    func signalDelivered(workflowId: String, key: String) throws -> Bool {
        var found = false
        try db.statement("SELECT 1 FROM signals WHERE workflow_id = ? AND signal_key = ?")
            .bind([.text(workflowId), .text(key)]).forEachRow { _ in found = true }
        return found
    }

    func consumeSignal(id: Int64, generation: Int, seq: Int) throws -> WriteOutcome {
        try db.statement(
            "UPDATE signals SET consumed_generation = ?, consumed_seq = ? WHERE signal_id = ? AND consumed_seq IS NULL"
        ).bind([.int(Int64(generation)), .int(Int64(seq)), .int(id)]).run()
        return db.changes > 0 ? .applied : .stale
    }
}

/// Exact counts per status for the web UI's list (docs/ui.md, "How fast").
extension SQLiteTransaction {
    func workflowCounts(_ f: WorkflowFilter, atMost: Int?) throws -> [WorkflowStatus: Int] {
        let counting = f.statusCounts(.sqlite, atMost: atMost)
        var out: [WorkflowStatus: Int] = [:]
        try db.statement(counting.text).bind(counting.binds.map(SQLValue.init)).forEachRow {
            if let status = WorkflowStatus(rawValue: $0.text(0)) { out[status] = Int($0.int(1)) }
        }
        return out
    }
}

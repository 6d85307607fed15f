import KeelCore
import KeelStorage
import PostgresNIO

/// Column lists and row decoding shared by the store's statements.
enum PostgresRows {
    /// The nearer of a waiting task's schedule-to-close (from its creation) and schedule-to-start
    /// (from when it became ready) deadlines, NULL without either, as migration 7 indexes it: a
    /// query must spell it the same to use the index. `numeric`, so a huge timeout cannot overflow.
    static let waitDeadline = """
        LEAST(created_at + ((timeouts::jsonb) ->> 'scheduleToCloseMs')::numeric, \
        visible_at + ((timeouts::jsonb) ->> 'scheduleToStartMs')::numeric)
        """

    static func taskColumns(_ alias: String? = nil) -> String {
        qualified(
            [
                "task_id", "name", "input", "idempotency_key", "status", "attempt", "retry_policy", "timeouts", "output",
                "failure", "heartbeat_details", "contract_hash", "created_at", "visible_at", "started_at", "completed_at",
                "workflow_id", "generation", "step_seq", "owner_node", "priority", "fairness_key",
            ], alias)
    }

    static func workflowColumns(_ alias: String? = nil) -> String {
        qualified(workflowColumnNames, alias)
    }

    static func executionColumns(_ alias: String? = nil) -> String {
        qualified(workflowColumnNames + ["owner_node", "event_seq"], alias)
    }

    private static let workflowColumnNames = [
        "workflow_id", "name", "input", "status", "generation", "epoch", "output", "failure", "parent_id",
        "parent_generation", "parent_seq", "cancel_requested", "contract_hash", "created_at", "updated_at",
        "execution_deadline", "run_timeout_ms", "run_deadline", "build_id", "priority", "fairness_key",
        "search_attributes", "memo", "query_values", "update_outcomes", "cancel_reason",
    ]

    static let journalColumns = """
        workflow_id, generation, seq, kind, name, input, status, result, failure, task_id, wake_at, contract_hash,
        created_at, completed_at
        """

    private static func qualified(_ names: [String], _ alias: String?) -> String {
        names.map { name in alias.map { "\($0).\(name)" } ?? name }.joined(separator: ", ")
    }

    static func task(_ row: PostgresRow) throws -> ActivityTaskRecord {
        let r = row.makeRandomAccess()
        var t = ActivityTaskRecord(
            id: try r["task_id"].decode(String.self), name: try r["name"].decode(String.self),
            input: json(try r["input"].decode(String.self)) ?? .null,
            idempotencyKey: try r["idempotency_key"].decode(String?.self),
            retryPolicy: (try? RetryPolicy.decode(json(try r["retry_policy"].decode(String.self)), field: "retryPolicy"))
                ?? RetryPolicy(),
            timeouts: (try? ActivityTimeouts.decode(json(try r["timeouts"].decode(String.self)), field: "timeouts"))
                ?? ActivityTimeouts(),
            contractHash: try r["contract_hash"].decode(String?.self), now: try r["created_at"].decode(Int64.self))
        t.status = TaskStatus(rawValue: try r["status"].decode(String.self)) ?? .failed
        t.attempt = try r["attempt"].decode(Int.self)
        t.output = json(try r["output"].decode(String?.self))
        t.failure = json(try r["failure"].decode(String?.self))
        t.heartbeatDetails = json(try r["heartbeat_details"].decode(String?.self))
        t.visibleAt = try r["visible_at"].decode(Int64.self)
        t.startedAt = try r["started_at"].decode(Int64?.self)
        t.completedAt = try r["completed_at"].decode(Int64?.self)
        t.workflowId = try r["workflow_id"].decode(String?.self)
        t.generation = try r["generation"].decode(Int?.self)
        t.stepSeq = try r["step_seq"].decode(Int?.self)
        t.precedence = try precedence(r)
        return t
    }

    static func execution(_ row: PostgresRow) throws -> ExecutionState {
        let r = row.makeRandomAccess()
        var w = WorkflowRecord(
            id: try r["workflow_id"].decode(String.self), name: try r["name"].decode(String.self),
            input: json(try r["input"].decode(String.self)) ?? .null,
            contractHash: try r["contract_hash"].decode(String?.self), now: try r["created_at"].decode(Int64.self))
        w.status = WorkflowStatus(rawValue: try r["status"].decode(String.self)) ?? .failed
        w.generation = try r["generation"].decode(Int.self)
        w.epoch = try r["epoch"].decode(Int.self)
        w.output = json(try r["output"].decode(String?.self))
        w.failure = json(try r["failure"].decode(String?.self))
        w.parentId = try r["parent_id"].decode(String?.self)
        w.parentGeneration = try r["parent_generation"].decode(Int?.self)
        w.parentSeq = try r["parent_seq"].decode(Int?.self)
        w.cancelRequested = try r["cancel_requested"].decode(Bool.self)
        w.cancelReason = try r["cancel_reason"].decode(String?.self)
        w.updatedAt = try r["updated_at"].decode(Int64.self)
        w.executionDeadline = try r["execution_deadline"].decode(Int64?.self)
        w.runTimeoutMs = try r["run_timeout_ms"].decode(Int64?.self)
        w.runDeadline = try r["run_deadline"].decode(Int64?.self)
        w.buildId = try r["build_id"].decode(String?.self)
        w.precedence = try precedence(r)
        w.searchAttributes = json(try r["search_attributes"].decode(String?.self))
        w.memo = json(try r["memo"].decode(String?.self))
        w.queryValues = json(try r["query_values"].decode(String?.self))
        w.updateOutcomes = json(try r["update_outcomes"].decode(String?.self))
        return ExecutionState(
            record: w, ownerNode: try r["owner_node"].decode(String?.self), eventSeq: try r["event_seq"].decode(Int.self))
    }

    private static func precedence(_ r: PostgresRandomAccessRow) throws -> Precedence {
        Precedence(priority: try r["priority"].decode(Int.self), fairnessKey: try r["fairness_key"].decode(String?.self))
    }

    static func streamEvent(_ row: PostgresRow, workflowId: String) throws -> StreamEvent {
        let r = row.makeRandomAccess()
        let source = StreamEvent.source(
            kind: try r["source"].decode(String.self), generation: try r["step_generation"].decode(Int?.self),
            seq: try r["step_seq"].decode(Int?.self), taskId: try r["task_id"].decode(String?.self),
            attempt: try r["attempt"].decode(Int?.self))
        return StreamEvent(
            workflowId: workflowId, offset: try r["event_offset"].decode(Int64.self), source: source,
            name: try r["name"].decode(String.self), event: json(try r["event"].decode(String.self)) ?? .null,
            createdAt: try r["created_at"].decode(Int64.self))
    }

    static func journalEntry(_ row: PostgresRow) throws -> JournalEntry {
        let r = row.makeRandomAccess()
        var e = JournalEntry(
            workflowId: try r["workflow_id"].decode(String.self), generation: try r["generation"].decode(Int.self),
            seq: try r["seq"].decode(Int.self), kind: try r["kind"].decode(String.self),
            name: try r["name"].decode(String.self), input: json(try r["input"].decode(String.self)) ?? .null,
            now: try r["created_at"].decode(Int64.self))
        e.status = StepStatus(rawValue: try r["status"].decode(String.self)) ?? .failed
        e.result = json(try r["result"].decode(String?.self))
        e.failure = json(try r["failure"].decode(String?.self))
        e.taskId = try r["task_id"].decode(String?.self)
        e.wakeAt = try r["wake_at"].decode(Int64?.self)
        e.contractHash = try r["contract_hash"].decode(String?.self)
        e.completedAt = try r["completed_at"].decode(Int64?.self)
        return e
    }

    /// A TEXT JSON column; corrupt JSON reads as nil rather than crashing the orchestrator (as on SQLite).
    static func json(_ text: String?) -> JSONValue? {
        guard let text else { return nil }
        return try? JSONParser.parse(text)
    }

    static func text(_ value: JSONValue?) -> String? {
        value.map { JSONWriter.string($0) }
    }

    static func text(_ value: JSONValue) -> String {
        JSONWriter.string(value)
    }
}

import KeelCore

/// Workflow resets (docs/execution-model.md, "Reset").
extension SQLiteTransaction {
    func workflowResets(workflowId: String) throws -> [WorkflowReset] {
        var out: [WorkflowReset] = []
        try db.statement(
            """
            SELECT workflow_id, from_generation, to_generation, to_step, reason, requested_by, previous_status,
                   previous_output, previous_failure, created_at
            FROM workflow_resets WHERE workflow_id = ? ORDER BY to_generation
            """
        ).bind([.text(workflowId)]).forEachRow { row in
            var r = WorkflowReset(
                workflowId: row.text(0), fromGeneration: Int(row.int(1)), toStep: Int(row.int(3)), reason: row.text(4),
                requestedBy: row.text(5), previousStatus: WorkflowStatus(rawValue: row.text(6)) ?? .failed,
                previousOutput: row.json(7), previousFailure: row.json(8), now: row.int(9))
            r.toGeneration = Int(row.int(2))
            out.append(r)
        }
        return out
    }

    func resetWorkflow(_ r: WorkflowReset, expectedEpoch: Int, now: EpochMillis) throws -> WriteOutcome {
        let id = SQLValue.text(r.workflowId)
        // The guard and the move in one statement: a run that took over, ended or continued as new
        // since the caller looked leaves the row alone.
        let moved = try update(
            """
            UPDATE workflows SET status = 'pending', generation = ?, epoch = epoch + 1, output = NULL, failure = NULL,
                cancel_requested = 0, updated_at = ?
            WHERE workflow_id = ? AND generation = ? AND epoch = ?
            """,
            [.int(Int64(r.toGeneration)), .int(now), id, .int(Int64(r.fromGeneration)), .int(Int64(expectedEpoch))],
            id: r.workflowId, table: "workflows", key: "workflow_id")
        guard moved == .applied else { return moved }
        let from = Int64(r.fromGeneration), to = Int64(r.toGeneration), step = Int64(r.toStep)
        try db.statement(
            """
            INSERT INTO journal (workflow_id, generation, seq, kind, name, input, status, result, failure, task_id,
                                 wake_at, contract_hash, created_at, completed_at)
            SELECT workflow_id, ?, seq, kind, name, input, status, result, failure, task_id, wake_at, contract_hash,
                   created_at, completed_at
            FROM journal WHERE workflow_id = ? AND generation = ? AND seq <= ?
            """
        ).bind([.int(to), id, .int(from), .int(step)]).run()
        try db.statement(
            """
            UPDATE activity_tasks SET status = 'cancelled', completed_at = ?
            WHERE workflow_id = ? AND generation = ? AND status IN ('scheduled', 'running')
            """
        ).bind([.int(now), id, .int(from)]).run()
        // Temporal re-applies signals after the reset point; here they are simply pending again,
        // in their arrival order, for the new run's signal steps.
        try db.statement(
            """
            UPDATE signals SET consumed_generation = NULL, consumed_seq = NULL
            WHERE workflow_id = ? AND consumed_generation = ? AND consumed_seq > ?
            """
        ).bind([id, .int(from), .int(step)]).run()
        for data in r.executionData {
            _ = try setExecutionData(data.field, workflowId: r.workflowId, epoch: expectedEpoch + 1, data.value)
        }
        try db.statement(
            """
            INSERT INTO workflow_resets (workflow_id, from_generation, to_generation, to_step, reason, requested_by,
                                         previous_status, previous_output, previous_failure, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        ).bind([
            id, .int(from), .int(to), .int(step), .text(r.reason), .text(r.requestedBy), .text(r.previousStatus.rawValue),
            .json(r.previousOutput), .json(r.previousFailure), .int(r.createdAt),
        ]).run()
        return .applied
    }
}

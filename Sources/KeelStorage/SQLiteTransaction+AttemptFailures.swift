import KeelCore

/// The `attempt_failures` table: one row per retried attempt of a task.
extension SQLiteTransaction {
    func recordAttemptFailure(_ f: AttemptFailure) throws {
        try db.statement(
            "INSERT OR REPLACE INTO attempt_failures (task_id, attempt, failure, failed_at, started_at) VALUES (?, ?, ?, ?, ?)"
        ).bind([.text(f.taskId), .int(Int64(f.attempt)), .json(f.failure), .int(f.failedAt), .optional(f.startedAt)]).run()
    }

    func attemptFailures(taskId: String) throws -> [AttemptFailure] {
        var out: [AttemptFailure] = []
        try db.statement("SELECT attempt, failure, failed_at, started_at FROM attempt_failures WHERE task_id = ? ORDER BY attempt")
            .bind([.text(taskId)]).forEachRow { row in
                out.append(AttemptFailure(
                    taskId: taskId, attempt: Int(row.int(0)), failure: row.json(1) ?? .null, failedAt: row.int(2),
                    startedAt: row.optionalInt(3)))
            }
        return out
    }
}

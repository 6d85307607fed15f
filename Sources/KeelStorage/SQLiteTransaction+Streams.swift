import CSQLite
public import KeelCore

/// Execution streams: events numbered per execution from a counter on its row.
extension SQLiteTransaction {
    /// Appends `event` to its execution's stream and answers its offset; nil when nothing was
    /// stored: the step's event is already there (a replayed write), the activity attempt is no
    /// longer running, or the execution is gone.
    func appendStreamEvent(_ event: StreamEvent) throws -> Int64? {
        let s = event.sourceColumns
        switch event.source {
        case .step(let generation, let seq):
            var exists = false
            try db.statement("SELECT 1 FROM stream_events WHERE workflow_id = ? AND step_generation = ? AND step_seq = ?")
                .bind([.text(event.workflowId), .int(Int64(generation)), .int(Int64(seq))]).forEachRow { _ in exists = true }
            if exists { return nil }
        case .activity(let taskId, let attempt):
            var running = false
            try db.statement("SELECT 1 FROM activity_tasks WHERE task_id = ? AND attempt = ? AND status = 'running'")
                .bind([.text(taskId), .int(Int64(attempt))]).forEachRow { _ in running = true }
            if !running { return nil }
        }
        var offset: Int64?
        try db.statement("UPDATE workflows SET stream_offset = stream_offset + 1 WHERE workflow_id = ? RETURNING stream_offset")
            .bind([.text(event.workflowId)]).forEachRow { offset = $0.int(0) }
        guard let offset else { return nil }
        try db.statement(
            """
            INSERT INTO stream_events (workflow_id, event_offset, name, event, created_at, source, step_generation, step_seq,
                task_id, attempt)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        ).bind([
            .text(event.workflowId), .int(offset), .text(event.name), .json(event.event), .int(event.createdAt), .text(s.kind),
            .optional(s.generation.map(Int64.init)), .optional(s.seq.map(Int64.init)), .optional(s.taskId),
            .optional(s.attempt.map(Int64.init)),
        ]).run()
        return offset
    }

    /// Up to `limit` events of `workflowId`'s stream after `offset`, in order.
    func streamEvents(workflowId: String, after offset: Int64, limit: Int) throws -> [StreamEvent] {
        var events: [StreamEvent] = []
        try db.statement(
            """
            SELECT event_offset, name, event, created_at, source, step_generation, step_seq, task_id, attempt
            FROM stream_events WHERE workflow_id = ? AND event_offset > ? ORDER BY event_offset LIMIT ?
            """
        ).bind([.text(workflowId), .int(offset), .int(Int64(limit))]).forEachRow { row in
            let source = StreamEvent.source(
                kind: row.text(4), generation: row.optionalInt(5).map(Int.init), seq: row.optionalInt(6).map(Int.init),
                taskId: row.optionalText(7), attempt: row.optionalInt(8).map(Int.init))
            events.append(StreamEvent(
                workflowId: workflowId, offset: row.int(0), source: source, name: row.text(1), event: row.json(2) ?? .null,
                createdAt: row.int(3)))
        }
        return events
    }
}

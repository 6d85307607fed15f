import CSQLite
public import KeelCore

/// Schedules: one row each, written whole and fenced by its version.
extension SQLiteTransaction {
    private static let scheduleColumns =
        "schedule_id, definition, paused, next_slot_at, state, version, created_at, updated_at"

    private func schedules(_ whereClause: String, _ values: [SQLValue]) throws -> [ScheduleRecord] {
        var out: [ScheduleRecord] = []
        try db.statement("SELECT \(Self.scheduleColumns) FROM schedules \(whereClause)").bind(values).forEachRow { row in
            var s = ScheduleRecord(
                id: row.text(0), definition: row.json(1) ?? .null, paused: row.int(2) != 0, nextSlotAt: row.optionalInt(3),
                state: row.json(4) ?? .object([:]), now: row.int(6))
            s.version = Int(row.int(5))
            s.updatedAt = row.int(7)
            out.append(s)
        }
        return out
    }

    func schedule(id: String) throws -> ScheduleRecord? {
        try schedules("WHERE schedule_id = ?", [.text(id)]).first
    }

    func schedules(after cursor: String?, limit: Int) throws -> [ScheduleRecord] {
        if let cursor {
            return try schedules("WHERE schedule_id > ? ORDER BY schedule_id LIMIT ?", [.text(cursor), .int(Int64(limit))])
        }
        return try schedules("ORDER BY schedule_id LIMIT ?", [.int(Int64(limit))])
    }

    func insertSchedule(_ s: ScheduleRecord) throws -> WriteOutcome {
        do {
            try db.statement("INSERT INTO schedules (\(Self.scheduleColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)").bind([
                .text(s.id), .json(s.definition), .int(s.paused ? 1 : 0), .optional(s.nextSlotAt), .json(s.state),
                .int(Int64(s.version)), .int(s.createdAt), .int(s.updatedAt),
            ]).run()
            return .applied
        } catch let error as KeelError where (error.cause as? SQLiteError)?.isConstraint == true {
            return .duplicate
        }
    }

    func updateSchedule(_ s: ScheduleRecord, expectedVersion: Int) throws -> WriteOutcome {
        try update(
            """
            UPDATE schedules SET definition = ?, paused = ?, next_slot_at = ?, state = ?, version = ?, updated_at = ?
            WHERE schedule_id = ? AND version = ?
            """,
            [
                .json(s.definition), .int(s.paused ? 1 : 0), .optional(s.nextSlotAt), .json(s.state), .int(Int64(s.version)),
                .int(s.updatedAt), .text(s.id), .int(Int64(expectedVersion)),
            ], id: s.id, table: "schedules", key: "schedule_id")
    }

    func deleteSchedule(id: String) throws -> WriteOutcome {
        try db.statement("DELETE FROM schedules WHERE schedule_id = ?").bind([.text(id)]).run()
        return db.changes > 0 ? .applied : .notFound
    }
}

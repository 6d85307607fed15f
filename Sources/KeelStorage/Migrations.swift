/// Numbered schema migrations: plain SQL, never using Keel types, never edited once released
/// (STYLE.md §7). The schema version lives in `PRAGMA user_version`.
///
/// Portable SQL only: INTEGER epoch-ms times, TEXT statuses, TEXT JSON (DESIGN.md, "Store").
enum Migrations {
    static let all: [String] = [
        // 1: durable activity tasks.
        """
        CREATE TABLE activity_tasks (
            task_id           TEXT PRIMARY KEY,
            name              TEXT NOT NULL,
            input             TEXT NOT NULL,
            idempotency_key   TEXT UNIQUE,
            status            TEXT NOT NULL CHECK (status IN
                                ('scheduled', 'running', 'completed', 'failed', 'timedOut', 'cancelled')),
            attempt           INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
            retry_policy      TEXT NOT NULL,
            timeouts          TEXT NOT NULL,
            output            TEXT,
            failure           TEXT,
            heartbeat_details TEXT,
            contract_hash     TEXT,
            created_at        INTEGER NOT NULL,
            visible_at        INTEGER NOT NULL,
            started_at        INTEGER,
            completed_at      INTEGER
        );
        CREATE INDEX activity_tasks_open ON activity_tasks (status, created_at)
            WHERE status IN ('scheduled', 'running');
        """
    ]
}

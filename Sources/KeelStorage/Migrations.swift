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
            completed_at      INTEGER,
            workflow_id       TEXT,
            generation        INTEGER,
            step_seq          INTEGER
        );
        CREATE INDEX activity_tasks_open ON activity_tasks (status, created_at)
            WHERE status IN ('scheduled', 'running');

        CREATE TABLE workflows (
            workflow_id       TEXT PRIMARY KEY,
            name              TEXT NOT NULL,
            input             TEXT NOT NULL,
            status            TEXT NOT NULL CHECK (status IN
                                ('pending', 'running', 'suspended', 'completed', 'failed', 'cancelled', 'parked')),
            generation        INTEGER NOT NULL DEFAULT 0,
            epoch             INTEGER NOT NULL DEFAULT 0,
            output            TEXT,
            failure           TEXT,
            parent_id         TEXT,
            parent_generation INTEGER,
            parent_seq        INTEGER,
            cancel_requested  INTEGER NOT NULL DEFAULT 0,
            contract_hash     TEXT,
            created_at        INTEGER NOT NULL,
            updated_at        INTEGER NOT NULL
        );
        CREATE INDEX workflows_open ON workflows (status) WHERE status IN ('pending', 'running', 'suspended');
        CREATE INDEX workflows_created ON workflows (created_at, workflow_id);

        CREATE TABLE journal (
            workflow_id   TEXT NOT NULL REFERENCES workflows (workflow_id),
            generation    INTEGER NOT NULL,
            seq           INTEGER NOT NULL CHECK (seq >= 1),
            kind          TEXT NOT NULL,
            name          TEXT NOT NULL,
            input         TEXT NOT NULL,
            status        TEXT NOT NULL CHECK (status IN ('scheduled', 'completed', 'failed')),
            result        TEXT,
            failure       TEXT,
            task_id       TEXT,
            wake_at       INTEGER,
            contract_hash TEXT,
            created_at    INTEGER NOT NULL,
            completed_at  INTEGER,
            PRIMARY KEY (workflow_id, generation, seq)
        );

        CREATE TABLE signals (
            signal_id     INTEGER PRIMARY KEY AUTOINCREMENT,
            workflow_id   TEXT NOT NULL REFERENCES workflows (workflow_id),
            name          TEXT NOT NULL,
            payload       TEXT NOT NULL,
            consumed_generation INTEGER,
            consumed_seq  INTEGER,
            created_at    INTEGER NOT NULL
        );
        CREATE INDEX signals_pending ON signals (workflow_id, name, signal_id) WHERE consumed_seq IS NULL;
        """,
        // 2: owned contracts (docs/security.md): the first allowed registration pins a name's
        // contract; only an admin changes it.
        """
        CREATE TABLE contracts (
            kind          TEXT NOT NULL CHECK (kind IN ('activity', 'workflow')),
            name          TEXT NOT NULL,
            contract_hash TEXT NOT NULL,
            input         TEXT NOT NULL,
            output        TEXT NOT NULL,
            owner         TEXT NOT NULL,
            owner_worker  TEXT NOT NULL,
            pinned_at     INTEGER NOT NULL,
            PRIMARY KEY (kind, name)
        );
        """,
        // 3: owned contracts carry a version, raised by one with each accepted change.
        """
        ALTER TABLE contracts ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);
        """,
        // 4: workflow resets (docs/execution-model.md, "Reset"): which generation replaced which,
        // at which step, why and by whom, with the old run's outcome.
        """
        CREATE TABLE workflow_resets (
            workflow_id      TEXT NOT NULL REFERENCES workflows (workflow_id),
            from_generation  INTEGER NOT NULL,
            to_generation    INTEGER NOT NULL,
            to_step          INTEGER NOT NULL CHECK (to_step >= 0),
            reason           TEXT NOT NULL,
            requested_by     TEXT NOT NULL,
            previous_status  TEXT NOT NULL,
            previous_output  TEXT,
            previous_failure TEXT,
            created_at       INTEGER NOT NULL,
            PRIMARY KEY (workflow_id, to_generation)
        );
        """,
        // 5: terminated and timed-out executions (issue 13), and their deadlines: the execution's
        // (across continue-as-new) and the current generation's. SQLite cannot widen a CHECK in
        // place, so the table is rebuilt (SQLite's documented procedure; `migrate` turns foreign
        // keys off around it and checks them before committing).
        """
        CREATE TABLE workflows_v5 (
            workflow_id        TEXT PRIMARY KEY,
            name               TEXT NOT NULL,
            input              TEXT NOT NULL,
            status             TEXT NOT NULL CHECK (status IN
                                 ('pending', 'running', 'suspended', 'completed', 'failed', 'cancelled', 'parked',
                                  'terminated', 'timedOut')),
            generation         INTEGER NOT NULL DEFAULT 0,
            epoch              INTEGER NOT NULL DEFAULT 0,
            output             TEXT,
            failure            TEXT,
            parent_id          TEXT,
            parent_generation  INTEGER,
            parent_seq         INTEGER,
            cancel_requested   INTEGER NOT NULL DEFAULT 0,
            contract_hash      TEXT,
            created_at         INTEGER NOT NULL,
            updated_at         INTEGER NOT NULL,
            execution_deadline INTEGER,
            run_timeout_ms     INTEGER CHECK (run_timeout_ms IS NULL OR run_timeout_ms > 0),
            run_deadline       INTEGER
        );
        INSERT INTO workflows_v5 (workflow_id, name, input, status, generation, epoch, output, failure, parent_id,
            parent_generation, parent_seq, cancel_requested, contract_hash, created_at, updated_at)
        SELECT workflow_id, name, input, status, generation, epoch, output, failure, parent_id,
            parent_generation, parent_seq, cancel_requested, contract_hash, created_at, updated_at FROM workflows;
        DROP TABLE workflows;
        ALTER TABLE workflows_v5 RENAME TO workflows;
        CREATE INDEX workflows_open ON workflows (status) WHERE status IN ('pending', 'running', 'suspended');
        CREATE INDEX workflows_created ON workflows (created_at, workflow_id);
        """,
        // 6: what several nodes need (docs/decisions/0004-storage-intents.md): an owner and an event
        // counter per execution, an owner per running task, signal keys for idempotent resends,
        // timers any node can fire, and one row per node incarnation with its lease.
        """
        ALTER TABLE workflows ADD COLUMN owner_node TEXT;
        ALTER TABLE workflows ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE activity_tasks ADD COLUMN owner_node TEXT;
        ALTER TABLE signals ADD COLUMN signal_key TEXT;
        CREATE UNIQUE INDEX signals_key ON signals (workflow_id, signal_key) WHERE signal_key IS NOT NULL;
        CREATE INDEX activity_tasks_ready ON activity_tasks (name, visible_at) WHERE status = 'scheduled';
        CREATE INDEX workflows_ready ON workflows (updated_at) WHERE status = 'pending' AND owner_node IS NULL;
        CREATE TABLE timers (
            workflow_id TEXT NOT NULL REFERENCES workflows (workflow_id),
            generation  INTEGER NOT NULL,
            seq         INTEGER NOT NULL,
            fire_at     INTEGER NOT NULL,
            PRIMARY KEY (workflow_id, generation, seq)
        );
        CREATE INDEX timers_due ON timers (fire_at);
        CREATE TABLE nodes (
            node_id      TEXT PRIMARY KEY,
            alive        INTEGER NOT NULL DEFAULT 1 CHECK (alive IN (0, 1)),
            started_at   INTEGER NOT NULL,
            heartbeat_at INTEGER NOT NULL,
            lease_ms     INTEGER NOT NULL CHECK (lease_ms > 0)
        );
        """,
        // 7: each node publishes its connected workers, so any node lists the whole cluster's.
        "ALTER TABLE nodes ADD COLUMN workers TEXT;",
        // 8: the failure of every attempt that was retried (the task row keeps only the last),
        // so a workflow's page shows each attempt's error (docs/ui.md).
        """
        CREATE TABLE attempt_failures (
            task_id   TEXT NOT NULL,
            attempt   INTEGER NOT NULL,
            failure   TEXT NOT NULL,
            failed_at INTEGER NOT NULL,
            PRIMARY KEY (task_id, attempt)
        );
        """,
        // 9: when each retried attempt started, so a workflow's timeline draws each attempt's
        // running time and the backoff after it (docs/ui.md). Rows from before it have none.
        "ALTER TABLE attempt_failures ADD COLUMN started_at INTEGER;",
        // 10: the worker build an execution is pinned to (docs/versioning.md); NULL: unpinned.
        "ALTER TABLE workflows ADD COLUMN build_id TEXT;",
        // 11: each execution's stream of published events (docs/protocol.md, "Streams"), numbered
        // from a counter on its row. A step's event is stored once (its seq is unique).
        """
        ALTER TABLE workflows ADD COLUMN stream_offset INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE stream_events (
            workflow_id     TEXT NOT NULL,
            event_offset    INTEGER NOT NULL CHECK (event_offset >= 1),
            name            TEXT NOT NULL,
            event           TEXT NOT NULL,
            created_at      INTEGER NOT NULL,
            source          TEXT NOT NULL CHECK (source IN ('workflow', 'activity')),
            step_generation INTEGER,
            step_seq        INTEGER,
            task_id         TEXT,
            attempt         INTEGER,
            PRIMARY KEY (workflow_id, event_offset)
        );
        CREATE UNIQUE INDEX stream_events_step ON stream_events (workflow_id, step_generation, step_seq)
            WHERE step_seq IS NOT NULL;
        """,
        // 12: each task's and execution's precedence (docs/protocol.md, "Priorities and
        // fairness"): ready work of a name runs highest priority first, then by fairness turn.
        // `turn` is numbered by the shared-store path (Store); one node keeps turns in memory.
        """
        ALTER TABLE activity_tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE activity_tasks ADD COLUMN fairness_key TEXT;
        ALTER TABLE activity_tasks ADD COLUMN turn INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE workflows ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE workflows ADD COLUMN fairness_key TEXT;
        """,
        // 13: schedules (docs/protocol.md, "Schedules"): each row its definition, the next slot
        // not yet handled and what it last did, fenced by a version.
        """
        CREATE TABLE schedules (
            schedule_id  TEXT PRIMARY KEY,
            definition   TEXT NOT NULL,
            paused       INTEGER NOT NULL DEFAULT 0,
            next_slot_at INTEGER,
            state        TEXT NOT NULL,
            version      INTEGER NOT NULL,
            created_at   INTEGER NOT NULL,
            updated_at   INTEGER NOT NULL
        );
        """,
        // 14: search attributes and memo (docs/protocol.md, "Search attributes and memo"): the
        // execution's row keeps both as JSON for showing; `workflow_attributes` indexes each
        // attribute by (key, value) for `workflow/list`'s query. A string in RFC 3339 form also
        // keeps its instant (epoch ms) in number_value; a boolean keeps 1 or 0.
        """
        ALTER TABLE workflows ADD COLUMN search_attributes TEXT;
        ALTER TABLE workflows ADD COLUMN memo TEXT;
        CREATE TABLE workflow_attributes (
            workflow_id  TEXT NOT NULL REFERENCES workflows (workflow_id),
            key          TEXT NOT NULL,
            kind         TEXT NOT NULL CHECK (kind IN ('string', 'number', 'bool')),
            text_value   TEXT,
            number_value REAL,
            PRIMARY KEY (workflow_id, key)
        ) WITHOUT ROWID;
        CREATE INDEX workflow_attributes_text ON workflow_attributes (key, text_value);
        CREATE INDEX workflow_attributes_number ON workflow_attributes (key, number_value);
        """,
        // 15: the latest value of each query an execution's code published (docs/protocol.md,
        // "Queries and signal-with-start"): `{name: {value, seq, atMs}}` as JSON.
        """
        ALTER TABLE workflows ADD COLUMN query_values TEXT;
        """,
        // 16: the outcomes of the updates an execution's code answered (docs/protocol.md,
        // "Updates"): `{updateId: {name, status, result | failure, seq, atMs}}` as JSON.
        """
        ALTER TABLE workflows ADD COLUMN update_outcomes TEXT;
        """,
        // 17: why a cancel was asked, kept with the request (`workflow/cancel`'s `reason`).
        """
        ALTER TABLE workflows ADD COLUMN cancel_reason TEXT;
        """,
        // 18: parked executions, counted for the `keel_workflows_parked` gauge on the shared path
        // (`workflows_open` holds the other open statuses).
        """
        CREATE INDEX workflows_parked ON workflows (status) WHERE status = 'parked';
        """,
        // 19: the claim's order and each fairness key's turns as indexes (PostgreSQL's 8 and 15),
        // so numbering a task's turn reads the end of an index instead of every waiting task of
        // its name (23,000 VM steps a task in W1 2000 on the shared path), and a claim reads its
        // first waiting tasks in order instead of sorting all of them.
        """
        CREATE INDEX activity_tasks_claim_order
            ON activity_tasks (name, priority DESC, turn, visible_at, created_at, task_id)
            WHERE status = 'scheduled';
        CREATE INDEX activity_tasks_key_turns ON activity_tasks (name, priority, fairness_key, turn)
            WHERE status = 'scheduled';
        """,
    ]
}

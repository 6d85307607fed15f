/// Numbered schema migrations for PostgreSQL: plain SQL, one statement per string, never edited
/// once released (STYLE.md §7). The version lives in `keel_schema`; `PostgresStore` applies them
/// under an advisory lock, so nodes starting together migrate once.
///
/// Times are epoch milliseconds (BIGINT) from `keel_now()`, the database's clock; JSON is TEXT,
/// as on SQLite. Hot tables (tasks, executions, timers, nodes) vacuum early: their rows are
/// updated several times each and dead tuples would slow the claim scans.
enum PostgresMigrations {
    static let all: [[String]] = [
        [
            """
            CREATE FUNCTION keel_now() RETURNS bigint LANGUAGE sql VOLATILE
            AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$
            """,
            """
            CREATE TABLE activity_tasks (
                task_id           TEXT PRIMARY KEY,
                name              TEXT NOT NULL,
                input             TEXT NOT NULL,
                idempotency_key   TEXT UNIQUE,
                status            TEXT NOT NULL CHECK (status IN
                                    ('scheduled', 'running', 'completed', 'failed', 'timedOut', 'cancelled')),
                attempt           BIGINT NOT NULL DEFAULT 0 CHECK (attempt >= 0),
                retry_policy      TEXT NOT NULL,
                timeouts          TEXT NOT NULL,
                output            TEXT,
                failure           TEXT,
                heartbeat_details TEXT,
                contract_hash     TEXT,
                created_at        BIGINT NOT NULL,
                visible_at        BIGINT NOT NULL,
                started_at        BIGINT,
                completed_at      BIGINT,
                workflow_id       TEXT,
                generation        BIGINT,
                step_seq          BIGINT,
                owner_node        TEXT
            ) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02)
            """,
            "CREATE INDEX activity_tasks_ready ON activity_tasks (name, visible_at, created_at) WHERE status = 'scheduled'",
            "CREATE INDEX activity_tasks_owned ON activity_tasks (owner_node) WHERE status = 'running'",
            """
            CREATE TABLE workflows (
                workflow_id        TEXT PRIMARY KEY,
                name               TEXT NOT NULL,
                input              TEXT NOT NULL,
                status             TEXT NOT NULL CHECK (status IN
                                     ('pending', 'running', 'suspended', 'completed', 'failed', 'cancelled', 'parked',
                                      'terminated', 'timedOut')),
                generation         BIGINT NOT NULL DEFAULT 0,
                epoch              BIGINT NOT NULL DEFAULT 0,
                output             TEXT,
                failure            TEXT,
                parent_id          TEXT,
                parent_generation  BIGINT,
                parent_seq         BIGINT,
                cancel_requested   BOOLEAN NOT NULL DEFAULT false,
                contract_hash      TEXT,
                created_at         BIGINT NOT NULL,
                updated_at         BIGINT NOT NULL,
                execution_deadline BIGINT,
                run_timeout_ms     BIGINT CHECK (run_timeout_ms IS NULL OR run_timeout_ms > 0),
                run_deadline       BIGINT,
                owner_node         TEXT,
                event_seq          BIGINT NOT NULL DEFAULT 0
            ) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02)
            """,
            "CREATE INDEX workflows_ready ON workflows (updated_at, workflow_id) WHERE status = 'pending' AND owner_node IS NULL",
            "CREATE INDEX workflows_owned ON workflows (owner_node) WHERE owner_node IS NOT NULL",
            "CREATE INDEX workflows_created ON workflows (created_at, workflow_id)",
            """
            CREATE TABLE journal (
                workflow_id   TEXT NOT NULL REFERENCES workflows (workflow_id),
                generation    BIGINT NOT NULL,
                seq           BIGINT NOT NULL CHECK (seq >= 1),
                kind          TEXT NOT NULL,
                name          TEXT NOT NULL,
                input         TEXT NOT NULL,
                status        TEXT NOT NULL CHECK (status IN ('scheduled', 'completed', 'failed')),
                result        TEXT,
                failure       TEXT,
                task_id       TEXT,
                wake_at       BIGINT,
                contract_hash TEXT,
                created_at    BIGINT NOT NULL,
                completed_at  BIGINT,
                PRIMARY KEY (workflow_id, generation, seq)
            )
            """,
            """
            CREATE TABLE signals (
                signal_id           BIGSERIAL PRIMARY KEY,
                workflow_id         TEXT NOT NULL REFERENCES workflows (workflow_id),
                name                TEXT NOT NULL,
                payload             TEXT NOT NULL,
                consumed_generation BIGINT,
                consumed_seq        BIGINT,
                created_at          BIGINT NOT NULL,
                signal_key          TEXT,
                UNIQUE (workflow_id, signal_key)
            )
            """,
            "CREATE INDEX signals_pending ON signals (workflow_id, signal_id) WHERE consumed_seq IS NULL",
            """
            CREATE TABLE timers (
                workflow_id TEXT NOT NULL REFERENCES workflows (workflow_id),
                generation  BIGINT NOT NULL,
                seq         BIGINT NOT NULL,
                fire_at     BIGINT NOT NULL,
                PRIMARY KEY (workflow_id, generation, seq)
            ) WITH (autovacuum_vacuum_scale_factor = 0.02)
            """,
            "CREATE INDEX timers_due ON timers (fire_at)",
            """
            CREATE TABLE nodes (
                node_id      TEXT PRIMARY KEY,
                alive        BOOLEAN NOT NULL DEFAULT true,
                started_at   BIGINT NOT NULL,
                heartbeat_at BIGINT NOT NULL,
                lease_ms     BIGINT NOT NULL CHECK (lease_ms > 0)
            ) WITH (autovacuum_vacuum_scale_factor = 0.02)
            """,
            """
            CREATE TABLE contracts (
                kind          TEXT NOT NULL CHECK (kind IN ('activity', 'workflow')),
                name          TEXT NOT NULL,
                contract_hash TEXT NOT NULL,
                input         TEXT NOT NULL,
                output        TEXT NOT NULL,
                owner         TEXT NOT NULL,
                owner_worker  TEXT NOT NULL,
                pinned_at     BIGINT NOT NULL,
                version       BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1),
                PRIMARY KEY (kind, name)
            )
            """,
            """
            CREATE TABLE workflow_resets (
                workflow_id      TEXT NOT NULL REFERENCES workflows (workflow_id),
                from_generation  BIGINT NOT NULL,
                to_generation    BIGINT NOT NULL,
                to_step          BIGINT NOT NULL CHECK (to_step >= 0),
                reason           TEXT NOT NULL,
                requested_by     TEXT NOT NULL,
                previous_status  TEXT NOT NULL,
                previous_output  TEXT,
                previous_failure TEXT,
                created_at       BIGINT NOT NULL,
                PRIMARY KEY (workflow_id, to_generation)
            )
            """,
        ],
        // 2: each node publishes its connected workers, so any node lists the whole cluster's.
        ["ALTER TABLE nodes ADD COLUMN workers TEXT"],
        // 3: a terminate from any node cancels the open tasks of one execution by its id; each
        // retried attempt's failure is kept beside the task (the row keeps only the latest).
        [
            """
            CREATE INDEX activity_tasks_open_by_workflow ON activity_tasks (workflow_id)
            WHERE workflow_id IS NOT NULL AND status IN ('scheduled', 'running')
            """,
            """
            CREATE TABLE attempt_failures (
                task_id    TEXT NOT NULL,
                attempt    BIGINT NOT NULL CHECK (attempt >= 1),
                failure    TEXT NOT NULL,
                failed_at  BIGINT NOT NULL,
                started_at BIGINT,
                PRIMARY KEY (task_id, attempt)
            )
            """,
        ],
        // 4: the worker build an execution is pinned to (docs/versioning.md); NULL: unpinned.
        ["ALTER TABLE workflows ADD COLUMN build_id TEXT"],
        // 5: each execution's stream of published events (docs/protocol.md, "Streams"), numbered
        // from a counter on its row. A step's event is stored once (its seq is unique).
        [
            "ALTER TABLE workflows ADD COLUMN stream_offset BIGINT NOT NULL DEFAULT 0",
            """
            CREATE TABLE stream_events (
                workflow_id     TEXT NOT NULL,
                event_offset    BIGINT NOT NULL CHECK (event_offset >= 1),
                name            TEXT NOT NULL,
                event           TEXT NOT NULL,
                created_at      BIGINT NOT NULL,
                source          TEXT NOT NULL CHECK (source IN ('workflow', 'activity')),
                step_generation BIGINT,
                step_seq        BIGINT,
                task_id         TEXT,
                attempt         BIGINT,
                PRIMARY KEY (workflow_id, event_offset)
            )
            """,
            """
            CREATE UNIQUE INDEX stream_events_step ON stream_events (workflow_id, step_generation, step_seq)
            WHERE step_seq IS NOT NULL
            """,
        ],
        // 6: open executions no node holds, by their nearest deadline, for the sweep that times
        // them out (Store.overdueExecutions).
        [
            """
            CREATE INDEX workflows_unowned_deadline ON workflows (LEAST(execution_deadline, run_deadline))
            WHERE owner_node IS NULL AND status IN ('pending', 'suspended', 'parked')
              AND (execution_deadline IS NOT NULL OR run_deadline IS NOT NULL)
            """,
        ],
        // 7: tasks waiting unclaimed, by their nearer schedule-to-close or schedule-to-start
        // deadline, for the sweep that times them out (Store.overdueTasks). An expression index:
        // no column, no table rewrite.
        [
            """
            CREATE INDEX activity_tasks_wait_deadline ON activity_tasks ((\(PostgresRows.waitDeadline)))
            WHERE status = 'scheduled'
            """,
        ],
        // 8: each task's and execution's precedence (docs/protocol.md, "Priorities and
        // fairness"). A constant default adds no rewrite. `turn` is a task's fairness turn,
        // numbered at enqueue from the head turn of its name and priority and the last turn of its
        // key (the two turn indexes); claims take the lowest turn first. Ready executions are
        // claimed by priority, then oldest first.
        [
            "ALTER TABLE activity_tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE activity_tasks ADD COLUMN fairness_key TEXT",
            "ALTER TABLE activity_tasks ADD COLUMN turn BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE workflows ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE workflows ADD COLUMN fairness_key TEXT",
            "CREATE INDEX activity_tasks_turns ON activity_tasks (name, priority, turn) WHERE status = 'scheduled'",
            """
            CREATE INDEX activity_tasks_key_turns ON activity_tasks (name, priority, (COALESCE(fairness_key, '')), turn)
            WHERE status = 'scheduled'
            """,
            """
            CREATE INDEX workflows_ready_by_priority ON workflows (priority DESC, updated_at, workflow_id)
            WHERE status = 'pending' AND owner_node IS NULL
            """,
            "DROP INDEX workflows_ready",
        ],
        // 9: search attributes and memo (docs/protocol.md, "Search attributes and memo"): JSON on
        // the execution's row for showing, and one `workflow_attributes` row per attribute indexed
        // by (key, value) for `workflow/list`'s query. Text compares byte-wise (COLLATE "C"), as on
        // SQLite; a string in RFC 3339 form also keeps its instant in number_value.
        [
            "ALTER TABLE workflows ADD COLUMN search_attributes TEXT",
            "ALTER TABLE workflows ADD COLUMN memo TEXT",
            """
            CREATE TABLE workflow_attributes (
                workflow_id  TEXT NOT NULL REFERENCES workflows (workflow_id),
                key          TEXT NOT NULL,
                kind         TEXT NOT NULL CHECK (kind IN ('string', 'number', 'bool')),
                text_value   TEXT,
                number_value DOUBLE PRECISION,
                PRIMARY KEY (workflow_id, key)
            )
            """,
            "CREATE INDEX workflow_attributes_text ON workflow_attributes (key, text_value COLLATE \"C\")",
            "CREATE INDEX workflow_attributes_number ON workflow_attributes (key, number_value)",
        ],
        // 10: schedules (docs/protocol.md, "Schedules"), as on SQLite: each row its definition,
        // the next slot not yet handled and what it last did, fenced by a version. Every node
        // arms every schedule; the node whose fenced update wins records a slot, and the slot's
        // workflow id (the schedule id and the slot's time) keeps a slot from starting twice.
        [
            """
            CREATE TABLE schedules (
                schedule_id  TEXT PRIMARY KEY,
                definition   TEXT NOT NULL,
                paused       BOOLEAN NOT NULL DEFAULT false,
                next_slot_at BIGINT,
                state        TEXT NOT NULL,
                version      BIGINT NOT NULL,
                created_at   BIGINT NOT NULL,
                updated_at   BIGINT NOT NULL
            )
            """,
        ],
        // 11: the latest value of each query an execution's code published (docs/protocol.md,
        // "Queries and signal-with-start"), as on SQLite.
        ["ALTER TABLE workflows ADD COLUMN query_values TEXT"],
        // 12: the outcomes of the updates an execution's code answered (docs/protocol.md,
        // "Updates"), as on SQLite.
        ["ALTER TABLE workflows ADD COLUMN update_outcomes TEXT"],
        // 13: why a cancel was asked, kept with the request, as on SQLite.
        ["ALTER TABLE workflows ADD COLUMN cancel_reason TEXT"],
        // 14: open executions by status, counted for the workflow gauges at scrape time.
        ["CREATE INDEX workflows_open ON workflows (status) WHERE status IN ('pending', 'running', 'suspended', 'parked')"],
        // 15: the claim's order as one index, so a claim reads its first `limit` waiting tasks in
        // order instead of reading and sorting every waiting task of the name (1,428 buffers a
        // claim in W1 2000). It serves the head turn that numbering reads as well, so it replaces
        // `activity_tasks_turns` and a task's insert maintains no more indexes than before.
        [
            """
            CREATE INDEX activity_tasks_claim_order
            ON activity_tasks (name, priority DESC, turn, visible_at, created_at, task_id)
            WHERE status = 'scheduled'
            """,
            "DROP INDEX activity_tasks_turns",
        ],
    ]
}

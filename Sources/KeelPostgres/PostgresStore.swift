public import KeelCore
public import KeelStorage
public import Logging
import NIOCore
import NIOSSL
import PostgresNIO

/// ``Store`` on PostgreSQL (postgres-nio and its connection pool), shared by several nodes.
///
/// Every change is one conditional statement fenced by attempt, owner epoch or event counter;
/// claims use `FOR NO KEY UPDATE SKIP LOCKED`; the clock is the database's (`keel_now()`); the
/// rescue sweep runs under a transaction-scoped advisory lock. Sessions run with
/// `idle_in_transaction_session_timeout`, so a node paused inside a transaction cannot hold row
/// locks past it.
public final class PostgresStore: Store {
    public let location: PostgresLocation
    let client: PostgresClient
    /// The connections ``apply(_:)`` writes on before it asks the pool.
    let writes: WriteConnections
    let logger: Logger
    /// Runs the pool and watches the calls' deadlines.
    private let runner: Task<Void, Never>
    /// The deadlines of the calls in flight (``perform(_:)``).
    let deadlines = CallDeadlines()
    /// The node id of the latest ``join(nodeId:leaseMillis:)``: whose executions need no hint.
    private let joinedNode = Locked<String?>(nil)
    /// How long one call may wait for PostgreSQL before it fails with `storageFailure`,
    /// `reason: timeout` (the outcome unknown; sending the same changes again is safe).
    public let operationTimeout: Duration

    /// How long a session may sit idle inside a transaction before PostgreSQL ends it.
    public static let idleInTransactionTimeoutMillis = 30_000
    /// How many connections ``apply(_:)`` keeps for its writes beside the pool (``WriteConnections``):
    /// as many as the commits a node runs at once by default (`--commit-slots`).
    static let writeConnections = 4
    /// Key of the advisory locks Keel takes (migrations, rescue): "keel" in ASCII.
    static let advisoryLockKey: Int32 = 0x6B65_656C

    /// Connects, checks the server answers, and migrates the schema (once, under an advisory lock).
    /// - Throws: a one-line `storageFailure` naming the server and what went wrong: unreachable,
    ///   refused credentials, no such database, or a schema newer than this binary.
    public init(
        _ location: PostgresLocation, maximumConnections: Int = 20, operationTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "keel.postgres")
    ) async throws {
        self.location = location
        self.operationTimeout = operationTimeout
        self.logger = logger
        let settings = PostgresSettings(location)
        writes = WriteConnections(capacity: min(Self.writeConnections, maximumConnections), logger: logger) {
            try settings.connection()
        }
        // The pool runs from the start (it opens connections only when asked), so that it is
        // running by the time the first query leases one.
        let client = PostgresClient(configuration: settings.pool(maximumConnections: maximumConnections), backgroundLogger: logger)
        self.client = client
        let deadlines = deadlines
        runner = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                group.addTask { await deadlines.watch() }
            }
        }
        // Migrate on one direct connection first: the pool retries a failed connect forever, so a
        // wrong URL, password or database would hang; a direct connect fails at once, with the reason.
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try settings.connection(), id: 0, logger: logger)
            do {
                try await PostgresSchema.migrate(connection, logger: logger)
            } catch {
                try await connection.close()
                throw error
            }
            try await connection.close()
        } catch {
            runner.cancel()
            throw PostgresFailure.startError(location, error)
        }
    }

    /// PostgreSQL's `text` cannot hold U+0000.
    public var keepsNULInIdentifiers: Bool { false }

    /// The LISTEN/NOTIFY channel of the wake-up hints.
    static let readyChannel = "keel_ready"

    /// LISTENs on ``readyChannel`` on a connection of its own (another one after it drops, 1 s
    /// later) and yields one element per notification, coalesced while the consumer is busy.
    /// A hint whose payload names this store's node is for the other nodes (this one already
    /// acted on what it wrote) and is skipped; an empty payload is for every node.
    public func readyHints() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let settings = PostgresSettings(location)
        let logger = self.logger
        let joinedNode = self.joinedNode
        let listener = Task {
            while !Task.isCancelled {
                do {
                    let connection = try await PostgresConnection.connect(
                        configuration: try settings.connection(), id: 1, logger: logger)
                    do {
                        try await connection.listen(on: Self.readyChannel) { notifications in
                            for try await hint in notifications
                            where hint.payload.isEmpty || hint.payload != joinedNode.withLock({ $0 }) {
                                continuation.yield()
                            }
                        }
                    } catch {
                        logger.debug("the wake-up listener's connection ended; polling meanwhile", metadata: ["error": "\(error)"])
                    }
                    do { try await connection.close() } catch {
                        logger.debug("closing the wake-up listener's connection failed", metadata: ["error": "\(error)"])
                    }
                } catch {
                    logger.debug("cannot listen for wake-up hints; polling meanwhile", metadata: ["error": "\(error)"])
                }
                do { try await Task.sleep(for: .seconds(1)) } catch { break }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in listener.cancel() }
        return stream
    }

    public func close() async {
        await writes.close()
        runner.cancel()
        await runner.value
    }

    public func now() async throws -> EpochMillis {
        try await perform { [self] in
            try await firstInt(try await client.prepared("SELECT keel_now()", logger: logger)) ?? 0
        }
    }

    /// Applies `changes` in one transaction, or, when they are one statement (a run of finishes or
    /// enqueues, one retry …), as that statement alone: it is atomic by itself, and `BEGIN` and
    /// `COMMIT` would be two more round trips. A wake-up hint follows only when another node may
    /// have work it would otherwise see at its next poll (``PostgresChanges/applyAll(_:)``).
    public func apply(_ changes: [Change]) async throws -> [ChangeOutcome] {
        guard !changes.isEmpty else { return [] }
        let selfNode = joinedNode.withLock { $0 }
        if PostgresChanges.isOneStatement(changes) {
            return try await perform { [self] in
                try await writes.withConnection(orFrom: client) { connection in
                    let applied = try await PostgresChanges(connection: connection, logger: logger, selfNode: selfNode)
                        .applyAll(changes)
                    if applied.needsHint { await hintAfterCommit(on: connection) }
                    return applied.outcomes
                }
            }
        }
        return try await perform { [self] in
            try await writes.withConnection(orFrom: client) { connection in
                try await connection.withTransaction(logger: logger) { connection in
                    let applied = try await PostgresChanges(connection: connection, logger: logger, selfNode: selfNode)
                        .applyAll(changes)
                    // Delivered at commit, once per transaction: a hint, not the truth.
                    if applied.needsHint { try await sendHint(on: connection) }
                    return applied.outcomes
                }
            }
        }
    }

    /// Sends a wake-up hint for every node (empty payload); inside a transaction it goes out at
    /// its commit.
    private func sendHint(on connection: PostgresConnection) async throws {
        try await connection.prepared("SELECT pg_notify(\(Self.readyChannel), '')", logger: logger)
    }

    /// Sends the wake-up hint for changes already committed. It is only a hint: when it cannot be
    /// sent, the changes stand (failing the call would make its caller send them again) and the
    /// other nodes see the work at their next poll; the failure is logged and counted.
    private func hintAfterCommit(on connection: PostgresConnection) async {
        do {
            try await sendHint(on: connection)
        } catch {
            StoreMetrics.hintLost()
            logger.warning(
                "a wake-up hint could not be sent after a commit; other nodes see the work at their next poll",
                metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    public func claimTasks(_ request: TaskClaim, node: NodeLease) async throws -> [ActivityTaskRecord] {
        guard !request.names.isEmpty, request.limit > 0 else { return [] }
        return try await perform { [self] in
            let rows = try await client.prepared(
                """
                WITH ready AS (
                    SELECT task_id FROM activity_tasks
                    WHERE status = 'scheduled' AND visible_at <= keel_now() AND \(nameIn: request.names)
                      AND EXISTS (SELECT 1 FROM nodes WHERE node_id = \(node.nodeId) AND alive
                                  AND heartbeat_at + lease_ms >= keel_now())
                    ORDER BY priority DESC, turn, visible_at, created_at, task_id LIMIT \(request.limit)
                    FOR NO KEY UPDATE SKIP LOCKED)
                UPDATE activity_tasks t SET status = 'running', attempt = t.attempt + 1, started_at = keel_now(),
                    owner_node = \(node.nodeId)
                FROM ready WHERE t.task_id = ready.task_id
                RETURNING \(unescaped: PostgresRows.taskColumns("t"))
                """, logger: logger)
            var claimed: [ActivityTaskRecord] = []
            for try await row in rows { claimed.append(try PostgresRows.task(row)) }
            return claimed.sorted(by: ActivityTaskRecord.claimOrder)
        }
    }

    public func attemptFailures(taskIds: [String]) async throws -> [String: [AttemptFailure]] {
        guard !taskIds.isEmpty else { return [:] }
        return try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT task_id, attempt, failure, failed_at, started_at FROM attempt_failures
                WHERE task_id = ANY(\(taskIds)) ORDER BY task_id, attempt
                """, logger: logger)
            var byTask: [String: [AttemptFailure]] = [:]
            for try await (id, attempt, failure, failedAt, startedAt) in rows.decode((String, Int, String, Int64, Int64?).self) {
                byTask[id, default: []].append(
                    AttemptFailure(
                        taskId: id, attempt: attempt, failure: PostgresRows.json(failure) ?? .null, failedAt: failedAt,
                        startedAt: startedAt))
            }
            return byTask
        }
    }

    public func streamEvents(workflowId: String, after offset: Int64, limit: Int) async throws -> [StreamEvent] {
        try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT event_offset, name, event, created_at, source, step_generation, step_seq, task_id, attempt
                FROM stream_events WHERE workflow_id = \(workflowId) AND event_offset > \(offset)
                ORDER BY event_offset LIMIT \(Int64(limit))
                """, logger: logger)
            var events: [StreamEvent] = []
            for try await row in rows { events.append(try PostgresRows.streamEvent(row, workflowId: workflowId)) }
            return events
        }
    }

    public func ownedTasks(node: NodeLease) async throws -> [ActivityTaskRecord] {
        try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT \(unescaped: PostgresRows.taskColumns()) FROM activity_tasks
                WHERE status = 'running' AND owner_node = \(node.nodeId) ORDER BY started_at, task_id
                """, logger: logger)
            var owned: [ActivityTaskRecord] = []
            for try await row in rows { owned.append(try PostgresRows.task(row)) }
            return owned
        }
    }

    public func ownedExecutions(node: NodeLease) async throws -> [OwnedExecution] {
        try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT workflow_id, epoch, updated_at FROM workflows
                WHERE owner_node = \(node.nodeId) ORDER BY workflow_id
                """, logger: logger)
            var owned: [OwnedExecution] = []
            for try await (id, epoch, updatedAt) in rows.decode((String, Int, Int64).self) {
                owned.append(OwnedExecution(workflowId: id, epoch: epoch, updatedAt: updatedAt))
            }
            return owned
        }
    }

    public func claimExecutions(names: [String]?, limit: Int, node: NodeLease, builds: BuildChoice) async throws
        -> [ExecutionState]
    {
        guard !builds.admitsNothing else { return [] }
        let anyBuild = builds.runnable == nil
        let runnable = builds.runnable ?? []
        guard limit > 0, names?.isEmpty != true else { return [] }
        let anyName = names == nil
        let named = names ?? []
        return try await perform { [self] in
            let rows = try await client.prepared(
                """
                WITH ready AS (
                    SELECT workflow_id FROM workflows
                    WHERE status = 'pending' AND owner_node IS NULL
                      AND (\(anyName) OR name = ANY(\(named)))
                      AND ((\(builds.takesUnpinned) AND build_id IS NULL) OR (\(anyBuild) AND build_id IS NOT NULL)
                           OR build_id = ANY(\(runnable)))
                      AND EXISTS (SELECT 1 FROM nodes WHERE node_id = \(node.nodeId) AND alive
                                  AND heartbeat_at + lease_ms >= keel_now())
                    ORDER BY priority DESC, updated_at, workflow_id LIMIT \(limit)
                    FOR NO KEY UPDATE SKIP LOCKED)
                UPDATE workflows w SET status = 'running', owner_node = \(node.nodeId), epoch = w.epoch + 1,
                    updated_at = keel_now(), build_id = COALESCE(w.build_id, \(builds.pinUnpinnedTo))
                FROM ready WHERE w.workflow_id = ready.workflow_id
                RETURNING \(unescaped: PostgresRows.executionColumns("w"))
                """, logger: logger)
            var claimed: [ExecutionState] = []
            for try await row in rows { claimed.append(try PostgresRows.execution(row)) }
            return claimed.sorted { $0.record.id < $1.record.id }
        }
    }

    public func fireDueTimers(limit: Int, node: NodeLease) async throws -> [FiredTimer] {
        guard limit > 0 else { return [] }
        return try await perform { [self] in
            // Every node asks on every round of its loop, and mostly nothing is due: one indexed
            // read then, not a transaction of three round trips. The transaction checks again.
            let anyDue = try await firstInt(
                try await client.prepared("SELECT count(*) FROM (SELECT 1 FROM timers WHERE fire_at <= keel_now() LIMIT 1) due",
                    logger: logger))
            guard anyDue ?? 0 > 0 else { return [] }
            return try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.prepared(
                    """
                    DELETE FROM timers WHERE (workflow_id, generation, seq) IN (
                        SELECT workflow_id, generation, seq FROM timers
                        WHERE fire_at <= keel_now()
                          AND EXISTS (SELECT 1 FROM nodes WHERE node_id = \(node.nodeId) AND alive
                                      AND heartbeat_at + lease_ms >= keel_now())
                        ORDER BY fire_at LIMIT \(limit)
                        FOR UPDATE SKIP LOCKED)
                    RETURNING workflow_id, generation, seq
                    """, logger: logger)
                var fired: [FiredTimer] = []
                for try await (workflowId, generation, seq) in rows.decode((String, Int, Int).self) {
                    fired.append(FiredTimer(workflowId: workflowId, generation: generation, seq: seq))
                }
                let tx = PostgresChanges(connection: connection, logger: logger)
                for timer in fired.sorted(by: { ($0.workflowId, $0.seq) < ($1.workflowId, $1.seq) }) {
                    try await tx.fireTimerStep(timer)
                }
                if !fired.isEmpty { try await sendHint(on: connection) }
                return fired
            }
        }
    }

    public func join(nodeId: String, leaseMillis: Int64) async throws -> NodeLease {
        joinedNode.withLock { $0 = nodeId }
        try await perform { [self] in
            try await client.prepared(
                """
                INSERT INTO nodes (node_id, alive, started_at, heartbeat_at, lease_ms)
                VALUES (\(nodeId), true, keel_now(), keel_now(), \(leaseMillis))
                """, logger: logger)
        }
        return NodeLease(nodeId: nodeId, leaseMillis: leaseMillis)
    }

    public func renew(_ lease: NodeLease) async throws -> LeaseState {
        try await perform { [self] in
            let renewed = try await firstInt(
                try await client.prepared(
                    """
                    WITH renewed AS (
                        UPDATE nodes SET heartbeat_at = keel_now(), lease_ms = \(lease.leaseMillis)
                        WHERE node_id = \(lease.nodeId) AND alive AND heartbeat_at + lease_ms >= keel_now()
                        RETURNING 1)
                    SELECT count(*) FROM renewed
                    """, logger: logger))
            if renewed == 1 { return .held }
            // Expired: the node is dead from now on, whether or not a rescue has run yet.
            try await client.prepared("UPDATE nodes SET alive = false WHERE node_id = \(lease.nodeId)", logger: logger)
            return .lost
        }
    }

    public func leave(_ lease: NodeLease) async throws {
        try await perform { [self] in
            try await client.prepared("UPDATE nodes SET alive = false WHERE node_id = \(lease.nodeId)", logger: logger)
        }
    }

    public func rescue() async throws -> RescueReport {
        try await perform { [self] in
            try await client.withTransaction(logger: logger) { connection in
                // One sweeper at a time; the others find nothing to do and return at once.
                let locked = try await connection.prepared(
                    "SELECT pg_try_advisory_xact_lock(\(Self.advisoryLockKey), \(Int32(2)))", logger: logger)
                var gotLock = false
                for try await held in locked.decode(Bool.self) { gotLock = held }
                guard gotLock else { return RescueReport() }
                var report = RescueReport()
                let dead = try await connection.prepared(
                    """
                    UPDATE nodes SET alive = false WHERE alive AND heartbeat_at + lease_ms < keel_now()
                    RETURNING node_id
                    """, logger: logger)
                for try await node in dead.decode(String.self) { report.deadNodes.append(node) }
                report.deadNodes.sort()
                report.tasksReturned = try await firstCount(
                    try await connection.prepared(
                        """
                        WITH returned AS (
                            UPDATE activity_tasks SET status = 'scheduled', owner_node = NULL, visible_at = keel_now()
                            WHERE status = 'running' AND owner_node IN (SELECT node_id FROM nodes WHERE NOT alive)
                            RETURNING 1)
                        SELECT count(*) FROM returned
                        """, logger: logger))
                report.executionsReturned = try await firstCount(
                    try await connection.prepared(
                        """
                        WITH returned AS (
                            UPDATE workflows SET owner_node = NULL, epoch = epoch + 1, updated_at = keel_now(),
                                status = CASE WHEN status = 'running' THEN 'pending' ELSE status END
                            WHERE owner_node IN (SELECT node_id FROM nodes WHERE NOT alive)
                            RETURNING 1)
                        SELECT count(*) FROM returned
                        """, logger: logger))
                return report
            }
        }
    }

    public func task(id: String) async throws -> ActivityTaskRecord? {
        try await perform { [self] in
            let rows = try await client.prepared(
                "SELECT \(unescaped: PostgresRows.taskColumns()) FROM activity_tasks WHERE task_id = \(id)",
                logger: logger)
            for try await row in rows { return try PostgresRows.task(row) }
            return nil
        }
    }

    public func endedTasks(ids: [String]) async throws -> [ActivityTaskRecord] {
        guard !ids.isEmpty else { return [] }
        return try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT \(unescaped: PostgresRows.taskColumns()) FROM activity_tasks
                WHERE task_id = ANY(\(ids)) AND status IN ('completed', 'failed', 'timedOut', 'cancelled')
                """, logger: logger)
            var ended: [ActivityTaskRecord] = []
            for try await row in rows { ended.append(try PostgresRows.task(row)) }
            return ended
        }
    }

    public func task(idempotencyKey: String) async throws -> ActivityTaskRecord? {
        try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT \(unescaped: PostgresRows.taskColumns()) FROM activity_tasks
                WHERE idempotency_key = \(idempotencyKey)
                """, logger: logger)
            for try await row in rows { return try PostgresRows.task(row) }
            return nil
        }
    }

    public func openTasks(status: TaskStatus?, name: String?, limit: Int) async throws
        -> (tasks: [ActivityTaskRecord], total: Int)
    {
        let statuses = status.map { [$0.rawValue] } ?? ["scheduled", "running"]
        return try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT \(unescaped: PostgresRows.taskColumns()) FROM activity_tasks
                WHERE status = ANY(\(statuses)) AND (\(name)::text IS NULL OR name = \(name))
                ORDER BY created_at, task_id LIMIT \(limit)
                """, logger: logger)
            var tasks: [ActivityTaskRecord] = []
            for try await row in rows { tasks.append(try PostgresRows.task(row)) }
            let total = try await firstInt(
                try await client.prepared(
                    """
                    SELECT count(*) FROM activity_tasks
                    WHERE status = ANY(\(statuses)) AND (\(name)::text IS NULL OR name = \(name))
                    """, logger: logger)) ?? 0
            return (tasks, Int(total))
        }
    }

    public func schedule(id: String) async throws -> ScheduleRecord? {
        var binds = PostgresBindings()
        binds.append(id)
        return try await schedules("WHERE schedule_id = $1", binds).first
    }

    public func schedules(after cursor: String?, limit: Int) async throws -> [ScheduleRecord] {
        var binds = PostgresBindings()
        if let cursor { binds.append(cursor) }
        binds.append(Int64(limit))
        return try await schedules(cursor == nil ? "ORDER BY schedule_id LIMIT $1" : "WHERE schedule_id > $1 ORDER BY schedule_id LIMIT $2", binds)
    }

    private func schedules(_ clause: String, _ binds: PostgresBindings) async throws -> [ScheduleRecord] {
        let query = PostgresQuery(
            unsafeSQL: "SELECT schedule_id, definition, paused, next_slot_at, state, version, created_at, updated_at FROM schedules \(clause)",
            binds: binds)
        return try await perform { [self] in
            let rows = try await client.prepared(query, logger: logger)
            var out: [ScheduleRecord] = []
            for try await (id, definition, paused, next, state, version, createdAt, updatedAt) in rows.decode(
                (String, String, Bool, Int64?, String, Int64, Int64, Int64).self)
            {
                var s = ScheduleRecord(
                    id: id, definition: PostgresRows.json(definition) ?? .null, paused: paused, nextSlotAt: next,
                    state: PostgresRows.json(state) ?? .object([:]), now: createdAt)
                s.version = Int(version)
                s.updatedAt = updatedAt
                out.append(s)
            }
            return out
        }
    }

    public func contractPins() async throws -> [ContractPin] {
        try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT kind, name, contract_hash, input, output, owner, owner_worker, pinned_at, version
                FROM contracts ORDER BY kind, name
                """, logger: logger)
            var pins: [ContractPin] = []
            for try await (kind, name, hash, input, output, owner, worker, pinnedAt, version) in rows.decode(
                (String, String, String, String, String, String, String, Int64, Int64).self)
            {
                pins.append(
                    ContractPin(
                        kind: kind, name: name, hash: hash, input: PostgresRows.json(input) ?? true,
                        output: PostgresRows.json(output) ?? true, owner: owner, ownerWorker: worker,
                        pinnedAt: pinnedAt, version: Int(version)))
            }
            return pins
        }
    }

    public func execution(id: String) async throws -> ExecutionState? {
        try await perform { [self] in
            let rows = try await client.prepared(
                "SELECT \(unescaped: PostgresRows.executionColumns()) FROM workflows WHERE workflow_id = \(id)",
                logger: logger)
            for try await row in rows { return try PostgresRows.execution(row) }
            return nil
        }
    }

    public func endedExecutions(ids: [String]) async throws -> [WorkflowRecord] {
        guard !ids.isEmpty else { return [] }
        return try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT \(unescaped: PostgresRows.executionColumns()) FROM workflows
                WHERE workflow_id = ANY(\(ids)) AND status IN ('completed', 'failed', 'cancelled', 'terminated', 'timedOut')
                """, logger: logger)
            var ended: [WorkflowRecord] = []
            for try await row in rows { ended.append(try PostgresRows.execution(row).record) }
            return ended
        }
    }

    public func executions(_ filter: WorkflowFilter) async throws -> [ExecutionState] {
        let page = filter.page(.postgres)
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(PostgresRows.executionColumns()) FROM workflows \(page.text)", binds: Self.bindings(page.binds))
        return try await perform { [self] in
            // Unnamed: the text is built per filter, and a placeholder's type varies with it.
            let rows = try await client.query(query, logger: logger)
            var found: [ExecutionState] = []
            for try await row in rows { found.append(try PostgresRows.execution(row)) }
            return found
        }
    }

    public func workflowCounts(_ filter: WorkflowFilter, atMost: Int?) async throws -> [WorkflowStatus: Int] {
        let counting = filter.statusCounts(.postgres, atMost: atMost)
        let query = PostgresQuery(unsafeSQL: counting.text, binds: Self.bindings(counting.binds))
        return try await perform { [self] in
            // Unnamed, as a list's query: the text is built per filter.
            let rows = try await client.query(query, logger: logger)
            var counts: [WorkflowStatus: Int] = [:]
            for try await (status, count) in rows.decode((String, Int64).self) {
                if let status = WorkflowStatus(rawValue: status) { counts[status] = Int(count) }
            }
            return counts
        }
    }

    public func searchAttributeKeys() async throws -> [String] {
        try await perform { [self] in
            let rows = try await client.prepared(PostgresQuery(unsafeSQL: SearchAttributeKeys.sql), logger: logger)
            var keys: [String] = []
            for try await key in rows.decode(String.self) { keys.append(key) }
            return keys
        }
    }

    public func journal(workflowId: String, generation: Int) async throws -> [JournalEntry] {
        try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT \(unescaped: PostgresRows.journalColumns) FROM journal
                WHERE workflow_id = \(workflowId) AND generation = \(generation) ORDER BY seq
                """, logger: logger)
            var entries: [JournalEntry] = []
            for try await row in rows { entries.append(try PostgresRows.journalEntry(row)) }
            return entries
        }
    }

    public func overdueExecutions(limit: Int) async throws -> [WorkflowRecord] {
        try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT \(unescaped: PostgresRows.executionColumns()) FROM workflows
                WHERE owner_node IS NULL AND status IN ('pending', 'suspended', 'parked')
                  AND (execution_deadline IS NOT NULL OR run_deadline IS NOT NULL)
                  AND LEAST(execution_deadline, run_deadline) <= keel_now()
                ORDER BY LEAST(execution_deadline, run_deadline), workflow_id LIMIT \(limit)
                """, logger: logger)
            var overdue: [WorkflowRecord] = []
            for try await row in rows { overdue.append(try PostgresRows.execution(row).record) }
            return overdue
        }
    }

    public func overdueTasks(limit: Int) async throws -> [ActivityTaskRecord] {
        try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT \(unescaped: PostgresRows.taskColumns()) FROM activity_tasks
                WHERE status = 'scheduled' AND \(unescaped: PostgresRows.waitDeadline) <= keel_now()
                ORDER BY \(unescaped: PostgresRows.waitDeadline), task_id LIMIT \(limit)
                """, logger: logger)
            var overdue: [ActivityTaskRecord] = []
            for try await row in rows { overdue.append(try PostgresRows.task(row)) }
            return overdue
        }
    }

    public func resets(workflowId: String) async throws -> [WorkflowReset] {
        try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT workflow_id, from_generation, to_generation, to_step, reason, requested_by, previous_status,
                       previous_output, previous_failure, created_at
                FROM workflow_resets WHERE workflow_id = \(workflowId) ORDER BY to_generation
                """, logger: logger)
            var resets: [WorkflowReset] = []
            for try await (id, from, to, step, reason, by, status, output, failure, at) in rows.decode(
                (String, Int, Int, Int, String, String, String, String?, String?, Int64).self)
            {
                var r = WorkflowReset(
                    workflowId: id, fromGeneration: from, toStep: step, reason: reason, requestedBy: by,
                    previousStatus: WorkflowStatus(rawValue: status) ?? .failed, previousOutput: PostgresRows.json(output),
                    previousFailure: PostgresRows.json(failure), now: at)
                r.toGeneration = to
                resets.append(r)
            }
            return resets
        }
    }

    public func signalDelivered(workflowId: String, key: String) async throws -> Bool {
        try await perform { [self] in
            let rows = try await client.prepared(
                "SELECT 1 FROM signals WHERE workflow_id = \(workflowId) AND signal_key = \(key)", logger: logger)
            for try await _ in rows { return true }
            return false
        }
    }

    public func pendingSignals(workflowId: String) async throws -> [SignalRecord] {
        try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT signal_id, workflow_id, name, payload, created_at FROM signals
                WHERE workflow_id = \(workflowId) AND consumed_seq IS NULL ORDER BY signal_id
                """, logger: logger)
            var signals: [SignalRecord] = []
            for try await (id, workflowId, name, payload, createdAt) in rows.decode(
                (Int64, String, String, String, Int64).self)
            {
                signals.append(
                    SignalRecord(
                        id: id, workflowId: workflowId, name: name, payload: PostgresRows.json(payload) ?? .null,
                        createdAt: createdAt))
            }
            return signals
        }
    }

    /// The id the next write transaction will get: the difference of two readings counts the
    /// write transactions committed or aborted in between, on every connection (`keel bench`).
    public func nextTransactionId() async throws -> Int64 {
        try await perform { [self] in
            try await firstInt(
                try await client.prepared("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint", logger: logger)) ?? 0
        }
    }

    /// The floor under every write of this store (`keel bench`, docs/performance.md "Floors"):
    /// `count` sequential transactions that each write one WAL record and commit
    /// (`pg_logical_emit_message(true, …)`, a transactional message with no table), so each is one
    /// round trip and waits for its WAL flush, as a store write sent as one statement does. Nothing
    /// is stored in a table; a logical decoding consumer of this database would see the messages
    /// (prefix `keel-bench`). (`SELECT txid_current()` would not do: a transaction that wrote no
    /// WAL commits without waiting for a flush, 0.04 ms against 0.40 ms here.)
    /// - Returns: each commit's wall time, send to answer, in milliseconds.
    public func commitLatencies(count: Int) async throws -> [Double] {
        let clock = ContinuousClock()
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        for _ in 0..<count {
            let start = clock.now
            _ = try await perform { [self] in
                try await firstCount(
                    try await client.prepared("SELECT count(*) FROM pg_logical_emit_message(true, 'keel-bench', '')", logger: logger))
            }
            let (seconds, attoseconds) = (clock.now - start).components
            latencies.append(Double(seconds) * 1000 + Double(attoseconds) / 1e15)
        }
        return latencies
    }

    public func backlog() async throws -> Backlog {
        try await perform { [self] in
            let rows = try await client.prepared(
                """
                SELECT 'activity', name, count(*), min(visible_at) FROM activity_tasks WHERE status = 'scheduled' GROUP BY name
                UNION ALL
                SELECT 'workflow', name, count(*), min(updated_at) FROM workflows WHERE status = 'pending' GROUP BY name
                """, logger: logger)
            var backlog = Backlog()
            for try await (kind, name, n, oldest) in rows.decode((String, String, Int64, Int64).self) {
                if kind == "activity" {
                    backlog.activities[name] = Int(n)
                    backlog.oldestActivities[name] = oldest
                } else {
                    backlog.workflows[name] = Int(n)
                    backlog.oldestWorkflows[name] = oldest
                }
            }
            return backlog
        }
    }

    public func openExecutionCounts() async throws -> [WorkflowStatus: Int] {
        try await perform { [self] in
            // The partial index `workflows_open` (migration 14) holds exactly these rows.
            let rows = try await client.prepared(
                """
                SELECT status, count(*) FROM workflows
                WHERE status IN ('pending', 'running', 'suspended', 'parked') GROUP BY status
                """, logger: logger)
            var counts: [WorkflowStatus: Int] = [:]
            for try await (status, n) in rows.decode((String, Int64).self) {
                if let status = WorkflowStatus(rawValue: status) { counts[status] = Int(n) }
            }
            return counts
        }
    }

    public func nodes() async throws -> [NodeRecord] {
        try await perform { [self] in
            let rows = try await client.prepared(
                "SELECT node_id, alive, started_at, heartbeat_at, lease_ms, workers FROM nodes ORDER BY node_id",
                logger: logger)
            var nodes: [NodeRecord] = []
            for try await (id, alive, startedAt, heartbeatAt, lease, workers) in rows.decode(
                (String, Bool, Int64, Int64, Int64, String?).self)
            {
                nodes.append(
                    NodeRecord(
                        nodeId: id, alive: alive, startedAt: startedAt, heartbeatAt: heartbeatAt, leaseMillis: lease,
                        workers: PostgresRows.json(workers)))
            }
            return nodes
        }
    }

    /// Runs one store call against PostgreSQL with the deadline ``operationTimeout``. A call on a
    /// connection the server cut (a fast shutdown, a failover) can wait forever inside the driver;
    /// past the deadline the caller gets a coded error and the node stops acting on that call
    /// rather than hanging. The abandoned call is cancelled; if it ever commits, the fences make a
    /// re-send answer `.duplicate`, `.stale` or `.alreadyFinished`. The deadline is watched by the
    /// store's ``CallDeadlines`` (at most ``CallDeadlines/checkInterval`` late), not by a task per call.
    func perform<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = operationTimeout
        let answered = Locked(false)
        let logger = logger
        let deadlines = deadlines
        return try await withCheckedThrowingContinuation { continuation in
            /// True for the first of the call and the deadline to finish.
            @Sendable func first() -> Bool { answered.withLock { done in defer { done = true }; return !done } }
            let work = Locked<Task<Void, Never>?>(nil)
            let key = deadlines.add(deadline: .now + timeout) {
                guard first() else { return }
                work.withLock { $0?.cancel() }
                logger.error("PostgreSQL did not answer in time; the call was abandoned", metadata: ["timeout": "\(timeout)"])
                continuation.resume(
                    throwing: KeelError(
                        .storageFailure,
                        "PostgreSQL did not answer within \(timeout); the outcome of the call is unknown (sending it again is safe)",
                        data: ["reason": .string("timeout")]))
            }
            let task = Task {
                let result: Result<T, any Error>
                do { result = .success(try await PostgresFailure.mapping(body)) } catch { result = .failure(error) }
                if first() {
                    deadlines.remove(key)
                    continuation.resume(with: result)
                }
            }
            work.withLock { $0 = task }
        }
    }

    /// The first column of the first row as an integer.
    func firstInt(_ rows: some AsyncSequence<PostgresRow, any Error>) async throws -> Int64? {
        for try await value in rows.decode(Int64.self) { return value }
        return nil
    }

    /// The first column of the first row as a count.
    func firstCount(_ rows: some AsyncSequence<PostgresRow, any Error>) async throws -> Int {
        for try await value in rows.decode(Int.self) { return value }
        return 0
    }
}

extension PostgresStore {
    /// A filter's values as the driver's bindings.
    static func bindings(_ values: [SQLFragment.Bind]) -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values {
            switch value {
            case .text(let s): binds.append(s)
            case .int(let n): binds.append(n)
            case .real(let d): binds.append(d)
            }
        }
        return binds
    }
}

extension PostgresQuery.StringInterpolation {
    /// `name = $1` for one name, `name = ANY($1)` for several. A claim asks for one name, and only
    /// as an equality can the planner read the waiting tasks in claim order from
    /// `activity_tasks_claim_order` (migration 15): `= ANY` of a one-element array still sorts
    /// every waiting task of the name.
    mutating func appendInterpolation(nameIn names: [String]) {
        if names.count == 1 {
            appendLiteral("name = ")
            appendInterpolation(names[0])
        } else {
            appendLiteral("name = ANY(")
            appendInterpolation(names)
            appendLiteral(")")
        }
    }
}

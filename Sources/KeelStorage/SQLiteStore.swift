public import KeelCore

/// ``Store`` on the embedded SQLite file: every call is one write (or read) of ``SQLiteStorage``,
/// so intents ride the same writer thread and group commit as everything else. One process holds
/// the file (``DatabaseLock``); leases and rescue still run the same SQL as on PostgreSQL, so one
/// conformance suite proves both.
public final class SQLiteStore: Store {
    public let storage: SQLiteStorage

    public init(storage: SQLiteStorage) {
        self.storage = storage
    }

    public func now() async throws -> EpochMillis { storage.now() }

    public var keepsNULInIdentifiers: Bool { true }

    public func apply(_ changes: [Change]) async throws -> [ChangeOutcome] {
        let now = storage.now()
        return try await storage.writeSQL { tx in try changes.map { try tx.apply($0, now: now) } }
    }

    /// The writer thread answers `completion` itself: no task waits for the commit.
    public func apply(_ changes: [Change], completion: @escaping @Sendable (Result<[ChangeOutcome], any Error>) -> Void) {
        let now = storage.now()
        storage.writeSQL({ tx in try changes.map { try tx.apply($0, now: now) } }, completion: completion)
    }

    public func claimTasks(_ request: TaskClaim, node: NodeLease) async throws -> [ActivityTaskRecord] {
        guard !request.names.isEmpty, request.limit > 0 else { return [] }
        let now = storage.now()
        return try await storage.writeSQL { tx in
            guard try tx.leaseHeld(node.nodeId, now: now) else { return [] }
            // One name (every claim round asks one at a time) reads `activity_tasks_claim_order`
            // in order and stops at its limit. Without `INDEXED BY` the planner takes the
            // (name, visible_at) index and sorts every waiting task of the name (30,000 VM steps a
            // claim in W1 4000); `IN` over several names sorts them all the same.
            let source = request.names.count == 1 ? "activity_tasks INDEXED BY activity_tasks_claim_order" : "activity_tasks"
            let names = request.names.count == 1
                ? "= ?" : "IN (" + Array(repeating: "?", count: request.names.count).joined(separator: ", ") + ")"
            var claimed: [ActivityTaskRecord] = []
            try tx.db.statement(
                """
                UPDATE activity_tasks SET status = 'running', attempt = attempt + 1, started_at = ?, owner_node = ?
                WHERE task_id IN (
                    SELECT task_id FROM \(source)
                    WHERE status = 'scheduled' AND visible_at <= ? AND name \(names)
                    ORDER BY priority DESC, turn, visible_at, created_at, task_id LIMIT ?)
                RETURNING \(SQLiteTransaction.taskColumns)
                """
            ).bind([.int(now), .text(node.nodeId), .int(now)] + request.names.map { .text($0) } + [.int(Int64(request.limit))])
                .forEachRow { claimed.append(SQLiteTransaction.task(from: $0)) }
            return claimed.sorted(by: ActivityTaskRecord.claimOrder)
        }
    }

    public func attemptFailures(taskIds: [String]) async throws -> [String: [AttemptFailure]] {
        try await storage.readSQL { tx in
            var byTask: [String: [AttemptFailure]] = [:]
            for id in taskIds {
                let failures = try tx.attemptFailures(taskId: id)
                if !failures.isEmpty { byTask[id] = failures }
            }
            return byTask
        }
    }

    public func ownedTasks(node: NodeLease) async throws -> [ActivityTaskRecord] {
        try await storage.readSQL { tx in
            var owned: [ActivityTaskRecord] = []
            try tx.db.statement(
                """
                SELECT \(SQLiteTransaction.taskColumns) FROM activity_tasks
                WHERE status = 'running' AND owner_node = ? ORDER BY started_at, task_id
                """
            ).bind([.text(node.nodeId)]).forEachRow { owned.append(SQLiteTransaction.task(from: $0)) }
            return owned
        }
    }

    public func ownedExecutions(node: NodeLease) async throws -> [OwnedExecution] {
        try await storage.readSQL { tx in
            var owned: [OwnedExecution] = []
            try tx.db.statement(
                "SELECT workflow_id, epoch, updated_at FROM workflows WHERE owner_node = ? ORDER BY workflow_id"
            ).bind([.text(node.nodeId)]).forEachRow {
                owned.append(OwnedExecution(workflowId: $0.text(0), epoch: Int($0.int(1)), updatedAt: $0.int(2)))
            }
            return owned
        }
    }

    public func claimExecutions(names: [String]?, limit: Int, node: NodeLease, builds: BuildChoice) async throws
        -> [ExecutionState]
    {
        guard limit > 0, names?.isEmpty != true, !builds.admitsNothing else { return [] }
        let now = storage.now()
        return try await storage.writeSQL { tx in
            guard try tx.leaseHeld(node.nodeId, now: now) else { return [] }
            var ids: [String] = []
            let placeholders = { (n: Int) in Array(repeating: "?", count: n).joined(separator: ", ") }
            let named = names.map { "AND name IN (\(placeholders($0.count)))" } ?? ""
            var admitted: [String] = []
            if builds.takesUnpinned { admitted.append("build_id IS NULL") }
            if let runnable = builds.runnable {
                if !runnable.isEmpty { admitted.append("build_id IN (\(placeholders(runnable.count)))") }
            } else {
                admitted.append("build_id IS NOT NULL")
            }
            try tx.db.statement(
                """
                UPDATE workflows SET status = 'running', owner_node = ?, epoch = epoch + 1, updated_at = ?,
                    build_id = COALESCE(build_id, ?)
                WHERE workflow_id IN (
                    SELECT workflow_id FROM workflows WHERE status = 'pending' AND owner_node IS NULL \(named)
                      AND (\(admitted.joined(separator: " OR ")))
                    ORDER BY priority DESC, updated_at, workflow_id LIMIT ?)
                RETURNING workflow_id
                """
            ).bind(
                [.text(node.nodeId), .int(now), .optional(builds.pinUnpinnedTo)] + (names ?? []).map { .text($0) }
                    + (builds.runnable ?? []).map { .text($0) } + [.int(Int64(limit))])
                .forEachRow { ids.append($0.text(0)) }
            return try ids.sorted().compactMap { try tx.execution($0) }
        }
    }

    public func streamEvents(workflowId: String, after offset: Int64, limit: Int) async throws -> [StreamEvent] {
        try await storage.read { try $0.streamEvents(workflowId: workflowId, after: offset, limit: limit) }
    }

    public func fireDueTimers(limit: Int, node: NodeLease) async throws -> [FiredTimer] {
        guard limit > 0 else { return [] }
        let now = storage.now()
        return try await storage.writeSQL { tx in
            guard try tx.leaseHeld(node.nodeId, now: now) else { return [] }
            var fired: [FiredTimer] = []
            try tx.db.statement(
                """
                DELETE FROM timers WHERE rowid IN (
                    SELECT rowid FROM timers WHERE fire_at <= ? ORDER BY fire_at LIMIT ?)
                RETURNING workflow_id, generation, seq
                """
            ).bind([.int(now), .int(Int64(limit))]).forEachRow {
                fired.append(FiredTimer(workflowId: $0.text(0), generation: Int($0.int(1)), seq: Int($0.int(2))))
            }
            for timer in fired {
                guard let (kind, name) = try tx.stepKind(timer.workflowId, generation: timer.generation, seq: timer.seq)
                else { continue }
                let outcome = TimerOutcome.of(kind: kind, name: name)
                if try tx.completeJournalEntry(
                    workflowId: timer.workflowId, generation: timer.generation, seq: timer.seq, status: outcome.status,
                    result: nil, failure: outcome.failure, now: now) == .applied
                {
                    try tx.wake(timer.workflowId, now: now)
                }
            }
            return fired
        }
    }

    public func join(nodeId: String, leaseMillis: Int64) async throws -> NodeLease {
        let now = storage.now()
        try await storage.writeSQL { tx in
            try tx.db.statement(
                "INSERT INTO nodes (node_id, alive, started_at, heartbeat_at, lease_ms) VALUES (?, 1, ?, ?, ?)"
            ).bind([.text(nodeId), .int(now), .int(now), .int(leaseMillis)]).run()
        }
        return NodeLease(nodeId: nodeId, leaseMillis: leaseMillis)
    }

    public func renew(_ lease: NodeLease) async throws -> LeaseState {
        let now = storage.now()
        return try await storage.writeSQL { tx in
            try tx.db.statement(
                """
                UPDATE nodes SET heartbeat_at = ?, lease_ms = ?
                WHERE node_id = ? AND alive = 1 AND heartbeat_at + lease_ms >= ?
                """
            ).bind([.int(now), .int(lease.leaseMillis), .text(lease.nodeId), .int(now)]).run()
            if tx.db.changes > 0 { return .held }
            // Expired: the node is dead from now on, whether or not a rescue has run yet.
            try tx.db.statement("UPDATE nodes SET alive = 0 WHERE node_id = ?").bind([.text(lease.nodeId)]).run()
            return .lost
        }
    }

    public func leave(_ lease: NodeLease) async throws {
        try await storage.writeSQL { tx in
            try tx.db.statement("UPDATE nodes SET alive = 0 WHERE node_id = ?").bind([.text(lease.nodeId)]).run()
        }
    }

    /// Marks every node recorded in the file dead, for the next ``rescue()`` to take their work
    /// back at once. Only for a process that opened the file as its one node: ``DatabaseLock``
    /// proves no other process runs on it, so no recorded node is alive, whatever its lease says.
    /// - Returns: the nodes marked dead.
    public func retireRecordedNodes() async throws -> [String] {
        try await storage.writeSQL { tx in
            var retired: [String] = []
            try tx.db.statement("UPDATE nodes SET alive = 0 WHERE alive = 1 RETURNING node_id").bind([])
                .forEachRow { retired.append($0.text(0)) }
            return retired.sorted()
        }
    }

    /// What ``adoptLocalPathState()`` took over.
    public struct LocalPathState: Sendable, Equatable {
        public var timers = 0
        public var executions = 0
        public var tasks = 0
        public var isEmpty: Bool { timers == 0 && executions == 0 && tasks == 0 }
    }

    /// Takes over what an earlier version's local engine path left in the file (docs/architecture.md,
    /// "One engine path"): it kept its timers in memory and ran work without an owner, so a file it last ran
    /// holds steps waiting for a time with no timer row, and executions and tasks stored running
    /// that no rescue would return. Only for a process that opened the file as its one node,
    /// before it serves (``DatabaseLock`` proves nothing runs them): each such step gets its timer,
    /// and each such execution and task goes back to ready, as a rescue returns a dead node's.
    public func adoptLocalPathState() async throws -> LocalPathState {
        let now = storage.now()
        return try await storage.writeSQL { tx in
            var adopted = LocalPathState()
            // Every start runs these: each reads open rows through a partial index (the status
            // terms repeat the index's own `WHERE`, so that SQLite may use it), never the whole
            // journal or every execution and task the file ever held.
            try tx.db.statement(
                """
                INSERT OR IGNORE INTO timers (workflow_id, generation, seq, fire_at)
                SELECT j.workflow_id, j.generation, j.seq, j.wake_at
                FROM workflows w CROSS JOIN journal j ON j.workflow_id = w.workflow_id AND j.generation = w.generation
                WHERE w.status IN ('pending', 'running', 'suspended') AND j.status = 'scheduled' AND j.wake_at IS NOT NULL
                UNION ALL
                SELECT j.workflow_id, j.generation, j.seq, j.wake_at
                FROM workflows w CROSS JOIN journal j ON j.workflow_id = w.workflow_id AND j.generation = w.generation
                WHERE w.status = 'parked' AND j.status = 'scheduled' AND j.wake_at IS NOT NULL
                """
            ).run()
            adopted.timers = tx.db.changes
            try tx.db.statement(
                """
                UPDATE workflows SET status = 'pending', epoch = epoch + 1, updated_at = ?
                WHERE status = 'running' AND status IN ('pending', 'running', 'suspended') AND owner_node IS NULL
                """
            ).bind([.int(now)]).run()
            adopted.executions = tx.db.changes
            try tx.db.statement(
                """
                UPDATE activity_tasks SET status = 'scheduled', visible_at = ?
                WHERE status = 'running' AND status IN ('scheduled', 'running') AND owner_node IS NULL
                """
            ).bind([.int(now)]).run()
            adopted.tasks = tx.db.changes
            return adopted
        }
    }

    public func rescue() async throws -> RescueReport {
        let now = storage.now()
        return try await storage.writeSQL { tx in
            var report = RescueReport()
            try tx.db.statement(
                "UPDATE nodes SET alive = 0 WHERE alive = 1 AND heartbeat_at + lease_ms < ? RETURNING node_id"
            ).bind([.int(now)]).forEachRow { report.deadNodes.append($0.text(0)) }
            try tx.db.statement(
                """
                UPDATE activity_tasks SET status = 'scheduled', owner_node = NULL, visible_at = ?
                WHERE status = 'running' AND owner_node IN (SELECT node_id FROM nodes WHERE alive = 0)
                """
            ).bind([.int(now)]).run()
            report.tasksReturned = tx.db.changes
            try tx.db.statement(
                """
                UPDATE workflows SET owner_node = NULL, epoch = epoch + 1, updated_at = ?,
                    status = CASE WHEN status = 'running' THEN 'pending' ELSE status END
                WHERE owner_node IN (SELECT node_id FROM nodes WHERE alive = 0)
                """
            ).bind([.int(now)]).run()
            report.executionsReturned = tx.db.changes
            report.deadNodes.sort()
            return report
        }
    }

    public func task(id: String) async throws -> ActivityTaskRecord? {
        try await storage.read { try $0.activityTask(id: id) }
    }

    public func endedTasks(ids: [String]) async throws -> [ActivityTaskRecord] {
        // Callers ask for many tasks most of which still run: only ended rows are decoded.
        try await storage.readSQL { tx in try ids.compactMap { try tx.endedActivityTask(id: $0) } }
    }

    public func task(idempotencyKey: String) async throws -> ActivityTaskRecord? {
        try await storage.read { try $0.activityTask(idempotencyKey: idempotencyKey) }
    }

    public func openTasks(status: TaskStatus?, name: String?, limit: Int) async throws
        -> (tasks: [ActivityTaskRecord], total: Int)
    {
        let statuses = status.map { [$0.rawValue] } ?? ["scheduled", "running"]
        return try await storage.readSQL { tx in
            let filter = "status IN (\(statuses.map { _ in "?" }.joined(separator: ", "))) AND (? IS NULL OR name = ?)"
            let values: [SQLValue] = statuses.map { .text($0) } + [name.map { .text($0) } ?? .null, name.map { .text($0) } ?? .null]
            var tasks: [ActivityTaskRecord] = []
            try tx.db.statement(
                "SELECT \(SQLiteTransaction.taskColumns) FROM activity_tasks WHERE \(filter) ORDER BY created_at, task_id LIMIT ?"
            ).bind(values + [.int(Int64(limit))]).forEachRow { tasks.append(SQLiteTransaction.task(from: $0)) }
            var total = 0
            try tx.db.statement("SELECT count(*) FROM activity_tasks WHERE \(filter)").bind(values)
                .forEachRow { total = Int($0.int(0)) }
            return (tasks, total)
        }
    }

    public func contractPins() async throws -> [ContractPin] {
        try await storage.read { try $0.contractPins() }
    }

    public func schedule(id: String) async throws -> ScheduleRecord? {
        try await storage.read { try $0.schedule(id: id) }
    }

    public func schedules(after cursor: String?, limit: Int) async throws -> [ScheduleRecord] {
        try await storage.read { try $0.schedules(after: cursor, limit: limit) }
    }

    public func execution(id: String) async throws -> ExecutionState? {
        try await storage.readSQL { try $0.execution(id) }
    }

    public func endedExecutions(ids: [String]) async throws -> [WorkflowRecord] {
        try await storage.readSQL { tx in
            // Callers ask for many executions most of which are still open: only ended rows are
            // decoded.
            try ids.compactMap { try tx.endedExecution($0) }
        }
    }

    public func executions(_ filter: WorkflowFilter) async throws -> [ExecutionState] {
        try await storage.readSQL { tx in try tx.workflows(filter).compactMap { try tx.execution($0.id) } }
    }

    public func workflowCounts(_ filter: WorkflowFilter, atMost: Int?) async throws -> [WorkflowStatus: Int] {
        try await storage.read { try $0.workflowCounts(filter, atMost: atMost) }
    }

    public func searchAttributeKeys() async throws -> [String] {
        try await storage.read { try $0.searchAttributeKeys() }
    }

    public func journal(workflowId: String, generation: Int) async throws -> [JournalEntry] {
        try await storage.read { try $0.journal(workflowId: workflowId, generation: generation) }
    }

    public func overdueExecutions(limit: Int) async throws -> [WorkflowRecord] {
        let now = storage.now()
        return try await storage.readSQL { tx in
            var overdue: [WorkflowRecord] = []
            try tx.db.statement(
                """
                SELECT \(SQLiteTransaction.workflowColumns) FROM workflows
                WHERE owner_node IS NULL AND status IN ('pending', 'suspended', 'parked')
                  AND (execution_deadline <= ?1 OR run_deadline <= ?1)
                ORDER BY MIN(COALESCE(execution_deadline, ?1), COALESCE(run_deadline, ?1)), workflow_id
                LIMIT ?2
                """
            ).bind([.int(now), .int(Int64(limit))]).forEachRow { overdue.append(SQLiteTransaction.workflow(from: $0)) }
            return overdue
        }
    }

    public func overdueTasks(limit: Int) async throws -> [ActivityTaskRecord] {
        let now = storage.now()
        return try await storage.readSQL { tx in
            var overdue: [ActivityTaskRecord] = []
            try tx.db.statement(
                """
                WITH waiting AS (
                    SELECT \(SQLiteTransaction.taskColumns),
                        created_at + json_extract(timeouts, '$.scheduleToCloseMs') AS close_by,
                        visible_at + json_extract(timeouts, '$.scheduleToStartMs') AS start_by
                    FROM activity_tasks WHERE status = 'scheduled')
                SELECT \(SQLiteTransaction.taskColumns) FROM waiting
                WHERE MIN(COALESCE(close_by, start_by), COALESCE(start_by, close_by)) <= ?1
                ORDER BY MIN(COALESCE(close_by, start_by), COALESCE(start_by, close_by)), task_id
                LIMIT ?2
                """
            ).bind([.int(now), .int(Int64(limit))]).forEachRow { overdue.append(SQLiteTransaction.task(from: $0)) }
            return overdue
        }
    }

    public func resets(workflowId: String) async throws -> [WorkflowReset] {
        try await storage.read { try $0.workflowResets(workflowId: workflowId) }
    }

    public func signalDelivered(workflowId: String, key: String) async throws -> Bool {
        try await storage.readSQL { tx in try tx.signalDelivered(workflowId: workflowId, key: key) }
    }

    public func pendingSignals(workflowId: String) async throws -> [SignalRecord] {
        try await storage.readSQL { tx in
            var signals: [SignalRecord] = []
            try tx.db.statement(
                """
                SELECT signal_id, workflow_id, name, payload, created_at FROM signals
                WHERE workflow_id = ? AND consumed_seq IS NULL ORDER BY signal_id
                """
            ).bind([.text(workflowId)]).forEachRow { row in
                signals.append(
                    SignalRecord(
                        id: row.int(0), workflowId: row.text(1), name: row.text(2), payload: row.json(3) ?? .null,
                        createdAt: row.int(4)))
            }
            return signals
        }
    }

    public func backlog() async throws -> Backlog {
        try await storage.readSQL { tx in
            var backlog = Backlog()
            try tx.db.statement(
                "SELECT name, count(*), min(visible_at) FROM activity_tasks WHERE status = 'scheduled' GROUP BY name"
            ).forEachRow {
                backlog.activities[$0.text(0)] = Int($0.int(1))
                backlog.oldestActivities[$0.text(0)] = $0.int(2)
            }
            try tx.db.statement("SELECT name, count(*), min(updated_at) FROM workflows WHERE status = 'pending' GROUP BY name")
                .forEachRow {
                    backlog.workflows[$0.text(0)] = Int($0.int(1))
                    backlog.oldestWorkflows[$0.text(0)] = $0.int(2)
                }
            return backlog
        }
    }

    public func openExecutionCounts() async throws -> [WorkflowStatus: Int] {
        try await storage.readSQL { tx in
            var counts: [WorkflowStatus: Int] = [:]
            // Two partial indexes (migrations 1 and 18) hold the open statuses.
            for statuses in ["'pending', 'running', 'suspended'", "'parked'"] {
                try tx.db.statement("SELECT status, count(*) FROM workflows WHERE status IN (\(statuses)) GROUP BY status")
                    .forEachRow { row in
                        if let status = WorkflowStatus(rawValue: row.text(0)) { counts[status] = Int(row.int(1)) }
                    }
            }
            return counts
        }
    }

    public func nodes() async throws -> [NodeRecord] {
        try await storage.readSQL { tx in
            var nodes: [NodeRecord] = []
            try tx.db.statement(
                "SELECT node_id, alive, started_at, heartbeat_at, lease_ms, workers FROM nodes ORDER BY node_id"
            )
                .forEachRow { row in
                    nodes.append(
                        NodeRecord(
                            nodeId: row.text(0), alive: row.int(1) != 0, startedAt: row.int(2), heartbeatAt: row.int(3),
                            leaseMillis: row.int(4), workers: row.json(5)))
                }
            return nodes
        }
    }

    public func close() async { await storage.close() }
}

extension SQLiteTransaction {
    /// True while `nodeId`'s lease is alive and unexpired: a node past its lease claims nothing.
    func leaseHeld(_ nodeId: String, now: EpochMillis) throws -> Bool {
        var held = false
        try db.statement("SELECT 1 FROM nodes WHERE node_id = ? AND alive = 1 AND heartbeat_at + lease_ms >= ?")
            .bind([.text(nodeId), .int(now)]).forEachRow { _ in held = true }
        return held
    }
}

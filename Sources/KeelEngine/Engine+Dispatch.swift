import KeelCore
import KeelProtocol
import KeelStorage
import Logging

/// Dispatch: a task this node holds in the store (claimed, or stored claimed by the fast path)
/// goes to a worker at once; one stored unclaimed waits for a claim round (Engine+Cluster.swift),
/// which a new call, a new worker or a freed slot asks for at once.
extension Engine {
    // MARK: - Fast path: store a new task already claimed

    /// A worker slot held for a task about to be stored already claimed (attempt 1), so it needs
    /// one commit before dispatch instead of two. Nil when no worker has room or a rate limit says
    /// wait. The worker's outgoing queue is charged for `input` at once, so calls racing in during
    /// the commit see it.
    func reserveWorker(for name: String, input: JSONValue, now: EpochMillis) -> UInt64? {
        guard let worker = registry.pickWorker(for: name, canSend: { canSend($0) }),
            limiter.tryStart(name, now: now) == nil
        else { return nil }
        registry.adjustInFlight(worker, by: 1)
        sessions[worker]?.connection.outbound.reserve(Self.dispatchBytes(input))
        return worker
    }

    /// Gives back a reservation whose task was not stored.
    func cancelReservation(_ worker: UInt64, name: String, input: JSONValue) {
        sessions[worker]?.connection.outbound.release(Self.dispatchBytes(input))
        registry.adjustInFlight(worker, by: -1)
        limiter.finished(name)
        afterSlotFreed(worker)
    }

    /// What a dispatch of `input` is charged against a worker's queue until it is written.
    static func dispatchBytes(_ input: JSONValue) -> Int {
        DispatchSize.estimate(input) + DispatchSize.envelopeBytes
    }

    /// Makes a just-stored task live: started on its reserved worker, or queued.
    func launch(_ task: ActivityTaskRecord, reserved: UInt64?) async {
        // Counted once, by the node that stored it: a claim (each attempt's, on a shared store)
        // is not a new task.
        ActivityMetrics.taskScheduled(task.name)
        guard let reserved else {
            // Stored unclaimed: whichever node has a worker free claims it (Engine+Cluster.swift).
            claimBacklog.activityMayWait(task.name)
            kickClaims()
            return
        }
        registry.adjustInFlight(reserved, by: -1)  // start() takes the slot (and the queue charge) for real
        sessions[reserved]?.connection.outbound.release(Self.dispatchBytes(task.input))
        tasks[task.id] = LiveTask(record: task, phase: .ready)
        if let ms = task.timeouts.scheduleToCloseMs {
            timers.schedule(task.createdAt + ms, taskID: task.id, kind: .scheduleToClose)
        }
        if sessions[reserved] != nil, registry.workers[reserved] != nil {
            start(task.id, on: reserved)
        } else {
            // The worker left while we committed: this attempt never ran; retry it.
            limiter.finished(task.name)
            _ = tasks[task.id]?.phase.abandon()
            await failAttempt(task.id, attempt: 1,
                failure: Self.failure(type: "WorkerLost", message: "the worker left before the attempt started", retryable: true))
        }
    }

    /// Starts runs of queued executions of every name while workers have room.
    func dispatchAll() {
        for name in workflowQueue.keys { dispatchWorkflows(name) }
    }

    /// Starts the attempt of task `id` this node holds in the store (a claim, or a task stored
    /// already claimed by `activity/call`'s fast path) on a worker.
    func start(_ id: String, on connectionID: UInt64) {
        guard var live = tasks[id], let session = sessions[connectionID] else { return }
        let attempt = live.record.attempt
        let requestID = session.connection.makeRequestID()
        guard live.phase.start(on: connectionID, request: requestID) else {
            // Dispatch starts only ready tasks; starting another would run an attempt twice.
            logger.error("a task that is not ready was not started", metadata: ["task": "\(id)", "phase": "\(live.phase.state)"])
            return
        }
        live.record.status = .running
        let now = clock.now()
        live.record.startedAt = now
        let name = live.record.name, waitedMs = now - max(live.record.createdAt, live.record.visibleAt)
        live.attemptToken = AttemptToken.make()
        tasks[id] = live
        registry.adjustInFlight(connectionID, by: 1)

        let startToClose = live.record.timeouts.startToCloseMs ?? ActivityTimeouts.defaultStartToCloseMs
        timers.schedule(now + startToClose, taskID: id, kind: .startToClose(attempt: attempt))
        if let hb = live.record.timeouts.heartbeatMs {
            timers.schedule(now + hb, taskID: id, kind: .heartbeat(attempt: attempt))
        }
        let params: JSONValue = Self.adding(traceparent: attemptTraceParent(id, attempt: attempt), to: [
            "taskId": .string(id), "name": .string(live.record.name), "input": live.record.input,
            "attempt": JSONValue(attempt), "idempotencyKey": .string(live.record.idempotencyKey ?? id),
            "deadlineMs": JSONValue(now + startToClose),
            "heartbeatTimeoutMs": live.record.timeouts.heartbeatMs.map { JSONValue($0) } ?? .null,
            "heartbeatDetails": live.record.heartbeatDetails ?? .null,
            "workflowId": live.record.workflowId.map { .string($0) } ?? .null,
            "attemptToken": .string(live.attemptToken),
        ])
        // Counted once claimed and sent, so a claim that lost a race is not a started attempt.
        ActivityMetrics.attemptStarted(name, waitedMs: waitedMs)
        // Sent from here, and the answer starts a task where it arrives: no task waits while the
        // worker runs the attempt (docs/performance.md, "Calls to workers keep no task").
        session.connection.call("activity/execute", params: params, id: requestID) { [self] reply in
            Task { await self.attemptReturned(id, attempt: attempt, connectionID: connectionID, reply: reply) }
        }
    }

    func afterSlotFreed(_ connectionID: UInt64) {
        guard let worker = registry.workers[connectionID] else {
            dispatchAll()
            kickClaimsAfterSlotFreed(nil)
            return
        }
        kickClaimsAfterSlotFreed(worker)
        for name in worker.workflows { dispatchWorkflows(name) }
    }

    /// A worker answered attempt `attempt` (or the call failed). Decide, commit, then act.
    func attemptReturned(_ id: String, attempt: Int, connectionID: UInt64, reply: Result<JSONValue, any Error>) async {
        guard var live = tasks[id], live.record.attempt == attempt, live.phase.answered(on: connectionID) else {
            // Superseded: the attempt timed out or was cancelled; its slot was freed then.
            return
        }
        tasks[id] = live
        ActivityMetrics.attemptEnded(live.record.name, ranMs: clock.now() - (live.record.startedAt ?? clock.now()))
        registry.adjustInFlight(connectionID, by: -1)
        limiter.finished(live.record.name)
        var end = AttemptEnd(of: live.record)
        var action = end.answered(reply, now: clock.now())
        if case .checkOutput(let output) = action {
            let errors = await contractErrors(output, name: live.record.name, side: .output)
            if !errors.isEmpty { contractViolated(.activity, live.record.name, .output, errors: errors) }
            action = end.outputChecked(errors: errors, now: clock.now())
        }
        await perform(action, task: live.record)
        afterSlotFreed(connectionID)
    }

    /// Retries per policy or ends the task as failed (`timedOut`: as timed out), for an attempt
    /// that ended without an answer. A failure of an attempt that is no longer current changes nothing.
    func failAttempt(_ id: String, attempt: Int, failure: JSONValue, timedOut: Bool = false) async {
        guard let live = tasks[id], live.record.attempt == attempt else { return }
        var end = AttemptEnd(of: live.record)
        await perform(end.failed(failure, timedOut: timedOut, now: clock.now()), task: live.record)
    }

    /// Does what ``AttemptEnd`` decided for the current attempt of `task`: commits its end or its retry.
    private func perform(_ action: AttemptEnd.Action, task: ActivityTaskRecord) async {
        if let failure = action.failure {
            ActivityMetrics.attemptFailed(task.name, type: failure["type"]?.stringValue ?? "Error")
        }
        switch action {
        case .finish(let status, let output, let failure):
            await finish(task.id, attempt: task.attempt, status: status, output: output, failure: failure)
        case .retry(let runAt, let delay, let failure):
            await commitRetry(task, failure: failure, visibleAt: runAt, delay: delay)
        case .checkOutput, .ignore:
            // The engine answers checkOutput before it gets here; ignore needs nothing.
            break
        }
    }

    /// Commits the retry of the current attempt of `task`: it becomes runnable at `visibleAt`.
    private func commitRetry(_ task: ActivityTaskRecord, failure: JSONValue, visibleAt: EpochMillis, delay: Int64) async {
        let (id, attempt) = (task.id, task.attempt)
        let change = Change.retryTask(id: id, attempt: attempt, runAt: visibleAt, failure: failure)
        let outcome: WriteOutcome
        do {
            outcome = try await applyShared(change)
        } catch {
            // Not durable yet: the task stays `.ending` (no second attempt) until the retry commits.
            _ = storeFailed(error, while: "the retry of task \(id)", background: true)
            retryTaskWrite("the retry of task \(id)", change) { outcome in
                await self.rescheduled(id, attempt: attempt, outcome: outcome, failure: failure, visibleAt: visibleAt, delay: delay)
            }
            return
        }
        rescheduled(id, attempt: attempt, outcome: outcome, failure: failure, visibleAt: visibleAt, delay: delay)
    }

    /// The retry of attempt `attempt` is committed: the task waits out its backoff.
    private func rescheduled(
        _ id: String, attempt: Int, outcome: WriteOutcome, failure: JSONValue, visibleAt: EpochMillis, delay: Int64
    ) {
        let type = failure["type"]?.stringValue ?? "Error"
        if outcome != .applied, tasks[id]?.record.attempt == attempt {
            lateWriteRefused(id, what: "retry of attempt \(attempt)")
            return
        }
        guard outcome == .applied, let current = tasks[id], current.record.attempt == attempt, current.phase.state == .ending
        else { return }
        attemptTraceEnded(id, attempt: attempt, outcome: "retried", failure: failure, terminal: false)
        // Back in the store: whichever node has a free worker claims it after the backoff.
        tasks[id] = nil
        traces.callers[id] = nil
        ActivityMetrics.attemptRetried(current.record.name)
        logger.debug("retrying", metadata: ["task": "\(id)", "attempt": "\(attempt)", "delayMs": "\(delay)", "type": "\(type)"])
    }

    /// Commits a terminal status, then drops the task from memory and wakes its waiters.
    func finish(_ id: String, attempt: Int, status: TaskStatus, output: JSONValue?, failure: JSONValue?) async {
        let now = clock.now()
        let outcome: WriteOutcome
        let step = tasks[id].flatMap { t in
            t.record.workflowId.map { ($0, t.record.generation ?? 0, t.record.stepSeq ?? 0) }
        }
        let change = Change.finishTask(id: id, attempt: attempt, status: status, output: output, failure: failure)
        if let name = tasks[id]?.record.name, let delay = _EngineTestHooks.takeTaskEndDelay(name) {
            try? await Task.sleep(for: delay)
        }
        do {
            outcome = try await applyShared(change)
        } catch {
            // The end is known but not durable. Callers waiting now are told so at once (4001, with
            // the task id to ask again); the commit is retried with backoff and the task stays
            // `.ending` (no new attempt, late answers dropped) until it lands. If Keel stops first,
            // the task is still `running` in the store, so the next start runs the attempt again.
            let failed = storeFailed(error, while: "the end of task \(id)", background: true)
            var answer = failed
            answer.data = ["incident": failed.data?["incident"] ?? .null, "reason": failed.data?["reason"] ?? .null,
                "taskId": .string(id)]
            unstoredEnds[id] = answer
            if let list = waiters.removeValue(forKey: id) { for (_, c) in list { c.resume(returning: nil) } }
            retryTaskWrite("the end of task \(id)", change) { outcome in
                await self.finished(id, outcome: outcome, status: status, output: output, failure: failure, now: now, step: step)
            }
            return
        }
        finished(id, outcome: outcome, status: status, output: output, failure: failure, now: now, step: step)
    }

    /// The end of task `id` is committed (or was refused as stale): drop it from memory, wake waiters.
    private func finished(
        _ id: String, outcome: WriteOutcome, status: TaskStatus, output: JSONValue?, failure: JSONValue?,
        now: EpochMillis, step: (String, Int, Int)?
    ) {
        unstoredEnds[id] = nil
        if outcome != .applied {
            lateWriteRefused(id, what: "end of the attempt (\(status.rawValue))")
            return
        }
        guard outcome == .applied else { return }
        attemptTraceEnded(id, attempt: nil, outcome: status.rawValue, failure: failure, terminal: true)
        // Committed: whoever waits learns the outcome, even if a racing cancel already dropped
        // the task from memory (its own write then found the task ended and changed nothing).
        if var live = tasks.removeValue(forKey: id) {
            ActivityMetrics.taskEnded(live.record.name, status: status)
            live.record.status = status
            live.record.output = output
            live.record.failure = failure
            live.record.completedAt = now
            wake(id, with: live.record)
        }
        if let (wf, generation, seq) = step {
            stepEnded(wf, generation: generation, seq: seq, status: status == .completed ? .completed : .failed,
                result: status == .completed ? output : nil, failure: status == .completed ? nil : failure)
        }
    }

    /// The contract errors of `value` against the registered contract of `name`: the contract is
    /// read on the actor, the validation runs off it.
    func contractErrors(_ value: JSONValue, name: String, side: ActivityContract.Side) async -> [JSONValue] {
        guard let contract = registry.contracts[name] else { return [] }
        return await contractErrors(of: value, against: contract, side)
    }

    static func failure(type: String, message: String, retryable: Bool, details: JSONValue? = nil) -> JSONValue {
        var o: [String: JSONValue] = ["type": .string(type), "message": .string(message), "retryable": .bool(retryable)]
        if let details { o["details"] = details }
        return .object(o)
    }

    /// A worker's failure object with its fields checked: untrusted input never breaks the engine.
    static func normalizedFailure(_ f: JSONValue) -> JSONValue {
        var o: [String: JSONValue] = [
            "type": .string(f["type"]?.stringValue ?? "Error"),
            "message": .string(f["message"]?.stringValue ?? "activity failed"),
            "retryable": .bool(f["retryable"]?.boolValue ?? true),
        ]
        if let after = f["retryAfterMs"]?.int64Value, after >= 0 { o["retryAfterMs"] = JSONValue(after) }
        if let details = f["details"] { o["details"] = details }
        return .object(o)
    }

    /// The failure of an activity's or workflow's output that breaks `name`'s contract (`errors`,
    /// the validator's): not retryable, since the same code would break it again.
    static func outputContractViolation(_ name: String, errors: [JSONValue]) -> JSONValue {
        failure(
            type: "OutputContractViolation", message: "the output breaks the contract of \(name): \(firstMessage(errors))",
            retryable: false, details: ["errors": .array(errors)])
    }

    static func firstMessage(_ errors: [JSONValue]) -> String {
        guard let e = errors.first else { return "" }
        let at = e["instanceLocation"]?.stringValue ?? ""
        return "at \(at.isEmpty ? "/" : at): \(e["message"]?.stringValue ?? "invalid")"
    }
}

import KeelCore
import KeelProtocol
import KeelStorage
import Logging

/// Push dispatch: a task goes to a worker the moment both exist, never by polling.
extension Engine {
    /// Makes a stored task live: queued if runnable now, else waiting on its backoff timer.
    func admit(_ record: ActivityTaskRecord) {
        let now = clock.now()
        var live = LiveTask(record: record, phase: .ready)
        if let ms = record.timeouts.scheduleToCloseMs {
            timers.schedule(record.createdAt + ms, taskID: record.id, kind: .scheduleToClose)
        }
        if record.visibleAt > now {
            live.phase = .backoff
            timers.schedule(record.visibleAt, taskID: record.id, kind: .retryBackoff(attempt: record.attempt))
        } else {
            ready[record.name, default: TaskQueue()].append(record.id)
            if let ms = record.timeouts.scheduleToStartMs {
                timers.schedule(now + ms, taskID: record.id, kind: .scheduleToStart)
            }
        }
        tasks[record.id] = live
    }

    // MARK: - Fast path: store a new task already claimed

    /// A worker slot held for a task about to be stored already claimed (attempt 1), so it needs
    /// one commit before dispatch instead of two. Nil when no worker has room, a rate limit says
    /// wait, or older tasks of the same name are queued (they go first).
    func reserveWorker(for name: String, now: EpochMillis) -> UInt64? {
        guard ready[name]?.isEmpty ?? true, let worker = registry.pickWorker(for: name),
            limiter.tryStart(name, now: now) == nil
        else { return nil }
        registry.adjustInFlight(worker, by: 1)
        return worker
    }

    /// Gives back a reservation whose task was not stored.
    func cancelReservation(_ worker: UInt64, name: String) {
        registry.adjustInFlight(worker, by: -1)
        limiter.finished(name)
        afterSlotFreed(worker)
    }

    /// Makes a just-stored task live: started on its reserved worker, or queued.
    func launch(_ task: ActivityTaskRecord, reserved: UInt64?) async {
        guard let reserved else {
            admit(task)
            dispatch(task.name)
            return
        }
        registry.adjustInFlight(reserved, by: -1)  // start() takes the slot for real
        tasks[task.id] = LiveTask(record: task, phase: .ready)
        if let ms = task.timeouts.scheduleToCloseMs {
            timers.schedule(task.createdAt + ms, taskID: task.id, kind: .scheduleToClose)
        }
        if sessions[reserved] != nil, registry.workers[reserved] != nil {
            start(task.id, on: reserved, claimed: true)
        } else {
            // The worker left while we committed: this attempt never ran; retry it.
            limiter.finished(task.name)
            tasks[task.id]?.phase = .ending
            await failAttempt(task.id, attempt: 1,
                failure: Self.failure(type: "WorkerLost", message: "the worker left before the attempt started", retryable: true))
        }
    }

    func dispatchAll() {
        for name in ready.keys { dispatch(name) }
        for name in workflowQueue.keys { dispatchWorkflows(name) }
    }

    /// Hands ready tasks of activity `name` to workers while both last.
    func dispatch(_ name: String) {
        guard !shuttingDown else { return }
        while var queue = ready[name], !queue.isEmpty, let connectionID = registry.pickWorker(for: name) {
            if let retryAt = limiter.tryStart(name, now: clock.now()) {
                if retryAt != .max, !rateLimitTimers.contains(name) {
                    rateLimitTimers.insert(name)
                    timers.schedule(retryAt, taskID: name, kind: .rateLimit)
                }
                return
            }
            let id = queue.popFirst()!
            ready[name] = queue
            guard let live = tasks[id], case .ready = live.phase else {
                limiter.finished(name)
                continue
            }
            start(id, on: connectionID, claimed: false)
        }
        if ready[name]?.isEmpty == true { ready[name] = nil }
    }

    /// Starts the next attempt of task `id` on a worker. When `claimed` is false the claim is
    /// committed first; a task inserted already running (the fast path of `activity/call`) is claimed.
    func start(_ id: String, on connectionID: UInt64, claimed: Bool) {
        guard var live = tasks[id], let session = sessions[connectionID] else { return }
        if !claimed { live.record.attempt += 1 }
        let attempt = live.record.attempt
        let requestID = session.connection.makeRequestID()
        live.phase = .running(connectionID: connectionID, requestID: requestID)
        live.record.status = .running
        let now = clock.now()
        live.record.startedAt = now
        live.attemptToken = AttemptToken.make()
        tasks[id] = live
        registry.adjustInFlight(connectionID, by: 1)

        let startToClose = live.record.timeouts.startToCloseMs ?? ActivityTimeouts.defaultStartToCloseMs
        timers.schedule(now + startToClose, taskID: id, kind: .startToClose(attempt: attempt))
        if let hb = live.record.timeouts.heartbeatMs {
            timers.schedule(now + hb, taskID: id, kind: .heartbeat(attempt: attempt))
        }
        let params: JSONValue = [
            "taskId": .string(id), "name": .string(live.record.name), "input": live.record.input,
            "attempt": JSONValue(attempt), "idempotencyKey": .string(live.record.idempotencyKey ?? id),
            "deadlineMs": JSONValue(now + startToClose),
            "heartbeatTimeoutMs": live.record.timeouts.heartbeatMs.map { JSONValue($0) } ?? .null,
            "heartbeatDetails": live.record.heartbeatDetails ?? .null,
            "workflowId": live.record.workflowId.map { .string($0) } ?? .null,
            "attemptToken": .string(live.attemptToken),
        ]
        let connection = session.connection
        let storage = self.storage
        enqueue { [self] in
            if !claimed {
                let outcome: WriteOutcome
                do {
                    outcome = try await storage.write { try $0.claimActivityTask(id: id, attempt: attempt, now: now) }
                } catch {
                    await self.claimFailed(id, attempt: attempt, connectionID: connectionID, error: error)
                    return
                }
                guard outcome == .applied else {
                    await self.claimFailed(id, attempt: attempt, connectionID: connectionID, error: nil)
                    return
                }
            }
            let reply: Result<JSONValue, any Error>
            do {
                reply = .success(try await connection.call("activity/execute", params: params, id: requestID))
            } catch {
                reply = .failure(error)
            }
            await self.attemptReturned(id, attempt: attempt, connectionID: connectionID, reply: reply)
        }
    }

    /// The claim did not commit: the task was cancelled meanwhile, or the store failed.
    func claimFailed(_ id: String, attempt: Int, connectionID: UInt64, error: (any Error)?) {
        registry.adjustInFlight(connectionID, by: -1)
        if let name = tasks[id]?.record.name { limiter.finished(name) }
        if let error { logger.error("claim failed", metadata: ["task": "\(id)", "error": "\(error)"]) }
        if var live = tasks[id], live.record.attempt == attempt, live.isRunning {
            // Store failure: put it back and let the next dispatch try again.
            live.record.attempt -= 1
            live.phase = .ready
            live.record.status = .scheduled
            tasks[id] = live
            ready[live.record.name, default: TaskQueue()].append(id)
        }
        afterSlotFreed(connectionID)
    }

    func afterSlotFreed(_ connectionID: UInt64) {
        guard let worker = registry.workers[connectionID] else {
            dispatchAll()
            return
        }
        for name in worker.activities { dispatch(name) }
        for name in worker.workflows { dispatchWorkflows(name) }
    }

    /// A worker answered attempt `attempt` (or the call failed). Decide, commit, then act.
    func attemptReturned(_ id: String, attempt: Int, connectionID: UInt64, reply: Result<JSONValue, any Error>) async {
        guard let live = tasks[id], live.record.attempt == attempt,
            case .running(let runningOn, _) = live.phase, runningOn == connectionID
        else {
            // Superseded: the attempt timed out or was cancelled; its slot was freed then.
            return
        }
        registry.adjustInFlight(connectionID, by: -1)
        limiter.finished(live.record.name)
        tasks[id]?.phase = .ending
        let failure: JSONValue
        switch reply {
        case .success(let result):
            if let output = result["output"] {
                let errors = contractErrors(output, name: live.record.name, schema: \.output)
                if errors.isEmpty {
                    await finish(id, attempt: attempt, status: .completed, output: output, failure: nil)
                } else {
                    let f = Self.failure(
                        type: "OutputContractViolation",
                        message: "the output breaks the contract of \(live.record.name): \(Self.firstMessage(errors))",
                        retryable: false, details: ["errors": .array(errors)])
                    await finish(id, attempt: attempt, status: .failed, output: nil, failure: f)
                }
                afterSlotFreed(connectionID)
                return
            }
            if let f = result["failure"], case .object = f {
                failure = Self.normalizedFailure(f)
            } else {
                failure = Self.failure(
                    type: "ProtocolError", message: "activity/execute result has neither output nor failure",
                    retryable: true)
            }
        case .failure(let error as KeelError) where error.code == .connectionClosed:
            failure = Self.failure(type: "WorkerLost", message: "the worker disconnected during the attempt", retryable: true)
        case .failure(let error as KeelError):
            failure = Self.failure(type: "WorkerError", message: "the worker answered with an error: \(error.message)", retryable: true)
        case .failure(let error):
            failure = Self.failure(type: "WorkerError", message: "\(error)", retryable: true)
        }
        await failAttempt(id, attempt: attempt, failure: failure)
        afterSlotFreed(connectionID)
    }

    /// Retries per policy or ends the task as failed.
    func failAttempt(_ id: String, attempt: Int, failure: JSONValue, timedOut: Bool = false) async {
        guard let live = tasks[id] else { return }
        let policy = live.record.retryPolicy
        let type = failure["type"]?.stringValue ?? "Error"
        let retryable = failure["retryable"]?.boolValue ?? true
        let now = clock.now()
        var delay = policy.delay(afterAttempt: attempt)
        if let after = failure["retryAfterMs"]?.int64Value, after > delay { delay = min(after, 24 * 3_600_000) }
        let closeDeadline = live.record.timeouts.scheduleToCloseMs.map { live.record.createdAt + $0 }
        let canRetry = retryable && !policy.nonRetryableErrorTypes.contains(type)
            && policy.allowsAttempt(after: attempt) && closeDeadline.map { now + delay < $0 } ?? true
        guard canRetry else {
            await finish(id, attempt: attempt, status: timedOut ? .timedOut : .failed, output: nil, failure: failure)
            return
        }
        let visibleAt = now + delay
        let outcome = try? await storage.write {
            try $0.rescheduleActivityTask(id: id, attempt: attempt, visibleAt: visibleAt, failure: failure)
        }
        guard outcome == .applied, var current = tasks[id], current.record.attempt == attempt else { return }
        current.record.status = .scheduled
        current.record.failure = failure
        current.record.visibleAt = visibleAt
        current.phase = .backoff
        tasks[id] = current
        logger.debug("retrying", metadata: ["task": "\(id)", "attempt": "\(attempt)", "delayMs": "\(delay)", "type": "\(type)"])
        timers.schedule(visibleAt, taskID: id, kind: .retryBackoff(attempt: attempt))
    }

    /// Commits a terminal status, then drops the task from memory and wakes its waiters.
    func finish(_ id: String, attempt: Int, status: TaskStatus, output: JSONValue?, failure: JSONValue?) async {
        let now = clock.now()
        let outcome: WriteOutcome
        let step = tasks[id].flatMap { t in
            t.record.workflowId.map { ($0, t.record.generation ?? 0, t.record.stepSeq ?? 0) }
        }
        do {
            outcome = try await storage.write { tx in
                let o = try tx.finishActivityTask(id: id, attempt: attempt, status: status, output: output, failure: failure, now: now)
                if o == .applied, let (wf, generation, seq) = step {
                    _ = try tx.completeJournalEntry(
                        workflowId: wf, generation: generation, seq: seq, status: status == .completed ? .completed : .failed,
                        result: status == .completed ? output : nil, failure: status == .completed ? nil : failure, now: now)
                }
                return o
            }
        } catch {
            logger.error("cannot record a task's end; it stays open", metadata: ["task": "\(id)", "error": "\(error)"])
            return
        }
        guard outcome == .applied else { return }
        // Committed: whoever waits learns the outcome, even if a racing cancel already dropped
        // the task from memory (its own write then found the task ended and changed nothing).
        if var live = tasks.removeValue(forKey: id) {
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

    /// Reads the contract errors of `value` against the registered contract of `name`.
    func contractErrors(_ value: JSONValue, name: String, schema: KeyPath<ActivityContract, JSONValue>) -> [JSONValue] {
        guard let contract = registry.contracts[name] else { return [] }
        return checker.errors(of: value, against: contract[keyPath: schema])
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

    static func firstMessage(_ errors: [JSONValue]) -> String {
        guard let e = errors.first else { return "" }
        let at = e["instanceLocation"]?.stringValue ?? ""
        return "at \(at.isEmpty ? "/" : at): \(e["message"]?.stringValue ?? "invalid")"
    }
}

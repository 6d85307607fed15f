import KeelCore
import KeelProtocol
import KeelStorage
import Logging

/// Every timeout and backoff runs off one timer queue and one loop.
extension Engine {
    /// Fires due timers, drops the earliest ones that no longer guard anything
    /// (``timerIsVoid(_:)``), then sleeps until the next deadline (at most `maxTimerSleepMs`),
    /// or until a timer earlier than all others is set (``TimerQueue/onNewEarliest``). An idle
    /// orchestrator with a timer days away wakes once per `maxTimerSleepMs`, not 200 times a
    /// second; a busy one does not wake for each step's hold and attempt's timeout that ended
    /// before its deadline (a long workflow of 1 ms steps woke it every millisecond).
    func timerLoop() async {
        let wake = timerWake
        timers.onNewEarliest = { wake.fire() }
        while !Task.isCancelled {
            timerLoopRounds += 1
            await fireDueTimers()
            timers.dropLeading { timerIsVoid($0) }
            compactTimersIfGrown()
            let untilNext = timers.nextDeadline.map { $0 - clock.now() } ?? options.maxTimerSleepMs
            let pause = min(max(untilNext, 0), options.maxTimerSleepMs)
            await timerWake.wait(upTo: .milliseconds(pause))
        }
    }

    /// Removes the void timers from the whole queue once it holds twice what it held after the
    /// last time (at least ``timerCompactionMinimum``). Dropping from the front alone left them
    /// behind any earlier timer that still guards something: a caller waiting five minutes on a
    /// result kept every attempt's timeout set after it, thousands a second under load, until its
    /// own ended. Each pass is paid for by the insertions since the last.
    func compactTimersIfGrown() {
        guard timers.count >= timerCompactionAt else { return }
        timers.removeAll { timerIsVoid($0) }
        timerCompactionAt = max(Self.timerCompactionMinimum, 2 * timers.count)
    }

    /// Below this many timers the queue is left as it is.
    static let timerCompactionMinimum = 1_024

    func fireDueTimers() async {
        let due = timers.popDue(now: clock.now())
        for entry in due { await fire(entry) }
    }

    /// Whether `entry` firing would do nothing, now and later: what it guards is gone for good
    /// (a waiter that was answered, a held step that was answered or whose run was superseded,
    /// an attempt that ended or was followed by another). False when unsure: such an entry
    /// stays and fires, as every entry did before this check (``fire(_:)`` checks again).
    func timerIsVoid(_ entry: TimerEntry) -> Bool {
        let id = entry.taskID
        switch entry.kind {
        case .waiterTimeout(let waiterID): return waiters[id]?[waiterID] == nil
        case .workflowWaiterTimeout(let waiterID): return workflowWaiters[id]?[waiterID] == nil
        case .streamWaiterTimeout(let waiterID): return streamWaiters[id]?[waiterID] == nil
        case .updateWaiterTimeout(let waiterID): return updateWaiters[id]?[waiterID] == nil
        case .stepHold(let epoch, let seq):
            // A new hold of the same step sets its own timer.
            guard let live = workflows[id], live.record.epoch == epoch else { return true }
            return live.held[seq]?.isEmpty != false
        case .startToClose(let attempt), .heartbeat(let attempt):
            // A later attempt has a number of its own; one that left this node comes back as one.
            guard let live = tasks[id] else { return true }
            return live.record.attempt != attempt
        case .scheduleToClose, .workflowDeadline, .scheduleSlot:
            return false
        }
    }

    private func fire(_ entry: TimerEntry) async {
        let id = entry.taskID
        switch entry.kind {
        case .waiterTimeout(let waiterID):
            waiters[id]?.removeValue(forKey: waiterID)?.resume(returning: nil)
            if waiters[id]?.isEmpty == true { waiters[id] = nil }
            return
        case .workflowWaiterTimeout(let waiterID):
            workflowWaiters[id]?.removeValue(forKey: waiterID)?.resume(returning: nil)
            if workflowWaiters[id]?.isEmpty == true { workflowWaiters[id] = nil }
            return
        case .streamWaiterTimeout(let waiterID):
            streamWaitEnded(id, waiterID: waiterID)
            return
        case .updateWaiterTimeout(let waiterID):
            updateWaitEnded(id, waiterID: waiterID)
            return
        case .stepHold(let epoch, let seq):
            await stepHoldExpired(id, epoch: epoch, seq: seq)
            return
        case .workflowDeadline(let generation):
            await workflowDeadlinePassed(id, generation: generation)
            return
        case .scheduleSlot:
            await scheduleDue(id, armedFor: entry.deadline)
            return
        default:
            break
        }
        guard let live = tasks[id] else { return }
        switch entry.kind {
        case .startToClose(let attempt):
            guard live.record.attempt == attempt, live.isRunning else { return }
            ActivityMetrics.timedOut(live.record.name, .startToClose)
            await timeOutAttempt(id, attempt: attempt, type: "StartToCloseTimeout",
                message: "attempt \(attempt) ran past its start-to-close timeout")
        case .heartbeat(let attempt):
            guard live.record.attempt == attempt, live.isRunning, let hb = live.record.timeouts.heartbeatMs else { return }
            let last = max(live.lastHeartbeatAt, live.record.startedAt ?? 0)
            if last + hb > clock.now() {
                timers.schedule(last + hb, taskID: id, kind: .heartbeat(attempt: attempt))
                return
            }
            ActivityMetrics.timedOut(live.record.name, .heartbeat)
            await timeOutAttempt(id, attempt: attempt, type: "HeartbeatTimeout",
                message: "attempt \(attempt) sent no heartbeat for \(hb) ms")
        case .scheduleToClose:
            ActivityMetrics.timedOut(live.record.name, .scheduleToClose)
            stopRunningAttempt(id, reason: "schedule-to-close timeout")
            let f = Self.failure(type: "ScheduleToCloseTimeout",
                message: "\(live.record.name) did not finish within its schedule-to-close timeout", retryable: false)
            await finish(id, attempt: live.record.attempt, status: .timedOut, output: nil, failure: f)
        case .waiterTimeout, .workflowWaiterTimeout, .streamWaiterTimeout, .updateWaiterTimeout, .stepHold, .workflowDeadline,
            .scheduleSlot:
            break
        }
    }

    /// Ends a running attempt that timed out: the worker is told to cancel, its slot is freed,
    /// and the task is retried per policy.
    private func timeOutAttempt(_ id: String, attempt: Int, type: String, message: String) async {
        let connectionID = stopRunningAttempt(id, reason: message)
        let f = Self.failure(type: type, message: message, retryable: true)
        await failAttempt(id, attempt: attempt, failure: f, timedOut: true)
        if let connectionID { afterSlotFreed(connectionID) }
    }

    /// Detaches a running attempt from its worker: cancel notification, late answer dropped, slot
    /// freed. Returns the worker's connection id, or nil if the task was not running.
    @discardableResult
    func stopRunningAttempt(_ id: String, reason: String) -> UInt64? {
        guard var live = tasks[id], let (connectionID, requestID) = live.phase.stop() else { return nil }
        tasks[id] = live
        ActivityMetrics.attemptEnded(live.record.name, ranMs: clock.now() - (live.record.startedAt ?? clock.now()))
        registry.adjustInFlight(connectionID, by: -1)
        limiter.finished(live.record.name)
        if let connection = sessions[connectionID]?.connection {
            connection.notify(
                "activity/cancel",
                params: ["taskId": .string(id), "attempt": JSONValue(live.record.attempt), "reason": .string(reason)])
            connection.abandon(requestID, with: KeelError(.activityCancelled, reason))
        }
        return connectionID
    }

    // MARK: - Waiting for results

    /// The task's final record once it ends, its current record when `timeoutMs` passes first,
    /// or nil when no such task exists.
    func waitForEnd(_ id: String, timeoutMs: Int64, stored known: ActivityTaskRecord? = nil) async throws
        -> ActivityTaskRecord?
    {
        var open = tasks[id]?.record
        if open == nil {
            // Queued or running on another node: wait here; the remote-wait loop sees its end.
            let current: ActivityTaskRecord?
            if let known { current = known } else { current = try await readTask(id) }
            guard let stored = current, !stored.status.isTerminal else { return current }
            open = tasks[id]?.record ?? stored
        }
        if let current = open {
            if timeoutMs <= 0 { return current }
            nextWaiterID += 1
            let waiterID = nextWaiterID
            timers.schedule(clock.now() + timeoutMs, taskID: id, kind: .waiterTimeout(waiterID: waiterID))
            let ended = await withCheckedContinuation { continuation in
                waiters[id, default: [:]][waiterID] = .task(continuation)
            }
            if let ended { return ended }
            if let unstored = unstoredEnds[id] { throw unstored }
            if let live = tasks[id] { return live.record }
            return try await readTask(id)
        }
        return try await readTask(id)
    }

    /// The task as the store has it.
    func readTask(_ id: String) async throws -> ActivityTaskRecord? {
        try await cluster.store.task(id: id)
    }

    func wake(_ id: String, with record: ActivityTaskRecord) {
        guard let list = waiters.removeValue(forKey: id) else { return }
        for (_, c) in list { c.resume(returning: record) }
    }
}

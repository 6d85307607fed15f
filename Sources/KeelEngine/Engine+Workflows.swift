import KeelCore
import KeelProtocol
import KeelStorage
import Logging

/// Workflow runs: dispatch to a worker, the run's outcome, completion, recovery.
extension Engine {
    func requeue(_ id: String) {
        guard var live = workflows[id] else { return }
        live.phase.requeue()
        live.wakePending = false
        live.queuedAt = clock.now()
        workflows[id] = live
        workflowQueue[live.record.name, default: TaskQueue()].append(id, precedence: live.record.precedence)
        dispatchWorkflows(live.record.name)
    }

    /// Starts runs of queued executions of `name` while workers have room. An execution pinned to
    /// a build no connected worker with room can run keeps its place; later ones go ahead of it.
    func dispatchWorkflows(_ name: String) {
        // With no free slot nothing is touched; else the queue is taken out of `workflowQueue` and
        // changed in place. Rebuilding it on every call (each activity's end calls this) was most
        // of a node's CPU with thousands of executions waiting for a run slot.
        guard !shuttingDown, workflowQueue[name] != nil, registry.freeWorkflowSlots(for: name, canSend: { canSend($0) }) > 0,
            var queue = workflowQueue.removeValue(forKey: name)
        else { return }
        var skipped: [String] = []
        while !queue.isEmpty, registry.freeWorkflowSlots(for: name, canSend: { canSend($0) }) > 0 {
            let id = queue.popFirst()!
            guard let live = workflows[id], live.phase.isPending else { continue }
            guard let connectionID = registry.pickWorkflowWorker(for: name, build: live.record.buildId, canSend: { canSend($0) })
            else {
                skipped.append(id)
                continue
            }
            // Starts the run; its store write and send run after this returns (`enqueue`).
            startRun(id, on: connectionID, claimed: live.claimed)
        }
        if !skipped.isEmpty {
            // Executions no free worker may run (pinned to another build) keep their place ahead.
            var kept = TaskQueue()
            for id in skipped + Array(sequence(state: queue) { $0.popFirst() }) {
                kept.append(id, precedence: workflows[id]?.record.precedence ?? .standard)
            }
            queue = kept
        }
        workflowQueue[name] = queue.isEmpty ? nil : queue
    }

    /// Whether run request `requestID` is still the live run of execution `id`.
    func isLiveRun(_ id: String, requestID: RPCID) -> Bool {
        workflows[id]?.phase.runningOn?.requestID == requestID
    }

    /// Starts a run. `claimed`: the execution was stored already running at this epoch.
    func startRun(_ id: String, on connectionID: UInt64, claimed: Bool = false) {
        guard var live = workflows[id], let session = sessions[connectionID] else { return }
        let previousEpoch = live.record.epoch
        if !claimed { live.record.epoch += 1 }
        // The first run on a versioned worker pins the execution to its build (docs/versioning.md).
        if live.record.buildId == nil, let build = registry.workers[connectionID]?.buildId { live.record.buildId = build }
        live.record.status = .running
        live.record.updatedAt = clock.now()
        let requestID = session.connection.makeRequestID()
        guard live.phase.start(on: connectionID, request: requestID) else {
            logger.error("an execution that is not queued was not run", metadata: ["workflow": "\(id)", "phase": "\(live.phase.state)"])
            return
        }
        live.held = [:]
        live.wakePending = false
        live.runToken = AttemptToken.make()
        live.claimed = false
        live.stepNotRecorded = false
        // A run stored already claimed (the fast path of workflow/start) never queued.
        let waitedMs = claimed ? 0 : live.record.updatedAt - live.queuedAt
        workflows[id] = live
        registry.adjustWorkflowsInFlight(connectionID, by: 1)
        let record = live.record
        let params: JSONValue = Self.adding(traceparent: workflowTraceParent(id), to: [
            "workflowId": .string(id), "runId": JSONValue(record.epoch), "name": .string(record.name),
            "input": record.input, "journal": live.journalJSON, "cancelRequested": .bool(record.cancelRequested),
            "attemptToken": .string(live.runToken),
        ])
        let connection = session.connection
        let ledger = self.ledger
        // Charged against the worker's queue until written, as for activity/execute.
        let reservation = Self.dispatchBytes(params)
        connection.outbound.reserve(reservation)
        enqueue { [self] in
            let outcome: WriteOutcome
            do {
                outcome = claimed ? .applied : try await ledger.update(record, expectedEpoch: previousEpoch)
            } catch {
                connection.outbound.release(reservation)
                _ = self.storeFailed(error, while: "the start of a run of workflow \(id)", background: true)
                await self.runStartFailed(id, epoch: record.epoch, previousEpoch: previousEpoch, connectionID: connectionID)
                return
            }
            connection.outbound.release(reservation)
            guard outcome == .applied else {
                await self.runSuperseded(id, epoch: record.epoch, connectionID: connectionID)
                return
            }
            // Stopped while its start was committed (a deadline, a terminate): the worker was
            // told `workflow/cancel` already, so it must not be asked to run it after that.
            guard await self.isLiveRun(id, requestID: requestID) else {
                await self.runEnded(id, epoch: record.epoch, connectionID: connectionID,
                    reply: .failure(KeelError(.attemptSuperseded, "workflow \(id)'s run was stopped before it was sent")))
                return
            }
            WorkflowMetrics.runStarted(record.name, waitedMs: waitedMs)
            // The run's answer starts a task where it arrives: no task waits as long as the run lasts.
            connection.call("workflow/run", params: params, id: requestID) { reply in
                Task { await self.runEnded(id, epoch: record.epoch, connectionID: connectionID, reply: reply) }
            }
        }
    }

    /// The start of a run (its new epoch) did not commit: nothing was sent; the run is tried again
    /// after a pause, from the epoch the store still has.
    func runStartFailed(_ id: String, epoch: Int, previousEpoch: Int, connectionID: UInt64) {
        guard workflows[id]?.record.epoch == epoch, workflows[id]?.phase.returned(on: connectionID) == true else { return }
        registry.adjustWorkflowsInFlight(connectionID, by: -1)
        workflows[id]?.record.epoch = previousEpoch
        releaseHeld(id)
        requeueAfterStoreFailure(id)
        afterSlotFreed(connectionID)
    }

    /// Answers every held step of a run with `answer` (suspend when the run ends).
    func releaseHeld(_ id: String, answer: JSONValue = ["status": "suspend"]) {
        guard let held = workflows[id]?.held, !held.isEmpty else { return }
        workflows[id]?.held = [:]
        for (_, list) in held { for c in list { c.resume(returning: answer) } }
    }

    /// A run returned (or its worker went away). Decide, commit, act.
    func runEnded(_ id: String, epoch: Int, connectionID: UInt64, reply: Result<JSONValue, any Error>) async {
        guard workflows[id]?.record.epoch == epoch, workflows[id]?.phase.returned(on: connectionID) == true,
            let live = workflows[id]
        else { return }
        registry.adjustWorkflowsInFlight(connectionID, by: -1)
        releaseHeld(id)
        defer { afterSlotFreed(connectionID) }
        let contract = registry.workflowContracts[live.record.name]
        var end = RunEnd(of: live.record, stepNotRecorded: live.stepNotRecorded, hasOutputContract: contract != nil)
        var action = end.answered(reply)
        if case .checkOutput(let output) = action, let contract {
            let errors = await contractErrors(of: output, against: contract, .output)
            if !errors.isEmpty { contractViolated(.workflow, live.record.name, .output, errors: errors) }
            action = end.outputChecked(errors: errors)
        }
        await perform(action, workflow: id, connectionID: connectionID)
    }

    /// Does what ``RunEnd`` decided for the run of workflow `id` that ended on `connectionID`.
    private func perform(_ action: RunEnd.Action, workflow id: String, connectionID: UInt64) async {
        switch action {
        case .runAgain(.interrupted(let error, let draining)):
            logger.info("workflow run interrupted; it will run again", metadata: ["workflow": "\(id)", "error": "\(error)"])
            // The worker is draining: send it nothing more (it refuses), or this run would bounce back to it.
            if draining { drainingWorkers.insert(connectionID) }
            requeue(id)
        case .runAgain(.stepNotRecorded(let answer)):
            logger.warning("a step of this run was not recorded (the store failed); running the workflow again",
                metadata: ["workflow": "\(id)", "answer": "\(answer)"])
            requeueAfterStoreFailure(id)
        case .end(let status, let output, let failure):
            await endWorkflow(id, status: status, output: output, failure: failure)
        case .park(let reason, let failure):
            if reason == .malformedAnswer {
                // Running it again would only get the same answer: parked with the reason, so that
                // `workflow/describe` shows it as `lastError` and `workflow/resume` runs it once fixed.
                logger.error("workflow/run answer is malformed; parking the workflow",
                    metadata: ["workflow": "\(id)", "reason": "\(failure["message"]?.stringValue ?? "")"])
            }
            await park(id, failure: failure)
        case .suspend:
            if acceptSuspension(id) { await suspend(id) }
        case .continueAsNew(let input):
            await continueAsNew(id, input: input)
        case .checkOutput, .ignore:
            // The run's end answers checkOutput before it gets here; ignore needs nothing.
            break
        }
    }

    private func suspend(_ id: String) async {
        guard var live = workflows[id] else { return }
        if live.wakePending {
            requeue(id)
            return
        }
        live.record.status = .suspended
        live.record.updatedAt = clock.now()
        let record = live.record
        let outcome: ChangeOutcome
        do {
            outcome = try await ledger.suspend(record, seenEvents: live.seenEvents)
        } catch {
            // Not durable: the store still says running. Run it again later rather than claim it suspended.
            _ = storeFailed(error, while: "the suspension of workflow \(id)", background: true)
            requeueAfterStoreFailure(id)
            return
        }
        workflowStoreFailures[id] = nil
        await sharedSuspended(id, epoch: record.epoch, outcome: outcome)
    }

    private func continueAsNew(_ id: String, input: JSONValue) async {
        guard var live = workflows[id] else { return }
        live.record.generation += 1
        live.record.input = input
        live.record.status = .pending
        live.record.updatedAt = clock.now()
        // The run timeout starts over with each generation; the execution timeout does not.
        live.record.runDeadline = live.record.runTimeoutMs.map { live.record.updatedAt.addingSaturating($0) }
        let record = live.record
        let outcome: WriteOutcome
        do {
            outcome = try await ledger.update(record, expectedEpoch: record.epoch)
        } catch {
            // The old generation stays current: its run is replayed later and asks again.
            _ = storeFailed(error, while: "the continue-as-new of workflow \(id)", background: true)
            requeueAfterStoreFailure(id)
            return
        }
        workflowStoreFailures[id] = nil
        guard outcome == .applied, var current = workflows[id] else { return }
        current.record = record
        current.journal = [:]
        workflows[id] = current
        scheduleDeadlines(record)
        requeue(id)
    }

    func park(_ id: String, failure: JSONValue) async {
        guard var live = workflows[id] else { return }
        releaseHeld(id)
        live.record.status = .parked
        live.record.failure = failure
        live.record.updatedAt = clock.now()
        let record = live.record
        do {
            _ = try await ledger.update(record, expectedEpoch: record.epoch)
        } catch {
            // Not parked in the store: run it again later; it reaches the same failure and parks then.
            _ = storeFailed(error, while: "parking workflow \(id)", background: true)
            requeueAfterStoreFailure(id)
            return
        }
        workflows[id]?.record = record
        workflows[id]?.phase.park()
        WorkflowMetrics.parked(record.name)
        // A parked execution is unowned: it leaves this node's memory, and a resume asked on any
        // node makes it claimable again.
        letGo(id)
        logger.error("workflow parked", metadata: ["workflow": "\(id)", "reason": "\(failure["message"]?.stringValue ?? "")"])
    }

    /// Commits a terminal status (and the parent's child entry, and `closing`'s steps and tasks,
    /// in the same transaction), then drops the execution from memory and wakes whoever waits.
    func endWorkflow(
        _ id: String, status: WorkflowStatus, output: JSONValue?, failure: JSONValue?, closing: ClosingSteps? = nil
    ) async {
        guard var live = workflows[id] else { return }
        // No run may start while the end is being committed (a pending execution cancelled early).
        // Its callers end a run that returned or never ran; one still under way would be detached
        // as a reset detaches one (its answer then counts for nothing), freeing its worker's slot.
        if let run = workflows[id]?.phase.close() {
            registry.adjustWorkflowsInFlight(run.connectionID, by: -1)
            afterSlotFreed(run.connectionID)
        }
        let now = clock.now()
        live.record.status = status
        live.record.output = output
        live.record.failure = failure
        live.record.updatedAt = now
        let record = live.record
        let outcome: WriteOutcome
        do {
            outcome = try await ledger.finish(record, closing: closing)
        } catch {
            // Not durable: the store still says running; replay reaches the same end and commits it then.
            _ = storeFailed(error, while: "the end of workflow \(id)", background: true)
            requeueAfterStoreFailure(id)
            return
        }
        if outcome != .applied {
            await runSuperseded(id, epoch: record.epoch, connectionID: nil)
            return
        }
        guard outcome == .applied else { return }
        WorkflowMetrics.closed(record.name, status: status, livedMs: now - record.createdAt)
        workflows[id] = nil
        workflowStoreFailures[id] = nil
        workflowTraceEnded(id, status: status, failure: failure)
        if let list = workflowWaiters.removeValue(forKey: id) { for (_, c) in list { c.resume(returning: record) } }
        streamAdvanced(id)
        updatesAdvanced(id)
        await scheduledWorkflowEnded(id)
        logger.debug("workflow ended", metadata: ["workflow": "\(id)", "status": "\(status.rawValue)"])
        if let parent = record.parentId, let seq = record.parentSeq {
            stepEnded(parent, generation: record.parentGeneration ?? 0, seq: seq,
                status: status == .completed ? .completed : .failed, result: status == .completed ? output : nil,
                failure: status == .completed ? nil : Self.childFailure(record))
        }
    }

    static func childFailure(_ child: WorkflowRecord) -> JSONValue {
        if child.status == .cancelled {
            return failure(type: "Cancelled", message: "child workflow \(child.id) was cancelled", retryable: false)
        }
        var f = child.failure ?? failure(type: "ChildWorkflowFailed", message: "child workflow \(child.id) failed", retryable: false)
        if case .object(var o) = f { o["childWorkflowId"] = .string(child.id); f = .object(o) }
        return f
    }

    /// An entry ended (already committed): update memory and hand the outcome to whoever waits.
    /// The execution is changed in place: a copy taken out and put back would copy its journal.
    func stepEnded(_ id: String, generation: Int, seq: Int, status: StepStatus, result: JSONValue?, failure: JSONValue?) {
        guard let i = workflows.index(forKey: id), workflows.values[i].record.generation == generation,
            var entry = workflows.values[i].journal[seq]
        else { return }
        entry.status = status
        entry.result = result
        entry.failure = failure
        entry.completedAt = clock.now()
        workflows.values[i].journal[seq] = entry
        let held = workflows.values[i].held.removeValue(forKey: seq) ?? []
        if held.isEmpty {
            switch workflows.values[i].phase.state {
            case .running, .ending:
                workflows.values[i].wakePending = true
            case .pending, .parked:
                break
            }
        }
        for c in held { c.resume(returning: entry.stepAnswer) }
    }
}

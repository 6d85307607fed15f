import KeelCore
import KeelProtocol
import KeelStorage
import Logging
import Metrics

/// Workflow executions across the nodes sharing one store (docs/scaling.md, "Workflows across
/// nodes").
///
/// An execution belongs to one node while it runs: the node that claims it (the claim raises its
/// epoch) replays its journal on a local workflow worker, and every write of the run is fenced by
/// that epoch. When the run waits (it suspends), the execution is parked in the store with no
/// owner, fenced by its event counter, and leaves this node's memory; the event it waits for — a
/// task finished on any node, a timer fired by any node, a signal or a cancel sent to any node, a
/// child's end — makes it claimable again, by whichever node has a free worker for it.
extension Engine {
    /// Claims ready executions for every workflow name a local worker serves, up to its free
    /// slots, and queues them for a run here.
    func claimWorkflows(_ cluster: ClusterNode, lease: NodeLease) async {
        for name in registry.servedWorkflows.sorted() {
            let free = registry.freeWorkflowSlots(for: name, canSend: { canSend($0) }) - (workflowQueue[name]?.count ?? 0)
            guard free > 0 else {
                claimBacklog.claimedWorkflows(name, asked: 0, got: 0)
                continue
            }
            let limit = min(free, cluster.claimBatch)
            let claimed: [ExecutionState]
            executionClaimsRunning += 1
            defer { executionClaimsRunning -= 1 }
            do {
                claimed = try await cluster.store.claimExecutions(
                    names: [name], limit: limit, node: lease, builds: registry.buildChoice(for: name))
                claimBacklog.claimedWorkflows(name, asked: limit, got: claimed.count)
            } catch {
                // A claim that committed unseen is this node's without its knowing: the cluster
                // loop's look for unknown executions gives it back (releaseUnknownExecutions).
                _ = storeFailed(error, while: "a claim of \(name) executions", background: true)
                return
            }
            executionsInFlight.formUnion(claimed.map(\.record.id))
            for state in claimed { await admitClaimed(state) }
        }
    }

    /// Makes an execution this node just claimed live: its journal, the signals that came for its
    /// waiting steps, a cancel asked meanwhile; then queues its run.
    func admitClaimed(_ state: ExecutionState) async {
        let id = state.record.id
        executionsInFlight.insert(id)
        var loadingAgain = false
        defer { if !loadingAgain { executionsInFlight.remove(id) } }
        if let stale = workflows[id], stale.record.epoch < state.record.epoch {
            // A run of an older epoch is still held here (a reset or a resume asked on some node
            // moved the execution on, and this node claimed it again): that run no longer counts.
            logger.info("a run held here was superseded: the execution was claimed again under a new epoch",
                metadata: ["workflow": "\(id)", "runId": "\(stale.record.epoch)", "newRunId": "\(state.record.epoch)"])
            letGo(id)
        }
        guard workflows[id] == nil else { return }
        let journal: [JournalEntry]
        do {
            journal = try await ledger.journal(id, generation: state.record.generation)
        } catch {
            // Claimed but not loadable now: this node keeps it and tries again.
            _ = storeFailed(error, while: "loading the journal of claimed workflow \(id)", background: true)
            loadingAgain = true
            reloadClaimedLater(state)
            return
        }
        guard workflows[id] == nil else { return }
        var live = LiveWorkflow(record: state.record, journal: [:], phase: .pending)
        for e in journal { live.journal[e.seq] = e }
        live.claimed = true
        live.seenEvents = state.eventSeq
        live.queuedAt = clock.now()
        workflows[id] = live
        scheduleDeadlines(state.record)
        await catchUp(id)
        guard let current = workflows[id], current.phase.isPending else { return }
        workflowQueue[state.record.name, default: TaskQueue()].append(id, precedence: state.record.precedence)
        dispatchWorkflows(state.record.name)
    }

    private func reloadClaimedLater(_ state: ExecutionState) {
        enqueue { [self] in
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
            await self.admitClaimed(state)
        }
    }

    /// What happened to a live execution while no run of it was here: signals buffered for its
    /// waiting steps are taken, and a cancel asked on another node fails its scheduled steps.
    func catchUp(_ id: String) async {
        _ = await takeSignals(id)
        guard let live = workflows[id], live.record.cancelRequested,
            live.journal.values.contains(where: { $0.status == .scheduled }) || live.journal.isEmpty
        else { return }
        do {
            try await cancel(id, reason: live.record.cancelReason ?? "cancelled by a client")
        } catch {
            // The run goes ahead; its next suspension or claim tries the cancel again.
            _ = storeFailed(error, while: "the cancel of workflow \(id)", background: true)
        }
    }

    /// Completes the live execution's waiting signal steps with buffered signals, oldest step
    /// first; answers the steps completed.
    func takeSignals(_ id: String) async -> [JournalEntry] {
        guard let live = workflows[id] else { return [] }
        var taken: [JournalEntry] = []
        for e in live.journal.values.sorted(by: { $0.seq < $1.seq }) where e.kind == "signal" && e.status == .scheduled {
            do {
                guard let done = try await ledger.takeSignal(e, epoch: live.record.epoch) else { continue }
                taken.append(done)
                stepEnded(id, generation: done.generation, seq: done.seq, status: .completed, result: done.result, failure: nil)
            } catch {
                // Still buffered: the next run or claim takes it.
                _ = storeFailed(error, while: "taking a signal for workflow \(id)", background: true)
                break
            }
        }
        return taken
    }

    /// The outcome of a suspend on the shared store: parked (it leaves this node), or an event came
    /// meanwhile (read it back and run again), or another node owns it now.
    func sharedSuspended(_ id: String, epoch: Int, outcome: ChangeOutcome) async {
        guard let live = workflows[id], live.record.epoch == epoch else { return }
        switch outcome {
        case .applied:
            forget(id)
        case .changedMeanwhile:
            do {
                guard let state = try await cluster.store.execution(id: id) else { return forget(id) }
                let journal = try await ledger.journal(id, generation: state.record.generation)
                guard var current = workflows[id], current.record.epoch == epoch else { return }
                current.record.cancelRequested = state.record.cancelRequested
                current.seenEvents = state.eventSeq
                current.journal = [:]
                for e in journal { current.journal[e.seq] = e }
                workflows[id] = current
            } catch {
                _ = storeFailed(error, while: "reading back workflow \(id)", background: true)
                requeueAfterStoreFailure(id)
                return
            }
            await catchUp(id)
            guard workflows[id] != nil else { return }
            requeue(id)
        default:
            await runSuperseded(id, epoch: epoch, connectionID: nil)
        }
    }

    /// Another node owns the execution now (this node's lease lapsed and a sweep raised its
    /// epoch): a write of this node was refused. Counted, logged, and the execution leaves memory.
    func runSuperseded(_ id: String, epoch: Int, connectionID: UInt64?) async {
        guard let live = workflows[id], live.record.epoch == epoch else { return }
        Counter(label: "keel_cluster_late_writes_refused_total").increment()
        logger.warning(
            "a write for a workflow this node no longer owns was refused (taken over, or terminated on another node)",
            metadata: ["workflow": "\(id)", "runId": "\(epoch)"])
        letGo(id)
    }

    /// Drops a live execution whose run no longer counts here, freeing its worker's slot.
    func letGo(_ id: String) {
        guard let live = workflows[id] else { return }
        if let c = live.runningOn {
            registry.adjustWorkflowsInFlight(c, by: -1)
            forget(id)
            afterSlotFreed(c)
            return
        }
        forget(id)
    }

    /// Drops an execution from this node's memory; callers waiting here for its result go on
    /// waiting on the store.
    func forget(_ id: String) {
        releaseHeld(id)
        workflows[id] = nil
        workflowStoreFailures[id] = nil
        emptySuspensions[id] = nil
        if let list = workflowWaiters.removeValue(forKey: id) { for (_, c) in list { c.resume(returning: nil) } }
        updatesAdvanced(id)
    }

    /// `workflow/result` on a shared store: the record once the execution ended — told at once
    /// when it ends on this node, seen by the remote-wait loop (``checkRemoteWorkflowWaits()``) when it
    /// ends on another — or as it is after `timeoutMs`. `record` is the one the caller just read.
    func sharedWorkflowResult(_ record: WorkflowRecord, timeoutMs: Int64) async throws -> WorkflowRecord {
        let id = record.id
        let deadline = clock.now().addingSaturating(timeoutMs)
        var record = record
        while !record.status.isTerminal, clock.now() < deadline {
            nextWaiterID += 1
            let waiterID = nextWaiterID
            timers.schedule(deadline, taskID: id, kind: .workflowWaiterTimeout(waiterID: waiterID))
            // nil: the wait timed out, or the execution left this node; look at the store again.
            if let ended = await withCheckedContinuation({ c in workflowWaiters[id, default: [:]][waiterID] = .task(c) }) {
                return ended
            }
            record = try await requireWorkflow(id)
        }
        return record
    }

    /// Wakes callers waiting here for executions that run on other nodes, once the store has
    /// their end.
    func checkRemoteWorkflowWaits() async {
        await wakeRemoteWaiters(
            of: workflowWaiters.keys, what: "workflows", isHere: { self.workflows.keys.contains($0) },
            endsOf: { try await self.cluster.store.endedExecutions(ids: $0) }, id: \.id,
            wake: { record in
                if let list = self.workflowWaiters.removeValue(forKey: record.id) { for (_, c) in list { c.resume(returning: record) } }
            })
    }

    /// The most tasks, and the most executions, running elsewhere whose callers one check of the
    /// remote-wait loop reads.
    static let remoteWaitChecksPerRound = 256

    /// The most live executions whose held steps one cluster-loop round looks up in the store.
    static let remoteStepChecksPerRound = 64

    /// Answers held steps that ended elsewhere: an activity that ran on another node, a child that
    /// ended there, a timer another node fired, a signal sent to another node. Without this a run
    /// would learn of them only when its hold ends (`stepHoldMs`) and it suspends.
    func checkRemoteSteps() async {
        let now = clock.now()
        var checked = 0
        for id in workflows.keys.sorted() {
            guard checked < Self.remoteStepChecksPerRound else { return }
            guard let live = workflows[id], live.isRunning, !live.held.isEmpty else { continue }
            let waiting = live.held.keys.compactMap { live.journal[$0] }.filter { e in
                guard e.status == .scheduled else { return false }
                switch e.kind {
                case "activity": return e.taskId.map { !tasks.keys.contains($0) } ?? false
                case "child": return !workflows.keys.contains(Self.childID(e, parent: id))
                case "sleep": return (e.wakeAt ?? .max) <= now
                case "signal": return true
                default: return false
                }
            }
            guard !waiting.isEmpty else { continue }
            checked += 1
            if waiting.contains(where: { $0.kind == "signal" }) { _ = await takeSignals(id) }
            let stored: [JournalEntry]
            do {
                stored = try await ledger.journal(id, generation: live.record.generation)
            } catch {
                logger.warning("cannot read a journal to answer held steps; trying again",
                    metadata: ["workflow": "\(id)", "error": "\(error)"])
                return
            }
            let bySeq = Dictionary(stored.map { ($0.seq, $0) }, uniquingKeysWith: { a, _ in a })
            for e in waiting {
                guard let done = bySeq[e.seq], done.status != .scheduled, workflows[id]?.journal[e.seq]?.status == .scheduled
                else { continue }
                stepEnded(id, generation: done.generation, seq: done.seq, status: done.status, result: done.result,
                    failure: done.failure)
            }
        }
    }

    /// Runs a cluster-loop round at `time` (a timer this node stored falls due then), so that the
    /// timer fires on time whatever the poll interval; any node may fire it first.
    func wakeClusterLoop(at time: EpochMillis) {
        let delay = max(0, time - clock.now())
        let trigger = cluster.trigger
        enqueue {
            do { try await Task.sleep(for: .milliseconds(delay)) } catch { return }
            trigger.fire()
        }
    }

    /// Fires the store's due timers (once across the nodes) and ends the steps of executions live here.
    func fireSharedTimers(_ cluster: ClusterNode, lease: NodeLease) async {
        let fired: [FiredTimer]
        do {
            fired = try await cluster.store.fireDueTimers(limit: 256, node: lease)
        } catch {
            _ = storeFailed(error, while: "firing due workflow timers", background: true)
            return
        }
        for timer in fired {
            guard let live = workflows[timer.workflowId], live.record.generation == timer.generation,
                let e = live.journal[timer.seq], e.status == .scheduled
            else { continue }
            let outcome = TimerOutcome.of(kind: e.kind, name: e.name)
            stepEnded(timer.workflowId, generation: timer.generation, seq: timer.seq, status: outcome.status, result: nil,
                failure: outcome.failure)
        }
    }

    /// Ends the executions no node holds whose execution or run deadline passed (a workflow no
    /// worker serves, one waiting for a signal): their deadline timer lives only on the node that
    /// runs them. Any node may end one; the store's change is unfenced and ends it once.
    func timeOutOverdueExecutions(_ cluster: ClusterNode) async {
        let overdue: [WorkflowRecord]
        do {
            overdue = try await cluster.store.overdueExecutions(limit: 64)
        } catch {
            _ = storeFailed(error, while: "looking for executions past their deadline", background: true)
            return
        }
        for record in overdue {
            // The nearer of the two deadlines is the one that passed first.
            let run = record.runDeadline.map { r in record.executionDeadline.map { r < $0 } ?? true } ?? false
            do {
                let failure = Self.deadlineFailure(record, run: run)
                // `terminate` counts it closed and ends its span, once, on the node whose change applied.
                guard try await terminate(record.id, status: .timedOut, failure: failure) else { continue }
                logger.info("an execution no node held passed its deadline", metadata: [
                    "workflow": "\(record.id)", "type": "\(failure["type"]?.stringValue ?? "")",
                ])
            } catch {
                // Still open: the next round (on this node or another) ends it.
                _ = storeFailed(error, while: "timing out workflow \(record.id)", background: true)
            }
        }
    }

    /// Stores a new execution owned by `node` (this node, fenced by its lease): its first run
    /// starts here without a claim round. When the store's answer is lost, the start may have
    /// committed unseen: the look for unknown executions gives it back, for any node to claim
    /// (``releaseUnknownExecutions()``). Not at once: the client sends the start again after the
    /// error, and a give-back still retrying then would release the run that retry started (same
    /// id, same epoch 1); the look only gives back what this node does not run.
    /// - Throws: 4001 `leaseNotHeld` when the lease lapsed meanwhile (nothing stored).
    func startOwned(_ record: WorkflowRecord, node: String) async throws -> WriteOutcome {
        let outcome: Result<ChangeOutcome, any Error>
        executionsInFlight.insert(record.id)
        defer { executionsInFlight.remove(record.id) }
        do {
            outcome = .success(try await cluster.store.apply([.startClaimedExecution(record, node: node)]).first ?? .notFound)
        } catch {
            outcome = .failure(error)
        }
        return try ownedStartOutcome(record, outcome)
    }

    /// What the store answered for an owned start (``startOwned(_:node:)``).
    func ownedStartOutcome(_ record: WorkflowRecord, _ outcome: Result<ChangeOutcome, any Error>) throws -> WriteOutcome {
        switch outcome {
        case .failure(let error):
            logger.info("the answer of an owned start was lost; if it committed, the look for unknown executions gives it back",
                metadata: ["workflow": "\(record.id)", "error": "\(error)"])
            throw error
        case .success(.notFound):
            throw leaseNotHeld("workflow/start")
        case .success(let stored):
            return Self.writeOutcome(stored)
        }
    }

    /// Returns an execution this node stored owned but will not run (its worker left during the
    /// start) to `pending`, unowned, for any node to claim. The write is
    /// retried until the store answers; one that finds the execution not stored, or moved on,
    /// changes nothing.
    func giveBackStarted(_ record: WorkflowRecord, because reason: String) {
        let store = cluster.store
        let (id, epoch) = (record.id, record.epoch)
        logger.info("giving back a workflow this node stored owned", metadata: ["workflow": "\(id)", "why": "\(reason)"])
        retryCommit("giving back workflow \(id)", {
            try await store.apply([.releaseExecution(workflowId: id, epoch: epoch)]).first ?? .notFound
        }) { [self] outcome in
            logger.debug("gave a started workflow back", metadata: ["workflow": "\(id)", "outcome": "\(outcome)"])
            await kickClaims()
        }
    }

    /// After a claim, an owned start or a give-back whose answer was lost: executions the store
    /// says this node holds, that it does not run and is not making live, claimed or written more
    /// than ``unknownClaimAgeMs`` ago, go back to `pending`, unowned, for any node to claim (each
    /// fenced by the epoch it was held under). Without this, such an execution would wait for
    /// this node's lease to lapse, which a live node's never does.
    func releaseUnknownExecutions() async {
        guard let lease = cluster.membership.lease, executionClaimsRunning == 0 else { return }
        let owned: [OwnedExecution]
        let now: EpochMillis
        do {
            now = try await cluster.store.now()
            owned = try await cluster.store.ownedExecutions(node: lease)
        } catch {
            logger.warning("cannot list the executions this node holds; the next look tries again",
                metadata: ["error": "\(error)"])
            return
        }
        for held in owned
        where !workflows.keys.contains(held.workflowId) && !executionsInFlight.contains(held.workflowId)
            && executionClaimsRunning == 0 && held.updatedAt.addingSaturating(Self.unknownClaimAgeMs) < now
        {
            let outcome: ChangeOutcome
            do {
                outcome = try await cluster.store.apply([.releaseExecution(workflowId: held.workflowId, epoch: held.epoch)])
                    .first ?? .notFound
            } catch {
                // Still held: the next look gives it back.
                _ = storeFailed(error, while: "giving back workflow \(held.workflowId)", background: true)
                continue
            }
            guard outcome == .applied else {
                // Another write moved it on meanwhile (a terminate, a rescue): it is not held here any more.
                logger.debug("a workflow held unknown moved on before its give-back",
                    metadata: ["workflow": "\(held.workflowId)", "runId": "\(held.epoch)", "outcome": "\(outcome)"])
                continue
            }
            Counter(label: "keel_cluster_unknown_executions_released_total").increment()
            logger.info("gave back a workflow this node held without running it (a commit whose answer was lost)",
                metadata: ["workflow": "\(held.workflowId)", "runId": "\(held.epoch)"])
            kickClaims()
        }
    }

    /// Gives back the executions queued here for a workflow name no local worker serves any more
    /// (its worker left after the claim), so that a node with a worker claims them.
    func releaseUnservedExecutions() async {
        for (name, queue) in workflowQueue where !registry.hasWorkflowServer(for: name) {
            for id in queue.ids { await release(id, because: "no worker on this node serves \(name) any more") }
            workflowQueue[name] = nil
        }
    }

    /// On graceful shutdown: every execution this node still holds goes back to the store now,
    /// claimable by the other nodes, rather than after this node's lease lapses.
    func releaseOwnedExecutions() async {
        for id in workflows.keys.sorted() { await release(id, because: "this node is stopping") }
    }

    /// Returns a live execution to `pending`, unowned; it leaves this node's memory either way
    /// (when the write fails, the lease sweep returns it once this node's lease lapses).
    private func release(_ id: String, because reason: String) async {
        guard let live = workflows[id] else { return }
        do {
            let outcome = try await cluster.store.apply([.releaseExecution(workflowId: id, epoch: live.record.epoch)])
            logger.debug("gave an execution back", metadata: ["workflow": "\(id)", "why": "\(reason)", "outcome": "\(outcome)"])
        } catch {
            _ = storeFailed(error, while: "giving workflow \(id) back", background: true)
        }
        if let c = live.runningOn { registry.adjustWorkflowsInFlight(c, by: -1) }
        forget(id)
    }
}

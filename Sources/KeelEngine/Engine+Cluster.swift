import KeelCore
import KeelStorage
import Logging
import Metrics

/// Activities across the nodes sharing one store (docs/scaling.md, "Activities across nodes").
///
/// A node stores each accepted task unclaimed. Every node claims, for the names its workers serve
/// and up to their free slots, the ready tasks of the shared store — the store hands each attempt
/// to one node — and runs them like its own. Every later write of the attempt (retry, end,
/// heartbeat, cancel) is fenced by the attempt, so a node that lost its lease cannot overwrite
/// the node that took its work over: such a late write is refused, counted and logged.
extension Engine {
    /// Fires shared timers, claims work and checks on remote steps every `pollInterval` (sooner on
    /// the store's hints) until the engine stops. Remote waits have their own loop (``remoteWaitLoop()``).
    func clusterLoop() async {
        var round = 0
        while !Task.isCancelled, !shuttingDown {
            round += 1
            if let lease = cluster.membership.lease, cluster.membership.isServing {
                await fireSharedTimers(cluster, lease: lease)
            }
            await claimRound()
            // Journal reads: once per poll interval, not on every hinted round of a busy store.
            if remoteStepsCheckedAt.map({ ContinuousClock.now - $0 >= cluster.pollInterval }) ?? true {
                remoteStepsCheckedAt = ContinuousClock.now
                await checkRemoteSteps()
            }
            // Deadlines no node's timer watches: once per sweep interval, which is how late such a
            // deadline may be seen (two queries a round cost an idle node a fifth of its CPU).
            if deadlinesSweptAt.map({ ContinuousClock.now - $0 >= Self.deadlineSweepInterval }) ?? true,
                cluster.membership.isServing
            {
                deadlinesSweptAt = ContinuousClock.now
                await timeOutOverdueExecutions(cluster)
                await timeOutOverdueTasks(cluster)
            }
            await releaseUnservedExecutions()
            await publishWorkers()
            if schedulesRefreshedAt.map({ ContinuousClock.now - $0 >= Self.scheduleRefreshInterval }) ?? true {
                schedulesRefreshedAt = ContinuousClock.now
                await refreshSchedules()
            }
            // Now and then, whatever the store says this node runs but it does not know of (a
            // commit whose answer was lost) goes back to the others.
            if round % Self.reconcileEveryRounds == 0 {
                await releaseUnknownClaims()
                await releaseUnknownExecutions()
            }
            // The next round: after the poll interval, or at the store's hint that work is ready
            // (no sooner than `minimumRoundSpacing`, so a busy store does not spin the loop).
            do { try await Task.sleep(for: Self.minimumRoundSpacing) } catch { return }
            await cluster.trigger.wait(upTo: cluster.pollInterval)
            if Task.isCancelled { return }
        }
    }

    /// Wakes callers waiting here for tasks and executions that run on other nodes, at the
    /// store's hint that something ended (or every poll interval), until the engine stops. Apart
    /// from ``clusterLoop()``: there an end was seen only after the round's timers and claims, and
    /// after the rounds' spacing, which cost a caller on another node about 5 ms (W2 on 3 nodes).
    func remoteWaitLoop() async {
        while !Task.isCancelled, !shuttingDown {
            let began = ContinuousClock.now
            await checkRemoteWaits()
            await checkRemoteWorkflowWaits()
            // A busy store hints all the time: at most one check per spacing, counted from its start.
            let rest = Self.minimumRoundSpacing - (ContinuousClock.now - began)
            if rest > .zero {
                do { try await Task.sleep(for: rest) } catch { return }
            }
            await cluster.waitTrigger.wait(upTo: cluster.pollInterval)
        }
    }

    /// How often a node looks for executions and tasks no node holds that passed a deadline.
    static let deadlineSweepInterval: Duration = .seconds(1)
    /// How often a node reads the schedules other nodes may have changed.
    static let scheduleRefreshInterval: Duration = .seconds(1)

    /// The least time between two rounds of the cluster loop.
    static let minimumRoundSpacing: Duration = .milliseconds(5)

    /// Asks for a claim round when a slot of a worker serving `worker`'s names (nil: unknown)
    /// freed and work of theirs may wait unclaimed (``claimBacklog``): the end that freed it sent
    /// this node no hint.
    func kickClaimsAfterSlotFreed(_ worker: WorkerInfo?) {
        guard claimBacklog.mayHaveWork(activities: worker?.activities, workflows: worker?.workflows) else { return }
        kickClaims()
    }

    /// Asks for a claim round now (a call was accepted, a worker registered or freed a slot).
    func kickClaims() {
        enqueue { [self] in await self.claimRound() }
    }

    /// Claims ready tasks for every name a local worker serves, up to its free slots, and starts
    /// them. One round at a time; a kick during a round asks it for one more pass.
    func claimRound() async {
        guard !shuttingDown else { return }
        guard !claiming else {
            claimAgain = true
            return
        }
        claiming = true
        defer { claiming = false }
        repeat {
            claimAgain = false
            guard cluster.membership.isServing, let lease = cluster.membership.lease else { return }
            for name in registry.servedActivities.sorted() {
                let free = min(registry.freeSlots(for: name, canSend: { canSend($0) }), cluster.claimBatch)
                guard free > 0 else {
                    claimBacklog.claimedActivities(name, asked: 0, got: 0)
                    continue
                }
                let claimed: [ActivityTaskRecord]
                do {
                    claimed = try await cluster.store.claimTasks(TaskClaim(names: [name], limit: free), node: lease)
                } catch {
                    _ = storeFailed(error, while: "a claim of \(name) tasks", background: true)
                    // The claim may have committed without our knowing: the next look gives back
                    // what this node holds unknowingly.
                    return
                }
                claimBacklog.claimedActivities(name, asked: free, got: claimed.count)
                for record in claimed { await startClaimed(record) }
            }
            await claimWorkflows(cluster, lease: lease)
        } while claimAgain && !shuttingDown
    }

    /// Runs a task this node just claimed on a local worker, or gives it back when none can take
    /// it any more (the worker left or filled up during the claim's round trip).
    private func startClaimed(_ record: ActivityTaskRecord) async {
        guard tasks[record.id] == nil else { return }
        let now = clock.now()
        tasks[record.id] = LiveTask(record: record, phase: .ready)
        if let ms = record.timeouts.scheduleToCloseMs {
            timers.schedule(record.createdAt + ms, taskID: record.id, kind: .scheduleToClose)
        }
        if let worker = registry.pickWorker(for: record.name, canSend: { canSend($0) }),
            limiter.tryStart(record.name, now: now) == nil
        {
            start(record.id, on: worker)
            return
        }
        tasks[record.id] = nil
        await giveBack(record, ran: false, because: "no local worker could take it after the claim")
    }

    /// Returns a claimed attempt to `scheduled`, for any node to claim again. One that never ran
    /// here (`ran` false) is released: nothing is recorded and its attempt number is taken back, so
    /// the claim costs the task no attempt. One that ran (the node stops with it still running)
    /// counts as an attempt that failed.
    private func giveBack(_ record: ActivityTaskRecord, ran: Bool, because reason: String) async {
        let change: Change
        if ran {
            change = .retryTask(id: record.id, attempt: record.attempt, runAt: clock.now(),
                failure: Self.failure(type: "NodeStopping", message: "the node running attempt \(record.attempt) stopped before it answered",
                    retryable: true))
        } else if let node = cluster.membership.lease?.nodeId {
            change = .releaseTask(id: record.id, attempt: record.attempt, node: node)
        } else {
            // Without a lease this node cannot prove the claim is still its own; the sweep returns
            // it once the lease lapses.
            logger.info("cannot give a claimed task back without a lease; the sweep returns it",
                metadata: ["task": "\(record.id)", "why": "\(reason)"])
            return
        }
        do {
            let outcome = try await cluster.store.apply([change])
            logger.debug("gave a claimed task back", metadata: ["task": "\(record.id)", "why": "\(reason)", "outcome": "\(outcome)"])
        } catch {
            // Unreturned, it stays claimed by this node until its lease lapses and a sweep returns it.
            _ = storeFailed(error, while: "giving task \(record.id) back", background: true)
        }
    }

    /// Ends the tasks waiting unclaimed past their schedule-to-close or schedule-to-start
    /// deadline (no worker on any node took them in time): those timers live only on a node that
    /// claims the task. Any node may end one; the change is fenced by the attempt the task waits
    /// under, so a claim that won the race keeps it, and the end is stored once.
    func timeOutOverdueTasks(_ cluster: ClusterNode) async {
        let overdue: [ActivityTaskRecord]
        do {
            overdue = try await cluster.store.overdueTasks(limit: 64)
        } catch {
            _ = storeFailed(error, while: "looking for waiting tasks past their timeouts", background: true)
            return
        }
        for record in overdue {
            // The nearer of the two deadlines is the one that passed.
            let closeBy = record.timeouts.scheduleToCloseMs.map { record.createdAt.addingSaturating($0) }
            let startBy = record.timeouts.scheduleToStartMs.map { record.visibleAt.addingSaturating($0) }
            let close = closeBy.map { c in startBy.map { c <= $0 } ?? true } ?? false
            let failure = close
                ? Self.failure(type: "ScheduleToCloseTimeout",
                    message: "\(record.name) did not finish within its schedule-to-close timeout", retryable: false)
                : Self.failure(type: "ScheduleToStartTimeout",
                    message: "no worker took \(record.name) within its schedule-to-start timeout", retryable: false)
            let outcome: ChangeOutcome
            do {
                outcome = try await cluster.store.apply([
                    .timeOutWaitingTask(id: record.id, attempt: record.attempt, failure: failure)
                ])[0]
            } catch {
                // Still waiting: the next sweep (on this node or another) ends it.
                _ = storeFailed(error, while: "timing out task \(record.id)", background: true)
                continue
            }
            guard outcome == .applied else {
                // A node claimed it or another sweep ended it meanwhile: theirs stands.
                logger.debug("a waiting task's timeout lost a race", metadata: ["task": "\(record.id)", "outcome": "\(outcome)"])
                continue
            }
            ActivityMetrics.timedOut(record.name, close ? .scheduleToClose : .scheduleToStart)
            ActivityMetrics.taskEnded(record.name, status: .timedOut)
            logger.info("a task no node ran passed its timeout", metadata: [
                "task": "\(record.id)", "activity": "\(record.name)", "type": "\(failure["type"]?.stringValue ?? "")",
            ])
        }
    }

    /// Cluster-loop rounds between two looks for claims this node does not know of.
    static let reconcileEveryRounds = 20

    /// How old an owned task unknown to this node must be before it counts as lost: a claim
    /// under way owns its tasks for a round trip before they are live.
    static let unknownClaimAgeMs: Int64 = 5_000

    /// After a claim or a claimed enqueue whose outcome is unknown: tasks the store says this node
    /// runs, that this node does not know of, started more than ``unknownClaimAgeMs`` ago, go
    /// back to `scheduled`.
    func releaseUnknownClaims() async {
        guard let lease = cluster.membership.lease else { return }
        do {
            let now = try await cluster.store.now()
            for record in try await cluster.store.ownedTasks(node: lease)
            where !tasks.keys.contains(record.id) && !claimsInFlight.contains(record.id)
                && (record.startedAt ?? 0) + Self.unknownClaimAgeMs < now
            {
                await giveBack(record, ran: false, because: "claimed by a commit whose answer was lost")
            }
        } catch {
            logger.warning("cannot list this node's claimed tasks; the lease sweep returns them if this node dies",
                metadata: ["error": "\(error)"])
        }
    }

    /// Wakes callers waiting here for tasks that run on other nodes, once the store has their end.
    func checkRemoteWaits() async {
        await wakeRemoteWaiters(
            of: waiters.keys, what: "tasks", isHere: { self.tasks.keys.contains($0) },
            endsOf: { try await self.cluster.store.endedTasks(ids: $0) }, id: \.id,
            wake: { self.wake($0.id, with: $0) })
    }

    /// Hands each of `waitedOn` that is not here (`isHere`) and has ended in the store to `wake`:
    /// at most ``remoteWaitChecksPerRound`` of them, their ends read in one call (`endsOf`), not
    /// one per id (with thousands of callers waiting on work not yet claimed, a read per id was
    /// most of a node's statements). One that came here meanwhile is left to its own end.
    func wakeRemoteWaiters<Record: Sendable>(
        of waitedOn: some Collection<String>, what: String, isHere: (String) -> Bool,
        endsOf: ([String]) async throws -> [Record], id: (Record) -> String, wake: (Record) -> Void
    ) async {
        let elsewhere = Array(waitedOn.filter { !isHere($0) }.prefix(Self.remoteWaitChecksPerRound))
        guard !elsewhere.isEmpty else { return }
        do {
            for record in try await endsOf(elsewhere) where !isHere(id(record)) { wake(record) }
        } catch {
            logger.warning("cannot read the state of \(what) that run elsewhere; trying again",
                metadata: ["\(what)": "\(elsewhere.count)", "error": "\(error)"])
        }
    }

    /// On graceful shutdown: attempts still running go back to `scheduled` at once, so another
    /// node runs them now instead of after this node's lease lapses.
    func giveBackRunningClaims() async {
        // One whose end is being committed (past the drain's deadline) is left to its commit;
        // if that fails, the next start's rescue returns it.
        for live in tasks.values where live.record.status == .running && live.phase.state != .ending {
            await giveBack(live.record, ran: true, because: "this node is stopping")
        }
    }

    // MARK: - Workers across nodes

    /// How often a node re-publishes an unchanged worker list (in-flight counts drift).
    static let workersRepublishInterval: Duration = .seconds(2)

    /// Publishes this node's workers to the shared store when they changed, or every
    /// ``workersRepublishInterval``, so `worker/list` on any node shows the whole cluster.
    func publishWorkers() async {
        guard let lease = cluster.membership.lease else { return }
        let list = JSONValue.array(workers().map(\.json))
        let now = ContinuousClock.now
        if let last = publishedWorkers, last.nodeId == lease.nodeId, last.workers == list,
            now - last.at < Self.workersRepublishInterval
        {
            return
        }
        do {
            _ = try await cluster.store.apply([.publishWorkers(nodeId: lease.nodeId, workers: list)])
            publishedWorkers = (lease.nodeId, list, now)
        } catch {
            // Listings on other nodes show the previous list until the next round succeeds.
            _ = storeFailed(error, while: "publishing this node's workers", background: true)
        }
    }

    /// `worker/list` on a cluster node: this node's workers, then those every other live node
    /// published, each with its node id. Elsewhere: `local` as it is.
    func clusterWorkers(_ local: [JSONValue]) async throws -> [JSONValue] {
        let me = cluster.membership.lease?.nodeId
        var all: [JSONValue] = local.map { w in
            guard case .object(var o) = w else { return w }
            o["node"] = .string(me ?? Self.nodeName)
            return .object(o)
        }
        let now = try await cluster.store.now()
        for node in try await cluster.store.nodes()
        where node.alive && node.nodeId != me && node.heartbeatAt + node.leaseMillis >= now {
            for case .object(var o) in node.workers?.arrayValue ?? [] {
                o["node"] = .string(node.nodeId)
                all.append(.object(o))
            }
        }
        return all
    }

    // MARK: - Fenced task writes

    /// Stores a new task on the shared store: claimed by this node when a local worker was
    /// reserved for it (one commit), else unclaimed for whichever node has a free worker.
    /// - Throws: 4001 `leaseNotHeld` when this node's lease lapsed meanwhile (nothing stored).
    func enqueueShared(_ record: ActivityTaskRecord, claimed: Bool) async throws -> WriteOutcome {
        guard claimed else { return try await applyShared(.enqueueTask(record)) }
        guard let node = cluster.membership.lease?.nodeId else { throw leaseNotHeld("activity/call") }
        claimsInFlight.insert(record.id)
        defer { claimsInFlight.remove(record.id) }
        // On an error the commit may still have happened: the cluster loop's next look for
        // unknown claims gives the task back, and the caller's retry with its key finds it.
        let outcome = try await cluster.store.apply([.enqueueClaimedTask(record, node: node)]).first ?? .notFound
        if outcome == .notFound { throw leaseNotHeld("activity/call") }
        return Self.writeOutcome(outcome)
    }

    /// Applies one task change to the shared store, answered as the local store's outcome.
    func applyShared(_ change: Change) async throws -> WriteOutcome {
        Self.writeOutcome(try await cluster.store.apply([change]).first ?? .notFound)
    }

    /// A write this node made for an attempt another node took over (or a client cancelled): the
    /// fence refused it. Counted, logged, and the task leaves this node's memory.
    func lateWriteRefused(_ id: String, what: String) {
        Counter(label: "keel_cluster_late_writes_refused_total").increment()
        logger.warning(
            "a write for a task this node no longer owns was refused (taken over or cancelled)",
            metadata: ["task": "\(id)", "write": "\(what)"])
        attemptTraceEnded(id, attempt: nil, outcome: "superseded", failure: nil, terminal: true)
        if let live = tasks.removeValue(forKey: id), let connectionID = live.phase.runningOn?.connectionID {
            registry.adjustInFlight(connectionID, by: -1)
            limiter.finished(live.record.name)
        }
    }

    static func writeOutcome(_ outcome: ChangeOutcome) -> WriteOutcome {
        switch outcome {
        case .applied, .signalTaken: .applied
        case .duplicate: .duplicate
        case .notFound: .notFound
        case .stale, .superseded, .changedMeanwhile, .alreadyFinished: .stale
        }
    }

    /// Refuses identifiers the store cannot keep, and work while the node cannot prove its lease
    /// (it may have been taken over: acting would be acting on stale state).
    func checkClusterAdmits(_ method: String, params: JSONValue) async throws {
        if !cluster.store.keepsNULInIdentifiers { try Self.checkStorableIdentifiers(params, method: method) }
        guard Self.leaseBoundMethods.contains(method) else { return }
        guard cluster.membership.isServing else { throw leaseNotHeld(method) }
    }

    /// Identifier fields a request may carry, at its top level or in a step's `input` (a child's
    /// `workflowId`). PostgreSQL's text cannot hold U+0000, which SQLite stores exactly; on a store
    /// that cannot keep it (``Store/keepsNULInIdentifiers``) a request carrying one is refused as
    /// invalid rather than answered with a store failure that no retry would ever get past
    /// (docs/scaling.md, "The store URL").
    static let identifierFields = ["workflowId", "idempotencyKey", "taskId", "key", "requestId", "scheduleId"]

    /// `-32602` naming the first identifier that holds U+0000.
    static func checkStorableIdentifiers(_ params: JSONValue, method: String) throws {
        for (path, object) in [("", params), ("input.", params["input"] ?? .null)] {
            for field in identifierFields {
                guard let text = object[field]?.stringValue, text.utf8.contains(0) else { continue }
                throw KeelError(
                    .invalidParams,
                    "\(method): params.\(path)\(field) must not contain U+0000 on PostgreSQL (its text cannot hold it)",
                    data: ["field": .string(path + field)])
            }
        }
    }

    /// Requests that write for the node: refused while it cannot prove its lease.
    static let leaseBoundMethods: Set<String> = [
        "activity/call", "activity/result", "activity/cancel", "workflow/start", "workflow/signal", "workflow/cancel",
        "workflow/step", "schedule/create", "schedule/pause", "schedule/unpause", "schedule/trigger", "schedule/delete",
    ]

    /// 4001 `leaseNotHeld`, logged under an incident id: this node may have been taken over.
    func leaseNotHeld(_ method: String) -> KeelError {
        let incident = Self.newIncidentID()
        logger.warning("refused a request: this node cannot prove its lease",
            metadata: ["method": "\(method)", "incident": "\(incident)"])
        return KeelError(
            .storageFailure,
            "this node cannot reach the shared store to prove its lease, so it accepts no work; retry against another node",
            data: ["incident": .string(incident), "reason": "leaseNotHeld"])
    }
}

import KeelCore
import KeelTracing
public import KeelProtocol
import KeelStorage
import Logging

/// Client operations on workflows (docs/protocol.md, "Client operations").
extension Engine {
    /// `workflow/start`: stores a new execution (or, with conflictPolicy useExisting, finds the
    /// open one with the id) and hands it to a worker; with `signal`, signal-with-start.
    /// - Throws: `KeelError(.workflowAlreadyExists)` with conflictPolicy fail,
    ///   `.inputContractViolation` when the input breaks the workflow's contract, `.invalidParams`
    ///   for what the schema cannot check (bytes, NFC, the traceparent's form, search attributes).
    public func startWorkflow(_ params: WorkflowStartParams) async throws -> WorkflowStartResult {
        try await start(try await prepareStart(params))
    }

    /// Stores a prepared start and starts it, waiting in the caller's task for the commit.
    private func start(_ start: PreparedStart) async throws -> WorkflowStartResult {
        try await startStored(start, try await storeStart(start))
    }

    /// `workflow/start` over a connection, answered through `answer`: the request's task ends once
    /// the start is handed to the store, and the store's answer comes back to
    /// ``startStored(_:_:)`` in a task of its own (docs/performance.md, "Starts and steps keep no
    /// task while they commit": a waiting task kept ~18 KB of async frames per start). A
    /// signal-with-start waits in this task, as ``startWorkflow(_:)`` does.
    func startWorkflow(_ params: WorkflowStartParams, answer: DeferredAnswer) async {
        let method = "workflow/start"
        do {
            let start = try await prepareStart(params)
            guard start.signal == nil else { return answer.send(try await self.start(start).json) }
            storeStart(start) { [self] outcome in
                Task {
                    do {
                        answer.send(try await startStored(start, (try storedStart(start, outcome), nil)).json)
                    } catch {
                        answer.fail(errorForWire(error, method: method))
                    }
                }
            }
        } catch {
            answer.fail(errorForWire(error, method: method))
        }
    }

    /// A start checked and made into the record to store, with the worker it took a slot of.
    struct PreparedStart: Sendable {
        var record: WorkflowRecord
        var policy: WorkflowStartParams.ConflictPolicy
        var signal: StartSignal?
        var traceParent: TraceParent?
        /// This node, when the start is stored owned (no signal, a lease held).
        var owner: String?
        /// The worker whose slot the start holds until it is stored: its first run goes there.
        var reserved: UInt64?
    }

    /// Everything of a start before its write: the checks, the record, a worker's slot for its
    /// first run. The slot is given back once the write is answered, whatever it came to: by
    /// ``storeStart(_:)`` or ``storedStart(_:_:)`` on an error, else by ``startStored(_:_:)``.
    private func prepareStart(_ params: WorkflowStartParams) async throws -> PreparedStart {
        guard !shuttingDown else { throw KeelError(.shuttingDown, "the orchestrator is shutting down; retry against the next one") }
        let method = "workflow/start"
        let name = params.name
        let input = params.input ?? .null
        let now = clock.now()
        let id = params.workflowId ?? "wf-" + String(Self.newTaskID(now: now).dropFirst(2))
        if let problem = WorkflowID.problem(id) { throw Params.fail(method: method, "workflowId", problem) }
        let policy = params.conflictPolicy ?? .useExisting
        let signal = try Self.startSignal(params.signal)
        if signal != nil, policy == .fail {
            throw Params.fail(method: method,
                "conflictPolicy", "must be useExisting with signal: signal-with-start signals the execution the id already has")
        }
        let traceParent = try Self.callerTraceParent(params.traceparent, method: method)
        let contract = registry.workflowContracts[name]
        if let contract {
            let errors = await contractErrors(of: input, against: contract, .input)
            if !errors.isEmpty {
                contractViolated(.workflow, name, .input, errors: errors)
                throw KeelError(.inputContractViolation, "input of workflow \(name) breaks its contract: \(Self.firstMessage(errors))",
                    data: ["workflow": .string(name), "errors": .array(errors), "contractHash": .string(contract.hash)])
            }
        }
        var record = WorkflowRecord(id: id, name: name, input: input, contractHash: contract?.hash, now: now)
        applyTimeouts(&record, executionMs: params.executionTimeoutMs, runMs: params.runTimeoutMs, now: now)
        record.precedence = try Self.precedence(priority: params.priority, fairnessKey: params.fairnessKey, method: method)
        // Their limits in bytes and keys are the search attributes' own checks (Params+SearchAttributes.swift).
        var extras = JSONObject()
        extras["searchAttributes"] = params.searchAttributes?.json
        extras["memo"] = params.memo
        let checked = try Params(.object(extras), method: method)
        record.searchAttributes = try checked.searchAttributes()
        record.memo = try checked.memo()
        // Fast path: a worker has room now, so the execution is stored already running as its
        // first run (one commit before workflow/run instead of two), owned by this node and
        // fenced by its lease (no claim round). A start with a signal is stored unowned and
        // claimed, which reads the signal with the journal.
        let owner = signal == nil ? cluster.membership.lease?.nodeId : nil
        let reserved = owner == nil || workflowQueue[name]?.isEmpty == false
            ? nil : registry.pickWorkflowWorker(for: name, build: nil, canSend: { canSend($0) })
        if let reserved {
            record.status = .running
            record.epoch = 1
            record.buildId = registry.workers[reserved]?.buildId
            registry.adjustWorkflowsInFlight(reserved, by: 1)
        }
        return PreparedStart(record: record, policy: policy, signal: signal, traceParent: traceParent, owner: owner, reserved: reserved)
    }

    /// A start's write, awaited: with its signal, owned by this node, or unowned.
    private func storeStart(_ start: PreparedStart) async throws -> (start: WriteOutcome, signal: SignalDelivery?) {
        do {
            if let signal = start.signal { return try await ledger.start(start.record, signal: signal) }
            if start.reserved != nil, let owner = start.owner { return (try await startOwned(start.record, node: owner), nil) }
            return (try await ledger.start(start.record), nil)
        } catch {
            if let reserved = start.reserved { registry.adjustWorkflowsInFlight(reserved, by: -1) }
            throw error
        }
    }

    /// A start's write without a signal, answered through `completion` on the store's thread.
    private func storeStart(_ start: PreparedStart, completion: @escaping @Sendable (Result<ChangeOutcome, any Error>) -> Void) {
        let change: Change
        if start.reserved != nil, let owner = start.owner {
            executionsInFlight.insert(start.record.id)
            change = .startClaimedExecution(start.record, node: owner)
        } else {
            change = .startExecution(start.record)
        }
        cluster.store.apply([change]) { completion($0.map { $0.first ?? .notFound }) }
    }

    /// What the store answered for a start handed to it by ``storeStart(_:completion:)``, taken
    /// in as ``storeStart(_:)`` takes its own.
    private func storedStart(_ start: PreparedStart, _ outcome: Result<ChangeOutcome, any Error>) throws -> WriteOutcome {
        do {
            guard start.reserved != nil, start.owner != nil else { return Self.writeOutcome(try outcome.get()) }
            executionsInFlight.remove(start.record.id)
            return try ownedStartOutcome(start.record, outcome)
        } catch {
            if let reserved = start.reserved { registry.adjustWorkflowsInFlight(reserved, by: -1) }
            throw error
        }
    }

    /// Everything of a start after its write: the answer for a taken id, or the first run set going.
    private func startStored(
        _ start: PreparedStart, _ stored: (start: WriteOutcome, signal: SignalDelivery?)
    ) async throws -> WorkflowStartResult {
        let record = start.record, id = record.id, name = record.name
        let outcome = stored.start
        let delivery = stored.signal
        if let reserved = start.reserved { registry.adjustWorkflowsInFlight(reserved, by: -1) }
        if outcome == .duplicate {
            guard start.policy == .useExisting else {
                throw KeelError(.workflowAlreadyExists, "workflow \(id) already exists; use another id or conflictPolicy useExisting",
                    data: ["workflowId": .string(id)])
            }
            var signalled: WorkflowStartResult.Signal?
            if let signal = start.signal, let delivery { signalled = await signalExisting(id, delivered: delivery, signal) }
            let existing = try await currentWorkflow(id)
            return WorkflowStartResult(
                workflowId: id, status: existing.map { Wire.WorkflowStatus($0.status) } ?? .pending, started: false,
                signal: signalled)
        }
        WorkflowMetrics.started(name)
        rememberCaller(start.traceParent, for: id)
        if let reserved = start.reserved, sessions[reserved] != nil, registry.workers[reserved] != nil {
            workflows[id] = LiveWorkflow(record: record, journal: [:], phase: .pending)
            scheduleDeadlines(record)
            startRun(id, on: reserved, claimed: true)
        } else {
            // Stored owned by this node, whose worker left meanwhile: back to the store.
            if start.reserved != nil { giveBackStarted(record, because: "its worker left during the start") }
            claimBacklog.workflowMayWait(name)
            kickClaims()
        }
        var started = WorkflowStartResult(
            workflowId: id, status: workflows[id].map { Wire.WorkflowStatus($0.record.status) } ?? .pending, started: true)
        if started.status == .pending, let suggestions = workflowWorkerSuggestions(name) {
            started.waitingForWorker = true
            started.suggestions = suggestions
        }
        if start.signal != nil { started.signal = .init(delivered: true, duplicate: false) }
        return started
    }

    /// `workflow/start`'s `signal`, checked as `workflow/signal` checks its fields (what its schema cannot).
    static func startSignal(_ signal: WorkflowStartParams.Signal?) throws -> StartSignal? {
        guard let signal else { return nil }
        try refuseUpdateSignalName(signal.name, method: "workflow/start", field: "signal.name")
        if let key = signal.requestId, key.utf8.count > Params.maximumKeyBytes {
            throw Params.fail(method: "workflow/start", "signal.requestId", "must be 1 to \(Params.maximumKeyBytes) bytes")
        }
        return StartSignal(name: signal.name, payload: signal.payload ?? .null, key: signal.requestId)
    }

    /// Signal-with-start found the id taken: the signal went to that execution in the start's own
    /// transaction (`delivered`); a step of its run held here that it completed is answered now.
    private func signalExisting(_ id: String, delivered: SignalDelivery, _ signal: StartSignal) async
        -> WorkflowStartResult.Signal
    {
        if !delivered.duplicate, let generation = delivered.consumedBy?.generation ?? workflows[id]?.record.generation {
            _ = await signalDelivered(id, generation: generation, name: signal.name, payload: signal.payload, delivery: delivered)
        }
        return .init(delivered: true, duplicate: delivered.duplicate)
    }

    /// The freshest record: the live one if the execution is open, else the stored one.
    func currentWorkflow(_ id: String) async throws -> WorkflowRecord? {
        if let live = workflows[id] { return live.record }
        return try await ledger.execution(id)
    }

    func requireWorkflow(_ id: String) async throws -> WorkflowRecord {
        guard let r = try await currentWorkflow(id) else {
            throw KeelError(.workflowNotFound, "no workflow \(id)", data: ["workflowId": .string(id)])
        }
        return r
    }

    /// `workflow/result`: the execution's end, waiting up to `waitTimeoutMs` (default a minute)
    /// for it; past the wait, its current status.
    /// - Throws: `KeelError(.workflowNotFound)` for an unknown id.
    ///
    /// Served over a connection, a wait does not keep the request's task: the answer is deferred
    /// (``RPCConnection/deferAnswer()``) and sent by a ``Waiter`` when the execution
    /// ends or the wait times out (docs/performance.md, "Waiting requests").
    public func workflowResult(_ params: WorkflowResultParams) async throws -> WorkflowResultResult {
        let id = params.workflowId
        let timeout = params.waitTimeoutMs ?? 60_000
        let record = try await requireWorkflow(id)
        guard timeout > 0, !record.status.isTerminal else { return Self.typedResult(record) }
        guard let answer = RPCConnection.deferAnswer() else {
            return Self.typedResult(try await sharedWorkflowResult(record, timeoutMs: timeout))
        }
        awaitExecutionEnd(id, deadline: clock.now().addingSaturating(timeout), answer: answer)
        return Self.typedResult(record)  // not sent: the deferred answer is
    }

    /// Answers `answer` with the execution's record once it ends here, or as it is at
    /// `deadline`; a wake-up without its end (it left this node) looks at the store again.
    private func awaitExecutionEnd(_ id: String, deadline: EpochMillis, answer: DeferredAnswer) {
        nextWaiterID += 1
        let waiterID = nextWaiterID
        timers.schedule(deadline, taskID: id, kind: .workflowWaiterTimeout(waiterID: waiterID))
        workflowWaiters[id, default: [:]][waiterID] = .answer { [self] ended in
            if let ended {
                answer.send(Self.typedResult(ended).json)
            } else {
                Task { await self.recheckEnd(id, deadline: deadline, answer: answer) }
            }
        }
    }

    /// The store's view once a deferred wait was woken without the end: answered when the
    /// execution ended or the deadline passed, waited on again otherwise.
    private func recheckEnd(_ id: String, deadline: EpochMillis, answer: DeferredAnswer) async {
        do {
            let record = try await requireWorkflow(id)
            if record.status.isTerminal || clock.now() >= deadline {
                answer.send(Self.typedResult(record).json)
            } else {
                awaitExecutionEnd(id, deadline: deadline, answer: answer)
            }
        } catch {
            answer.fail(errorForWire(error, method: "workflow/result"))
        }
    }

    /// `workflow/signal`: stores a signal for an open execution and hands it to a step waiting for it.
    /// - Throws: `KeelError(.workflowNotFound)` for an unknown or ended execution; `.invalidParams`
    ///   for a name reserved for updates or a `requestId` over 512 bytes.
    public func signalWorkflow(_ params: WorkflowSignalParams) async throws -> WorkflowSignalResult {
        let id = params.workflowId
        let name = params.name
        try Self.refuseUpdateSignalName(name, method: "workflow/signal", field: "name")
        let payload = params.payload ?? .null
        let requestId = params.requestId
        // The schema says 1 character or more; the store's key holds at most 512 bytes.
        if let requestId, requestId.utf8.count > Params.maximumKeyBytes {
            throw Params.fail(method: "workflow/signal", "requestId", "must be 1 to \(Params.maximumKeyBytes) bytes")
        }
        // An ended execution is answered by the ledger, from the store's refusal of the write:
        // the one place that also sees an end that lands between this read and the write.
        let record = try await requireWorkflow(id)
        let generation = record.generation
        let delivery = try await ledger.deliverSignal(id, name: name, payload: payload, key: requestId, generation: generation)
        // A resend of a signal already delivered (same requestId): nothing more happens.
        if delivery.duplicate { return WorkflowSignalResult(delivered: true, duplicate: true) }
        let consumed = await signalDelivered(id, generation: generation, name: name, payload: payload, delivery: delivery)
        return WorkflowSignalResult(delivered: true, consumed: consumed, duplicate: false)
    }

    /// After a new signal is stored: answers the step that consumed it in the same write, or hands
    /// it to a waiting step of this node. True when a step took it.
    func signalDelivered(_ id: String, generation: Int, name: String, payload: JSONValue, delivery: SignalDelivery) async -> Bool {
        if let e = delivery.consumedBy {
            if let live = workflows[id], live.record.generation == generation, live.journal[e.seq] == nil {
                // The run's signal step is stored but its write has not come back to the engine
                // yet (the two writes raced): leave the completed step for signalStep to find.
                workflows[id]?.journal[e.seq] = e
            } else {
                stepEnded(id, generation: generation, seq: e.seq, status: .completed, result: payload, failure: nil)
            }
            return true
        }
        return await takeSignals(id).first { $0.name == name } != nil
    }

    /// `workflow/cancel`: asks an open execution to stop (its code may compensate); an ended one
    /// is answered as it ended.
    /// - Throws: `KeelError(.workflowNotFound)` for an unknown id.
    public func cancelWorkflow(_ params: WorkflowCancelParams) async throws -> WorkflowCancelResult {
        let id = params.workflowId
        let reason = params.reason ?? "cancelled by a client"
        let record = try await requireWorkflow(id)
        if record.status.isTerminal { return Self.typedResult(record) }
        try await cancel(id, reason: reason)
        return Self.typedResult(try await currentWorkflow(id) ?? record)
    }

    /// An execution no node holds that never ran (pending, unowned, its
    /// generation's journal empty) ends cancelled at once, as one held in memory does: there is
    /// nothing to compensate. The end is fenced by its epoch: a node that claimed it first runs
    /// it, and its run sees the cancel.
    /// - Throws: `KeelError(.storageFailure)` when a read or the end does not commit (the cancel
    ///   request is stored: the run sees it, and cancelling again ends it).
    func cancelIfNeverRan(_ id: String, reason: String) async throws {
        let store = cluster.store
        guard let state = try await store.execution(id: id), state.record.status == .pending, state.ownerNode == nil,
            try await store.journal(workflowId: id, generation: state.record.generation).isEmpty
        else { return }
        var record = state.record
        record.status = .cancelled
        let failure = Self.failure(type: "Cancelled", message: reason, retryable: false)
        record.failure = failure
        guard try await ledger.finish(record, closing: nil) == .applied else { return }
        endedAtOnce(record, status: .cancelled, failure: failure, reason: reason)
        if let ended = try await store.execution(id: id)?.record, let waiting = workflowWaiters.removeValue(forKey: id) {
            for (_, c) in waiting { c.resume(returning: ended) }
        }
    }

    /// Cancels an execution: every scheduled step fails with `Cancelled` (running activities are
    /// told, children are cancelled in turn); with none, the next step gets it.
    /// - Throws: `KeelError(.storageFailure)` when a write does not commit; what did commit stays,
    ///   and cancelling again finishes the rest (each step is idempotent).
    func cancel(_ id: String, reason: String) async throws {
        try await ledger.requestCancel(id, reason: reason)
        guard var live = workflows[id] else {
            try await cancelIfNeverRan(id, reason: reason)
            return
        }
        live.record.cancelRequested = true
        live.record.cancelReason = live.record.cancelReason ?? reason
        workflows[id] = live
        let failure = Self.failure(type: "Cancelled", message: reason, retryable: false)
        let scheduled = live.journal.values.filter { $0.status == .scheduled }.sorted { $0.seq < $1.seq }
        if scheduled.isEmpty {
            workflows[id]?.cancelUndelivered = true
            if live.phase.isPending, live.journal.isEmpty {
                // Never ran: nothing to compensate.
                await endWorkflow(id, status: .cancelled, output: nil, failure: failure)
            }
            return
        }
        for e in scheduled {
            switch e.kind {
            case "child":
                let childId = e.input["workflowId"]?.stringValue ?? "\(id)/\(e.seq)"
                try await cancel(childId, reason: "parent \(id) was cancelled")
            case "activity":
                if let taskId = e.taskId, tasks[taskId] != nil {
                    // Committed first, then acted on: a failed write changes nothing in memory.
                    let outcome = try await ledger.cancelTask(taskId)
                    // Only a cancel that applied ends the task; otherwise its own end is being recorded.
                    guard outcome == .applied else { continue }
                    let freed = stopRunningAttempt(taskId, reason: reason)
                    tasks[taskId] = nil
                    attemptTraceCancelled(taskId)
                    if let freed { afterSlotFreed(freed) }
                }
                fallthrough
            default:
                let outcome = try await ledger.completeStep(
                    id, generation: e.generation, seq: e.seq, epoch: live.record.epoch, status: .failed, result: nil,
                    failure: failure)
                if outcome == .applied {
                    stepEnded(id, generation: e.generation, seq: e.seq, status: .failed, result: nil, failure: failure)
                }
            }
        }
    }

    /// `workflow/query`: the latest value the execution's code published for query `name`,
    /// read from the store (or this node's live record): no worker is asked.
    /// - Throws: `KeelError(.workflowNotFound)` for an unknown id, `.queryNotFound` (with the names
    ///   it has published) when it published no value for `name`.
    public func queryWorkflow(_ params: WorkflowQueryParams) async throws -> WorkflowQueryResult {
        let id = params.workflowId
        let name = params.name
        let record = try await requireWorkflow(id)
        let values = record.queryValues?.objectValue ?? JSONObject()
        guard let published = values[name] else {
            let known = values.keys.sorted()
            let hint = known.isEmpty
                ? "it has published none (its code sets one with setQueryValue)"
                : "it has: \(known.joined(separator: ", "))"
            throw KeelError(.queryNotFound, "workflow \(id) has published no value for query \(name); \(hint)",
                data: ["workflowId": .string(id), "name": .string(name), "known": .array(known.map { .string($0) })])
        }
        // `queryValue(_:seq:generation:at:)` stores every value with its seq and time.
        return WorkflowQueryResult(
            workflowId: id, name: name, value: published["value"] ?? .null, seq: published["seq"]?.int64Value ?? 0,
            atMs: published["atMs"]?.int64Value ?? 0, status: Wire.WorkflowStatus(record.status))
    }

    /// `workflow/describe`: an execution's state, its pending steps and the step it is at.
    /// - Throws: `KeelError(.workflowNotFound)` for an unknown id.
    public func describeWorkflow(_ params: WorkflowDescribeParams) async throws -> WorkflowDescribeResult {
        let id = params.workflowId
        let record = try await requireWorkflow(id)
        let journal: [JournalEntry] = if let live = workflows[id] {
            live.journal.values.sorted { $0.seq < $1.seq }
        } else {
            try await ledger.journal(id, generation: record.generation)
        }
        let pending = journal.filter { $0.status == .scheduled }
        var o = WorkflowDescribeResult(
            workflowId: id, name: record.name, status: Wire.WorkflowStatus(record.status), runId: Int64(record.epoch),
            input: record.input,
            pendingSteps: try pending.map {
                .init(seq: Int64($0.seq), kind: try Wire.StepKind(json: .string($0.kind)), name: $0.name)
            },
            createdAtMs: record.createdAt, updatedAtMs: record.updatedAt, runs: Int64(record.epoch),
            generation: Int64(record.generation), steps: Int64(journal.count), cancelRequested: record.cancelRequested)
        o.output = record.output
        o.failure = record.failure.flatMap(Self.keelFailure)
        o.parentId = record.parentId
        o.buildId = record.buildId
        o.priority = Int64(record.precedence.priority)
        o.fairnessKey = record.precedence.fairnessKey
        o.searchAttributes = record.searchAttributes?.objectValue?.dictionary
        o.memo = record.memo
        if let current = pending.last ?? journal.last {
            var step = WorkflowDescribeResult.CurrentStep(
                seq: Int64(current.seq), kind: try Wire.StepKind(json: .string(current.kind)), name: current.name,
                status: WorkflowDescribeResult.CurrentStep.Status(rawValue: current.status.rawValue))
            // A task this node does not hold (between attempts on a shared store, or running on
            // another node) is read from the store.
            let task: ActivityTaskRecord? = if let taskId = current.taskId {
                if let live = tasks[taskId] { live.record } else if current.status == .scheduled { try await readTask(taskId) } else { nil }
            } else {
                nil
            }
            if let task {
                step.attempts = Int64(task.attempt)
                step.lastFailure = task.failure.flatMap(Self.reportedFailure)
            }
            currentStepTimes(&step, entry: current, task: task)
            o.currentStep = step
        }
        // A stored null (a child step that succeeded) is no error, as before: nothing is shown.
        o.lastError = (record.failure ?? journal.last(where: { $0.failure != nil })?.failure).flatMap(Self.reportedFailure)
        o.waitingFor = try await waitingFor(record, pending: pending)
        o.resets = try await typedResets(id)
        return o
    }

    /// "a worker for workflow NAME" when a pending execution has no connected worker to run it,
    /// "a worker for activity NAME" when one of its scheduled activity steps has none; else nil.
    /// On a shared store a worker on any live node counts, and a task this node does not hold is
    /// read from the store.
    private func waitingFor(_ record: WorkflowRecord, pending: [JournalEntry]) async throws -> String? {
        if record.status == .pending, try await !servedAnywhere(workflow: record.name) {
            return "a worker for workflow \(record.name)"
        }
        let queued = if let live = workflows[record.id], live.phase.isPending { true } else { record.status == .pending }
        if queued, let build = record.buildId,
            !registry.workers.values.contains(where: { $0.workflows.contains(record.name) && $0.canRun(build: build) })
        {
            return "a worker of build \(build) for workflow \(record.name)"
        }
        guard !record.status.isTerminal else { return nil }
        for e in pending where e.kind == "activity" {
            guard let taskId = e.taskId, try await taskWaitsForWorker(taskId) else { continue }
            if try await !servedAnywhere(activity: e.name) { return "a worker for activity \(e.name)" }
        }
        return nil
    }

    /// True when task `id` is scheduled: as this node holds it, else (on a shared store, where
    /// another node may hold it or none) as stored.
    private func taskWaitsForWorker(_ id: String) async throws -> Bool {
        if let live = tasks[id] { return live.record.status == .scheduled }
        return try await readTask(id)?.status == .scheduled
    }

    /// `workflow/history`: a generation's journal (default the current one) with each step's
    /// times, attempts, input and outcome, the run's reset events, and how a run that did not
    /// complete ended.
    /// - Throws: `KeelError(.workflowNotFound)` for an unknown id, `.invalidParams` for a generation
    ///   past the execution's latest.
    public func workflowHistory(_ params: WorkflowHistoryParams) async throws -> WorkflowHistoryResult {
        let id = params.workflowId
        let record = try await requireWorkflow(id)
        let latest = Int64(record.generation)
        if let g = params.generation, !(0...latest).contains(g) {
            throw Params.fail(
                method: WorkflowHistoryParams.method, "generation", "must be an integer from 0 to \(latest)")
        }
        let generation = Int(params.generation ?? latest)
        let stored = try await ledger.journal(id, generation: generation)
        let run = try await runHistory(record, generation: generation)
        var tasksById: [String: ActivityTaskRecord] = [:]
        for e in stored {
            guard let t = e.taskId else { continue }
            if let live = tasks[t] {
                tasksById[t] = live.record
            } else if let stored = try await ledger.task(t) {
                tasksById[t] = stored
            }
        }
        let retried = tasksById.values.filter { $0.attempt > 1 }.map(\.id)
        let attemptFailures = retried.isEmpty ? [:] : try await ledger.attemptFailures(retried)
        let entries = stored.map { e in
            e.historyEntry(
                task: e.taskId.flatMap { tasksById[$0] }, attemptFailures: e.taskId.flatMap { attemptFailures[$0] })
        }
        var result = WorkflowHistoryResult(
            workflowId: id, name: record.name, status: Wire.WorkflowStatus(run.status), runId: Int64(record.epoch),
            generation: Int64(generation), entries: entries, events: run.events.isEmpty ? nil : run.events)
        // How the current run ended (a terminate's reason, a timeout) is part of its history.
        if generation == record.generation, record.status.isTerminal {
            if record.status != .completed { result.failure = record.failure.flatMap(Self.keelFailure) }
            result.endedAtMs = record.updatedAt
        }
        return result
    }

    /// `workflow/resume`: runs a parked execution again (after a fix for its non-determinism); a
    /// suspended one that nothing would wake runs again too. The store makes it pending and
    /// unowned in one write, from whichever node is asked; the next claim round of a node with a
    /// free worker for it (this one is woken now) raises its epoch and runs it from its journal.
    /// Answers `resumed: false` with the status of an open execution that is neither.
    /// - Throws: `KeelError(.workflowNotFound)` for an unknown id, `.invalidParams` for an ended one.
    public func resumeWorkflow(_ params: WorkflowResumeParams) async throws -> WorkflowResumeResult {
        let id = params.workflowId
        let outcome = try await cluster.store.apply([.resumeExecution(workflowId: id)]).first
        switch outcome {
        case .applied?:
            // A parked run leaves a node's memory as it parks (letGo), so this only guards: were
            // one still held here, the store's copy is the one that runs next.
            if let live = workflows[id], live.phase.isParked { forget(id) }
            logger.info("workflow resumed", metadata: ["workflow": "\(id)"])
            cluster.trigger.fire()
            return WorkflowResumeResult(workflowId: id, status: .pending, resumed: true)
        case .notFound?:
            throw KeelError(.workflowNotFound, "no workflow \(id)", data: ["workflowId": .string(id)])
        default:
            let record = try await requireWorkflow(id)
            if record.status.isTerminal {
                throw KeelError(.invalidParams, "workflow \(id) is \(record.status.rawValue), not parked")
            }
            if record.status == .suspended, try await wakeIfNothingWill(record, check: .resume) {
                return WorkflowResumeResult(workflowId: id, status: .pending, resumed: true)
            }
            return WorkflowResumeResult(workflowId: id, status: Wire.WorkflowStatus(record.status), resumed: false)
        }
    }
}

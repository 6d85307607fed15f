public import KeelCore
public import KeelProtocol
import KeelStorage
import Logging

/// The protocol's methods (docs/protocol.md), decoded and checked before any state changes.
extension Engine {
    public func handleRequest(method: String, params: JSONValue, session: Session) async throws -> JSONValue {
        if method == "initialize" { return try initialize(params, session: session) }
        guard session.isInitialized else {
            throw KeelError(.notInitialized, "send initialize first: it must be the first request on a connection")
        }
        try authorize(method, session: session)
        // The protocol's own schemas (Schemas/protocol/) are its machine-readable definition. Their
        // errors are the precise ones on the wire; the typed entry points below (the generated
        // …Params types) rely on them and re-check only what a schema cannot say.
        if let error = ProtocolValidator.shared.checkParams(method: method, params: params) { throw error }
        do {
            try await checkClusterAdmits(method, params: params)
        } catch {
            // A step refused because this node cannot prove its lease was not recorded either
            // (seen once in a PostgreSQL restart under load: the run's `failed` answer ended it).
            if method == "workflow/step" { noteStepNotRecorded(params, session: session, error) }
            throw error
        }
        switch method {
        case "ping": return try await serveTyped(params, ping)
        case "worker/register":
            await precompileContracts(params)
            try registerTimeoutDefaults(params)
            return try await register(params, session: session)
        case "worker/list": return try await workerListJSON(try await clusterWorkers(workers().map(workerJSON)))
        case "activity/call": return try await serveTyped(params, callActivity)
        case "activity/result": return try await serveTyped(params, activityResult)
        case "activity/cancel": return try await serveTyped(params, cancelActivity)
        case "activity/list": return try await serveTyped(params, listActivities)
        case "activity/heartbeat": return try await heartbeat(params, session: session)
        case "activity/publish": return try await publishFromActivity(params, session: session)
        case "workflow/follow": return try await followWorkflow(params)
        case "workflow/step": return try await step(params, session: session)
        case "workflow/start": return try await serveStart(params)
        case "workflow/result": return try await serveTyped(params, workflowResult)
        case "workflow/signal": return try await serveTyped(params, signalWorkflow)
        case "workflow/cancel": return try await serveTyped(params, cancelWorkflow)
        case "workflow/terminate": return try await serveTyped(params, terminateWorkflow)
        case "workflow/describe": return try await serveTyped(params, describeWorkflow)
        case "workflow/list": return try await serveTyped(params, listWorkflows)
        case "workflow/query": return try await serveTyped(params, queryWorkflow)
        case "workflow/update": return try await serveTyped(params, updateWorkflow)
        case "workflow/history": return try await serveTyped(params, workflowHistory)
        case "workflow/resume": return try await serveTyped(params, resumeWorkflow)
        case "workflow/reset":
            return try await serveTyped(params) { try await self.resetWorkflow($0, session: session) }
        case "workflow/batch": return try await serveTyped(params, workflowBatch)
        case "contract/release": return try await serveTyped(params, releaseContract)
        case "schedule/create": return try await serveTyped(params, createSchedule)
        case "schedule/describe": return try await serveTyped(params, describeSchedule)
        case "schedule/list": return try await serveTyped(params, listSchedules)
        case "schedule/pause": return try await serveTyped(params, pauseSchedule)
        case "schedule/unpause": return try await serveTyped(params, unpauseSchedule)
        case "schedule/trigger": return try await serveTyped(params, triggerSchedule)
        case "schedule/delete": return try await serveTyped(params, deleteSchedule)
        case "shutdown": return try await serveTyped(params, requestShutdown)
        default:
            throw KeelError(
                .methodNotFound, "method \"\(method)\" does not exist; docs/protocol.md lists the methods",
                data: ["method": .string(method)])
        }
    }

    /// Runs a typed entry point in a frame of its own. An async function's frame holds every value
    /// any of its branches keeps across a suspension, and every request, held or not, allocates
    /// `handleRequest`'s: with the generated params and results inline it grew from 0.7 to 2.7 KB,
    /// 20 MB more at the 10,000 requests open at W1 2000's peak (heaptrack; docs/performance.md,
    /// "Memory"). Never inlined, so that it stays apart.
    @inline(never)
    private func serveTyped<P: WireValue, R: WireValue>(
        _ params: JSONValue, _ entry: (P) async throws -> R
    ) async throws -> JSONValue {
        try await entry(P(json: params)).json
    }

    /// `workflow/start`: over a connection its answer is deferred, so that no task waits on its
    /// commit (``startWorkflow(_:answer:)``). In a frame of its own, as ``serveTyped(_:_:)``.
    @inline(never)
    private func serveStart(_ params: JSONValue) async throws -> JSONValue {
        let start = try WorkflowStartParams(json: params)
        guard let answer = RPCConnection.deferAnswer() else { return try await startWorkflow(start).json }
        await startWorkflow(start, answer: answer)
        return .null  // not sent: the deferred answer is
    }

    /// `ping`: answers `{}` once the connection is initialized (and the caller may send requests).
    public func ping(_ params: PingParams) -> PingResult { PingResult() }

    /// `shutdown` (admin → Keel): asks the orchestrator to drain and stop, through the handler
    /// its server set (none: nothing happens); answers `{}` at once, before the drain.
    public func requestShutdown(_ params: ShutdownParams) -> ShutdownResult {
        onShutdownRequest?()
        return ShutdownResult()
    }

    public func handleNotification(method: String, params: JSONValue, session: Session) async {
        // Keel defines no client → server notifications yet; unknown ones are ignored (spec §4.1).
        logger.debug("ignored notification", metadata: ["method": "\(method)", "session": "\(session.label)"])
    }

    /// A worker's listing, with the contracts it serves (for `keel schema check --live`).
    private func workerJSON(_ w: WorkerInfo) -> JSONValue {
        guard case .object(var o) = w.json else { return w.json }
        func contracts(_ names: [String], _ table: [String: ActivityContract], kind: String) -> JSONValue {
            .array(names.compactMap { table[$0] }.map {
                var c: [String: JSONValue] = [
                    "name": .string($0.name), "input": $0.input, "output": $0.output, "hash": .string($0.hash),
                ]
                if let description = $0.description { c["description"] = .string(description) }
                if let pin = contractPins[Self.pinKey(kind, $0.name)], pin.hash == $0.hash {
                    c["version"] = JSONValue(pin.version)
                }
                return .object(c)
            })
        }
        o["activityContracts"] = contracts(w.activities, registry.contracts, kind: "activity")
        o["workflowContracts"] = contracts(w.workflows, registry.workflowContracts, kind: "workflow")
        if let since = sessions[w.connectionID]?.connection.millisecondsSinceLastInbound {
            o["lastMessageAtMs"] = JSONValue(clock.now() - since)
        }
        return .object(o)
    }

    // MARK: - initialize

    private func initialize(_ value: JSONValue, session: Session) throws -> JSONValue {
        let p = try Params(value, method: "initialize")
        let grant = try authenticate(token: try p.optionalString("token"), session: session)
        let version = try p.optionalString("protocolVersion") ?? Self.protocolVersion
        guard version == Self.protocolVersion else {
            throw KeelError(
                .unsupportedProtocolVersion, "protocol version \(version) is not supported; this server speaks \(Self.protocolVersion)",
                data: ["supported": [.string(Self.protocolVersion)]])
        }
        session.setGrant(grant)
        session.markInitialized()
        return [
            "roles": .array(grant.roleNames.map { .string($0) }),
            "protocolVersion": .string(Self.protocolVersion),
            "serverInfo": ["name": "keel", "version": .string(Self.version)],
            "capabilities": ["batches": true, "maxMessageBytes": JSONValue(options.maxMessageBytes)],
        ]
    }

    // MARK: - worker/register

    private func register(_ value: JSONValue, session: Session) async throws -> JSONValue {
        let p = try Params(value, method: "worker/register")
        let name = try p.optionalString("name") ?? session.label
        let language = try p.optionalString("language") ?? "unknown"
        let maxConcurrent = Int(try p.optionalInt("maxConcurrent", range: 1...10_000) ?? 1)
        var contracts: [ActivityContract] = []
        for (i, a) in (try p.optionalArray("activities") ?? []).enumerated() {
            contracts.append(try contract(a, field: "activities[\(i)]"))
        }
        let duplicates = Dictionary(grouping: contracts, by: \.name).filter { $0.value.count > 1 }.keys
        if let dup = duplicates.first {
            throw p.fail("activities", "declares \(dup) twice")
        }
        let workflowContracts = try (p.optionalArray("workflows") ?? []).enumerated().map { i, w in
            try contract(w, field: "workflows[\(i)]")
        }
        let workflows = workflowContracts.map(\.name)
        let updateContracts = try (p.optionalArray("updates") ?? []).enumerated().map { i, u in
            try contract(u, field: "updates[\(i)]")
        }
        if let dup = Dictionary(grouping: updateContracts, by: \.name).first(where: { $0.value.count > 1 })?.key {
            throw p.fail("updates", "declares \(dup) twice")
        }
        let maxWorkflows = Int(try p.optionalInt("maxConcurrentWorkflows", range: 1...100_000) ?? 1000)
        nextWorkerNumber += 1
        var worker = WorkerInfo(
            workerId: "w-\(nextWorkerNumber)", connectionID: session.connection.id, name: name, language: language,
            transport: session.transport, pid: session.pid, activities: contracts.map(\.name), workflows: workflows,
            maxConcurrent: maxConcurrent, connectedAt: clock.now())
        worker.maxConcurrentWorkflows = maxWorkflows
        worker.updates = updateContracts.map(\.name)
        worker.buildId = try p.optionalString("buildId")
        worker.compatibleBuildIds = try (p.optionalArray("compatibleBuildIds") ?? []).enumerated().map { i, v in
            guard let b = v.stringValue else { throw p.fail("compatibleBuildIds[\(i)]", "must be a build id (a string)") }
            return b
        }
        if worker.buildId == nil, !worker.compatibleBuildIds.isEmpty {
            throw p.fail("compatibleBuildIds", "needs buildId: only a versioned worker can continue other builds' executions")
        }
        if worker.pid == nil, let pid = try p.optionalInt("pid", range: 1...Int64(Int32.max)) { worker.pid = Int32(pid) }
        guard let grant = session.grant else { throw KeelError(.notInitialized, "send initialize first") }
        let allowBreaking = try p.optionalBool("allowBreakingChanges") ?? false
        // On a shared store another node may pin the same names at the same moment: the loser
        // decides again on the pins the store has now (a same-hash pin then needs no change).
        for race in 1... {
            try await loadContractPins()
            let pins = try claimContracts(
                activities: contracts, workflows: workflowContracts, grant: grant, workerName: name,
                allowBreakingChanges: allowBreaking)
            do {
                try registry.register(worker, contracts: contracts, workflows: workflowContracts, updates: updateContracts)
            } catch {
                unclaim(pins)
                throw error
            }
            do {
                try await persistPins(pins)
                break
            } catch let error as KeelError where error.data?["pinRace"] == true && race < 5 {
                registry.remove(connectionID: session.connection.id)
            } catch {
                registry.remove(connectionID: session.connection.id)
                throw error
            }
        }
        // Every run may hold a few steps open (parallel activities), plus heartbeats per activity.
        session.connection.allowConcurrentRequests(512 + maxConcurrent * 2 + (workflows.isEmpty ? 0 : maxWorkflows * 4))
        logger.info(
            "worker registered",
            metadata: ["worker": "\(worker.workerId)", "name": "\(name)", "activities": "\(worker.activities)"])
        for w in workflows { dispatchWorkflows(w) }
        kickClaims()
        return ["workerId": .string(worker.workerId)]
    }

    private func contract(_ value: JSONValue, field: String) throws -> ActivityContract {
        let p = try Params(value, method: "worker/register \(field)")
        let name = try p.string("name")
        guard isValidName(name) else { throw p.fail("name", "must be a dotted name such as billing.charge") }
        let input = value["input"] ?? true
        let output = value["output"] ?? true
        var keys: [String] = []
        for (schema, which) in [(input, "input"), (output, "output")] {
            do { keys.append(try checker.prepare(schema)) } catch var error as KeelError {
                error.message = "\(field) (\(name)) \(which) schema is invalid: \(error.message)"
                throw error
            }
        }
        let retry = try RetryPolicy.decode(value["retryPolicy"], field: "\(field).retryPolicy")
        let timeouts = try ActivityTimeouts.decode(value["timeouts"], field: "\(field).timeouts")
        return ActivityContract(
            name: name, description: try p.optionalString("description"), input: input, output: output,
            retryPolicy: retry, timeouts: timeouts, hash: checker.hash(["input": input, "output": output]),
            inputKey: keys[0], outputKey: keys[1])
    }

    // MARK: - activity/call

    /// `activity/call`: queues a one-shot durable activity task (or finds the one its
    /// `idempotencyKey` names) and, unless `wait` is false, waits up to `waitTimeoutMs` for its end.
    /// - Throws: `KeelError(.inputContractViolation)` when the input breaks the activity's contract,
    ///   `.idempotencyConflict` when the key was used for another call, `.invalidParams` for what
    ///   the schema cannot check (key and fairness key bytes, the traceparent's form).
    public func callActivity(_ params: ActivityCallParams) async throws -> ActivityCallResult {
        guard !shuttingDown else { throw KeelError(.shuttingDown, "the orchestrator is shutting down; retry against the next one") }
        let method = "activity/call"
        let name = params.name
        let input = params.input ?? .null
        let key = params.idempotencyKey
        // The schema says 1 character or more; the store's key holds at most 512 bytes.
        if let key, key.utf8.count > Params.maximumKeyBytes {
            throw Params.fail(method: method, "idempotencyKey", "must be 1 to \(Params.maximumKeyBytes) bytes")
        }
        let wait = params.wait ?? true
        let waitTimeout = params.waitTimeoutMs ?? 60_000
        let traceParent = try Self.callerTraceParent(params.traceparent, method: method)
        let contract = registry.contracts[name]
        if let contract {
            let errors = await contractErrors(of: input, against: contract, .input)
            if !errors.isEmpty {
                contractViolated(.activity, name, .input, errors: errors)
                throw KeelError(
                    .inputContractViolation,
                    "input of \(name) breaks its contract: \(Self.firstMessage(errors))",
                    data: ["activity": .string(name), "errors": .array(errors), "contractHash": .string(contract.hash)])
            }
        }
        // A null field is "not set" (the contract's value applies), as an absent one.
        let policy = try RetryPolicy.decode(
            params.retryPolicy?.json, base: contract?.retryPolicy ?? RetryPolicy(), field: "retryPolicy")
        let timeouts = try ActivityTimeouts.decode(
            params.timeouts?.json, base: contract?.timeouts ?? ActivityTimeouts(), field: "timeouts")
        let precedence = try Self.precedence(priority: params.priority, fairnessKey: params.fairnessKey, method: method)

        if let key, let existing = try await existingTask(key: key, name: name, input: input) {
            return try await answer(for: existing.id, wait: wait, timeoutMs: waitTimeout)
        }
        let now = clock.now()
        var record = ActivityTaskRecord(
            id: Self.newTaskID(now: now), name: name, input: input, idempotencyKey: key, retryPolicy: policy,
            timeouts: timeouts, contractHash: contract?.hash, now: now)
        record.precedence = precedence
        let reserved = reserveWorker(for: name, input: input, now: now)
        if reserved != nil {
            record.status = .running
            record.attempt = 1
            record.startedAt = now
        }
        let toInsert = record
        let outcome: WriteOutcome
        do {
            outcome = try await enqueueShared(toInsert, claimed: reserved != nil)
        } catch {
            if let reserved { cancelReservation(reserved, name: name, input: input) }
            throw error
        }
        guard outcome == .applied else {
            if let reserved { cancelReservation(reserved, name: name, input: input) }
            guard let key, let existing = try await existingTask(key: key, name: name, input: input) else {
                // A duplicate with no task under its key: the random id met another task's, or the
                // store answered wrongly (ClaimFenceTests). Logged with an incident for the caller.
                throw unexpectedErrorForWire(
                    KeelError(.internalError, "the store answered new task \(record.id) as a duplicate, and no task holds its key"),
                    method: method)
            }
            return try await answer(for: existing.id, wait: wait, timeoutMs: waitTimeout)
        }
        rememberCaller(traceParent, for: record.id)
        await launch(record, reserved: reserved)
        return try await answer(for: record.id, wait: wait, timeoutMs: waitTimeout, stored: record)
    }

    /// The task with an idempotency key: found through the store's unique index (every task is
    /// stored before it is live), then the live record if the task is still open.
    private func task(idempotencyKey key: String) async throws -> ActivityTaskRecord? {
        guard let stored = try await cluster.store.task(idempotencyKey: key) else { return nil }
        return tasks[stored.id]?.record ?? stored
    }

    /// The stored task for an idempotency key, checked to be the same call.
    private func existingTask(key: String, name: String, input: JSONValue) async throws -> ActivityTaskRecord? {
        guard let found = try await task(idempotencyKey: key) else { return nil }
        guard found.name == name, found.input == input else {
            throw KeelError(
                .idempotencyConflict,
                "idempotency key \"\(key)\" was used for a different call (\(found.name)); use a new key for new work",
                data: ["idempotencyKey": .string(key), "taskId": .string(found.id), "name": .string(found.name)])
        }
        return found
    }

    /// `stored`: the task as just stored, when the caller stored it (saves reading it back).
    ///
    /// Served over a connection, a wait does not keep the request's task: the answer is deferred
    /// (``RPCConnection/deferAnswer()``) and sent by a ``Waiter`` when the task ends or the wait
    /// times out (docs/performance.md, "Waiting requests").
    private func answer(for id: String, wait: Bool, timeoutMs: Int64, stored: ActivityTaskRecord? = nil) async throws
        -> Wire.ActivityResult
    {
        let current = wait && timeoutMs > 0 ? try await waitForEnd(id, timeoutMs: 0, stored: stored) : nil
        if let current, !current.status.isTerminal, let deferred = RPCConnection.deferAnswer() {
            awaitTaskEnd(id, timeoutMs: timeoutMs, answer: deferred)
            return activityAnswer(current)  // not sent: the deferred answer is
        }
        guard let record = try await waitForEnd(id, timeoutMs: wait ? timeoutMs : 0, stored: current ?? stored) else {
            throw KeelError(.taskNotFound, "no task \(id)", data: ["taskId": .string(id)])
        }
        return activityAnswer(record)
    }

    /// Answers `answer` with the task's record once it ends, or as it is after `timeoutMs`: what
    /// ``waitForEnd(_:timeoutMs:stored:)`` returns after its wait, without a task waiting.
    private func awaitTaskEnd(_ id: String, timeoutMs: Int64, answer: DeferredAnswer) {
        nextWaiterID += 1
        let waiterID = nextWaiterID
        timers.schedule(clock.now() + timeoutMs, taskID: id, kind: .waiterTimeout(waiterID: waiterID))
        waiters[id, default: [:]][waiterID] = .answer { [self] ended in
            if let ended {
                answer.send(Self.typedResult(ended).json)  // ended: no worker hint to add
            } else {
                Task { await self.answerAfterWait(id, answer: answer) }
            }
        }
    }

    /// A deferred wait woken without the end (it timed out, or the end could not be stored): the
    /// task as it is now, or the end's storage error.
    private func answerAfterWait(_ id: String, answer: DeferredAnswer) async {
        do {
            if let unstored = unstoredEnds[id] { throw unstored }
            if let live = tasks[id] { return answer.send(activityAnswer(live.record).json) }
            guard let record = try await readTask(id) else {
                throw KeelError(.taskNotFound, "no task \(id)", data: ["taskId": .string(id)])
            }
            answer.send(activityAnswer(record).json)
        } catch {
            answer.fail(errorForWire(error, method: "an activity wait (activity/call, activity/result)"))
        }
    }

    /// The wire answer for a task: its record, and for one still waiting for a worker, the hint.
    private func activityAnswer(_ record: ActivityTaskRecord) -> Wire.ActivityResult {
        var result = Self.typedResult(record)
        if record.status == .scheduled, let hint = activityWorkerSuggestions(record.name) {
            result.waitingForWorker = true
            result.suggestions = hint
        }
        return result
    }

    /// A time-ordered unique id: `t-`, 10 base-32 digits of the epoch ms, 12 random ones.
    static func newTaskID(now: EpochMillis) -> String {
        // Written straight into the string's storage: one allocation an id.
        String(unsafeUninitializedCapacity: 24) { out in
            out[0] = UInt8(ascii: "t")
            out[1] = UInt8(ascii: "-")
            var t = UInt64(max(0, now))
            for i in (2..<12).reversed() { out[i] = idAlphabet[Int(t & 31)]; t >>= 5 }
            var r = UInt64.random(in: .min ... .max)
            for i in 12..<24 { out[i] = idAlphabet[Int(r & 31)]; r >>= 5 }
            return 24
        }
    }

    /// Crockford's base-32 digits, lowercase.
    private static let idAlphabet: [UInt8] = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    // MARK: - activity/result, activity/cancel, activity/heartbeat

    /// `activity/result`: a task's state by `taskId` (or `idempotencyKey`), waiting up to
    /// `waitTimeoutMs` (default a minute) for its end.
    /// - Throws: `KeelError(.taskNotFound)` for an unknown task; `.invalidParams` when neither is given.
    public func activityResult(_ params: ActivityResultParams) async throws -> ActivityResultResult {
        let timeout = params.waitTimeoutMs ?? 60_000
        if let id = params.taskId { return try await answer(for: id, wait: true, timeoutMs: timeout) }
        // The schema's anyOf asks for one of the two; a typed caller may still send neither.
        guard let key = params.idempotencyKey else {
            throw Params.fail(method: "activity/result", "taskId", "or idempotencyKey is required")
        }
        guard let record = try await task(idempotencyKey: key) else { throw KeelError(.taskNotFound, "no task with idempotency key \"\(key)\"") }
        return try await answer(for: record.id, wait: true, timeoutMs: timeout)
    }

    /// `activity/cancel`: cancels a queued or running task (a running attempt is told to stop) and
    /// answers its state; a task that had ended answers as it ended.
    /// - Throws: `KeelError(.taskNotFound)` for an unknown task.
    public func cancelActivity(_ params: ActivityCancelParams) async throws -> ActivityCancelResult {
        let id = params.taskId
        guard let live = tasks[id] else {
            guard let stored = try await readTask(id) else {
                throw KeelError(.taskNotFound, "no task \(id)", data: ["taskId": .string(id)])
            }
            guard !stored.status.isTerminal else { return Self.typedResult(stored) }
            // Queued, or running on another node: the store's fence stops that node's later writes.
            _ = try await applyShared(.cancelTask(id: id))
            return Self.typedResult(try await readTask(id) ?? stored)
        }
        let now = clock.now()
        let outcome = try await applyShared(.cancelTask(id: id))
        guard outcome == .applied else { return Self.typedResult(tasks[id]?.record ?? live.record) }
        // The cancel is committed. While its write was away the task may have left memory: on a
        // shared store a heartbeat of the attempt, refused by the cancel's own fence, drops it
        // (lateWriteRefused: the worker is told to stop, its slot freed). The cancel still ends it.
        var current = tasks[id] ?? live
        let freed = tasks[id] != nil ? stopRunningAttempt(id, reason: "cancelled by a client") : nil
        tasks[id] = nil
        attemptTraceCancelled(id)
        current.record.status = .cancelled
        ActivityMetrics.taskEnded(current.record.name, status: .cancelled)
        current.record.completedAt = now
        current.record.failure = Self.failure(type: "Cancelled", message: "cancelled by a client", retryable: false)
        wake(id, with: current.record)
        if let freed { afterSlotFreed(freed) }
        return Self.typedResult(current.record)
    }

    private func heartbeat(_ value: JSONValue, session: Session) async throws -> JSONValue {
        let p = try Params(value, method: "activity/heartbeat")
        let id = try p.string("taskId")
        let attempt = Int(try p.optionalInt("attempt", range: 1...1_000_000) ?? 0)
        let details = p["details"]
        let echoed = try p.optionalString("attemptToken")
        if let live = tasks[id], !Self.isHeldBy(live, session: session, token: echoed) {
            // A stranger's heartbeat: it neither extends the attempt nor plants details.
            logger.info("heartbeat refused: not this connection's attempt",
                metadata: ["task": "\(id)", "peer": "\(session.peer ?? session.label)"])
            throw KeelError(.attemptSuperseded, "task \(id) has no attempt running on this connection; stop",
                data: ["taskId": .string(id)])
        }
        guard let live = tasks[id] else {
            let stored = try await readTask(id)
            if stored?.status == .cancelled { return ["cancelled": true] }
            throw KeelError(.attemptSuperseded, "task \(id) is no longer running", data: ["taskId": .string(id)])
        }
        if live.phase.state == .ending, attempt == 0 || attempt == live.record.attempt {
            // The attempt is being cancelled or timed out right now: tell the worker to stop.
            return ["cancelled": true]
        }
        guard live.isRunning, attempt == 0 || attempt == live.record.attempt else {
            throw KeelError(
                .attemptSuperseded, "attempt \(attempt) of task \(id) was superseded by attempt \(live.record.attempt)",
                data: ["taskId": .string(id), "attempt": JSONValue(attempt), "currentAttempt": JSONValue(live.record.attempt)])
        }
        let current = live.record.attempt
        if let details {
            guard try await applyShared(.recordHeartbeat(id: id, attempt: current, details: details)) == .applied else {
                // Cancelled by a client, or taken over after this node lost its lease.
                lateWriteRefused(id, what: "heartbeat of attempt \(current)")
                return ["cancelled": true]
            }
        }
        guard var after = tasks[id], after.record.attempt == current, Self.isHeldBy(after, session: session, token: echoed)
        else { return ["cancelled": true] }
        after.lastHeartbeatAt = clock.now()
        if let details { after.record.heartbeatDetails = details }
        tasks[id] = after
        return ["cancelled": false]
    }
}

extension Engine {
    /// True when `live`'s current attempt was sent on `session`'s connection and
    /// `token`, if the worker echoed one, is that attempt's.
    static func isHeldBy(_ live: LiveTask, session: Session, token: String?) -> Bool {
        switch live.phase.state {
        case .running(let connectionID, _):
            return connectionID == session.connection.id && AttemptToken.matches(token, live.attemptToken)
        case .ending:
            // Being cancelled or timed out: the answer is `cancelled: true`, which changes nothing.
            return true
        case .ready:
            return false
        }
    }
}

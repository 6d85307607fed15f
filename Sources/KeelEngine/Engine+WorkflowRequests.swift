import KeelCore
import KeelProtocol
import KeelStorage
import Logging

/// Client operations on workflows (docs/protocol.md, "Client operations").
extension Engine {
    func startWorkflow(_ value: JSONValue) async throws -> JSONValue {
        guard !shuttingDown else { throw KeelError(.shuttingDown, "the orchestrator is shutting down; retry against the next one") }
        let p = try Params(value, method: "workflow/start")
        let name = try p.string("name")
        guard isValidName(name) else { throw p.fail("name", "must be a dotted name such as orders.fulfil") }
        let input = value["input"] ?? .null
        let now = clock.now()
        let id = try p.optionalString("workflowId") ?? "wf-" + String(Self.newTaskID(now: now).dropFirst(2))
        if let problem = WorkflowID.problem(id) { throw p.fail("workflowId", problem) }
        let policy = try p.optionalString("conflictPolicy") ?? "useExisting"
        guard policy == "useExisting" || policy == "fail" else { throw p.fail("conflictPolicy", "must be useExisting or fail") }
        let signal = try Self.startSignal(p)
        if signal != nil, policy == "fail" {
            throw p.fail("conflictPolicy", "must be useExisting with signal: signal-with-start signals the execution the id already has")
        }
        let traceParent = try Self.callerTraceParent(p)
        let contract = registry.workflowContracts[name]
        if let contract {
            let errors = await contractErrors(of: input, against: contract.input)
            if !errors.isEmpty {
                contractViolated(.workflow, name, .input, errors: errors)
                throw KeelError(.inputContractViolation, "input of workflow \(name) breaks its contract: \(Self.firstMessage(errors))",
                    data: ["workflow": .string(name), "errors": .array(errors), "contractHash": .string(contract.hash)])
            }
        }
        var record = WorkflowRecord(id: id, name: name, input: input, contractHash: contract?.hash, now: now)
        let (executionMs, runMs) = try Self.requestedTimeouts(p)
        applyTimeouts(&record, executionMs: executionMs, runMs: runMs, now: now)
        record.precedence = try p.precedence(over: .standard)
        record.searchAttributes = try p.searchAttributes()
        record.memo = try p.memo()
        // Fast path: a worker has room now, so the execution is stored already running as its
        // first run (one commit before workflow/run instead of two). On a shared store it is
        // stored owned by this node, fenced by its lease (no claim round); a start with a signal
        // is stored unowned and claimed, which reads the signal with the journal.
        let owner = signal == nil ? await cluster?.membership.lease?.nodeId : nil
        let reserved = (cluster != nil && owner == nil) || workflowQueue[name]?.isEmpty == false
            ? nil : registry.pickWorkflowWorker(for: name, build: nil, canSend: { canSend($0) })
        if let reserved {
            record.status = .running
            record.epoch = 1
            record.buildId = registry.workers[reserved]?.buildId
            registry.adjustWorkflowsInFlight(reserved, by: 1)
        }
        let toInsert = record
        let stored: (start: WriteOutcome, signal: SignalDelivery?)
        do {
            if let signal {
                stored = try await ledger.start(toInsert, signal: signal)
            } else if reserved != nil, let owner {
                stored = (try await startOwned(toInsert, node: owner), nil)
            } else {
                stored = (try await ledger.start(toInsert), nil)
            }
        } catch {
            if let reserved { registry.adjustWorkflowsInFlight(reserved, by: -1) }
            throw error
        }
        let outcome = stored.start
        let delivery = stored.signal
        if let reserved { registry.adjustWorkflowsInFlight(reserved, by: -1) }
        if outcome == .duplicate {
            guard policy == "useExisting" else {
                throw KeelError(.workflowAlreadyExists, "workflow \(id) already exists; use another id or conflictPolicy useExisting",
                    data: ["workflowId": .string(id)])
            }
            var answer: JSONObject = ["started": false]
            if let signal {
                answer["signal"] = try await signalExisting(id, signal, deliveredInStart: delivery)
            }
            let existing = try await currentWorkflow(id)
            answer["workflowId"] = .string(id)
            answer["status"] = .string(existing?.status.rawValue ?? "pending")
            return .object(answer)
        }
        WorkflowMetrics.started(name)
        rememberCaller(traceParent, for: id)
        if let reserved, sessions[reserved] != nil, registry.workers[reserved] != nil {
            workflows[id] = LiveWorkflow(record: record, journal: [:], phase: .pending)
            scheduleDeadlines(record)
            startRun(id, on: reserved, claimed: true)
        } else if cluster != nil {
            // Stored owned by this node, whose worker left meanwhile: back to the store.
            if reserved != nil { giveBackStarted(record, because: "its worker left during the start") }
            claimBacklog.workflowMayWait(name)
            kickClaims()
        } else {
            record.status = .pending
            admitWorkflow(record, journal: [])
            dispatchWorkflows(name)
        }
        var started: [String: JSONValue] = [
            "workflowId": .string(id), "status": .string(workflows[id]?.record.status.rawValue ?? "pending"), "started": true,
        ]
        if started["status"] == "pending" { started.merge(workflowWorkerHint(name)) { old, _ in old } }
        if signal != nil { started["signal"] = ["delivered": true, "duplicate": false] }
        return .object(started)
    }

    /// `workflow/start`'s `signal`, checked as `workflow/signal` checks its fields.
    static func startSignal(_ p: Params) throws -> StartSignal? {
        guard let v = p["signal"] else { return nil }
        guard case .object = v else { throw p.fail("signal", "must be an object {name, payload?, requestId?}") }
        let s = try Params(v, method: "workflow/start")
        guard let name = try s.optionalString("name"), !name.isEmpty else { throw p.fail("signal.name", "is required") }
        try refuseUpdateSignalName(name, p, field: "signal.name")
        let key = try s.optionalString("requestId")
        if let key, key.isEmpty || key.utf8.count > Params.maximumKeyBytes {
            throw p.fail("signal.requestId", "must be 1 to \(Params.maximumKeyBytes) bytes")
        }
        return StartSignal(name: name, payload: v["payload"] ?? .null, key: key)
    }

    /// Signal-with-start found the id taken: the signal goes to that execution (delivered in the
    /// start's own transaction on a shared store; here as `workflow/signal` would).
    private func signalExisting(_ id: String, _ signal: StartSignal, deliveredInStart: SignalDelivery?) async throws -> JSONValue {
        if let delivered = deliveredInStart {
            if !delivered.duplicate, workflows[id] != nil { _ = await takeSignals(id) }
            return ["delivered": true, "duplicate": .bool(delivered.duplicate)]
        }
        var params: JSONObject = ["workflowId": .string(id), "name": .string(signal.name), "payload": signal.payload]
        if let key = signal.key { params["requestId"] = .string(key) }
        let answer = try await signalWorkflow(.object(params))
        return ["delivered": true, "duplicate": answer["duplicate"] ?? false]
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

    func workflowResult(_ value: JSONValue) async throws -> JSONValue {
        let p = try Params(value, method: "workflow/result")
        let id = try p.string("workflowId")
        let timeout = try p.optionalInt("waitTimeoutMs", range: 0...86_400_000) ?? 60_000
        if cluster != nil, timeout > 0 { return try await sharedWorkflowResult(id, timeoutMs: timeout).resultJSON }
        if workflows[id] != nil, timeout > 0 {
            nextWaiterID += 1
            let waiterID = nextWaiterID
            timers.schedule(clock.now() + timeout, taskID: id, kind: .workflowWaiterTimeout(waiterID: waiterID))
            if let ended = await withCheckedContinuation({ c in workflowWaiters[id, default: [:]][waiterID] = c }) {
                return ended.resultJSON
            }
        }
        return try await requireWorkflow(id).resultJSON
    }

    func signalWorkflow(_ value: JSONValue) async throws -> JSONValue {
        let p = try Params(value, method: "workflow/signal")
        let id = try p.string("workflowId")
        let name = try p.string("name")
        try Self.refuseUpdateSignalName(name, p, field: "name")
        let payload = value["payload"] ?? .null
        let requestId = try p.optionalString("requestId")
        if let requestId, requestId.isEmpty || requestId.utf8.count > Params.maximumKeyBytes {
            throw p.fail("requestId", "must be 1 to \(Params.maximumKeyBytes) bytes")
        }
        let record = try await requireWorkflow(id)
        guard !record.status.isTerminal else {
            throw KeelError(.workflowNotFound, "workflow \(id) has ended (\(record.status.rawValue)); signals go to open workflows",
                data: ["workflowId": .string(id), "status": .string(record.status.rawValue)])
        }
        let generation = record.generation
        let delivery = try await ledger.deliverSignal(id, name: name, payload: payload, key: requestId, generation: generation)
        // A resend of a signal already delivered (same requestId): nothing more happens.
        if delivery.duplicate { return ["delivered": true, "duplicate": true] }
        let consumed = await signalDelivered(id, generation: generation, name: name, payload: payload, delivery: delivery)
        return ["delivered": true, "consumed": .bool(consumed), "duplicate": false]
    }

    /// After a new signal is stored: answers the step that consumed it in the same write, or (on
    /// a shared store) hands it to a waiting step of this node. True when a step took it.
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
        guard cluster != nil else { return false }
        return await takeSignals(id).first { $0.name == name } != nil
    }

    func cancelWorkflow(_ value: JSONValue) async throws -> JSONValue {
        let p = try Params(value, method: "workflow/cancel")
        let id = try p.string("workflowId")
        let reason = try p.optionalString("reason") ?? "cancelled by a client"
        let record = try await requireWorkflow(id)
        if record.status.isTerminal { return record.resultJSON }
        try await cancel(id, reason: reason)
        return (try await currentWorkflow(id) ?? record).resultJSON
    }

    /// Cancels an execution: every scheduled step fails with `Cancelled` (running activities are
    /// told, children are cancelled in turn); with none, the next step gets it.
    /// - Throws: `KeelError(.storageFailure)` when a write does not commit; what did commit stays,
    ///   and cancelling again finishes the rest (each step is idempotent).
    func cancel(_ id: String, reason: String) async throws {
        try await ledger.requestCancel(id, reason: reason)
        guard var live = workflows[id] else { return }
        live.record.cancelRequested = true
        live.record.cancelReason = live.record.cancelReason ?? reason
        workflows[id] = live
        let failure = Self.failure(type: "Cancelled", message: reason, retryable: false)
        let scheduled = live.journal.values.filter { $0.status == .scheduled }.sorted { $0.seq < $1.seq }
        if scheduled.isEmpty {
            workflows[id]?.cancelUndelivered = true
            if case .pending = live.phase, live.journal.isEmpty, !live.journalTrimmed {
                // Never ran: nothing to compensate.
                await endWorkflow(id, status: .cancelled, output: nil, failure: failure)
            } else if case .suspended = live.phase {
                requeue(id)
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
    func queryWorkflow(_ value: JSONValue) async throws -> JSONValue {
        let p = try Params(value, method: "workflow/query")
        let id = try p.string("workflowId")
        let name = try p.string("name")
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
        return [
            "workflowId": .string(id), "name": .string(name), "value": published["value"] ?? .null,
            "seq": published["seq"] ?? .null, "atMs": published["atMs"] ?? .null, "status": .string(record.status.rawValue),
        ]
    }

    func describeWorkflow(_ value: JSONValue) async throws -> JSONValue {
        let p = try Params(value, method: "workflow/describe")
        let id = try p.string("workflowId")
        let record = try await requireWorkflow(id)
        let journal: [JournalEntry] = if let live = workflows[id], !live.journalTrimmed {
            live.journal.values.sorted { $0.seq < $1.seq }
        } else {
            try await ledger.journal(id, generation: record.generation)
        }
        var o: [String: JSONValue] = [
            "workflowId": .string(id), "name": .string(record.name), "status": .string(record.status.rawValue),
            "runId": JSONValue(record.epoch), "runs": JSONValue(record.epoch), "generation": JSONValue(record.generation),
            "input": record.input, "createdAtMs": JSONValue(record.createdAt), "updatedAtMs": JSONValue(record.updatedAt),
            "cancelRequested": .bool(record.cancelRequested), "steps": JSONValue(journal.count),
        ]
        if let output = record.output { o["output"] = output }
        if let failure = record.failure { o["failure"] = failure }
        if let parent = record.parentId { o["parentId"] = .string(parent) }
        if let buildId = record.buildId { o["buildId"] = .string(buildId) }
        o.merge(record.precedence.fields) { _, shown in shown }
        if let attributes = record.searchAttributes { o["searchAttributes"] = attributes }
        if let memo = record.memo { o["memo"] = memo }
        let pending = journal.filter { $0.status == .scheduled }
        o["pendingSteps"] = .array(pending.map { ["seq": JSONValue($0.seq), "kind": .string($0.kind), "name": .string($0.name)] })
        if let current = pending.last ?? journal.last {
            var step: [String: JSONValue] = ["seq": JSONValue(current.seq), "kind": .string(current.kind), "name": .string(current.name),
                "status": .string(current.status.rawValue)]
            // A task this node does not hold (between attempts on a shared store, or running on
            // another node) is read from the store.
            let task: ActivityTaskRecord? = if let taskId = current.taskId {
                if let live = tasks[taskId] { live.record } else if current.status == .scheduled { try await readTask(taskId) } else { nil }
            } else {
                nil
            }
            if let task {
                step["attempts"] = JSONValue(task.attempt)
                if let f = task.failure { step["lastFailure"] = f }
            }
            currentStepTimes(&step, entry: current, task: task)
            o["currentStep"] = .object(step)
        }
        if let lastError = record.failure ?? journal.last(where: { $0.failure != nil })?.failure { o["lastError"] = lastError }
        if let waitingFor = waitingFor(record, pending: pending) { o["waitingFor"] = .string(waitingFor) }
        if let resets = try await resetsJSON(id) { o["resets"] = resets }
        return .object(o)
    }

    /// "a worker for workflow NAME" when a pending execution has no connected worker to run it,
    /// "a worker for activity NAME" when one of its scheduled activity steps has none; else nil.
    private func waitingFor(_ record: WorkflowRecord, pending: [JournalEntry]) -> String? {
        if record.status == .pending, !workflowWorkerHint(record.name).isEmpty { return "a worker for workflow \(record.name)" }
        let queued = if let live = workflows[record.id], case .pending = live.phase { true } else { record.status == .pending }
        if queued, let build = record.buildId,
            !registry.workers.values.contains(where: { $0.workflows.contains(record.name) && $0.canRun(build: build) })
        {
            return "a worker of build \(build) for workflow \(record.name)"
        }
        guard !record.status.isTerminal else { return nil }
        for e in pending where e.kind == "activity" {
            guard let taskId = e.taskId, tasks[taskId]?.record.status == .scheduled else { continue }
            if !activityWorkerHint(e.name).isEmpty { return "a worker for activity \(e.name)" }
        }
        return nil
    }

    func listWorkflows(_ value: JSONValue) async throws -> JSONValue {
        let p = try Params(value, method: "workflow/list")
        var filter = WorkflowFilter()
        if let s = try p.optionalString("status") {
            guard let status = WorkflowStatus(rawValue: s) else {
                throw p.fail("status", "must be one of \(WorkflowStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.status = status
        }
        filter.name = try p.optionalString("name")
        filter.createdAfter = try p.optionalInt("createdAfterMs", range: 0...Int64.max)
        filter.createdBefore = try p.optionalInt("createdBeforeMs", range: 0...Int64.max)
        filter.newestFirst = try p.optionalString("order") == "newest"
        filter.limit = Int(try p.optionalInt("limit", range: 1...1000) ?? 100)
        if let query = try p.optionalString("query") { filter.query = try SearchQueryParser.parse(query) }
        if let cursor = try p.optionalString("cursor") {
            let parts = cursor.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let t = Int64(parts[0]) else { throw p.fail("cursor", "is not a cursor this server returned") }
            filter.after = (t, String(parts[1]))
        }
        let f = filter
        let found = try await ledger.executions(f)
        let shared = cluster != nil
        var o: [String: JSONValue] = [
            "workflows": .array(found.map { row in
                var summary = (workflows[row.record.id]?.record ?? row.record).summaryJSON
                // On a shared store: the node that runs it now, if one does.
                if shared, case .object(var fields) = summary, let node = row.node {
                    fields["node"] = .string(node)
                    summary = .object(fields)
                }
                return summary
            })
        ]
        if found.count == filter.limit, let last = found.last?.record {
            o["nextCursor"] = .string("\(last.createdAt):\(last.id)")
        }
        if found.isEmpty, filter.after == nil, let query = filter.query {
            let unknown = try await unknownAttributeKeys(query)
            if !unknown.isEmpty { o["unknownAttributes"] = .array(unknown) }
        }
        return .object(o)
    }

    /// For a query that found nothing: the attribute keys it compares that no execution has, each
    /// with the known keys closest to it (a typo such as `custmer` for `customer` finds nothing,
    /// which is not an error). Empty when every key exists, or when more keys exist than a hint reads.
    func unknownAttributeKeys(_ query: SearchQuery) async throws -> [JSONValue] {
        let asked = query.attributeKeys
        guard !asked.isEmpty else { return [] }
        let known = try await ledger.searchAttributeKeys()
        guard known.count < SearchAttributeKeys.limit else { return [] }
        return asked.filter { !known.contains($0) }.map { key in
            [
                "key": .string(key),
                "suggestions": .array(NameSuggestions.suggestions(for: key, among: known).map { .string($0) }),
            ]
        }
    }

    func workflowHistory(_ value: JSONValue) async throws -> JSONValue {
        let p = try Params(value, method: "workflow/history")
        let id = try p.string("workflowId")
        let record = try await requireWorkflow(id)
        let generation = Int(try p.optionalInt("generation", range: 0...Int64(record.generation)) ?? Int64(record.generation))
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
        let entries: [JSONValue] = stored.map { e in
            var j = e.historyJSON
            if case .object(var o) = j {
                let task = e.taskId.flatMap { tasksById[$0] }
                o["attempts"] = JSONValue(task?.attempt ?? (e.status == .scheduled ? 0 : 1))
                if let started = task?.startedAt { o["startedAtMs"] = JSONValue(started) }
                if let failures = e.taskId.flatMap({ attemptFailures[$0] }), !failures.isEmpty {
                    o["attemptFailures"] = .array(failures.map(\.historyJSON))
                }
                j = .object(o)
            }
            return j
        }
        var o: [String: JSONValue] = [
            "workflowId": .string(id), "name": .string(record.name), "status": .string(run.status.rawValue),
            "runId": JSONValue(record.epoch), "generation": JSONValue(generation), "entries": .array(entries),
        ]
        if !run.events.isEmpty { o["events"] = .array(run.events) }
        // How the current run ended (a terminate's reason, a timeout) is part of its history.
        if generation == record.generation, record.status.isTerminal {
            if record.status != .completed, let failure = record.failure { o["failure"] = failure }
            o["endedAtMs"] = JSONValue(record.updatedAt)
        }
        return .object(o)
    }

    func resumeWorkflow(_ value: JSONValue) async throws -> JSONValue {
        let p = try Params(value, method: "workflow/resume")
        let id = try p.string("workflowId")
        if let cluster { return try await resumeOnSharedStore(id, cluster) }
        try await loadParked(id)
        guard var live = workflows[id] else {
            let r = try await requireWorkflow(id)
            throw KeelError(.invalidParams, "workflow \(id) is \(r.status.rawValue), not parked")
        }
        guard case .parked = live.phase else {
            // A suspended execution with nothing to wake it runs again now (docs/execution-model.md).
            if await repairIfStuck(id) { return ["workflowId": .string(id), "status": "pending", "resumed": true] }
            return ["workflowId": .string(id), "status": .string(live.record.status.rawValue), "resumed": false]
        }
        live.record.status = .pending
        live.record.failure = nil
        let record = live.record
        _ = try await ledger.update(record, expectedEpoch: record.epoch)
        workflows[id]?.record = record
        requeue(id)
        return ["workflowId": .string(id), "status": "pending", "resumed": true]
    }
}

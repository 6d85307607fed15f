import Foundation
import KeelCore
import KeelProtocol
import KeelStorage
import Logging

/// `workflow/step`: record each durable step, carry it out, answer with its outcome.
extension Engine {
    func step(_ value: JSONValue, session: Session) async throws -> JSONValue {
        let reply: StepReply
        do {
            // A request that can defer its answer ends once the step is recorded (a held step is
            // answered later), so it records in its own task; only one that must wait for a held
            // step's answer (a batch item, an in-process caller) records in a child task.
            reply = try await RPCConnection.canDeferAnswer
                ? recordStep(value, session: session) : recordInChildTask(value, session: session)
        } catch {
            noteStepNotRecorded(value, session: session, error)
            throw error
        }
        switch reply {
        case .answer(let answer): return answer
        case .held(let held):
            guard let deferred = RPCConnection.deferAnswer() else { return await held.answer }
            held.send(to: deferred)
            return .null  // not sent: the deferred answer is
        case .deferred:
            return .null  // not sent: the deferred answer is, once the step is stored
        }
    }

    /// Sends what recording a step came to as the request's deferred answer.
    private func send(_ reply: StepReply, to deferred: DeferredAnswer) {
        switch reply {
        case .answer(let answer): deferred.send(answer)
        case .held(let held): held.send(to: deferred)
        case .deferred: break  // its answer has its own sender already
        }
    }

    /// Records a step in a child task that starts at once on this actor and ends when the step is
    /// recorded, so that the ~40 KB of async frames recording takes are freed before a request's
    /// task that cannot defer its answer waits (for seconds, held) on it (HeldStep.swift, issue
    /// 15): a task keeps its frames' slabs until it ends. The step is held
    /// (``hold(_:seq:epoch:holdMs:)``) in the same job as before; only the wait moved.
    private func recordInChildTask(_ value: JSONValue, session: Session) async throws -> StepReply {
        try await withThrowingTaskGroup(of: StepReply.self) { group in
            if #available(macOS 26, *) {
                group.addImmediateTask { try await self.recordStep(value, session: session) }
            } else {
                group.addTask { try await self.recordStep(value, session: session) }
            }
            return try await group.next()!
        }
    }

    /// A step the store could not record (or that a node without its lease refused before trying):
    /// the run goes on from it in the worker, so its answer is not trusted (runEnded replays it).
    func noteStepNotRecorded(_ value: JSONValue, session: Session, _ error: any Error) {
        guard let id = value["workflowId"]?.stringValue else { return }
        noteStepNotRecorded(id, connectionID: session.connection.id, error)
    }

    private func noteStepNotRecorded(_ id: String, connectionID: UInt64, _ error: any Error) {
        let isStoreFailure = (error as? KeelError).map { $0.code == .storageFailure } ?? true
        guard isStoreFailure, let live = workflows[id], live.runningOn == connectionID else { return }
        workflows[id]?.stepNotRecorded = true
    }

    private func recordStep(_ value: JSONValue, session: Session) async throws -> StepReply {
        let p = try Params(value, method: "workflow/step")
        let id = try p.string("workflowId")
        let epoch = Int(try p.optionalInt("runId", range: 0...Int64(Int32.max)) ?? -1)
        guard let seq = try p.optionalInt("seq", range: 1...1_000_000).map(Int.init) else { throw p.fail("seq", "is required (1, 2, 3… in program order)") }
        let kind = try p.string("kind")
        let name = try p.optionalString("name") ?? kind
        let input = value["input"] ?? .null
        // Only the run's record is kept across the awaits below, not a copy of its `LiveWorkflow`:
        // a copy shares the journal, and adding this step's entry would then copy every entry.
        let run: WorkflowRecord, existing: JournalEntry?, cancelUndelivered: Bool
        do {
            guard let live = workflows[id] else { throw try await notLiveRefusal(id) }
            guard live.record.epoch == epoch, live.runningOn == session.connection.id,
                AttemptToken.matches(try p.optionalString("attemptToken"), live.runToken)
            else {
                throw KeelError(
                    .attemptSuperseded, "run \(epoch) of workflow \(id) was superseded by run \(live.record.epoch); stop this run",
                    data: ["workflowId": .string(id), "runId": JSONValue(epoch), "currentRunId": JSONValue(live.record.epoch)])
            }
            (run, existing, cancelUndelivered) = (live.record, live.journal[seq], live.cancelUndelivered)
        }
        if let existing {
            guard existing.kind == kind, existing.name == name else {
                throw await nonDeterminism(id, seq: seq, kind: kind, name: name, journal: existing)
            }
            if existing.status != .scheduled { return .answer(existing.stepAnswer) }
            return hold(id, seq: seq, epoch: epoch)
        }
        if cancelUndelivered {
            workflows[id]?.cancelUndelivered = false
            return .answer(try await cancelledStep(run, seq: seq, kind: kind, name: name, input: input, epoch: epoch))
        }
        switch kind {
        case "activity": return try await activityStep(run, seq: seq, name: name, input: input, options: value["options"], epoch: epoch)
        case "sleep": return try await sleepStep(run, seq: seq, name: name, input: input, epoch: epoch)
        case "signal": return try await signalStep(run, seq: seq, name: name, input: input, epoch: epoch)
        case "child": return try await childStep(run, seq: seq, name: name, input: input, epoch: epoch)
        default:
            return .answer(try await immediateStep(run, params: p, seq: seq, kind: kind, name: name, input: input, epoch: epoch))
        }
    }

    /// Parks the execution whose code called step `seq` as other than its journal has it; returns
    /// the error its run gets. Out of line, as ``immediateStep(_:params:seq:kind:name:input:epoch:)``.
    @inline(never)
    private func nonDeterminism(_ id: String, seq: Int, kind: String, name: String, journal existing: JournalEntry) async -> KeelError {
        let failure = Self.failure(
            type: "NonDeterminism",
            message: "step \(seq) is \(kind) \(name) in the code but \(existing.kind) \(existing.name) in the journal",
            retryable: false,
            details: ["seq": JSONValue(seq), "journal": ["kind": .string(existing.kind), "name": .string(existing.name)],
                "code": ["kind": .string(kind), "name": .string(name)]])
        await park(id, failure: failure)
        return KeelError(.nonDeterminism, failure["message"]?.stringValue ?? "non-determinism", data: failure["details"])
    }

    /// The first new step after a cancel that found none to fail: recorded failed with `Cancelled`.
    /// Out of line, as ``immediateStep(_:params:seq:kind:name:input:epoch:)``.
    @inline(never)
    private func cancelledStep(
        _ run: WorkflowRecord, seq: Int, kind: String, name: String, input: JSONValue, epoch: Int
    ) async throws -> JSONValue {
        var entry = JournalEntry(
            workflowId: run.id, generation: run.generation, seq: seq, kind: kind, name: name, input: input,
            now: clock.now())
        entry.status = .failed
        entry.failure = Self.failure(type: "Cancelled", message: "the workflow was cancelled", retryable: false)
        return try await record(entry, epoch: epoch).stepAnswer
    }

    /// A step recorded completed at once: `now`, `random`, `uuid`, `patch`, `publish`, `upsert`,
    /// `query`, `respond`. Kept out of ``recordStep(_:session:)`` (never inlined): an async
    /// function's frame holds the values of all its branches, and these made the recording of every
    /// activity step carry ~27 KB of frame (issue 15).
    @inline(never)
    private func immediateStep(
        _ run: WorkflowRecord, params p: Params, seq: Int, kind: String, name: String, input: JSONValue, epoch: Int
    ) async throws -> JSONValue {
        let id = run.id
        /// Records this step completed as it is recorded, with `result` and what it sets on its
        /// execution (stored in the same write), and answers it.
        func completed(_ result: JSONValue, at now: EpochMillis, effect: StepEffect? = nil) async throws -> JSONValue {
            var entry = JournalEntry(workflowId: id, generation: run.generation, seq: seq, kind: kind, name: name, input: input, now: now)
            entry.status = .completed
            entry.result = result
            entry.completedAt = now
            let recorded = try await record(entry, epoch: epoch, effect: effect)
            if let effect { remember(effect, of: id) }
            return recorded.stepAnswer
        }
        switch kind {
        case "now", "random", "uuid":
            let value: JSONValue = switch kind {
            case "now": JSONValue(clock.now())
            case "random": JSONValue(Double.random(in: 0..<1))
            default: .string(UUID().uuidString.lowercased())
            }
            return try await completed(value, at: clock.now())
        case "patch":
            // A patch marker (docs/versioning.md): recorded so replays of this execution take the
            // patched path; its answer is always `true`.
            return try await completed(true, at: clock.now())
        case "publish":
            // An event on the execution's stream, stored with the step (once, whatever replays).
            let now = clock.now()
            let event = StreamEvent(
                workflowId: id, offset: 0, source: .step(generation: run.generation, seq: seq), name: name,
                event: input["event"] ?? .null, createdAt: now)
            let answer = try await completed(.null, at: now, effect: .publish(event))
            streamAdvanced(id)
            return answer
        case "upsert":
            // Search attributes or memo (docs/protocol.md, "Search attributes and memo"): the merged
            // set is stored with the step, its result, once whatever replays.
            let (merged, effect) = try Self.upserted(run, name: name, changes: input, params: p)
            return try await completed(merged ?? .object([:]), at: clock.now(), effect: effect)
        case "query":
            // The latest value of a query (docs/protocol.md, "Queries and signal-with-start"),
            // stored with the step: `workflow/query` reads it, with or without a worker.
            let now = clock.now()
            let values = try Self.queryValues(
                run.queryValues, name: name, input: input, seq: seq, generation: run.generation, at: now, params: p)
            return try await completed(.null, at: now, effect: .executionData(.queryValues, values))
        case "respond":
            // The answer to an update this run received (docs/protocol.md, "Updates"), stored
            // with the step: `workflow/update` returns it, once, whatever replays.
            let now = clock.now()
            /// The execution's update outcomes with this answer added, read from memory as it is now
            /// (no copy of the run is kept across the awaits below).
            func outcomesNow() throws -> (outcomes: JSONValue, name: String) {
                guard let live = workflows[id], live.record.epoch == run.epoch else {
                    throw KeelError(.attemptSuperseded, "the run of workflow \(id) moved on while its update answer was checked",
                        data: ["workflowId": .string(id)])
                }
                return try updateOutcomes(live, updateId: name, answer: input, seq: seq, at: now, params: p)
            }
            let (outcomes, updateName) = try outcomesNow()
            let errors = await updateAnswerErrors(outcomes, updateId: name, name: updateName)
            guard errors.isEmpty else {
                contractViolated(.update, updateName, .output, errors: errors)
                throw KeelError(.outputContractViolation,
                    "the answer to update \(updateName) breaks its contract \(Self.firstMessage(errors)); nothing was recorded",
                    data: ["update": .string(updateName), "errors": .array(errors)])
            }
            // Read again after the check's await: another answer may have landed meanwhile.
            let (checked, _) = try outcomesNow()
            let answer = try await completed(.null, at: now, effect: .executionData(.updateOutcomes, checked))
            updatesAdvanced(id)
            return answer
        default:
            throw p.fail("kind", "must be one of activity, sleep, signal, child, now, random, uuid, patch, publish, upsert, query, respond")
        }
    }

    /// Mirrors what a recorded step set on its execution in the live record.
    private func remember(_ effect: StepEffect, of id: String) {
        switch effect {
        case .searchAttributes(let attributes): workflows[id]?.record.searchAttributes = attributes
        case .executionData(let field, let value):
            switch field {
            case .memo: workflows[id]?.record.memo = value
            case .queryValues: workflows[id]?.record.queryValues = value
            case .updateOutcomes: workflows[id]?.record.updateOutcomes = value
            }
        default: break
        }
    }

    /// The most queries one execution publishes, and the largest their values may be together.
    static let maxQueries = 64
    static let maxQueryValuesBytes = 256 * 1_024

    /// A query's stored value: `generation` and `seq` name the step that set it (a reset keeps
    /// what its kept steps set), `atMs` when.
    static func queryValue(_ value: JSONValue, seq: Int, generation: Int, at time: EpochMillis) -> JSONValue {
        ["value": value, "seq": JSONValue(seq), "generation": JSONValue(generation), "atMs": JSONValue(time)]
    }

    /// `current` with query `name` set to the `value` of a `query` step's input, checked.
    static func queryValues(
        _ current: JSONValue?, name: String, input: JSONValue, seq: Int, generation: Int, at now: EpochMillis, params p: Params
    ) throws -> JSONValue {
        guard case .object(let fields) = input, let value = fields["value"] else {
            throw p.fail("input", "a query step's input is {\"value\": …}")
        }
        guard !name.isEmpty, name.utf8.count <= 256 else { throw p.fail("name", "a query's name is 1 to 256 bytes") }
        var values = current?.objectValue ?? JSONObject()
        values[name] = Self.queryValue(value, seq: seq, generation: generation, at: now)
        guard values.count <= maxQueries else {
            throw p.fail("name", "would be the workflow's query number \(values.count); the most is \(maxQueries)")
        }
        let bytes = JSONWriter.string(.object(values)).utf8.count
        guard bytes <= maxQueryValuesBytes else {
            throw p.fail("input.value", "would make the workflow's query values \(bytes) bytes of JSON; the most is \(maxQueryValuesBytes)")
        }
        return .object(values)
    }

    /// What an `upsert` step named `name` leaves on `record`, checked: its merged search
    /// attributes or memo, and the effect that stores it.
    static func upserted(_ record: WorkflowRecord, name: String, changes: JSONValue, params p: Params) throws
        -> (JSONValue?, StepEffect)
    {
        switch name {
        case "searchAttributes":
            let object = try p.checkedChanges(changes, field: "input", allowingNull: true)
            let merged = try p.checkedAttributes(SearchAttributes.merged(record.searchAttributes, object), field: "input")
            return (merged, .searchAttributes(merged))
        case "memo":
            let object = try p.checkedChanges(changes, field: "input", allowingNull: true, typed: false)
            let merged = try p.checkedMemo(SearchAttributes.merged(record.memo, object), field: "input")
            return (merged, .executionData(.memo, merged))
        default:
            throw p.fail("name", "an upsert step's name is searchAttributes or memo")
        }
    }

    /// Appends an entry (fenced by the run's epoch), with what it sets, and mirrors it in memory.
    private func record(_ entry: JournalEntry, epoch: Int, effect: StepEffect? = nil) async throws -> JournalEntry {
        try recorded(entry, try await ledger.append(entry, epoch: epoch, effect: effect))
    }

    /// Takes in what the store answered for `entry`: the entry as the journal now has it.
    private func recorded(_ entry: JournalEntry, _ outcome: WriteOutcome) throws -> JournalEntry {
        switch outcome {
        case .applied:
            workflows[entry.workflowId]?.journal[entry.seq] = entry
            return entry
        case .duplicate:
            // The same seq raced in from a parallel request of this run: answer from what was stored.
            if let e = workflows[entry.workflowId]?.journal[entry.seq] { return e }
            throw KeelError(.attemptSuperseded, "step \(entry.seq) of \(entry.workflowId) is already recorded")
        default:
            throw KeelError(.attemptSuperseded, "this run of \(entry.workflowId) was superseded; stop it")
        }
    }

    /// A step is in the journal scheduled and the run waits on it (just recorded, or replayed):
    /// called as it is held (``hold(_:seq:epoch:holdMs:)``), or as a long sleep suspends the run.
    /// A cancel that found no step to fail (it arrived while this step was being recorded, or
    /// while the execution was suspended) left `cancelUndelivered` for the run's next new step:
    /// for a run that waits on this one (a signal, a long sleep, an activity that waits to be
    /// cancelled) there may be none, so the cancel is delivered to this step now, in a job after
    /// the one that held it.
    func deliverCancelArrivedMeanwhile(_ id: String) {
        guard let live = workflows[id], live.cancelUndelivered, live.record.cancelRequested else { return }
        workflows[id]?.cancelUndelivered = false
        let reason = live.record.cancelReason ?? "the workflow was cancelled"
        Task {
            do {
                try await cancel(id, reason: reason)
            } catch {
                // As a failed `workflow/cancel`: what committed stays; the run's next step, or a
                // cancel sent again, delivers the rest.
                workflows[id]?.cancelUndelivered = true
                _ = storeFailed(error, while: "delivering the cancel of workflow \(id) to the step it recorded meanwhile", background: true)
            }
        }
    }

    /// Holds the step until its scheduled entry's outcome, or answers `suspend` after `stepHoldMs`.
    func hold(_ id: String, seq: Int, epoch: Int, holdMs: Int64? = nil) -> StepReply {
        guard let live = workflows[id], live.isRunning, live.record.epoch == epoch else { return .answer(["status": "suspend"]) }
        if let e = live.journal[seq], e.status != .scheduled { return .answer(e.stepAnswer) }
        timers.schedule(clock.now().addingSaturating(holdMs ?? options.stepHoldMs), taskID: id, kind: .stepHold(epoch: epoch, seq: seq))
        let held = HeldStep()
        workflows[id]?.held[seq, default: []].append(held)
        if live.cancelUndelivered { deliverCancelArrivedMeanwhile(id) }
        return .held(held)
    }

    /// An activity step's precedence: its options' `priority` and `fairnessKey` over its
    /// execution's (docs/protocol.md, "Priorities and fairness").
    static func stepPrecedence(_ options: JSONValue?, over execution: Precedence) throws -> Precedence {
        guard let options, case .object = options else { return execution }
        return try Params(options, method: "workflow/step").precedence(over: execution, prefix: "options.")
    }

    private func activityStep(_ run: WorkflowRecord, seq: Int, name: String, input: JSONValue, options: JSONValue?, epoch: Int)
        async throws -> StepReply
    {
        let contract = registry.contracts[name]
        if !isValidName(name) || contract != nil,
            let refused = try await refusedActivityStep(run, seq: seq, name: name, input: input, contract: contract, epoch: epoch)
        {
            return .answer(refused)
        }
        let (entry, task) = try activityEntry(run, seq: seq, name: name, input: input, options: options, contract: contract)
        return try await storeActivityStep(entry, task: task, epoch: epoch)
    }

    /// An activity step refused as it is recorded (recorded failed): a name that is not valid, or
    /// an input that breaks the activity's contract. Nil when it is not refused. Out of line, as
    /// ``immediateStep(_:params:seq:kind:name:input:epoch:)``.
    @inline(never)
    private func refusedActivityStep(
        _ run: WorkflowRecord, seq: Int, name: String, input: JSONValue, contract: ActivityContract?, epoch: Int
    ) async throws -> JSONValue? {
        var entry = JournalEntry(
            workflowId: run.id, generation: run.generation, seq: seq, kind: "activity", name: name,
            input: input, now: clock.now())
        guard isValidName(name) else {
            entry.status = .failed
            entry.failure = Self.failure(type: "InvalidActivityName", message: "\(name) is not a valid activity name", retryable: false)
            return try await record(entry, epoch: epoch).stepAnswer
        }
        guard let contract else { return nil }
        let errors = await contractErrors(of: input, against: contract, .input)
        guard !errors.isEmpty else { return nil }
        contractViolated(.activity, name, .input, errors: errors)
        entry.status = .failed
        entry.contractHash = contract.hash
        entry.failure = Self.failure(type: "InputContractViolation",
            message: "input of \(name) breaks its contract: \(Self.firstMessage(errors))", retryable: false,
            details: ["errors": .array(errors)])
        return try await record(entry, epoch: epoch).stepAnswer
    }

    /// An activity step's journal entry and task, as they are stored (options checked).
    private func activityEntry(
        _ run: WorkflowRecord, seq: Int, name: String, input: JSONValue, options: JSONValue?, contract: ActivityContract?
    ) throws -> (JournalEntry, ActivityTaskRecord) {
        let id = run.id
        let now = clock.now()
        var entry = JournalEntry(workflowId: id, generation: run.generation, seq: seq, kind: "activity", name: name, input: input, now: now)
        let policy = try RetryPolicy.decode(options?["retryPolicy"], base: contract?.retryPolicy ?? RetryPolicy(), field: "options.retryPolicy")
        let timeouts = try ActivityTimeouts.decode(options?["timeouts"], base: contract?.timeouts ?? ActivityTimeouts(), field: "options.timeouts")
        let precedence = try Self.stepPrecedence(options, over: run.precedence)
        var task = ActivityTaskRecord(
            id: Self.newTaskID(now: now), name: name, input: input, idempotencyKey: "\(id)/\(run.generation)/\(seq)",
            retryPolicy: policy, timeouts: timeouts, contractHash: contract?.hash, now: now)
        task.precedence = precedence
        task.workflowId = id
        task.generation = run.generation
        task.stepSeq = seq
        entry.taskId = task.id
        entry.contractHash = contract?.hash
        return (entry, task)
    }

    /// Stores an activity step with its task (claimed when a worker has room), launches the task
    /// and holds the step.
    private func storeActivityStep(_ entry: JournalEntry, task: ActivityTaskRecord, epoch: Int) async throws -> StepReply {
        var task = task
        let id = entry.workflowId, seq = entry.seq, name = task.name, now = task.createdAt
        // Fast path, as for activity/call: a worker has room now, so the task is stored claimed.
        let reserved = reserveWorker(for: name, input: task.input, now: now)
        if reserved != nil {
            task.status = .running
            task.attempt = 1
            task.startedAt = now
        }
        var claimedBy: String?
        if reserved != nil { claimedBy = cluster.membership.lease?.nodeId }
        if reserved != nil, claimedBy == nil {
            // No lease to claim with: stored unclaimed, for whichever node has a free worker.
            if let reserved { cancelReservation(reserved, name: name, input: task.input) }
            return try await activityStep(unreserved: task, entry: entry, epoch: epoch)
        }
        if let deferred = RPCConnection.deferAnswer() {
            recordDeferred(entry, task: task, claimedBy: claimedBy, reserved: reserved, epoch: epoch, answer: deferred)
            return .deferred
        }
        do {
            _ = try await record(entry, epoch: epoch, effect: .task(task, claimedBy: claimedBy))
        } catch {
            if let reserved { cancelReservation(reserved, name: name, input: task.input) }
            throw error
        }
        await launch(task, reserved: reserved)
        return hold(id, seq: seq, epoch: epoch)
    }

    /// Records an activity step whose request deferred its answer, without a task waiting on the
    /// commit: the request's task ends here, and the store's answer comes back to
    /// ``activityStepStored(_:entry:task:reserved:epoch:answer:)`` (docs/performance.md, "Starts
    /// and steps keep no task while they commit": a waiting task kept ~16 KB of async frames per
    /// step).
    private func recordDeferred(
        _ entry: JournalEntry, task: ActivityTaskRecord, claimedBy: String?, reserved: UInt64?, epoch: Int,
        answer: DeferredAnswer
    ) {
        ledger.append(entry, epoch: epoch, task: task, claimedBy: claimedBy) { [self] outcome in
            Task { await activityStepStored(outcome, entry: entry, task: task, reserved: reserved, epoch: epoch, answer: answer) }
        }
    }

    /// Carries on an activity step once the store answered, as the request's own task did before
    /// its answer was deferred: the task launched and the step held, or the store's error sent
    /// (the run is then not trusted: ``noteStepNotRecorded(_:session:_:)``).
    private func activityStepStored(
        _ outcome: Result<WriteOutcome, any Error>, entry: JournalEntry, task: ActivityTaskRecord, reserved: UInt64?,
        epoch: Int, answer: DeferredAnswer
    ) async {
        do {
            _ = try recorded(entry, outcome.get())
        } catch {
            if let reserved { cancelReservation(reserved, name: task.name, input: task.input) }
            noteStepNotRecorded(entry.workflowId, connectionID: answer.connectionID, error)
            answer.fail(errorForWire(error, method: "workflow/step"))
            return
        }
        await launch(task, reserved: reserved)
        send(hold(entry.workflowId, seq: entry.seq, epoch: epoch), to: answer)
    }

    /// An activity step stored with its task unclaimed (a node without its lease).
    private func activityStep(unreserved task: ActivityTaskRecord, entry: JournalEntry, epoch: Int) async throws -> StepReply {
        var task = task
        task.status = .scheduled
        task.attempt = 0
        task.startedAt = nil
        _ = try await record(entry, epoch: epoch, effect: .task(task, claimedBy: nil))
        await launch(task, reserved: nil)
        return hold(entry.workflowId, seq: entry.seq, epoch: epoch)
    }

    private func sleepStep(_ run: WorkflowRecord, seq: Int, name: String, input: JSONValue, epoch: Int) async throws -> StepReply {
        guard let duration = input["durationMs"]?.int64Value, duration >= 0 else {
            throw KeelError(.invalidParams, "workflow/step: a sleep needs input.durationMs, a non-negative integer")
        }
        var entry = JournalEntry(workflowId: run.id, generation: run.generation, seq: seq, kind: "sleep", name: name, input: input, now: clock.now())
        entry.wakeAt = entry.createdAt.addingSaturating(duration)
        _ = try await record(entry, epoch: epoch)
        // The timer is a row any node fires (Engine+ClusterWorkflows.swift).
        wakeClusterLoop(at: entry.wakeAt!)
        if duration > options.stepHoldMs {
            deliverCancelArrivedMeanwhile(run.id)
            return .answer(["status": "suspend"])
        }
        return hold(run.id, seq: seq, epoch: epoch, holdMs: duration.addingSaturating(options.stepHoldMs))
    }

    private func signalStep(_ run: WorkflowRecord, seq: Int, name: String, input: JSONValue, epoch: Int) async throws -> StepReply {
        let id = run.id
        let now = clock.now()
        var entry = JournalEntry(workflowId: id, generation: run.generation, seq: seq, kind: "signal", name: name, input: input, now: now)
        if let timeout = input["timeoutMs"]?.int64Value, timeout >= 0 { entry.wakeAt = now.addingSaturating(timeout) }
        let stored = try await ledger.receiveSignal(entry, epoch: epoch)
        guard stored.0 == .applied else { throw KeelError(.attemptSuperseded, "this run of \(id) was superseded; stop it") }
        if let delay = _EngineTestHooks.signalStepDelay(id) { _ = try? await Task.sleep(for: delay) }
        // A signal delivered while this write was on its way back completed the step already
        // (signalWorkflow left the completed entry here): answer it rather than wait for good.
        if let early = workflows[id]?.journal[seq], early.generation == stored.1.generation, early.status != .scheduled {
            var done = stored.1
            done.status = early.status
            done.result = early.result
            done.failure = early.failure
            done.completedAt = early.completedAt ?? done.createdAt
            workflows[id]?.journal[seq] = done
            return .answer(done.stepAnswer)
        }
        workflows[id]?.journal[seq] = stored.1
        if stored.1.status != .scheduled { return .answer(stored.1.stepAnswer) }
        if let wakeAt = stored.1.wakeAt { wakeClusterLoop(at: wakeAt) }
        return hold(id, seq: seq, epoch: epoch)
    }

    private func childStep(_ run: WorkflowRecord, seq: Int, name: String, input: JSONValue, epoch: Int) async throws -> StepReply {
        let id = run.id
        guard isValidName(name) else { throw KeelError(.invalidParams, "workflow/step: \(name) is not a valid workflow name") }
        let childId = input["workflowId"]?.stringValue ?? "\(id)/\(seq)"
        if input["workflowId"] != nil, let problem = WorkflowID.problem(childId) {
            throw KeelError(.invalidParams, "workflow/step: input.workflowId \(problem)")
        }
        let now = clock.now()
        let entry = JournalEntry(workflowId: id, generation: run.generation, seq: seq, kind: "child", name: name, input: input, now: now)
        var child = WorkflowRecord(id: childId, name: name, input: input["input"] ?? .null,
            contractHash: registry.workflowContracts[name]?.hash, now: now)
        child.parentId = id
        child.parentGeneration = run.generation
        child.parentSeq = seq
        child.cancelRequested = run.cancelRequested
        child.precedence = run.precedence
        if case .object = input {
            // Its own search attributes and memo, checked as workflow/start checks them.
            let given = try Params(input, method: "workflow/step", path: "params.input")
            child.searchAttributes = try given.searchAttributes()
            child.memo = try given.memo()
        }
        applyTimeouts(&child, executionMs: nil, runMs: nil, now: now)
        _ = try await record(entry, epoch: epoch, effect: .child(child))
        WorkflowMetrics.started(name)
        // Stored unowned: whichever node has a free worker for it claims it.
        claimBacklog.workflowMayWait(name)
        kickClaims()
        return hold(id, seq: seq, epoch: epoch)
    }

    /// A held step waited `stepHoldMs`: answer it with suspend so the worker frees the function.
    func stepHoldExpired(_ id: String, epoch: Int, seq: Int) async {
        guard workflows[id]?.record.epoch == epoch, workflows[id]?.held[seq]?.isEmpty == false else { return }
        let extendedUntil = await queuedHoldEnd(of: workflows[id]?.journal[seq])
        // Read again: the step may have ended, or the run moved on, while the store was read.
        guard let current = workflows[id], current.record.epoch == epoch, let held = current.held[seq], !held.isEmpty
        else { return }
        if let until = extendedUntil {
            HoldMetrics.extended()
            timers.schedule(until, taskID: id, kind: .stepHold(epoch: epoch, seq: seq))
            return
        }
        HoldMetrics.suspended()
        workflows[id]?.held[seq] = nil
        for c in held { c.resume(returning: ["status": "suspend"]) }
    }

    /// When a held activity step's hold ends instead, or nil (it ends now), as ``StepHold`` decides
    /// from the step's task. A task this node does not hold is read from the store; a failed
    /// read ends the hold.
    private func queuedHoldEnd(of entry: JournalEntry?) async -> EpochMillis? {
        guard let entry, entry.kind == "activity", entry.status == .scheduled,
            let taskId = entry.taskId
        else { return nil }
        let task: ActivityTaskRecord?
        if let held = tasks[taskId] {
            task = held.record
        } else {
            do {
                task = try await cluster.store.task(id: taskId)
            } catch {
                _ = storeFailed(error, while: "reading the task of a held step", background: true)
                return nil
            }
        }
        guard let task else { return nil }
        return StepHold.extendedUntil(
            recordedAt: entry.createdAt, task: task, now: clock.now(), stepHoldMs: options.stepHoldMs,
            queuedStepHoldMs: options.queuedStepHoldMs)
    }
}

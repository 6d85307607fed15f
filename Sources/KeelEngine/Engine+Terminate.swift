import Foundation
import KeelCore
public import KeelProtocol
import KeelStorage
import Logging

/// `workflow/terminate` and workflow timeouts (docs/execution-model.md, "Terminate and
/// timeouts"): an execution ends at once, with no compensation. Its scheduled steps fail, its
/// activity tasks are cancelled, its open children are terminated in turn (Temporal's default
/// parent close policy), its live run is told to stop and its later steps are refused (2006).
extension Engine {
    /// `workflow/terminate`: ends an open execution at once; an ended one is answered as it ended.
    /// - Throws: `KeelError(.workflowNotFound)` for an unknown id.
    public func terminateWorkflow(_ params: WorkflowTerminateParams) async throws -> WorkflowTerminateResult {
        let id = params.workflowId
        let reason = params.reason ?? "terminated by a client"
        guard let record = try await currentWorkflow(id) else {
            throw KeelError(.workflowNotFound, "no workflow \(id)", data: ["workflowId": .string(id)])
        }
        if record.status.isTerminal { return Self.typedResult(record) }
        try await terminate(id, reason: reason)
        return Self.typedResult(try await currentWorkflow(id) ?? record)
    }

    /// Ends open execution `id` as terminated with `reason`, wherever it runs.
    func terminate(_ id: String, reason: String) async throws {
        let failure = Self.failure(type: "Terminated", message: reason, retryable: false)
        try await terminate(id, status: .terminated, failure: failure)
    }

    /// Ends open execution `id` as `status` (terminated or timedOut) with `failure`, at once, from
    /// any node: one store change ends the execution and raises its epoch, wherever it runs. A run live here stops now; a run on
    /// another node is refused at its next write (or sees its held step failed) and leaves that
    /// node. Open children are terminated in turn.
    /// - Returns: false when it had ended already (or does not exist): nothing changed.
    /// - Throws: `KeelError(.storageFailure)` when the change did not commit (terminating again is safe).
    @discardableResult
    func terminate(_ id: String, status: WorkflowStatus, failure: JSONValue) async throws -> Bool {
        let store = cluster.store
        let outcome = try await store.apply([.terminateExecution(workflowId: id, status: status, failure: failure)]).first
        guard outcome == .applied else { return false }
        let reason = failure["message"]?.stringValue ?? status.rawValue
        let live = workflows[id]?.record
        if live != nil {
            stopLiveRun(id, reason: reason)
            forget(id)
        }
        dropTasks(tasks.keys.filter { tasks[$0]?.record.workflowId == id }, reason: "workflow \(id) \(status.rawValue): \(reason)")
        if let live { endedAtOnce(live, status: status, failure: failure, reason: reason) }
        guard let ended = try await store.execution(id: id) else { return true }
        if live == nil { endedAtOnce(ended.record, status: status, failure: failure, reason: reason) }
        let journal = try await store.journal(workflowId: id, generation: ended.record.generation)
        for e in journal.sorted(by: { $0.seq < $1.seq }) where e.kind == "child" {
            try await terminate(Self.childID(e, parent: id), status: .terminated,
                failure: Self.failure(type: "Terminated", message: "parent workflow \(id) ended (\(status.rawValue))", retryable: false))
        }
        return true
    }

    /// What the node whose store change ended `record`'s execution at once (terminate, a timeout,
    /// a cancel of one that never ran) owes it, as a run's own end does: its span ends, it counts
    /// as closed (once: only the change that applied gets here) and the end is logged.
    func endedAtOnce(_ record: WorkflowRecord, status: WorkflowStatus, failure: JSONValue, reason: String) {
        workflowTraceEnded(record.id, status: status, failure: failure)
        WorkflowMetrics.closed(record.name, status: status, livedMs: clock.now() - record.createdAt)
        logger.info("workflow ended at once", metadata: ["workflow": "\(record.id)", "status": "\(status.rawValue)", "reason": "\(reason)"])
    }

    /// Forgets the activity tasks of an execution that ended at once (the store cancelled them)
    /// and tells their workers.
    private func dropTasks(_ taskIDs: [String], reason: String) {
        for t in taskIDs where tasks[t] != nil {
            if let name = tasks[t]?.record.name { ActivityMetrics.taskEnded(name, status: .cancelled) }
            let freed = stopRunningAttempt(t, reason: reason)
            tasks[t] = nil
            attemptTraceCancelled(t)
            if let freed { afterSlotFreed(freed) }
        }
    }

    /// Tells a live run to stop (`workflow/cancel` notification), forgets its request (its answer
    /// is dropped) and frees its worker's slot. Its later steps get 2006.
    func stopLiveRun(_ id: String, reason: String) {
        guard let live = workflows[id], let (connectionID, requestID) = workflows[id]?.phase.stop() else { return }
        registry.adjustWorkflowsInFlight(connectionID, by: -1)
        releaseHeld(id)
        if let connection = sessions[connectionID]?.connection {
            connection.notify(
                "workflow/cancel",
                params: ["workflowId": .string(id), "runId": JSONValue(live.record.epoch), "reason": .string(reason)])
            connection.abandon(requestID, with: KeelError(.attemptSuperseded, "workflow \(id) ended: \(reason)"))
        }
        afterSlotFreed(connectionID)
    }

    // MARK: - Timeouts

    /// Sets a new execution's deadlines from `workflow/start`'s (or a child step's) timeouts, else
    /// the defaults its workers registered for `record.name`.
    func applyTimeouts(_ record: inout WorkflowRecord, executionMs: Int64?, runMs: Int64?, now: EpochMillis) {
        let defaults = workflowTimeoutDefaults[record.name]
        if let ms = executionMs ?? defaults?.executionMs { record.executionDeadline = now.addingSaturating(ms) }
        if let ms = runMs ?? defaults?.runMs {
            record.runTimeoutMs = ms
            record.runDeadline = now.addingSaturating(ms)
        }
    }

    /// Sets the timers of an execution's deadlines (at start, at each generation, after a restart).
    func scheduleDeadlines(_ record: WorkflowRecord) {
        if let at = record.executionDeadline { timers.schedule(at, taskID: record.id, kind: .workflowDeadline(generation: nil)) }
        if let at = record.runDeadline {
            timers.schedule(at, taskID: record.id, kind: .workflowDeadline(generation: record.generation))
        }
    }

    /// A deadline's timer fired: the execution (or its generation `generation`) ran out of time.
    func workflowDeadlinePassed(_ id: String, generation: Int?) async {
        guard let live = workflows[id] else { return }
        let now = clock.now()
        if let generation {
            guard live.record.generation == generation, let at = live.record.runDeadline, at <= now else { return }
        } else {
            guard let at = live.record.executionDeadline, at <= now else { return }
        }
        if live.phase.isEnding {
            // Its end (or another step) is being committed: look again shortly.
            timers.schedule(now + 100, taskID: id, kind: .workflowDeadline(generation: generation))
            return
        }
        let failure = Self.deadlineFailure(live.record, run: generation != nil)
        do {
            try await terminate(id, status: .timedOut, failure: failure)
        } catch {
            // Still open in the store: the next start (or this timer, set again) ends it.
            timers.schedule(now + Int64(Self.storeRetryMaxDelayMs), taskID: id, kind: .workflowDeadline(generation: generation))
        }
    }

    /// The failure an execution that ran out of time ends with: its run timeout's (`run`) or its
    /// execution timeout's.
    static func deadlineFailure(_ record: WorkflowRecord, run: Bool) -> JSONValue {
        let limit = run ? record.runTimeoutMs : record.executionDeadline.map { $0 - record.createdAt }
        let what = run ? "run timeout" : "execution timeout"
        return failure(type: run ? "WorkflowRunTimeout" : "WorkflowExecutionTimeout",
            message: "workflow \(record.id) did not finish within its \(what) of \(limit.map { "\($0) ms" } ?? "?")",
            retryable: false)
    }

    /// Reads the timeouts of `workflow/start` (or a child step's input): positive milliseconds.
    static func requestedTimeouts(_ p: Params) throws -> (executionMs: Int64?, runMs: Int64?) {
        let range: ClosedRange<Int64> = 1...WorkflowTimeouts.maximumMs
        return (try p.optionalInt("executionTimeoutMs", range: range), try p.optionalInt("runTimeoutMs", range: range))
    }

    /// Records the timeout defaults a worker declares per workflow in `worker/register`
    /// (`workflows[i].executionTimeoutMs`, `runTimeoutMs`); the latest registration wins.
    /// - Throws: `KeelError(.invalidParams)` naming the field, before anything is recorded.
    func registerTimeoutDefaults(_ value: JSONValue) throws {
        var found: [String: WorkflowTimeouts?] = [:]
        for (i, w) in (value["workflows"]?.arrayValue ?? []).enumerated() {
            guard let name = w["name"]?.stringValue else { continue }
            let p = try Params(w, method: "worker/register")
            do {
                let (execution, run) = try Self.requestedTimeouts(p)
                found.updateValue(
                    execution == nil && run == nil ? nil : WorkflowTimeouts(executionMs: execution, runMs: run), forKey: name)
            } catch let error as KeelError {
                let field = "workflows[\(i)].\(error.data?["field"]?.stringValue ?? "")"
                throw KeelError(.invalidParams, error.message.replacingOccurrences(of: "params.", with: "params.workflows[\(i)]."),
                    data: ["field": .string(field)])
            }
        }
        for (name, t) in found { workflowTimeoutDefaults[name] = t }
    }
}

/// A workflow name's default timeouts, as its workers registered them.
struct WorkflowTimeouts: Sendable, Equatable {
    /// Longest timeout accepted: ten years.
    static let maximumMs: Int64 = 10 * 365 * 86_400_000
    var executionMs: Int64?
    var runMs: Int64?
}

extension Engine {
    /// The refusal of a step for an execution that is not live here: 2006, naming how it ended
    /// when it has (terminated, timed out, …), so the worker knows why its run must stop.
    func notLiveRefusal(_ id: String) async throws -> KeelError {
        guard let stored = try await ledger.execution(id), stored.status.isTerminal else {
            return KeelError(.attemptSuperseded, "workflow \(id) is not running here; stop this run", data: ["workflowId": .string(id)])
        }
        let why = stored.failure?["message"]?.stringValue.map { ": \($0)" } ?? ""
        return KeelError(.attemptSuperseded, "workflow \(id) has ended (\(stored.status.rawValue)\(why)); stop this run",
            data: ["workflowId": .string(id), "status": .string(stored.status.rawValue)])
    }
}

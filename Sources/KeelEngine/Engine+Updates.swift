import KeelCore
import Foundation
public import KeelProtocol
import KeelStorage

/// Updates (docs/protocol.md, "Updates"): a request into a running workflow that its code
/// receives, handles and answers, durably.
///
/// - Delivery rides the signal buffer: the update is the signal `update:NAME` with payload
///   `{updateId, input}` and the dedup key `update:ID`, so a resend delivers nothing twice, across
///   restarts and nodes.
/// - The code receives it with a `signal` step named `update:NAME` and answers with a `respond`
///   step named by the update id. The answer is stored with that step (the execution's
///   `updateOutcomes`), once, and is what `workflow/update` returns.
/// - A contract declared for the name (`worker/register`'s `updates`) checks the input before
///   anything is recorded (`3001`) and the answer before it is recorded (`3002`).
extension Engine {
    /// The prefix of the signal an update rides on; clients cannot send such signals themselves.
    static let updateSignalPrefix = "update:"
    /// The most update outcomes an execution keeps (the oldest go first), and their size together.
    static let maxUpdateOutcomes = 256
    static let maxUpdateOutcomesBytes = 1_024 * 1_024
    /// The largest one answer may be.
    static let maxUpdateAnswerBytes = 256 * 1_024

    /// `workflow/update`: delivers the update once and waits up to `waitTimeoutMs` (default a
    /// minute) for its answer; past it the answer is `pending`, the update staying delivered.
    /// - Throws: `KeelError(.workflowNotFound)` for an unknown or ended execution,
    ///   `.inputContractViolation` when the input breaks the update's contract, `.updateUnanswered`
    ///   when the execution ends first, `.invalidParams` for the name's and the update id's bytes
    ///   (the schema counts characters).
    public func updateWorkflow(_ params: WorkflowUpdateParams) async throws -> WorkflowUpdateResult {
        let method = WorkflowUpdateParams.method
        let id = params.workflowId
        let name = params.name
        guard !name.isEmpty, name.utf8.count <= 200 else {
            throw Params.fail(method: method, "name", "an update's name is 1 to 200 bytes")
        }
        let input = params.input ?? .null
        let updateId = params.updateId ?? UUID().uuidString.lowercased()
        guard !updateId.isEmpty, updateId.utf8.count <= Params.maximumKeyBytes else {
            throw Params.fail(method: method, "updateId", "must be 1 to \(Params.maximumKeyBytes) bytes")
        }
        let timeout = params.waitTimeoutMs ?? 60_000
        let record = try await requireWorkflow(id)
        if let outcome = record.updateOutcomes?[updateId] {
            // A resend of an update already answered: its outcome, nothing delivered again.
            return Self.updateAnswer(id, updateId: updateId, outcome: outcome)
        }
        guard !record.status.isTerminal else {
            throw KeelError(.workflowNotFound, "workflow \(id) has ended (\(record.status.rawValue)); updates go to open workflows",
                data: ["workflowId": .string(id), "status": .string(record.status.rawValue)])
        }
        if let contract = registry.updateContracts[name] {
            let errors = await contractErrors(of: input, against: contract, .input)
            guard errors.isEmpty else {
                contractViolated(.update, name, .input, errors: errors)
                throw KeelError(.inputContractViolation,
                    "the input of update \(name) breaks its contract \(Self.firstMessage(errors)); nothing was delivered",
                    data: ["update": .string(name), "errors": .array(errors)])
            }
        }
        let payload: JSONValue = ["updateId": .string(updateId), "input": input]
        let signal = Self.updateSignalPrefix + name
        let delivery = try await ledger.deliverSignal(
            id, name: signal, payload: payload, key: Self.updateSignalPrefix + updateId, generation: record.generation)
        if !delivery.duplicate {
            _ = await signalDelivered(id, generation: record.generation, name: signal, payload: payload, delivery: delivery)
        }
        return try await awaitUpdate(id, updateId: updateId, name: name, deadline: clock.now().addingSaturating(timeout))
    }

    /// Waits until execution `id` answers update `updateId`, ends, or `deadline` passes. On a
    /// shared store the answer may come from another node: the store is read again each poll.
    private func awaitUpdate(_ id: String, updateId: String, name: String, deadline: EpochMillis) async throws
        -> WorkflowUpdateResult
    {
        while true {
            let record = try await requireWorkflow(id)
            if let outcome = record.updateOutcomes?[updateId] {
                return Self.updateAnswer(id, updateId: updateId, outcome: outcome)
            }
            if record.status.isTerminal {
                throw KeelError(.updateUnanswered,
                    "workflow \(id) ended (\(record.status.rawValue)) without answering update \(updateId)",
                    data: ["workflowId": .string(id), "updateId": .string(updateId), "status": .string(record.status.rawValue)])
            }
            let now = clock.now()
            if now >= deadline {
                var pending = WorkflowUpdateResult(workflowId: id, updateId: updateId, name: name, status: .pending)
                // A name the code does not wait for (a typo, say) would stay unanswered: say what it waits for.
                let awaited = try await awaitedUpdates(record)
                if !awaited.isEmpty, !awaited.contains(name) { pending.waitingFor = awaited }
                return pending
            }
            var wakeAt = deadline
            if workflows[id] == nil {
                // Answered on another node: this one learns it from the store, once a poll.
                wakeAt = min(deadline, now.addingSaturating(Int64(cluster.pollInterval / .milliseconds(1))))
            }
            nextWaiterID += 1
            let waiterID = nextWaiterID
            timers.schedule(max(wakeAt, now + 1), taskID: id, kind: .updateWaiterTimeout(waiterID: waiterID))
            await withCheckedContinuation { c in updateWaiters[id, default: [:]][waiterID] = c }
        }
    }

    /// The names of the updates the execution's current run waits for now (its scheduled
    /// `update:` signal steps), sorted.
    private func awaitedUpdates(_ record: WorkflowRecord) async throws -> [String] {
        let journal: [JournalEntry] = if let live = workflows[record.id], live.record.generation == record.generation {
            Array(live.journal.values)
        } else {
            try await ledger.journal(record.id, generation: record.generation)
        }
        return Set(journal.filter { $0.kind == "signal" && $0.status == .scheduled && $0.name.hasPrefix(Self.updateSignalPrefix) }
            .map { String($0.name.dropFirst(Self.updateSignalPrefix.count)) }).sorted()
    }

    /// Wakes the callers waiting here for an update of `id`: it answered one, ended, or left this node.
    func updatesAdvanced(_ id: String) {
        guard let list = updateWaiters.removeValue(forKey: id) else { return }
        for (_, c) in list { c.resume() }
    }

    /// An update caller's wait ran out (or its poll is due).
    func updateWaitEnded(_ id: String, waiterID: UInt64) {
        updateWaiters[id]?.removeValue(forKey: waiterID)?.resume()
        if updateWaiters[id]?.isEmpty == true { updateWaiters[id] = nil }
    }

    /// The answer for a stored outcome (``updateOutcomes(_:updateId:answer:seq:at:params:)`` stores
    /// every one with its name and status, and a result or a `{type, message, details?}` failure).
    static func updateAnswer(_ id: String, updateId: String, outcome: JSONValue) -> WorkflowUpdateResult {
        WorkflowUpdateResult(
            workflowId: id, updateId: updateId, name: outcome["name"]?.stringValue,
            status: .init(rawValue: outcome["status"]?.stringValue ?? ""), result: outcome["result"],
            failure: outcome["failure"].flatMap(reportedFailure))
    }

    /// Refuses a client's signal named like an update's (`update:…`) in a request of `method`:
    /// only `workflow/update` delivers those, with an update id the workflow answers.
    static func refuseUpdateSignalName(_ name: String, method: String, field: String) throws {
        if name.hasPrefix(updateSignalPrefix) {
            throw Params.fail(method: method, field,
                "must not start with \(updateSignalPrefix) (reserved for updates: send one with workflow/update)")
        }
    }

    /// A `respond` step: the answer to update `updateId` (the step's name), which this run
    /// received. Returns the execution's outcomes with it added, and the update's name.
    func updateOutcomes(
        _ live: LiveWorkflow, updateId: String, answer input: JSONValue, seq: Int, at now: EpochMillis, params p: Params
    ) throws -> (outcomes: JSONValue, name: String) {
        let received = live.journal.values.first { e in
            e.kind == "signal" && e.name.hasPrefix(Self.updateSignalPrefix) && e.status == .completed
                && e.result?["updateId"]?.stringValue == updateId
        }
        guard let received else {
            throw p.fail("name", "no update \(updateId) was received by this run: a respond step is named by the id of an update its code received")
        }
        var outcomes = live.record.updateOutcomes?.objectValue ?? JSONObject()
        if let earlier = outcomes[updateId] {
            throw p.fail("name", "update \(updateId) was answered already (step \(earlier["seq"].map { "\($0)" } ?? "?"))")
        }
        let name = String(received.name.dropFirst(Self.updateSignalPrefix.count))
        var outcome: JSONObject = [
            "name": .string(name), "seq": JSONValue(seq), "generation": JSONValue(live.record.generation), "atMs": JSONValue(now),
        ]
        switch (input["result"], input["failure"]) {
        case (let result?, nil):
            outcome["status"] = "completed"
            outcome["result"] = result
        case (nil, let failure?):
            guard let message = failure["message"]?.stringValue else {
                throw p.fail("input.failure.message", "a rejection carries a message (a string)")
            }
            var f: JSONObject = ["type": .string(failure["type"]?.stringValue ?? "Rejected"), "message": .string(message)]
            if let details = failure["details"] { f["details"] = details }
            outcome["status"] = "rejected"
            outcome["failure"] = .object(f)
        default:
            throw p.fail("input", "a respond step's input is {\"result\": …} or {\"failure\": {\"type\", \"message\"}}")
        }
        let size = JSONWriter.string(.object(outcome)).utf8.count
        guard size <= Self.maxUpdateAnswerBytes else {
            throw p.fail("input", "the answer is \(size) bytes of JSON; the most is \(Self.maxUpdateAnswerBytes)")
        }
        outcomes[updateId] = .object(outcome)
        // The oldest answers (first stored) go first past the bounds: a resend of one of those
        // waits as if unanswered.
        while outcomes.count > 1,
            outcomes.count > Self.maxUpdateOutcomes || JSONWriter.string(.object(outcomes)).utf8.count > Self.maxUpdateOutcomesBytes,
            let oldest = outcomes.first?.key
        {
            _ = outcomes.removeValue(forKey: oldest)
        }
        return (.object(outcomes), name)
    }

    /// The contract errors of an update's answer against the output its contract declares.
    func updateAnswerErrors(_ outcomes: JSONValue, updateId: String, name: String) async -> [JSONValue] {
        guard let contract = registry.updateContracts[name], let outcome = outcomes[updateId],
            outcome["status"]?.stringValue == "completed"
        else { return [] }
        return await contractErrors(of: outcome["result"] ?? .null, against: contract, .output)
    }

    /// The query values and update answers a reset to step `toStep` leaves (docs/protocol.md,
    /// "Reset"): those earlier generations set, and those the kept steps set; what the dropped
    /// steps set is gone, so the new run answers a re-delivered update afresh.
    static func executionDataAfterReset(_ record: WorkflowRecord, kept: [JournalEntry]) -> [ExecutionDataValue] {
        let generation = record.generation
        func fromEarlierRun(_ v: JSONValue) -> Bool { (v["generation"]?.int64Value).map { $0 < Int64(generation) } ?? false }
        var values = JSONObject()
        for (name, v) in record.queryValues?.objectValue ?? [:] where fromEarlierRun(v) { values[name] = v }
        for e in kept.sorted(by: { $0.seq < $1.seq }) where e.kind == "query" && e.status == .completed {
            values[e.name] = queryValue(e.input["value"] ?? .null, seq: e.seq, generation: generation, at: e.completedAt ?? e.createdAt)
        }
        let keptSeqs = Set(kept.map(\.seq))
        let outcomes = (record.updateOutcomes?.objectValue ?? [:]).filter { _, v in
            fromEarlierRun(v) || (v["seq"]?.int64Value).map { keptSeqs.contains(Int($0)) } ?? false
        }
        return [
            ExecutionDataValue(.queryValues, values.isEmpty ? nil : .object(values)),
            ExecutionDataValue(.updateOutcomes, outcomes.isEmpty ? nil : .object(outcomes)),
        ]
    }
}

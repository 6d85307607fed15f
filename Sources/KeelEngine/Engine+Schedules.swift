import KeelCore
public import KeelProtocol
import KeelStorage
import Logging

/// Schedules (docs/protocol.md, "Schedules"): start a workflow on a cron expression or an
/// interval, durably. Each slot's workflow id is the schedule id plus the slot's time, so a slot
/// starts at most once whatever crashes around it: a start that committed before a crash is found
/// again (`useExisting`), never repeated. The row then records the next slot, fenced by its version.
///
/// On several nodes sharing a store every node arms every schedule: at a slot's time each reads the
/// row again and handles the slot only if it is still the next one; of two nodes that do, both
/// starts name the same workflow (one starts it, the other finds it) and one row write wins, the
/// other reads the row again. A node sees other nodes' changes within a second (the cluster loop).
extension Engine {
    /// At most this many slots start in one round; a longer backlog continues in the next round.
    static let scheduleStartsPerRound = 1_000
    /// At most this many slots are looked at in one round (skipped ones cost no I/O).
    static let scheduleSlotsPerRound = 100_000

    // MARK: - Requests

    /// `schedule/create`: stores a schedule and arms its first slot.
    /// - Throws: `KeelError(.scheduleAlreadyExists)`; `.invalidParams` for what the schema cannot
    ///   check (the id's bytes and NFC, the cron expression, the time zone).
    public func createSchedule(_ params: ScheduleCreateParams) async throws -> ScheduleCreateResult {
        let id = params.scheduleId
        if let problem = ScheduleDefinition.idProblem(id) { throw Params.fail(method: "schedule/create", "scheduleId", problem) }
        // One reader for the params and the stored definition (ScheduleDefinition.init).
        let definition = try ScheduleDefinition(params.json, method: "schedule/create")
        let paused = params.paused ?? false
        let now = clock.now()
        await lockSchedule(id)
        defer { unlockSchedule(id) }
        let record = ScheduleRecord(
            id: id, definition: definition.json, paused: paused, nextSlotAt: definition.spec.slot(after: now),
            state: ScheduleState().json, now: now)
        guard try await scheduleBook.insert(record) == .applied else {
            throw KeelError(
                .scheduleAlreadyExists, "schedule \(id) already exists; delete it first or choose another id",
                data: ["scheduleId": .string(id)])
        }
        schedules[id] = record
        armSchedule(record)
        logger.info("schedule created", metadata: ["schedule": "\(id)", "workflow": "\(definition.workflow)"])
        return try await scheduleDescription(record)
    }

    /// `schedule/describe`.
    /// - Throws: `KeelError(.scheduleNotFound)`.
    public func describeSchedule(_ params: ScheduleDescribeParams) async throws -> ScheduleDescribeResult {
        try await scheduleDescription(try await currentSchedule(params.scheduleId))
    }

    /// `schedule/list`: a page of schedules by id, `limit` (default 100) at a time.
    public func listSchedules(_ params: ScheduleListParams) async throws -> ScheduleListResult {
        let limit = Int(params.limit ?? 100)
        let found = try await scheduleBook.schedules(after: params.cursor, limit: limit + 1)
        let page = found.prefix(limit)
        var result = ScheduleListResult(
            schedules: try page.map { record in
                let stored = try Self.storedDefinition(record)
                return ScheduleListResult.Schedule(
                    scheduleId: record.id, workflow: stored.action.workflow, spec: stored.spec, paused: record.paused,
                    nextActionTimeMs: nextActionTimes(record, count: 1).first)
            })
        if found.count > limit, let last = page.last { result.nextCursor = last.id }
        return result
    }

    /// `schedule/pause`: no slot starts until `schedule/unpause`.
    /// - Throws: `KeelError(.scheduleNotFound)`.
    public func pauseSchedule(_ params: SchedulePauseParams) async throws -> SchedulePauseResult {
        try await pauseSchedule(params.scheduleId, note: params.note, paused: true)
    }

    /// `schedule/unpause`: the next slot is the first after now.
    /// - Throws: `KeelError(.scheduleNotFound)`.
    public func unpauseSchedule(_ params: ScheduleUnpauseParams) async throws -> ScheduleUnpauseResult {
        try await pauseSchedule(params.scheduleId, note: params.note, paused: false)
    }

    /// Pauses or unpauses. Unpausing does not catch up the slots that fell while paused: the next
    /// slot is the first after now.
    private func pauseSchedule(_ id: String, note: String?, paused: Bool) async throws -> Wire.ScheduleDescription {
        await lockSchedule(id)
        defer { unlockSchedule(id) }
        let record = try await rewriteSchedule(id) { record in
            let wasPaused = record.paused
            record.paused = paused
            if let note, case .object(var d) = record.definition {
                d["note"] = .string(note)
                record.definition = .object(d)
            }
            if wasPaused, !paused, let definition = parsedDefinition(record) {
                record.nextSlotAt = definition.spec.slot(after: clock.now())
            }
        }
        if !paused { armSchedule(record) }
        logger.info(paused ? "schedule paused" : "schedule unpaused", metadata: ["schedule": "\(id)"])
        return try await scheduleDescription(record)
    }

    /// Starts the schedule's workflow now (paused or not), under its overlap policy unless
    /// `overlap` overrides it.
    /// - Throws: `KeelError(.scheduleNotFound)`.
    public func triggerSchedule(_ params: ScheduleTriggerParams) async throws -> ScheduleTriggerResult {
        let id = params.scheduleId
        // The schema's enum and ScheduleDefinition.Overlap have the same names.
        let overlap = params.overlap.flatMap { ScheduleDefinition.Overlap(rawValue: $0.rawValue) }
        await lockSchedule(id)
        defer { unlockSchedule(id) }
        let now = clock.now()
        // One id for the trigger, whatever the retries below: its start happens once.
        let workflowId = ScheduleDefinition.workflowId(schedule: id, trigger: now)
        var started = false
        _ = try await rewriteSchedule(id) { record in
            guard let definition = parsedDefinition(record) else {
                throw KeelError(.internalError, "schedule \(id)'s stored definition no longer reads; delete and create it again")
            }
            var state = ScheduleState(record.state)
            started = try await handle(
                slot: now, of: id, definition, overlap: overlap ?? definition.overlap, state: &state, now: now, workflowId: workflowId)
            record.state = state.json
        }
        return ScheduleTriggerResult(scheduleId: id, workflowId: workflowId, started: started)
    }

    /// `schedule/delete`.
    /// - Throws: `KeelError(.scheduleNotFound)`.
    public func deleteSchedule(_ params: ScheduleDeleteParams) async throws -> ScheduleDeleteResult {
        let id = params.scheduleId
        await lockSchedule(id)
        defer { unlockSchedule(id) }
        guard try await scheduleBook.delete(id) == .applied else {
            throw Self.scheduleNotFound(id)
        }
        forgetSchedule(id)
        logger.info("schedule deleted", metadata: ["schedule": "\(id)"])
        return ScheduleDeleteResult(scheduleId: id, deleted: true)
    }

    // MARK: - Slots

    /// The schedule's timer, armed for `armedFor`, fired: handles every slot due by now (oldest
    /// first), then arms the next. A timer for another time than the armed one is stale: ignored.
    func scheduleDue(_ id: String, armedFor: EpochMillis) async {
        guard scheduleArmedFor[id] == armedFor else { return }
        scheduleArmedFor[id] = nil
        await lockSchedule(id)
        defer { unlockSchedule(id) }
        // A node that cannot prove its lease acts on nothing (another may have taken over).
        guard cluster.membership.isServing else {
            arm(id, at: clock.now() + 1_000)
            return
        }
        // Another node may have handled this slot, paused or deleted the schedule: read it again.
        do {
            guard let fresh = try await scheduleBook.schedule(id) else {
                forgetSchedule(id)
                return
            }
            schedules[id] = fresh
        } catch {
            _ = storeFailed(error, while: "reading schedule \(id)", background: true)
            arm(id, at: clock.now() + 1_000)
            return
        }
        guard var record = schedules[id], !record.paused, let definition = parsedDefinition(record),
            let first = record.nextSlotAt
        else { return }
        let now = clock.now()
        guard definition.spec.fireTime(of: first, scheduleId: id) <= now else {
            armSchedule(record)
            return
        }
        var state = ScheduleState(record.state)
        var slot: EpochMillis? = first
        var (looked, starts) = (0, 0)
        let windowStart = now - definition.catchupWindowMs
        do {
            // Under allowAll every slot starts whatever runs, so a backlog starts all at once (its
            // commits share fsyncs); the other policies look at what runs, slot by slot.
            var everyOne: [EpochMillis] = []
            while let s = slot, definition.spec.fireTime(of: s, scheduleId: id) <= now,
                looked < Self.scheduleSlotsPerRound, starts + everyOne.count < Self.scheduleStartsPerRound
            {
                looked += 1
                if definition.spec.fireTime(of: s, scheduleId: id) < windowStart {
                    state.skipped += 1  // older than the catch-up window: missed
                } else if definition.overlap == .allowAll {
                    everyOne.append(s)
                } else if try await handle(slot: s, of: id, definition, overlap: definition.overlap, state: &state, now: now) {
                    starts += 1
                }
                slot = definition.spec.slot(after: s)
            }
            try await startTogether(everyOne, of: id, definition, state: &state, now: now)
            record.nextSlotAt = slot
            record.state = state.json
            try await save(record)
        } catch let error as KeelError where error.code == .shuttingDown {
            return  // the next start handles the slot
        } catch is ScheduleMoved {
            // Another node handled these slots first (its starts and ours named the same
            // workflows): go on from the row it wrote.
            if let moved = schedules[id] { armSchedule(moved) }
            return
        } catch {
            // Nothing after the failed write is acknowledged: the slots are due again on the next
            // look, and a slot whose workflow did start is found by its id, not started twice.
            _ = storeFailed(error, while: "the slots of schedule \(id)", background: true)
            arm(id, at: clock.now() + 1_000)
            return
        }
        armSchedule(schedules[id] ?? record)
    }

    /// Applies `overlap` to one slot; true when a workflow started for it now.
    private func handle(
        slot: EpochMillis, of id: String, _ definition: ScheduleDefinition, overlap: ScheduleDefinition.Overlap,
        state: inout ScheduleState, now: EpochMillis, workflowId: String? = nil
    ) async throws -> Bool {
        let running = if let last = state.lastWorkflowId { await isOpenWorkflow(last) } else { false }
        switch (overlap, running) {
        case (.skip, true):
            state.skipped += 1
            return false
        case (.bufferOne, true):
            if state.bufferedSlotAt == nil { state.bufferedSlotAt = slot } else { state.skipped += 1 }
            return false
        case (.bufferOne, false) where state.bufferedSlotAt != nil:
            // The workflow before ended, and the slot buffered behind it has not started yet: its
            // end was seen on another node, and this node's next look at the store (once a
            // second) had not come. That slot is owed first; this one waits behind it. Starting
            // this one instead left the buffered slot behind every later run, skipped for good.
            let owed = state.bufferedSlotAt!
            state.bufferedSlotAt = slot
            return try await start(slot: owed, of: id, definition, state: &state, now: now)
        case (.cancelOther, true):
            if let previous = state.lastWorkflowId {
                try await cancel(previous, reason: "cancelled by schedule \(id): a new slot started (overlap cancelOther)")
            }
        default:
            break
        }
        return try await start(slot: slot, of: id, definition, state: &state, now: now, workflowId: workflowId)
    }

    /// Starts slot `slot`'s workflow (or finds it started before a crash) and records it; true
    /// when it started now.
    private func start(
        slot: EpochMillis, of id: String, _ definition: ScheduleDefinition, state: inout ScheduleState, now: EpochMillis,
        workflowId given: String? = nil
    ) async throws -> Bool {
        let workflowId = given ?? ScheduleDefinition.workflowId(schedule: id, slot: slot)
        let answer: Result<JSONValue, any Error>
        do {
            answer = .success(try await startWorkflow(WorkflowStartParams(json: Self.startParams(definition, workflowId))).json)
        } catch {
            answer = .failure(error)
        }
        return try await recordStart(answer, slot: slot, workflowId: workflowId, of: id, state: &state, now: now)
    }

    /// Starts the workflows of `slots` concurrently and records each, in slot order.
    private func startTogether(
        _ slots: [EpochMillis], of id: String, _ definition: ScheduleDefinition, state: inout ScheduleState, now: EpochMillis
    ) async throws {
        guard !slots.isEmpty else { return }
        let ids = slots.map { ScheduleDefinition.workflowId(schedule: id, slot: $0) }
        let answers = await withTaskGroup(of: (Int, Result<JSONValue, any Error>).self) { group in
            for (index, workflowId) in ids.enumerated() {
                let params = Self.startParams(definition, workflowId)
                group.addTask {
                    do {
                        return (index, .success(try await self.startWorkflow(WorkflowStartParams(json: params)).json))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var answers = [Result<JSONValue, any Error>?](repeating: nil, count: ids.count)
            for await (index, answer) in group { answers[index] = answer }
            return answers
        }
        var firstFailure: (any Error)?
        for (index, answer) in answers.enumerated() {
            guard let answer else { continue }
            do {
                _ = try await recordStart(answer, slot: slots[index], workflowId: ids[index], of: id, state: &state, now: now)
            } catch {
                firstFailure = firstFailure ?? error  // the others are recorded; this slot is due again
            }
        }
        if let firstFailure { throw firstFailure }
    }

    private static func startParams(_ definition: ScheduleDefinition, _ workflowId: String) -> JSONValue {
        var params = definition.startParams
        params["workflowId"] = .string(workflowId)
        return .object(JSONObject(params))
    }

    /// Records what starting a slot answered; true when its workflow started now. A start Keel
    /// refused (its input breaks the workflow's contract, say) skips the slot and the schedule
    /// says why; a store failure or a shutdown is rethrown: nothing of it is recorded, and the
    /// slot is due again (found by its id if it did start).
    private func recordStart(
        _ answer: Result<JSONValue, any Error>, slot: EpochMillis, workflowId: String, of id: String,
        state: inout ScheduleState, now: EpochMillis
    ) async throws -> Bool {
        let started: JSONValue
        switch answer {
        case .success(let value):
            started = value
        case .failure(let error as KeelError) where error.code != .storageFailure && error.code != .shuttingDown:
            state.skipped += 1
            state.lastError = ["slotMs": JSONValue(slot), "code": JSONValue(error.code.rpcCode), "message": .string(error.message)]
            logger.warning("a schedule's slot could not start", metadata: ["schedule": "\(id)", "slot": "\(workflowId)", "error": "\(error.message)"])
            return false
        case .failure(let error):
            throw error
        }
        if let previous = state.lastWorkflowId { scheduleOfWorkflow[previous] = nil }
        state.recordStart(workflowId, slot: slot, at: now)
        if workflows[workflowId] != nil { scheduleOfWorkflow[workflowId] = id }
        return started["started"] == true
    }

    /// A workflow ended: the schedule it was the latest start of starts its buffered slot.
    func scheduledWorkflowEnded(_ workflowId: String) async {
        guard let id = scheduleOfWorkflow.removeValue(forKey: workflowId) else { return }
        await startBufferedSlot(id, after: workflowId)
    }

    /// On a cluster node, once a second (the cluster loop): takes in the schedules other nodes
    /// created, changed or deleted, and starts the buffered slot of one whose running workflow
    /// ended on another node (its end is not seen here).
    func refreshSchedules() async {
        var seen = Set<String>()
        var buffered: [String] = []
        var cursor: String?
        do {
            while true {
                let page = try await scheduleBook.schedules(after: cursor, limit: 1000)
                for record in page {
                    seen.insert(record.id)
                    if schedules[record.id]?.version != record.version {
                        schedules[record.id] = record
                        armSchedule(record)
                    }
                    if ScheduleState(record.state).bufferedSlotAt != nil { buffered.append(record.id) }
                }
                guard page.count == 1000, let last = page.last else { break }
                cursor = last.id
            }
        } catch {
            _ = storeFailed(error, while: "reading the schedules", background: true)
            return
        }
        for id in schedules.keys where !seen.contains(id) { forgetSchedule(id) }
        for id in buffered { await startBufferedSlot(id, after: nil) }
    }

    /// Starts schedule `id`'s buffered slot once its latest workflow has ended: `ended` (seen
    /// ending here), or, when nil, whichever it is if the store says it ended.
    private func startBufferedSlot(_ id: String, after ended: String?) async {
        await lockSchedule(id)
        defer { unlockSchedule(id) }
        do {
            var record = try await currentSchedule(id)
            guard let definition = parsedDefinition(record) else { return }
            var state = ScheduleState(record.state)
            guard let buffered = state.bufferedSlotAt, let last = state.lastWorkflowId else { return }
            if let ended {
                guard last == ended else { return }
            } else if await isOpenWorkflow(last) {
                return
            }
            state.bufferedSlotAt = nil
            _ = try await start(slot: buffered, of: id, definition, state: &state, now: clock.now())
            record.state = state.json
            try await save(record)
        } catch is ScheduleMoved {
            return  // another node started it (the same workflow id) and wrote the row first
        } catch let error as KeelError where error.code == .scheduleNotFound {
            return
        } catch {
            _ = storeFailed(error, while: "the buffered slot of schedule \(id)", background: true)
        }
    }

    // MARK: - Helpers

    /// Writes `record` as the next version of its row and keeps it in memory.
    /// - Throws: ``ScheduleMoved`` when another node (or, on one node, nothing but a bug) wrote the
    ///   row since it was read: the row as it is now is in `schedules`.
    private func save(_ record: ScheduleRecord) async throws {
        var next = record
        next.version = record.version + 1
        next.updatedAt = clock.now()
        switch try await scheduleBook.update(next, expectedVersion: record.version) {
        case .applied:
            schedules[record.id] = next
        case .notFound:
            forgetSchedule(record.id)
            throw Self.scheduleNotFound(record.id)
        default:
            let now = try await scheduleBook.schedule(record.id)
            schedules[record.id] = now
            logger.debug("a schedule moved on another node first", metadata: ["schedule": "\(record.id)"])
            throw ScheduleMoved()
        }
    }

    /// Reads schedule `id` as it is now, applies `change` and writes it, again from a fresh read
    /// while another node wins the write (at most three times): a request on any node changes
    /// the schedule as it is, not as this node last saw it. Answers what was written.
    private func rewriteSchedule(_ id: String, _ change: (inout ScheduleRecord) async throws -> Void) async throws -> ScheduleRecord {
        var tries = 0
        while true {
            tries += 1
            var record = try await currentSchedule(id)
            try await change(&record)
            do {
                try await save(record)
                return schedules[id] ?? record
            } catch is ScheduleMoved where tries < Self.scheduleWriteTries {
                continue
            } catch is ScheduleMoved {
                throw KeelError(.overloaded, "schedule \(id) kept changing on other nodes while this request wrote it; retry")
            }
        }
    }

    /// How often one request tries to write a schedule that other nodes keep changing.
    static let scheduleWriteTries = 3

    /// The schedule as the store has it now (another node may have changed it).
    private func currentSchedule(_ id: String) async throws -> ScheduleRecord {
        guard let fresh = try await scheduleBook.schedule(id) else {
            forgetSchedule(id)
            throw Self.scheduleNotFound(id)
        }
        schedules[id] = fresh
        return fresh
    }

    private func forgetSchedule(_ id: String) {
        schedules[id] = nil
        scheduleArmedFor[id] = nil
        for (workflowId, schedule) in scheduleOfWorkflow where schedule == id { scheduleOfWorkflow[workflowId] = nil }
    }

    /// Arms schedule `id`'s timer for `time`, replacing the one armed before (which goes stale).
    private func arm(_ id: String, at time: EpochMillis) {
        guard scheduleArmedFor[id] != time else { return }
        scheduleArmedFor[id] = time
        timers.schedule(time, taskID: id, kind: .scheduleSlot)
    }

    private func armSchedule(_ record: ScheduleRecord) {
        guard !record.paused, let next = record.nextSlotAt, let definition = parsedDefinition(record) else {
            scheduleArmedFor[record.id] = nil
            return
        }
        arm(record.id, at: definition.spec.fireTime(of: next, scheduleId: record.id))
    }

    private func parsedDefinition(_ record: ScheduleRecord) -> ScheduleDefinition? {
        do {
            return try ScheduleDefinition(record.definition, method: "schedule \(record.id)")
        } catch {
            logger.error("a stored schedule no longer reads; it does not fire", metadata: ["schedule": "\(record.id)", "error": "\(error)"])
            return nil
        }
    }

    /// Whether `workflowId` has not ended: this node's own executions are in memory; on a cluster
    /// node, one running elsewhere is read from the store (a read that fails counts as open, so
    /// an overlap policy errs towards not starting).
    private func isOpenWorkflow(_ workflowId: String) async -> Bool {
        if workflows[workflowId] != nil { return true }
        do {
            return try await ledger.execution(workflowId).map { !$0.status.isTerminal } ?? false
        } catch {
            _ = storeFailed(error, while: "reading workflow \(workflowId) for its schedule", background: true)
            return true
        }
    }

    /// The next `count` times the schedule will start something (none while paused).
    private func nextActionTimes(_ record: ScheduleRecord, count: Int) -> [EpochMillis] {
        guard !record.paused, let definition = parsedDefinition(record) else { return [] }
        var times: [EpochMillis] = []
        var slot = record.nextSlotAt
        while let s = slot, times.count < count {
            times.append(definition.spec.fireTime(of: s, scheduleId: record.id))
            slot = definition.spec.slot(after: s)
        }
        return times
    }

    private func scheduleDescription(_ record: ScheduleRecord) async throws -> Wire.ScheduleDescription {
        let state = ScheduleState(record.state)
        let stored = try Self.storedDefinition(record)
        var d = Wire.ScheduleDescription(
            scheduleId: record.id, spec: stored.spec, action: stored.action, overlap: stored.overlap,
            catchupWindowMs: stored.catchupWindowMs, paused: record.paused, note: stored.note,
            createdAtMs: record.createdAt, updatedAtMs: record.updatedAt, nextActionTimesMs: nextActionTimes(record, count: 5),
            recentActions: try state.recent.map { try Wire.ScheduleDescription.RecentAction(json: $0) },
            started: Int64(state.started), skipped: Int64(state.skipped),
            lastError: try state.lastError.map { try Wire.ScheduleDescription.LastError(json: $0) })
        if let last = state.lastWorkflowId, await isOpenWorkflow(last) { d.runningWorkflowId = last }
        d.bufferedSlotMs = state.bufferedSlotAt
        return d
    }

    /// A schedule's stored definition (ScheduleDefinition.json), typed.
    /// - Throws: `KeelError(.internalError)` when it no longer reads.
    private static func storedDefinition(_ record: ScheduleRecord) throws
        -> (spec: Wire.ScheduleSpec, action: Wire.ScheduleAction, overlap: Wire.ScheduleOverlap?, catchupWindowMs: Int64, note: String?)
    {
        do {
            let d = record.definition
            return (
                try Wire.ScheduleSpec(json: d["spec"] ?? .null), try Wire.ScheduleAction(json: d["action"] ?? .null),
                try d["overlap"].flatMap { $0.isNull ? nil : try Wire.ScheduleOverlap(json: $0) },
                d["catchupWindowMs"]?.int64Value ?? ScheduleDefinition.defaultCatchupWindowMs, d["note"]?.stringValue
            )
        } catch {
            throw KeelError(.internalError, "schedule \(record.id)'s stored definition no longer reads; delete and create it again")
        }
    }

    private static func scheduleNotFound(_ id: String) -> KeelError {
        KeelError(.scheduleNotFound, "no schedule \(id)", data: ["scheduleId": .string(id)])
    }

    // MARK: - One change per schedule at a time

    /// Waits until no other request or slot is changing schedule `id` (its writes span awaits).
    private func lockSchedule(_ id: String) async {
        guard scheduleLocks[id] != nil else {
            scheduleLocks[id] = []
            return
        }
        await withCheckedContinuation { scheduleLocks[id, default: []].append($0) }
    }

    private func unlockSchedule(_ id: String) {
        guard var waiting = scheduleLocks[id], !waiting.isEmpty else {
            scheduleLocks[id] = nil
            return
        }
        let next = waiting.removeFirst()
        scheduleLocks[id] = waiting
        next.resume()
    }
}

/// Another node wrote a schedule's row since this node read it.
struct ScheduleMoved: Error {}

import KeelCore
import KeelStorage

/// What a schedule starts and how (docs/protocol.md, "Schedules"), read from `schedule/create`'s
/// params and, the same way, from the stored definition.
struct ScheduleDefinition: Sendable {
    /// What happens to a slot while the schedule's previous workflow still runs.
    enum Overlap: String, Sendable, CaseIterable {
        /// The slot is skipped (counted).
        case skip
        /// One slot waits and starts when the previous workflow ends; more are skipped.
        case bufferOne
        /// Every slot starts.
        case allowAll
        /// The previous workflow is cancelled, then the slot starts.
        case cancelOther
    }

    static let defaultCatchupWindowMs: Int64 = 31_536_000_000
    static let minimumCatchupWindowMs: Int64 = 10_000
    /// The longest schedule id in UTF-8 bytes: its slots' workflow ids add 21.
    static let maximumIdBytes = 200

    let spec: ScheduleSpec
    let workflow: String
    /// `workflow/start` params every slot uses (all but `workflowId`).
    let startParams: [String: JSONValue]
    let overlap: Overlap
    let catchupWindowMs: Int64
    var note: String?

    /// - Throws: `-32602` naming the field.
    init(_ value: JSONValue, method: String) throws {
        let p = try Params(value, method: method)
        guard let spec = p["spec"] else { throw p.fail("spec", "is required: {\"cron\": \"0 9 * * *\"} or {\"intervalMs\": 60000}") }
        self.spec = try ScheduleSpec(spec)
        guard let actionValue = p["action"], case .object = actionValue else {
            throw p.fail("action", "is required: {\"workflow\": NAME, \"input\": …}")
        }
        let action = try Params(actionValue, method: method)
        workflow = try action.string("workflow")
        guard isValidName(workflow) else { throw p.fail("action.workflow", "must be a dotted name such as reports.daily") }
        var start: [String: JSONValue] = ["name": .string(workflow), "input": actionValue["input"] ?? .null]
        let precedence = try action.precedence(over: .standard, prefix: "action.")
        if precedence != .standard { start.merge(precedence.fields) { _, given in given } }
        for key in ["executionTimeoutMs", "runTimeoutMs"] {
            if let ms = try action.optionalInt(key, range: 1...ScheduleSpec.maximumMs) { start[key] = JSONValue(ms) }
        }
        startParams = start
        let overlapName = try p.optionalString("overlap") ?? Overlap.skip.rawValue
        guard let overlap = Overlap(rawValue: overlapName) else {
            throw p.fail("overlap", "must be one of \(Overlap.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.overlap = overlap
        catchupWindowMs =
            try p.optionalInt("catchupWindowMs", range: Self.minimumCatchupWindowMs...ScheduleSpec.maximumMs)
            ?? Self.defaultCatchupWindowMs
        note = try p.optionalString("note")
    }

    /// Why `id` cannot name a schedule, or nil.
    static func idProblem(_ id: String) -> String? {
        if id.isEmpty || id.utf8.count > maximumIdBytes { return "must be 1 to \(maximumIdBytes) bytes" }
        return WorkflowID.problem(id)
    }

    /// The definition as stored and described.
    var json: JSONValue {
        var action: [String: JSONValue] = ["workflow": .string(workflow)]
        for (key, value) in startParams where key != "name" { action[key] = value }
        var o: [String: JSONValue] = [
            "spec": spec.json, "action": .object(JSONObject(action)), "overlap": .string(overlap.rawValue),
            "catchupWindowMs": JSONValue(catchupWindowMs),
        ]
        if let note { o["note"] = .string(note) }
        return .object(JSONObject(o))
    }

    /// The workflow id of slot `slot`: the schedule id and the slot's UTC time to the second.
    static func workflowId(schedule: String, slot: EpochMillis) -> String {
        "\(schedule)-\(CivilDate.iso(slot, milliseconds: false))"
    }

    /// The workflow id of a `schedule/trigger` at `now`: to the millisecond, so it never takes a
    /// slot's id (those are to the second).
    static func workflowId(schedule: String, trigger now: EpochMillis) -> String {
        "\(schedule)-\(CivilDate.iso(now, milliseconds: true))"
    }
}

/// What a schedule has done, kept on its row.
struct ScheduleState: Sendable {
    var lastWorkflowId: String?
    var bufferedSlotAt: EpochMillis?
    var started = 0
    var skipped = 0
    /// `{slotMs, workflowId, startedAtMs}`, newest last.
    var recent: [JSONValue] = []
    /// `{slotMs, message}` of the last slot whose start was refused (a contract, a bad input).
    var lastError: JSONValue?

    static let recentKept = 10

    init() {}

    init(_ json: JSONValue) {
        lastWorkflowId = json["lastWorkflowId"]?.stringValue
        bufferedSlotAt = json["bufferedSlotMs"]?.int64Value
        started = Int(json["started"]?.int64Value ?? 0)
        skipped = Int(json["skipped"]?.int64Value ?? 0)
        recent = json["recentActions"]?.arrayValue ?? []
        lastError = json["lastError"].flatMap { $0.isNull ? nil : $0 }
    }

    var json: JSONValue {
        var o: [String: JSONValue] = [
            "started": JSONValue(started), "skipped": JSONValue(skipped), "recentActions": .array(recent),
        ]
        if let lastWorkflowId { o["lastWorkflowId"] = .string(lastWorkflowId) }
        if let bufferedSlotAt { o["bufferedSlotMs"] = JSONValue(bufferedSlotAt) }
        if let lastError { o["lastError"] = lastError }
        return .object(JSONObject(o))
    }

    /// Records a slot's workflow as the latest start (once per workflow id).
    mutating func recordStart(_ workflowId: String, slot: EpochMillis, at now: EpochMillis) {
        lastWorkflowId = workflowId
        guard !recent.contains(where: { $0["workflowId"]?.stringValue == workflowId }) else { return }
        started += 1
        recent.append(["slotMs": JSONValue(slot), "workflowId": .string(workflowId), "startedAtMs": JSONValue(now)])
        if recent.count > Self.recentKept { recent.removeFirst(recent.count - Self.recentKept) }
    }
}

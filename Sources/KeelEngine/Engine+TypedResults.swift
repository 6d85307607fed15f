import KeelCore
import KeelProtocol
import KeelStorage

/// The typed entry points' results (docs/architecture.md, "Typed entry points"): the engine's
/// records as the generated result types.
extension Engine {
    /// A failure Keel sends (`{type, message, retryable, …}`); nil for a stored null (no failure).
    /// Worker failures are normalized when they are stored; one that is not (older data) is
    /// normalized here, never refused.
    static func keelFailure(_ f: JSONValue) -> Wire.KeelFailure? {
        if f.isNull { return nil }
        if let typed = try? Wire.KeelFailure(json: f) { return typed }
        let normal = normalizedFailure(f)
        return Wire.KeelFailure(
            type: normal["type"]?.stringValue ?? "Error", message: normal["message"]?.stringValue ?? "",
            retryable: normal["retryable"]?.boolValue ?? true, retryAfterMs: normal["retryAfterMs"]?.int64Value,
            details: normal["details"])
    }

    /// A step's failure as recorded: ``keelFailure(_:)`` plus, for a failed child step, the
    /// child's `childWorkflowId` (``childFailure(_:)`` adds it); nil for a stored null.
    static func stepFailure(_ f: JSONValue) -> Wire.StepFailure? {
        guard let k = keelFailure(f) else { return nil }
        return Wire.StepFailure(
            type: k.type, message: k.message, retryable: k.retryable, retryAfterMs: k.retryAfterMs, details: k.details,
            childWorkflowId: f["childWorkflowId"]?.stringValue)
    }

    /// A failure as a worker reported it (only `type` is required); nil for a stored null.
    static func reportedFailure(_ f: JSONValue) -> Wire.Failure? {
        if let typed = try? Wire.Failure(json: f) { return typed }
        guard let k = keelFailure(f) else { return nil }
        return Wire.Failure(type: k.type, message: k.message, retryable: k.retryable, retryAfterMs: k.retryAfterMs, details: k.details)
    }

    /// `{workflowId, status, output?, failure?}` of `workflow/result`, `workflow/cancel` and `workflow/terminate`.
    static func typedResult(_ r: WorkflowRecord) -> Wire.WorkflowResult {
        Wire.WorkflowResult(
            workflowId: r.id, status: Wire.WorkflowStatus(r.status), output: r.output,
            failure: r.status == .completed ? nil : r.failure.flatMap(keelFailure))
    }

    /// An execution as `workflow/list` lists it (without `node`, which only a shared store knows).
    static func typedSummary(_ r: WorkflowRecord) -> Wire.WorkflowSummary {
        Wire.WorkflowSummary(
            workflowId: r.id, name: r.name, status: Wire.WorkflowStatus(r.status), createdAtMs: r.createdAt,
            updatedAtMs: r.updatedAt, buildId: r.buildId, searchAttributes: r.searchAttributes?.objectValue?.dictionary)
    }

    /// The state of an activity task, as `activity/call`, `activity/result` and `activity/cancel` answer it.
    static func typedResult(_ r: ActivityTaskRecord) -> Wire.ActivityResult {
        Wire.ActivityResult(
            taskId: r.id, name: r.name, status: Wire.ActivityStatus(r.status), attempts: Int64(r.attempt), output: r.output,
            failure: r.status == .completed ? nil : r.failure.flatMap(keelFailure), idempotencyKey: r.idempotencyKey,
            heartbeatDetails: r.status == .running ? r.heartbeatDetails : nil)
    }
}

extension Wire.WorkflowStatus {
    /// The same status: the store's names are the protocol's.
    init(_ status: WorkflowStatus) { self.init(rawValue: status.rawValue) }
}

extension Wire.ActivityStatus {
    /// The same status: the store's names are the protocol's.
    init(_ status: TaskStatus) { self.init(rawValue: status.rawValue) }
}

extension Engine {
    /// `priority` and `fairnessKey` of a typed request (over the standard precedence). The schema
    /// bounds the priority and the key's characters; the key's 256 UTF-8 bytes are checked here.
    static func precedence(priority: Int64?, fairnessKey: String?, method: String) throws -> Precedence {
        var result = Precedence.standard
        if let priority { result.priority = Int(priority) }
        if let fairnessKey {
            guard !fairnessKey.isEmpty, fairnessKey.utf8.count <= Precedence.maximumKeyBytes else {
                throw Params.fail(method: method, "fairnessKey", "must be a string of 1 to \(Precedence.maximumKeyBytes) bytes")
            }
            result.fairnessKey = fairnessKey
        }
        return result
    }
}

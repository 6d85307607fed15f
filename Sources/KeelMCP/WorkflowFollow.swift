import KeelClient
import KeelCore
import KeelProtocol

/// `keel_follow_workflow`: watches one execution's journal while it runs (docs/mcp.md, "Following
/// a workflow"). Each poll reads `workflow/history`; every new or ended step becomes a progress
/// message (`step 3 activity billing.charge completed`) when the call asked for progress. Between
/// polls it waits in `workflow/result` for up to `poll`, so the end of the workflow is seen at
/// once. It answers when the workflow ends, at `timeout`, or when its task is cancelled (the
/// client's `notifications/cancelled` or a closed event stream): following stops, the workflow
/// runs on.
struct WorkflowFollow {
    let keel: any KeelCalls
    let workflowId: String
    let timeout: Duration
    let poll: Duration
    var progress: ProgressReport?
    let notify: @Sendable (_ method: String, _ params: JSONValue) -> Void

    /// The longest follow a call may ask for, and the default.
    static let maximumTimeoutMs: Int64 = 86_400_000
    static let defaultTimeoutMs: Int64 = 300_000

    /// Reads `workflowId` and `timeoutMs` from the tool's arguments.
    /// - Throws: `KeelError(.invalidParams)` for a missing `workflowId` or a `timeoutMs` out of range.
    static func arguments(_ arguments: JSONValue) throws -> (workflowId: String, timeout: Duration) {
        guard let id = arguments["workflowId"]?.stringValue, !id.isEmpty else {
            throw KeelError(.invalidParams, "\(WorkflowTools.follow) needs a workflowId")
        }
        var ms = defaultTimeoutMs
        if let given = arguments["timeoutMs"], !given.isNull {
            guard let value = given.int64Value, (0...maximumTimeoutMs).contains(value) else {
                throw KeelError(.invalidParams, "\(WorkflowTools.follow)'s timeoutMs must be an integer from 0 to \(maximumTimeoutMs)")
            }
            ms = value
        }
        return (id, .milliseconds(ms))
    }

    /// Follows until the workflow ends, the timeout passes or the task is cancelled, and answers
    /// `{workflowId, status, output?, failure?, followed, steps: [{seq, kind, name, status, attempts}]}`
    /// with `followed` one of `ended`, `timedOut`, `stopped`.
    /// - Throws: the wire's `KeelError` (an unknown workflow: `workflowNotFound`).
    mutating func run() async throws -> JSONValue {
        let id = JSONValue.string(workflowId)
        let deadline = ContinuousClock.now + timeout
        var watcher = HistoryWatcher()
        var steps: [Int64: JSONValue] = [:]
        var runId: JSONValue?
        while true {
            let history = try await keel.call("workflow/history", ["workflowId": id])
            if let run = history["runId"], run != runId {
                if runId != nil {  // a continue-as-new or a reset: a new journal
                    watcher = HistoryWatcher()
                    steps = [:]
                }
                runId = run
            }
            let changes = watcher.changes(history)
            for entry in changes {
                let step = Self.step(entry)
                steps[step["seq"]?.int64Value ?? 0] = step
                tell(Self.message(step))
            }
            if changes.isEmpty, let message = progress?.repeatWhenQuiet() { send(message) }
            let status = history["status"]?.stringValue ?? ""
            if HistoryWatcher.endStatuses.contains(status) || ContinuousClock.now >= deadline {
                let ended = HistoryWatcher.endStatuses.contains(status)
                let result = try await keel.call(
                    WorkflowResultParams.method, WorkflowResultParams(workflowId: workflowId, waitTimeoutMs: 0).json)
                if ended { tell("workflow \(workflowId) \(result["status"]?.stringValue ?? status)") }
                return Self.answer(result, steps: steps, followed: ended ? "ended" : "timedOut")
            }
            let stopped = Self.answer(["workflowId": id, "status": .string(status)], steps: steps, followed: "stopped")
            if Task.isCancelled { return stopped }
            let wait = min(poll, deadline - ContinuousClock.now)
            do {
                _ = try await keel.call(
                    WorkflowResultParams.method,
                    WorkflowResultParams(workflowId: workflowId, waitTimeoutMs: ToolService.milliseconds(wait)).json)
            } catch where Task.isCancelled {
                return stopped  // the wait was cut short by the cancel
            }
        }
    }

    /// A journal entry as the answer lists it.
    static func step(_ entry: JSONValue) -> JSONValue {
        [
            "seq": entry["seq"] ?? .null, "kind": entry["kind"] ?? .null, "name": entry["name"] ?? .null,
            "status": entry["status"] ?? .null, "attempts": entry["attempts"] ?? .null,
        ]
    }

    /// `step SEQ KIND NAME STATUS`, with `, attempt N` past the first attempt.
    static func message(_ step: JSONValue) -> String {
        var text =
            "step \(step["seq"]?.int64Value ?? 0) \(step["kind"]?.stringValue ?? "?") \(step["name"]?.stringValue ?? "?") \(step["status"]?.stringValue ?? "?")"
        if let attempts = step["attempts"]?.int64Value, attempts > 1 { text += ", attempt \(attempts)" }
        return text
    }

    /// The `workflow/result` answer with the steps seen (by seq) and how following ended.
    static func answer(_ result: JSONValue, steps: [Int64: JSONValue], followed: String) -> JSONValue {
        var object = result.objectValue ?? [:]
        object["followed"] = .string(followed)
        object["steps"] = .array(steps.keys.sorted().compactMap { steps[$0] })
        return .object(object)
    }

    private mutating func tell(_ message: String) {
        if let next = progress?.next(message: message) { send(next) }
    }

    private func send(_ message: String) {
        if let params = progress?.params(message) { notify("notifications/progress", params) }
    }
}

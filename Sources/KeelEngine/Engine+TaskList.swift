public import KeelProtocol
import KeelStorage

/// `activity/list`: the open activity tasks (queued and running), for `keel task list`.
extension Engine {
    /// `activity/list`: the open tasks, queued and running, oldest first: one-shot calls and
    /// workflows' activity steps alike (on a shared store, the cluster's, whichever node holds them).
    /// `count` is how many match beyond the limit too.
    /// - Throws: `KeelError(.invalidParams)` for a status other than `scheduled` or `running`, or a
    ///   limit outside 1–1000 (the schema refuses both on the wire; a typed caller may still send them).
    public func listActivities(_ params: ActivityListParams) async throws -> ActivityListResult {
        let status = params.status?.rawValue
        if let status, status != "scheduled", status != "running" {
            throw Params.fail(method: ActivityListParams.method, "status", "must be scheduled or running")
        }
        let limit = params.limit ?? 100
        guard (1...1000).contains(limit) else {
            throw Params.fail(method: ActivityListParams.method, "limit", "must be an integer from 1 to 1000")
        }
        // The cluster's open tasks, whichever node holds them.
        let page = try await cluster.store.openTasks(
            status: status.flatMap(TaskStatus.init(rawValue:)), name: params.name, limit: Int(limit))
        return ActivityListResult(tasks: page.tasks.map(openTask), count: Int64(page.total))
    }

    /// A task's `activity/result` answer plus when it was created and started, its workflow, its
    /// priority and fairness key, and (queued with no worker for its name) the worker hint.
    private func openTask(_ r: ActivityTaskRecord) -> Wire.OpenActivityTask {
        let t = Self.typedResult(r)
        var task = Wire.OpenActivityTask(
            taskId: t.taskId, name: t.name, status: t.status, attempts: t.attempts, output: t.output,
            failure: t.failure, idempotencyKey: t.idempotencyKey, heartbeatDetails: t.heartbeatDetails,
            createdAtMs: r.createdAt, startedAtMs: r.startedAt, workflowId: r.workflowId,
            priority: Int64(r.precedence.priority), fairnessKey: r.precedence.fairnessKey)
        if r.status == .scheduled, let hint = activityWorkerSuggestions(r.name) {
            task.waitingForWorker = true
            task.suggestions = hint
        }
        return task
    }
}

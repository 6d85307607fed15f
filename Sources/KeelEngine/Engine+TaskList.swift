import KeelCore
import KeelStorage

/// `activity/list`: the open activity tasks (queued and running), for `keel task list`.
extension Engine {
    func listActivities(_ value: JSONValue) async throws -> JSONValue {
        let p = try Params(value, method: "activity/list")
        let status = try p.optionalString("status")
        if let status, status != "scheduled", status != "running" { throw p.fail("status", "must be scheduled or running") }
        let name = try p.optionalString("name")
        let limit = Int(try p.optionalInt("limit", range: 1...1000) ?? 100)
        if let cluster {
            // A node on a shared store lists the cluster's open tasks, whichever node holds them.
            let page = try await cluster.store.openTasks(status: status.flatMap(TaskStatus.init(rawValue:)), name: name, limit: limit)
            return ["tasks": .array(page.tasks.map(openTaskJSON)), "count": JSONValue(page.total)]
        }
        let open = tasks.values.map(\.record)
            .filter { r in !r.status.isTerminal && (status == nil || r.status.rawValue == status) && (name == nil || r.name == name) }
            .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        return ["tasks": .array(open.prefix(limit).map(openTaskJSON)), "count": JSONValue(open.count)]
    }

    /// A task's answer plus when it was created and started, its workflow, and the worker hint.
    private func openTaskJSON(_ r: ActivityTaskRecord) -> JSONValue {
        guard case .object(var o) = Self.resultJSON(r) else { return Self.resultJSON(r) }
        o["createdAtMs"] = JSONValue(r.createdAt)
        if let started = r.startedAt { o["startedAtMs"] = JSONValue(started) }
        if let workflowId = r.workflowId { o["workflowId"] = .string(workflowId) }
        o.merge(JSONObject(r.precedence.fields)) { _, shown in shown }
        if r.status == .scheduled { o.merge(JSONObject(activityWorkerHint(r.name))) { old, _ in old } }
        return .object(o)
    }
}

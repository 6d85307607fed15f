import KeelCore

/// `/queues`: per activity and workflow name, the work waiting for a worker, the oldest item,
/// and a warning where no connected worker serves a name that has work waiting.
struct QueuesPage {
    var now: Int64

    func render(_ console: Console) async throws -> Page {
        let workerList = try await console.call("worker/list")
        let workers = workerList["workers"]?.arrayValue ?? []
        func served(_ key: String) -> Set<String> { Set(workers.flatMap { ($0[key]?.arrayValue ?? []).compactMap(\.stringValue) }) }
        let activityServers = served("activities"), workflowServers = served("workflows")
        let queued = try await console.call("activity/list", ["status": "scheduled", "limit": 1000])
        let running = try await console.call("activity/list", ["status": "running", "limit": 1000])
        var oldest: [String: Int64] = [:]
        var runningCount: [String: Int] = [:]
        var startDelays: [String: [Int64]] = [:]
        for t in queued["tasks"]?.arrayValue ?? [] {
            guard let name = t["name"]?.stringValue, let at = t["createdAtMs"]?.int64Value else { continue }
            oldest[name] = min(oldest[name] ?? at, at)
        }
        for t in running["tasks"]?.arrayValue ?? [] {
            guard let name = t["name"]?.stringValue else { continue }
            runningCount[name, default: 0] += 1
            if let created = t["createdAtMs"]?.int64Value, let started = t["startedAtMs"]?.int64Value {
                startDelays[name, default: []].append(started - created)
            }
        }
        let activityBacklog = Self.counts(workerList["backlog"]?["activities"])
        let workflowBacklog = Self.counts(workerList["backlog"]?["workflows"])

        var html = ""
        let unserved = activityBacklog.filter { $0.value > 0 && !activityServers.contains($0.key) }.map { "activity \($0.key)" }
            + workflowBacklog.filter { $0.value > 0 && !workflowServers.contains($0.key) }.map { "workflow \($0.key)" }
        for name in unserved.sorted() {
            html += "<p class=\"warn\">Work is waiting for \(HTML.escape(name)) and no connected worker serves it.</p>"
        }
        html += "<h2>Activities</h2><table id=\"activity-queues\"><tr><th>Name</th><th>Waiting</th><th>Oldest waiting since</th><th>Running</th><th>Schedule to start (running now, median)</th><th>Workers</th></tr>"
        let names = Set(activityBacklog.keys).union(runningCount.keys).union(activityServers).sorted()
        for name in names {
            let workersFor = workers.filter { ($0["activities"]?.arrayValue ?? []).contains(.string(name)) }.count
            let waiting = activityBacklog[name] ?? 0
            let age = oldest[name].map { "\(HTML.time($0)) (\(Self.roughAge(now - $0)))" } ?? "–"
            html += "<tr data-name=\"\(HTML.escape(name))\"><td>\(HTML.escape(name))</td><td>\(waiting)</td><td>\(age)</td>"
            let delay = startDelays[name].map { d in HTML.duration(d.sorted()[d.count / 2]) } ?? "–"
            html += "<td>\(runningCount[name] ?? 0)</td><td>\(delay)</td><td>\(workersFor == 0 && waiting > 0 ? "<b>none</b>" : String(workersFor))</td></tr>"
        }
        html += "</table><h2>Workflows</h2><table id=\"workflow-queues\"><tr><th>Name</th><th>Waiting for a worker</th><th>Workers</th></tr>"
        for name in Set(workflowBacklog.keys).union(workflowServers).sorted() {
            let workersFor = workers.filter { ($0["workflows"]?.arrayValue ?? []).contains(.string(name)) }.count
            html += "<tr><td>\(HTML.escape(name))</td><td>\(workflowBacklog[name] ?? 0)</td><td>\(workersFor)</td></tr>"
        }
        html += "</table>"
        return Page(title: "Queues", live: html)
    }

    static func counts(_ value: JSONValue?) -> [String: Int] {
        var out: [String: Int] = [:]
        for (k, v) in value?.objectValue ?? JSONObject() { out[k] = Int(v.int64Value ?? 0) }
        return out
    }

    /// An age in whole minutes, so the live page does not change every second.
    static func roughAge(_ ms: Int64) -> String {
        ms < 60_000 ? "under a minute" : "\(HTML.duration(ms / 60_000 * 60_000)) ago"
    }
}

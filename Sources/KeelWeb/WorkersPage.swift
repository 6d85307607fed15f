import KeelCore

/// `/workers`: each connected worker (`worker/list`), what it serves, how full it is and how
/// long ago it last sent anything (its heartbeat age).
struct WorkersPage {
    var now: Int64

    func render(_ console: Console) async throws -> Page {
        let answer = try await console.call("worker/list")
        let workers = answer["workers"]?.arrayValue ?? []
        var html = "<p>\(workers.count) connected worker\(workers.count == 1 ? "" : "s").</p>"
        html += "<table id=\"workers\"><tr><th>Worker</th><th>Name</th><th>Language</th><th>Node / transport / pid</th><th>Build</th><th>Activities</th><th>Workflows</th><th>Activities in flight</th><th>Workflows in flight</th><th>Connected</th><th>Last message</th></tr>"
        for w in workers {
            func names(_ key: String) -> String {
                (w[key]?.arrayValue ?? []).compactMap(\.stringValue).map { "<code>\(HTML.escape($0))</code>" }.joined(separator: " ")
            }
            func count(_ key: String) -> Int64 { w[key]?.int64Value ?? 0 }
            html += "<tr><td>\(HTML.escape(w["workerId"]?.stringValue ?? ""))</td><td>\(HTML.escape(w["name"]?.stringValue ?? ""))</td>"
            html += "<td>\(HTML.escape(w["language"]?.stringValue ?? ""))</td>"
            html += "<td>\(HTML.escape(w["node"]?.stringValue ?? "")) / \(HTML.escape(w["transport"]?.stringValue ?? "")) / \(w["pid"]?.int64Value.map(String.init) ?? "–")</td>"
            let build = w["buildId"]?.stringValue.map { "<code>\(HTML.escape($0))</code>" } ?? "–"
            let compatible = names("compatibleBuildIds")
            html += "<td>\(build)\(compatible.isEmpty ? "" : " (continues \(compatible))")</td>"
            html += "<td>\(names("activities"))</td><td>\(names("workflows"))</td>"
            html += "<td>\(count("inFlight")) of \(count("maxConcurrent"))</td><td>\(count("workflowsInFlight")) of \(count("maxConcurrentWorkflows"))</td>"
            html += "<td>\(HTML.time(w["connectedAtMs"]?.int64Value))</td>"
            html += "<td class=\"heartbeat\">\(w["lastMessageAtMs"]?.int64Value.map { Self.heartbeatAge(now - $0) } ?? "–")</td></tr>"
        }
        html += "</table>"
        return Page(title: "Workers", live: html)
    }

    /// A worker that has sent nothing for this long is flagged (a busy worker answers or
    /// heartbeats; an idle one may be quiet: docs/ui.md).
    static let quietMs: Int64 = 60_000

    /// The age of a worker's last message in steps of ten seconds, then minutes, so the live
    /// page does not change every second: "under 10 s ago", "40 s ago", "3 min 0 s ago".
    static func heartbeatAge(_ ms: Int64) -> String {
        if ms < 10_000 { return "under 10 s ago" }
        if ms < 60_000 { return "\(ms / 10_000 * 10) s ago" }
        let age = "\(HTML.duration(ms / 60_000 * 60_000)) ago"
        return ms >= quietMs ? "<b>\(age)</b>" : age
    }
}

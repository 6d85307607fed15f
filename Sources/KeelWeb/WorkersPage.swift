import KeelCore

/// `/workers`: each connected worker (`worker/list`), what it serves and how full it is.
struct WorkersPage {
    func render(_ console: Console) async throws -> Page {
        let answer = try await console.call("worker/list")
        let workers = answer["workers"]?.arrayValue ?? []
        var html = "<p>\(workers.count) connected worker\(workers.count == 1 ? "" : "s").</p>"
        html += "<table id=\"workers\"><tr><th>Worker</th><th>Name</th><th>Language</th><th>Node / transport / pid</th><th>Activities</th><th>Workflows</th><th>Activities in flight</th><th>Workflows in flight</th><th>Connected</th></tr>"
        for w in workers {
            func names(_ key: String) -> String {
                (w[key]?.arrayValue ?? []).compactMap(\.stringValue).map { "<code>\(HTML.escape($0))</code>" }.joined(separator: " ")
            }
            func count(_ key: String) -> Int64 { w[key]?.int64Value ?? 0 }
            html += "<tr><td>\(HTML.escape(w["workerId"]?.stringValue ?? ""))</td><td>\(HTML.escape(w["name"]?.stringValue ?? ""))</td>"
            html += "<td>\(HTML.escape(w["language"]?.stringValue ?? ""))</td>"
            html += "<td>\(HTML.escape(w["node"]?.stringValue ?? "")) / \(HTML.escape(w["transport"]?.stringValue ?? "")) / \(w["pid"]?.int64Value.map(String.init) ?? "–")</td>"
            html += "<td>\(names("activities"))</td><td>\(names("workflows"))</td>"
            html += "<td>\(count("inFlight")) of \(count("maxConcurrent"))</td><td>\(count("workflowsInFlight")) of \(count("maxConcurrentWorkflows"))</td>"
            html += "<td>\(HTML.time(w["connectedAtMs"]?.int64Value))</td></tr>"
        }
        html += "</table>"
        return Page(title: "Workers", live: html)
    }
}

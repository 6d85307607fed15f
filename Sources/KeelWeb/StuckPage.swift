import KeelCore

/// `/stuck?minutes=N`: open executions with no progress for longer than N minutes (default 5),
/// activities on their second attempt or later, and workflows parked by non-determinism — each
/// with the way out.
struct StuckPage {
    var now: Int64
    var minutes: Int

    init(now: Int64, query: [String: String]) {
        self.now = now
        minutes = query["minutes"].flatMap { Int($0) }.map { min(max($0, 0), 525_600) } ?? 5
    }

    func render(_ console: Console) async throws -> Page {
        let threshold = now - Int64(minutes) * 60_000
        var quiet: [JSONValue] = []
        for status in ["pending", "running", "suspended"] {
            let answer = try await console.call("workflow/list", ["status": .string(status), "limit": 1000])
            quiet += (answer["workflows"]?.arrayValue ?? []).filter { ($0["updatedAtMs"]?.int64Value ?? now) < threshold }
        }
        quiet.sort { ($0["updatedAtMs"]?.int64Value ?? 0) < ($1["updatedAtMs"]?.int64Value ?? 0) }
        let parked = try await console.call("workflow/list", ["status": "parked", "limit": 1000])["workflows"]?.arrayValue ?? []
        var retrying: [JSONValue] = []
        for status in ["scheduled", "running"] {
            let answer = try await console.call("activity/list", ["status": .string(status), "limit": 1000])
            retrying += (answer["tasks"]?.arrayValue ?? []).filter { ($0["attempts"]?.int64Value ?? 0) >= 2 }
        }

        var html = "<p>No progress for more than \(minutes) min (<a href=\"/stuck?minutes=1\">1</a> · <a href=\"/stuck?minutes=5\">5</a> · <a href=\"/stuck?minutes=60\">60</a>).</p>"
        html += "<h2>Quiet executions (\(quiet.count))</h2>" + Self.workflowTable(quiet, id: "quiet")
        html += "<p>Way out: open one to read what it waits for (a signal, a worker, a timer); send the signal, start a worker, or cancel it.</p>"
        html += "<h2>Parked by non-determinism (\(parked.count))</h2>" + Self.workflowTable(parked, id: "parked")
        html += "<p>Way out: deploy the fixed workflow code and run <code>keel workflow resume ID</code>, or reset it to a step before the change.</p>"
        html += "<h2>Activities retrying (\(retrying.count))</h2>"
        html += "<table id=\"retrying\"><tr><th>Task</th><th>Activity</th><th>Status</th><th>Attempts</th><th>Workflow</th><th>Last failure</th></tr>"
        for t in retrying {
            let wf = t["workflowId"]?.stringValue
            html += "<tr><td>\(HTML.escape(t["taskId"]?.stringValue ?? ""))</td><td>\(HTML.escape(t["name"]?.stringValue ?? ""))</td>"
            html += "<td>\(HTML.badge(t["status"]?.stringValue ?? ""))</td><td>\(t["attempts"]?.int64Value ?? 0)</td>"
            html += "<td>\(wf.map { "<a href=\"/workflow?id=\(HTML.query($0))\">\(HTML.escape($0))</a>" } ?? "–")</td><td>\(HTML.json(t["failure"]))</td></tr>"
        }
        html += "</table><p>Way out: read the failure; fix the dependency or the worker, or cancel the workflow.</p>"
        return Page(title: "Stuck", live: html)
    }

    static func workflowTable(_ rows: [JSONValue], id: String) -> String {
        var html = "<table id=\"\(id)\"><tr><th>Workflow id</th><th>Name</th><th>Status</th><th>Last progress</th></tr>"
        for r in rows {
            let wid = r["workflowId"]?.stringValue ?? ""
            html += "<tr><td><a href=\"/workflow?id=\(HTML.query(wid))\">\(HTML.escape(wid))</a></td><td>\(HTML.escape(r["name"]?.stringValue ?? ""))</td>"
            html += "<td>\(HTML.badge(r["status"]?.stringValue ?? ""))</td><td>\(HTML.time(r["updatedAtMs"]?.int64Value))</td></tr>"
        }
        return html + "</table>"
    }
}

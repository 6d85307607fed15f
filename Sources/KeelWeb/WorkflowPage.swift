import KeelCore
import KeelProtocol

/// `/workflow?id=…`: the headline, one row per journal step, the raw history and the actions.
struct WorkflowPage {
    /// Above this the inline raw history is cut (the full one is at `/workflow/history.json`),
    /// so the page stays well under 100 KB.
    static let inlineHistoryBytes = 40_000

    var id: String
    var flash: String?

    func render(_ console: Console, actions: ActionForms?) async throws -> Page {
        let d = try await console.call(WorkflowDescribeParams(workflowId: id)).json
        let history = try await console.call("workflow/history", ["workflowId": .string(id)])
        let stream = try await console.call("workflow/follow", ["workflowId": .string(id), "limit": JSONValue(Self.streamEvents)])
        let status = d["status"]?.stringValue ?? ""
        var html = "<p class=\"headline\" id=\"headline\">\(HTML.escape(Headline.sentence(d)))</p>"
        html += "<p>\(HTML.badge(status)) <b>\(HTML.escape(d["name"]?.stringValue ?? ""))</b> · created \(HTML.time(d["createdAtMs"]?.int64Value))"
        html += " · updated \(HTML.time(d["updatedAtMs"]?.int64Value)) · generation \(d["generation"]?.int64Value ?? 0)"
        if let build = d["buildId"]?.stringValue { html += " · build <code>\(HTML.escape(build))</code>" }
        if let parent = d["parentId"]?.stringValue {
            html += " · parent <a href=\"/workflow?id=\(HTML.query(parent))\">\(HTML.escape(parent))</a>"
        }
        html += "</p><p>Input \(HTML.json(d["input"], limit: 600))"
        if let output = d["output"] { html += "<br>Output \(HTML.json(output, limit: 600))" }
        if let failure = d["failure"] { html += "<br>Failure \(HTML.json(failure, limit: 600))" }
        html += "</p><h2>Steps</h2>\(Timeline.legend)"
        html += "<table id=\"steps\"><tr><th>#</th><th>Kind</th><th>Name</th><th>Status</th><th>Attempts</th><th>Timeline</th><th>Started</th><th>Took</th><th>Input</th><th>Output / failure</th></tr>"
        let entries = history["entries"]?.arrayValue ?? []
        let timeline = Timeline(workflow: d, entries: entries)
        for e in entries {
            let seq = e["seq"]?.int64Value ?? 0
            let created = e["createdAtMs"]?.int64Value
            let took = e["completedAtMs"]?.int64Value.flatMap { end in created.map { HTML.duration(end - $0) } } ?? ""
            var name = HTML.escape(e["name"]?.stringValue ?? "")
            if let child = e["childWorkflowId"]?.stringValue {
                name = "<a href=\"/workflow?id=\(HTML.query(child))\">\(name)</a>"
            }
            html += "<tr data-seq=\"\(seq)\"><td>\(seq)</td><td>\(HTML.escape(e["kind"]?.stringValue ?? ""))</td><td>\(name)</td>"
            html += "<td>\(HTML.badge(e["status"]?.stringValue ?? ""))</td><td>\(e["attempts"]?.int64Value ?? 0)</td>"
            html += "<td>\(timeline.bar(e))</td><td class=\"t\">\(HTML.time(created))</td><td class=\"t\">\(took)</td><td>\(HTML.json(e["input"]))</td>"
            html += "<td>\(HTML.json(e["result"]))\(e["failure"].map { "<div class=\"s-failed\">\(HTML.json($0))</div>" } ?? "")"
            html += "\(Self.attemptFailures(e))</td></tr>"
        }
        html += "</table>"
        if entries.isEmpty { html += "<p>No steps yet.</p>" }
        html += Self.streamTable(stream)
        var raw = JSONWriter.string(history, sortedKeys: true)
        if raw.utf8.count > Self.inlineHistoryBytes { raw = (String(raw.utf8.prefix(Self.inlineHistoryBytes)) ?? "") + "…" }
        html += "<details><summary>Raw history (as <code>workflow/history</code>)</summary><pre id=\"history\">\(HTML.escape(raw))</pre></details>"

        var still = "<p><a href=\"/workflow/history.json?id=\(HTML.query(id))\">history.json</a></p>"
        if let flash { still = "<p class=\"flash\" id=\"flash\">\(HTML.escape(flash))</p>" + still }
        if let actions {
            still += actions.forms(workflowId: id, open: !["completed", "failed", "cancelled", "terminated", "timedOut"].contains(status))
        }
        return Page(title: "Workflow \(id)", live: html, still: still)
    }

    /// How many of a stream's first events the page shows (`keel workflow follow` shows them all).
    static let streamEvents = 200

    /// The execution's stream (docs/protocol.md, "Streams"), when it has one.
    static func streamTable(_ stream: JSONValue) -> String {
        let events = stream["events"]?.arrayValue ?? []
        guard !events.isEmpty else { return "" }
        var html = "<h2>Stream</h2><table id=\"stream\"><tr><th>#</th><th>Name</th><th>Event</th><th>From</th><th>At</th></tr>"
        for e in events {
            let from = e["source"] == "activity"
                ? "activity <code>\(HTML.escape(e["taskId"]?.stringValue ?? ""))</code>, attempt \(e["attempt"]?.int64Value ?? 0)"
                : "step \(e["seq"]?.int64Value ?? 0)"
            html += "<tr><td>\(e["offset"]?.int64Value ?? 0)</td><td>\(HTML.escape(e["name"]?.stringValue ?? ""))</td>"
            html += "<td>\(HTML.json(e["event"], limit: 300))</td><td>\(from)</td><td class=\"t\">\(HTML.time(e["atMs"]?.int64Value))</td></tr>"
        }
        html += "</table>"
        if stream["done"] != true, events.count >= streamEvents {
            html += "<p>The first \(streamEvents) events; <code>keel workflow follow \(HTML.escape(stream["workflowId"]?.stringValue ?? ""))</code> prints them all.</p>"
        }
        return html
    }

    /// Each retried attempt's failure, oldest first: "Attempt 1 failed at …: Declined: card declined".
    static func attemptFailures(_ entry: JSONValue) -> String {
        guard let failures = entry["attemptFailures"]?.arrayValue, !failures.isEmpty else { return "" }
        var html = "<ol class=\"attempts\">"
        for f in failures {
            let attempt = f["attempt"]?.int64Value ?? 0
            let type = f["failure"]?["type"]?.stringValue ?? "Error"
            let message = f["failure"]?["message"]?.stringValue ?? ""
            html += "<li class=\"attempt-failure\" data-attempt=\"\(attempt)\">Attempt \(attempt) failed at \(HTML.time(f["failedAtMs"]?.int64Value)): "
            html += "<b>\(HTML.escape(type))</b>: \(HTML.escape(String(message.prefix(500))))</li>"
        }
        return html + "</ol>"
    }
}

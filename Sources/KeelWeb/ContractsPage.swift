import KeelCore
import KeelEngine

/// `/contracts`: every registered contract (activity and workflow names) with its schemas, hash
/// and version, the connected workers serving it and its recent violations.
struct ContractsPage {
    /// Past this a schema is cut on the page (the whole one is in `/contracts.json`).
    static let schemaChars = 4_000

    func render(_ console: Console) async throws -> Page {
        let contracts = await console.engine.contractList()["contracts"]?.arrayValue ?? []
        var html = "<p>\(contracts.count) registered contract\(contracts.count == 1 ? "" : "s"). "
        html += "Schemas as JSON: <a href=\"/contracts.json\">contracts.json</a>.</p>"
        html += "<table id=\"contracts\"><tr><th>Kind</th><th>Name</th><th>Version</th><th>Hash</th><th>Owner</th><th>Workers</th><th>Recent violations</th></tr>"
        for c in contracts {
            let workers = c["workers"]?.arrayValue ?? []
            let violations = c["violations"]?.arrayValue ?? []
            html += "<tr data-name=\"\(HTML.escape(Self.name(c)))\"><td>\(HTML.escape(c["kind"]?.stringValue ?? ""))</td>"
            html += "<td><a href=\"#\(Self.anchor(c))\">\(HTML.escape(Self.name(c)))</a></td>"
            html += "<td>\(c["version"]?.int64Value.map { "v\($0)" } ?? "not pinned")</td><td><code>\(HTML.escape(Self.shortHash(c["hash"])))</code></td>"
            html += "<td>\(HTML.escape(c["ownerWorker"]?.stringValue ?? "–"))</td>"
            html += "<td>\(workers.isEmpty ? "<b>none connected</b>" : Self.workerNames(workers))</td>"
            html += "<td>\(violations.isEmpty ? "0" : "<b>\(violations.count)</b>")</td></tr>"
        }
        html += "</table>"
        for c in contracts { html += section(c) }
        return Page(title: "Contracts", live: html)
    }

    /// One contract in full: who owns it, who serves it, what it refused lately, its schemas.
    private func section(_ c: JSONValue) -> String {
        let kind = c["kind"]?.stringValue ?? ""
        var html = "<section class=\"contract\" id=\"\(Self.anchor(c))\"><h2>\(HTML.escape(kind)) <code>\(HTML.escape(Self.name(c)))</code></h2><p>"
        if let version = c["version"]?.int64Value {
            html += "Version \(version), pinned \(HTML.time(c["pinnedAtMs"]?.int64Value)) by worker \(HTML.escape(c["ownerWorker"]?.stringValue ?? ""))"
            html += " (\(HTML.escape(c["owner"]?.stringValue ?? ""))). "
        } else {
            html += "Not pinned yet. "
        }
        html += "Hash <code>\(HTML.escape(c["hash"]?.stringValue ?? ""))</code>."
        if let served = c["servedHash"]?.stringValue {
            html += "</p><p class=\"warn\">Connected workers serve hash <code>\(HTML.escape(served))</code>, not the pinned one."
        }
        if let description = c["description"]?.stringValue { html += "<br>\(HTML.escape(description))" }
        let workers = c["workers"]?.arrayValue ?? []
        html += "</p><p>Served by: \(workers.isEmpty ? "no connected worker" : Self.workerNames(workers))</p>"
        let violations = c["violations"]?.arrayValue ?? []
        if violations.isEmpty {
            html += "<p>No recent violations.</p>"
        } else {
            html += "<table class=\"violations\"><tr><th>When</th><th>Direction</th><th>What was wrong</th></tr>"
            for v in violations {
                html += "<tr><td class=\"t\">\(HTML.time(v["atMs"]?.int64Value))</td><td>\(HTML.escape(v["direction"]?.stringValue ?? ""))</td>"
                html += "<td>\(HTML.escape(v["message"]?.stringValue ?? ""))</td></tr>"
            }
            html += "</table>"
        }
        for role in ["input", "output"] {
            var text = PrettyJSON.string(c[role] ?? true)
            if text.count > Self.schemaChars { text = String(text.prefix(Self.schemaChars)) + "\n… (whole schema in contracts.json)" }
            html += "<details open><summary>\(role == "input" ? "Input" : "Output") schema</summary><pre class=\"schema\" data-role=\"\(role)\">\(HTML.escape(text))</pre></details>"
        }
        return html + "</section>"
    }

    private static func name(_ c: JSONValue) -> String { c["name"]?.stringValue ?? "" }

    /// `activity-billing.charge`: a fragment id for the contract's section.
    private static func anchor(_ c: JSONValue) -> String {
        HTML.escape("\(c["kind"]?.stringValue ?? "")-\(name(c))")
    }

    /// The hash's first 16 characters (the section shows it whole).
    private static func shortHash(_ hash: JSONValue?) -> String {
        let h = hash?.stringValue ?? ""
        return h.count > 16 ? String(h.prefix(16)) + "…" : h
    }

    private static func workerNames(_ workers: [JSONValue]) -> String {
        workers.map { "<span class=\"worker\">\(HTML.escape($0["name"]?.stringValue ?? "")) (\(HTML.escape($0["workerId"]?.stringValue ?? "")))</span>" }
            .joined(separator: ", ")
    }
}

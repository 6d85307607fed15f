import KeelCore
import KeelEngine
import KeelStorage

/// `/workflows`: newest first, counts per status that act as filters, filters on name, id prefix
/// and a search query over search attributes, children folded under their parent. Every view is a
/// URL (`?status=&name=&prefix=&q=`).
struct WorkflowListPage {
    /// The statuses in the order the counts show them.
    static let statuses = ["pending", "running", "suspended", "parked", "completed", "failed", "cancelled", "terminated", "timedOut"]
    /// The counts are exact up to this many executions in the view (one store scan of about
    /// 0.5 µs a row, docs/ui.md "How fast"); past it each is shown as a lower bound, "≥ N".
    static let exactCountLimit = 100_000
    /// The largest page read to filter by id prefix in memory.
    static let prefixWindow = 1000
    /// Rows on one page: keeps it well under 100 KB.
    static let pageSize = 100

    var status: String?
    var name: String?
    var prefix: String?
    var cursor: String?
    /// A `workflow/list` query (`?q=`, docs/protocol.md "Search attributes and memo").
    var query: String?
    /// Only executions created in the last this many minutes (`?within=`).
    var within: Int64?
    /// Now, for `within`.
    var now: Int64 = 0

    /// The choices the filter form offers for `within`, in minutes.
    static let windows: [(Int64, String)] = [(15, "15 min"), (60, "1 h"), (1440, "24 h"), (10080, "7 days")]

    init(query: [String: String], now: Int64) {
        self.now = now
        func value(_ key: String) -> String? { query[key].flatMap { $0.isEmpty ? nil : $0 } }
        status = value("status")
        name = value("name")
        prefix = value("prefix")
        cursor = value("cursor")
        self.query = value("q")
        within = value("within").flatMap { Int64($0) }.map { min(max($0, 1), 5_256_000) }
    }

    /// The filters every list call of this view carries (name, time window).
    private func filters(_ p: inout [String: JSONValue]) {
        if let name { p["name"] = .string(name) }
        if let within { p["createdAfterMs"] = JSONValue(max(0, now - within * 60_000)) }
        if let query { p["query"] = .string(query) }
    }

    func render(_ console: Console) async throws -> Page {
        // The counts in one grouped store read (docs/ui.md, "How fast").
        let counted = try await console.engine.workflowCounts(
            name: name, createdAfter: within.map { max(0, now - $0 * 60_000) }, query: query, atMost: Self.exactCountLimit)
        let counts: [(String, Int)] = Self.statuses.map { s in (s, WorkflowStatus(rawValue: s).flatMap { counted[$0] } ?? 0) }
        // An id prefix is not a store filter: read the newest page large enough to filter in memory.
        var params: [String: JSONValue] = ["order": "newest", "limit": JSONValue(prefix == nil ? Self.pageSize : Self.prefixWindow)]
        if let status { params["status"] = .string(status) }
        filters(&params)
        if let cursor { params["cursor"] = .string(cursor) }
        let answer = try await console.call("workflow/list", .object(JSONObject(params)))
        var rows = answer["workflows"]?.arrayValue ?? []
        var hidden = 0
        if let prefix {
            rows = rows.filter { ($0["workflowId"]?.stringValue ?? "").hasPrefix(prefix) }
            hidden = max(0, rows.count - Self.pageSize)
            rows = Array(rows.prefix(Self.pageSize))
        }

        var html = "<p class=\"counts\">"
        let total = counts.reduce(0) { $0 + $1.1 }
        let atLeast = total > Self.exactCountLimit ? "≥ " : ""
        html += "<a href=\"\(link(status: nil))\" class=\"\(status == nil ? "on" : "")\">all \(atLeast)\(total)</a>"
        for (s, n) in counts where n > 0 || s == status {
            html += "<a href=\"\(link(status: s))\" class=\"\(s == status ? "on" : "")\" data-status=\"\(s)\">\(HTML.badge(s)) \(atLeast)\(n)</a>"
        }
        html += "</p>"
        let searched = rows.contains { $0["searchAttributes"] != nil }
        html += "<table id=\"workflows\"><tr><th>Workflow id</th><th>Name</th><th>Status</th><th>Created</th><th>Updated</th>"
            + (searched ? "<th>Search attributes</th>" : "") + "</tr>"
        for (row, depth) in Self.folded(rows) {
            let id = row["workflowId"]?.stringValue ?? ""
            html += "<tr class=\"\(depth > 0 ? "child" : "")\" data-id=\"\(HTML.escape(id))\">"
            html += "<td>\(depth > 0 ? "↳ " : "")<a href=\"/workflow?id=\(HTML.query(id))\">\(HTML.escape(id))</a></td>"
            html += "<td>\(HTML.escape(row["name"]?.stringValue ?? ""))</td>"
            html += "<td>\(HTML.badge(row["status"]?.stringValue ?? ""))</td>"
            html += "<td>\(HTML.time(row["createdAtMs"]?.int64Value))</td><td>\(HTML.time(row["updatedAtMs"]?.int64Value))</td>"
            if searched { html += "<td class=\"attributes\">\(HTML.escape(row["searchAttributes"].map { JSONWriter.string($0, sortedKeys: true) } ?? ""))</td>" }
            html += "</tr>"
        }
        html += "</table>"
        if rows.isEmpty { html += "<p>No workflows match.</p>" }
        if hidden > 0 { html += "<p>\(hidden) more match this id prefix; narrow it to see them.</p>" }
        if let next = answer["nextCursor"]?.stringValue {
            html += "<p><a href=\"\(link(status: status, cursor: next))\">older →</a></p>"
        }
        let form = """
            <form method="get" action="/workflows" class="action" id="filter">
            \(status.map { "<input type=\"hidden\" name=\"status\" value=\"\(HTML.escape($0))\">" } ?? "")
            <label>Name <input name="name" value="\(HTML.escape(name ?? ""))" placeholder="billing.charge"></label>
            <label>Id prefix <input name="prefix" value="\(HTML.escape(prefix ?? ""))" placeholder="order-"></label>
            <label>Query <input name="q" value="\(HTML.escape(query ?? ""))" placeholder='customer = "acme" AND stage = "shipped"' size="40"></label>
            <label>Created <select name="within"><option value="">any time</option>\(Self.windows.map { "<option value=\"\($0.0)\"\(within == $0.0 ? " selected" : "")>in the last \($0.1)</option>" }.joined())</select></label>
            <button type="submit">Filter</button> <a href="/workflows">clear</a></form>
            """
        return Page(title: "Workflows", live: html, still: form)
    }

    /// This view's URL with another status (nil: all) and cursor.
    func link(status: String?, cursor: String? = nil) -> String {
        var parts: [String] = []
        if let status { parts.append("status=\(HTML.query(status))") }
        if let name { parts.append("name=\(HTML.query(name))") }
        if let prefix { parts.append("prefix=\(HTML.query(prefix))") }
        if let within { parts.append("within=\(within)") }
        if let query { parts.append("q=\(HTML.query(query))") }
        if let cursor { parts.append("cursor=\(HTML.query(cursor))") }
        return HTML.escape("/workflows" + (parts.isEmpty ? "" : "?" + parts.joined(separator: "&")))
    }

    /// Rows with each child right under its parent (a child's id is `PARENT/SEQ` unless it
    /// named its own), with its depth; rows whose parent is not on the page stay where they are.
    static func folded(_ rows: [JSONValue]) -> [(JSONValue, Int)] {
        let ids = Set(rows.compactMap { $0["workflowId"]?.stringValue })
        func parent(_ id: String) -> String? {
            guard let slash = id.lastIndex(of: "/") else { return nil }
            let p = String(id[..<slash])
            return ids.contains(p) ? p : nil
        }
        var children: [String: [JSONValue]] = [:]
        var roots: [JSONValue] = []
        for row in rows {
            let id = row["workflowId"]?.stringValue ?? ""
            if let p = parent(id) { children[p, default: []].append(row) } else { roots.append(row) }
        }
        var out: [(JSONValue, Int)] = []
        func visit(_ row: JSONValue, _ depth: Int) {
            out.append((row, depth))
            for child in children[row["workflowId"]?.stringValue ?? ""] ?? [] where depth < 16 { visit(child, depth + 1) }
        }
        for root in roots { visit(root, 0) }
        return out
    }
}

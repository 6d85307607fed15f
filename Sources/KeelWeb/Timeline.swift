import Foundation
import KeelCore

/// The step timeline: one bar per journal step, placed on the execution's span from its start to
/// its last recorded moment. A step still open runs to the end, striped; a step that took more
/// than one attempt is marked with its count and a red tick where each failed attempt ended. Fixed times only, so a live page changes when
/// the journal does, not every second.
struct Timeline {
    let start: Int64
    let span: Int64

    init(workflow d: JSONValue, entries: [JSONValue]) {
        start = d["createdAtMs"]?.int64Value ?? 0
        var end = d["updatedAtMs"]?.int64Value ?? start
        for e in entries {
            end = max(end, e["completedAtMs"]?.int64Value ?? e["createdAtMs"]?.int64Value ?? end)
        }
        span = max(1, end - start)
    }

    func bar(_ e: JSONValue) -> String {
        let from = e["createdAtMs"]?.int64Value ?? start
        let to = e["completedAtMs"]?.int64Value ?? (start + span)
        let left = Double(from - start) / Double(span) * 100
        let width = max(1.0, Double(to - from) / Double(span) * 100)
        let status = e["status"]?.stringValue ?? ""
        let kind = e["kind"]?.stringValue ?? ""
        let attempts = e["attempts"]?.int64Value ?? 0
        let open = e["completedAtMs"] == nil ? " open" : ""
        let mark = attempts > 1 ? "<span class=\"tries\">×\(attempts)</span>" : ""
        return "<div class=\"track\"><div class=\"bar k-\(HTML.escape(kind)) t-\(HTML.escape(status))\(open)\" style=\"left:\(String(format: "%.1f", min(left, 99)))%;width:\(String(format: "%.1f", min(width, 100 - min(left, 99))))%\" title=\"\(HTML.escape(kind)) \(HTML.escape(status))\"></div>\(failureTicks(e))\(mark)</div>"
    }

    /// A red tick where each retried attempt failed, so the bar shows where one attempt ended
    /// and the next began; its title names the failure.
    func failureTicks(_ e: JSONValue) -> String {
        (e["attemptFailures"]?.arrayValue ?? []).map { f in
            let at = f["failedAtMs"]?.int64Value ?? start
            let left = min(99.5, max(0, Double(at - start) / Double(span) * 100))
            let what = "attempt \(f["attempt"]?.int64Value ?? 0) failed: \(f["failure"]?["type"]?.stringValue ?? "Error")"
            return "<div class=\"tick\" style=\"left:\(String(format: "%.1f", left))%\" title=\"\(HTML.escape(what))\"></div>"
        }.joined()
    }
}

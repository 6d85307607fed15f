import Foundation
import KeelCore

/// The step timeline: one track per journal step, placed on the execution's span from its start
/// to its last recorded moment, drawn as segments (``TimelineSegment``): an activity's queue wait,
/// each attempt running and the backoff between attempts; a sleep's or a signal's wait; any other
/// step as one bar. A step still open runs to the end, striped. Fixed times only, so a live page
/// changes when the journal does, not every second.
struct Timeline {
    let start: Int64
    let span: Int64

    init(workflow d: JSONValue, entries: [JSONValue]) {
        start = d["createdAtMs"]?.int64Value ?? 0
        var end = d["updatedAtMs"]?.int64Value ?? start
        for e in entries {
            end = max(end, e["completedAtMs"]?.int64Value ?? e["createdAtMs"]?.int64Value ?? end)
            end = max(end, e["startedAtMs"]?.int64Value ?? end)
            for f in e["attemptFailures"]?.arrayValue ?? [] { end = max(end, f["failedAtMs"]?.int64Value ?? end) }
        }
        span = max(1, end - start)
    }

    /// The legend drawn above the steps table: one swatch per segment kind.
    static let legend = "<p class=\"legend\">"
        + [("queue", "queue wait"), ("run", "running"), ("run failed", "attempt failed"), ("backoff", "backoff"),
           ("wait", "suspended / waiting"), ("step", "other step")]
        .map { "<span><i class=\"seg-\($0.0)\"></i>\($0.1)</span>" }.joined(separator: " ")
        + "</p>"

    func bar(_ e: JSONValue) -> String {
        let attempts = e["attempts"]?.int64Value ?? 0
        let mark = attempts > 1 ? "<span class=\"tries\">×\(attempts)</span>" : ""
        let segments = TimelineSegment.of(e, end: start + span)
        return "<div class=\"track\">\(segments.map(draw).joined())\(mark)</div>"
    }

    private func draw(_ s: TimelineSegment) -> String {
        // A segment still going is at least visible at the span's end; one that took no time is
        // kept with no width; any other at least one pixel-pair wide.
        let open = s.extra.contains("open")
        let left = min(open ? 97.0 : 99.0, max(0, Double(s.from - start) / Double(span) * 100))
        let least = open ? 3.0 : s.to == s.from ? 0 : 1.0
        let width = min(100 - left, max(least, Double(s.to - s.from) / Double(span) * 100))
        let classes = (["seg", "seg-\(s.kind.rawValue)"] + s.extra).joined(separator: " ")
        return "<div class=\"\(HTML.escape(classes))\" style=\"left:\(String(format: "%.1f", left))%;width:\(String(format: "%.1f", width))%\" title=\"\(HTML.escape(s.title))\"></div>"
    }
}

import KeelCore

/// One drawn stretch of a step's track: what the step was doing from `from` to `to`.
struct TimelineSegment: Equatable {
    enum Kind: String {
        /// An activity waiting for its first attempt to start.
        case queue
        /// An attempt running on a worker.
        case run
        /// Between a failed attempt and the next one's start.
        case backoff
        /// A sleep or a signal wait: the execution is suspended on it.
        case wait
        /// Any other step (a child, a side effect), or an attempt whose start is not recorded.
        case step
    }

    var kind: Kind
    var from: Int64
    var to: Int64
    var title: String
    /// More CSS classes: `failed` on an attempt that failed, `open` on a segment still going.
    var extra: [String] = []

    /// The segments of history entry `e`; `end` is where a step still open is drawn to.
    static func of(_ e: JSONValue, end: Int64) -> [TimelineSegment] {
        let created = e["createdAtMs"]?.int64Value ?? end
        let completed = e["completedAtMs"]?.int64Value
        let to = completed ?? end
        let open = completed == nil ? ["open"] : []
        let kind = e["kind"]?.stringValue ?? ""
        let status = e["status"]?.stringValue ?? ""
        switch kind {
        case "activity":
            return activity(e, created: created, to: to, open: completed == nil, status: status)
        case "sleep", "signal":
            let what = kind == "sleep" ? "sleeping" : "waiting for signal \(e["name"]?.stringValue ?? "")"
            let title = completed == nil ? "\(what) since \(HTML.time(created))" : "\(what) \(HTML.duration(to - created))"
            return [TimelineSegment(kind: .wait, from: created, to: to, title: title, extra: open)]
        default:
            return [TimelineSegment(kind: .step, from: created, to: to, title: "\(kind) \(status) \(HTML.duration(to - created))",
                                    extra: open + (status == "failed" ? ["failed"] : []))]
        }
    }

    /// Queue wait, then per attempt: running, and after a failed one the backoff until the next
    /// starts. An attempt recorded before its start was kept (store migration 9) is one `step`
    /// segment from the previous known moment to its failure: what is known, no more.
    private static func activity(_ e: JSONValue, created: Int64, to: Int64, open: Bool, status: String) -> [TimelineSegment] {
        var out: [TimelineSegment] = []
        var cursor = created
        let failures = (e["attemptFailures"]?.arrayValue ?? []).sorted { ($0["attempt"]?.int64Value ?? 0) < ($1["attempt"]?.int64Value ?? 0) }
        func gap(until t: Int64) {
            // Drawn even when it took no time (a task claimed as it was stored), so every
            // attempt's track reads queue, running, backoff, running…
            guard t >= cursor else { return }
            let kind: Kind = out.isEmpty ? .queue : .backoff
            out.append(TimelineSegment(kind: kind, from: cursor, to: t, title: "\(kind == .queue ? "queue wait" : "backoff") \(HTML.duration(t - cursor))"))
            cursor = t
        }
        for f in failures {
            let attempt = f["attempt"]?.int64Value ?? 0
            let failedAt = max(cursor, f["failedAtMs"]?.int64Value ?? cursor)
            let why = "failed: \(f["failure"]?["type"]?.stringValue ?? "Error")"
            if let started = f["startedAtMs"]?.int64Value {
                gap(until: min(started, failedAt))
                out.append(TimelineSegment(kind: .run, from: cursor, to: failedAt,
                                           title: "attempt \(attempt) running \(HTML.duration(failedAt - cursor)), \(why)", extra: ["failed"]))
            } else {
                out.append(TimelineSegment(kind: .step, from: cursor, to: failedAt,
                                           title: "attempt \(attempt) (start not recorded) \(why)", extra: ["failed"]))
            }
            cursor = failedAt
        }
        let attempt = (failures.last?["attempt"]?.int64Value ?? 0) + 1
        let openClass = open ? ["open"] : []
        if let started = e["startedAtMs"]?.int64Value, started >= cursor, !(open && started > to) {
            gap(until: started)
            let title = open ? "attempt \(attempt) running since \(HTML.time(cursor))"
                : "attempt \(attempt) running \(HTML.duration(max(0, to - cursor)))\(status == "completed" ? "" : ", \(status)")"
            out.append(TimelineSegment(kind: .run, from: cursor, to: max(cursor, to), title: title,
                                       extra: openClass + (status == "failed" ? ["failed"] : [])))
        } else if open {
            // Not started again yet: still queued, or backing off after the last failure.
            let kind: Kind = out.isEmpty ? .queue : .backoff
            out.append(TimelineSegment(kind: kind, from: cursor, to: max(cursor, to),
                                       title: "\(kind == .queue ? "queued" : "backing off") since \(HTML.time(cursor))", extra: ["open"]))
        } else if to > cursor || out.isEmpty {
            // Ended with no recorded start for its last attempt: drawn as one stretch.
            out.append(TimelineSegment(kind: .step, from: cursor, to: max(cursor, to),
                                       title: "attempt \(attempt) \(status) \(HTML.duration(max(0, to - cursor)))",
                                       extra: status == "failed" ? ["failed"] : []))
        }
        return out
    }
}

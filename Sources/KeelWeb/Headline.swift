import Foundation
import KeelCore

/// The one sentence at the top of a workflow's page: what it is doing now and why, from its
/// `workflow/describe` answer.
enum Headline {
    static func sentence(_ d: JSONValue) -> String {
        let status = d["status"]?.stringValue ?? "unknown"
        let created = d["createdAtMs"]?.int64Value ?? 0
        let updated = d["updatedAtMs"]?.int64Value ?? created
        func message(_ f: JSONValue?) -> String {
            guard let f else { return "no reason recorded" }
            let type = f["type"]?.stringValue.map { "\($0): " } ?? ""
            return type + (f["message"]?.stringValue ?? JSONWriter.string(f))
        }
        switch status {
        case "completed": return "Completed in \(HTML.duration(updated - created))."
        case "failed": return "Failed after \(HTML.duration(updated - created)): \(message(d["failure"]))."
        case "cancelled": return "Cancelled: \(message(d["failure"]))."
        case "terminated": return "Terminated: \(message(d["failure"]))."
        case "timedOut": return "Timed out after \(HTML.duration(updated - created)): \(message(d["failure"]))."
        case "parked":
            return "Parked by a non-determinism error (\(message(d["lastError"]))): fix the workflow code, then resume it or reset it to a step."
        case "pending":
            if let waiting = d["waitingFor"]?.stringValue {
                return "Queued since \(HTML.time(created)): no connected worker serves it (waiting for \(waiting))."
            }
            return "Queued since \(HTML.time(created)), waiting for a free worker slot."
        default:
            break
        }
        var text = step(d["currentStep"], updated: updated) ?? "\(status.capitalized) since \(HTML.time(updated))."
        if let waiting = d["waitingFor"]?.stringValue { text += " No connected worker serves it: waiting for \(waiting)." }
        if d["cancelRequested"]?.boolValue == true { text += " Cancellation was requested." }
        return text
    }

    /// "waiting for signal approve since …", "running step 3: activity billing.charge attempt 2", …
    private static func step(_ s: JSONValue?, updated: Int64) -> String? {
        guard let s, s["status"]?.stringValue == "scheduled" else { return nil }
        let seq = s["seq"]?.int64Value ?? 0
        let kind = s["kind"]?.stringValue ?? "step"
        let name = s["name"]?.stringValue ?? ""
        switch kind {
        case "signal":
            return "Waiting for signal \(name) since \(HTML.time(updated))" + (s["wakeAtMs"]?.int64Value.map { " (gives up at \(HTML.time($0)))" } ?? "") + "."
        case "sleep":
            return "Sleeping at step \(seq) until \(HTML.time(s["wakeAtMs"]?.int64Value))."
        case "child":
            return "Waiting for child workflow \(name) (step \(seq))."
        default:
            let attempts = s["attempts"]?.int64Value ?? 0
            if let next = s["nextAttemptAtMs"]?.int64Value {
                let why = s["lastFailure"].map { ", after \(failureText($0))" } ?? ""
                return "Step \(seq): attempt \(attempts) of \(kind) \(name) failed\(why); attempt \(attempts + 1) at \(HTML.time(next))."
            }
            if attempts == 0 { return "Step \(seq): \(kind) \(name) is queued for a worker." }
            return "Running step \(seq): \(kind) \(name) attempt \(attempts)."
        }
    }

    private static func failureText(_ f: JSONValue) -> String {
        (f["type"]?.stringValue.map { "\($0): " } ?? "") + (f["message"]?.stringValue ?? "")
    }
}

import Foundation
import KeelCore
import KeelProtocol

// Text renderings of the orchestrator's answers. Each shows what the JSON has (issue 13): the last
// failure of a retrying step and its next attempt, a sleep's wake time, child ids,
// `cancelRequested`, times and inputs. A JSON null is never printed as if it were a value.

extension JSONValue {
    /// Self, or nil for JSON null (an absent field and a null one read the same in text).
    var nonNull: JSONValue? {
        // Not `self == .null ? nil : self`: JSONValue is ExpressibleByNilLiteral, so that `nil` is `.null`.
        if case .null = self { return Optional.none }
        return self
    }
}

/// Reads `key` of `value`, treating null as absent.
private func field(_ value: JSONValue?, _ key: String) -> JSONValue? { value?[key]?.nonNull }

/// "2026-12-04T13:45:01.120Z": UTC, so every machine prints the same for the same instant.
func formatTime(_ ms: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
}

/// "Type: message" of a failure object.
func formatFailure(_ f: JSONValue) -> String {
    "\(f["type"]?.stringValue ?? "Error"): \(f["message"]?.stringValue ?? "")"
}

/// One journal entry as a line of text (`keel dev` progress, `keel workflow history`).
func formatEntry(_ e: Wire.HistoryEntry) -> String {
    var line = "#\(e.seq) \(e.kind.rawValue) \(e.name) \(e.status.rawValue)"
    if e.attempts > 1 { line += " after \(e.attempts) attempts" }
    if let c = e.childWorkflowId { line += " (child \(c))" }
    if let r = e.result?.nonNull { line += " → \(abbreviate(JSONWriter.string(r, sortedKeys: true)))" }
    if let f = e.failure { line += " ✗ \(f.type): \(f.message)" }
    if e.status == .scheduled, let w = e.wakeAtMs { line += " wakes \(formatTime(w))" }
    return line
}

/// A history entry: its line, then when it was recorded and ended and what it was given.
func historyLines(_ e: Wire.HistoryEntry) -> [String] {
    var times = "    at     \(formatTime(e.createdAtMs))"
    if let d = e.completedAtMs { times += "  ended \(formatTime(d)) (\(describeMillis(max(0, d - e.createdAtMs))))" }
    var lines = [formatEntry(e), times, "    input  \(abbreviate(JSONWriter.string(e.input, sortedKeys: true)))"]
    if let t = e.taskId { lines.append("    task   \(t)") }
    return lines
}

/// "5, fairness key acme" when work has a priority other than 0 or a fairness key; else nil.
func precedenceText(_ value: JSONValue) -> String? {
    precedenceText(priority: value["priority"]?.int64Value, fairnessKey: field(value, "fairnessKey")?.stringValue)
}

/// The same from typed fields (an absent priority is 0).
func precedenceText(priority: Int64?, fairnessKey key: String?) -> String? {
    let priority = priority ?? 0
    guard priority != 0 || key != nil else { return nil }
    return "\(priority)" + (key.map { ", fairness key \($0)" } ?? "")
}

/// `keel workflow describe` as aligned lines; absent and null fields are left out.
func describeLines(_ d: JSONValue) -> [String] {
    var lines = [
        "workflow  \(d["workflowId"]?.stringValue ?? "")",
        "name      \(d["name"]?.stringValue ?? "")",
        "status    \(d["status"]?.stringValue ?? "")" + (d["cancelRequested"] == true ? "  (cancel requested)" : ""),
    ]
    if let c = field(d, "createdAtMs")?.int64Value {
        lines.append("created   \(formatTime(c))" + (field(d, "updatedAtMs")?.int64Value.map { "  updated \(formatTime($0))" } ?? ""))
    }
    lines.append("runs      \(d["runs"]?.int64Value ?? 0)   steps \(d["steps"]?.int64Value ?? 0)")
    if let p = field(d, "parentId")?.stringValue { lines.append("parent    \(p)") }
    if let b = field(d, "buildId")?.stringValue { lines.append("build     \(b)") }
    if let precedence = precedenceText(d) { lines.append("priority  \(precedence)") }
    if let i = d["input"] { lines.append("input     \(abbreviate(JSONWriter.string(i, sortedKeys: true)))") }
    if let a = field(d, "searchAttributes") { lines.append("search    \(abbreviate(JSONWriter.string(a, sortedKeys: true)))") }
    if let m = field(d, "memo") { lines.append("memo      \(abbreviate(JSONWriter.string(m, sortedKeys: true)))") }
    if let s = field(d, "currentStep") {
        var step = "step      #\(s["seq"]?.int64Value ?? 0) \(s["kind"]?.stringValue ?? "") \(s["name"]?.stringValue ?? "")"
        if let status = field(s, "status")?.stringValue { step += " (\(status))" }
        if let a = field(s, "attempts")?.int64Value { step += " attempts \(a)" }
        lines.append(step)
        if let f = field(s, "lastFailure") { lines.append("          last failure  \(formatFailure(f))") }
        if let n = field(s, "nextAttemptAtMs")?.int64Value { lines.append("          next attempt  \(formatTime(n))") }
        if let w = field(s, "wakeAtMs")?.int64Value { lines.append("          wakes         \(formatTime(w))") }
    }
    if let out = field(d, "output") { lines.append("output    \(JSONWriter.string(out, sortedKeys: true))") }
    if let e = field(d, "lastError") { lines.append("error     \(formatFailure(e))") }
    if let w = field(d, "waitingFor")?.stringValue { lines.append("waiting   for \(w)") }
    for r in d["resets"]?.arrayValue ?? [] {
        lines.append("reset     generation \(r["fromGeneration"]?.int64Value ?? 0) → \(r["toGeneration"]?.int64Value ?? 0) at step "
            + "\(r["toStep"]?.int64Value ?? 0) by \(r["requestedBy"]?.stringValue ?? "")"
            + (field(r, "reason")?.stringValue.map { ": \($0)" } ?? ""))
    }
    return lines
}

/// `keel workflow start` without `--wait`.
func startText(_ a: JSONValue, name: String) -> String {
    let id = a["workflowId"]?.stringValue ?? ""
    let status = a["status"]?.stringValue ?? ""
    let signal = a["signal"].map { $0["duplicate"] == true ? "; the signal was delivered before (same request id)" : "; signalled" } ?? ""
    return a["started"] == false
        ? "workflow \(id) already exists (status \(status)); not started again" + signal
        : "started \(name) as \(id) (status \(status))" + signal
}

/// `keel workflow cancel`: the execution's status after the request.
func cancelText(_ a: JSONValue, id: String) -> String {
    let status = a["status"]?.stringValue ?? ""
    switch status {
    case "cancelled": return "workflow \(id) cancelled"
    case "completed", "failed", "parked", "terminated", "timedOut": return "workflow \(id) had already ended: \(status)"
    default: return "cancel requested for workflow \(id) (status \(status)); its steps see Cancelled"
    }
}

/// `keel workflow resume`.
func resumeText(_ a: JSONValue, id: String) -> String {
    let status = a["status"]?.stringValue ?? ""
    return a["resumed"] == false ? "workflow \(id) is \(status), not parked: nothing to resume" : "workflow \(id) resumed (status \(status))"
}

/// `keel call --no-wait`: the queued task.
func queuedText(_ t: JSONValue) -> String {
    "queued \(t["name"]?.stringValue ?? "") as task \(t["taskId"]?.stringValue ?? "") (status \(t["status"]?.stringValue ?? ""))"
}

/// Prints `answer` as JSON with `--format json`, else its text.
func printAnswer(_ answer: JSONValue, json: Bool, text: (JSONValue) -> String) {
    print(json ? JSONWriter.string(answer, sortedKeys: true) : text(answer))
}

func abbreviate(_ s: String, _ n: Int = 100) -> String { s.count > n ? String(s.prefix(n)) + "…" : s }

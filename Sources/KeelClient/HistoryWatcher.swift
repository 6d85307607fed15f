public import KeelCore

/// Remembers what was seen of a journal, so a poll of `workflow/history` yields only new entries
/// and changed ones (a status or attempt count that moved). Used by `keel workflow history
/// --follow`, `keel dev` and the MCP tool `keel_follow_workflow`.
public struct HistoryWatcher: Sendable {
    private var shown: [Int64: String] = [:]

    public init() {}

    /// Workflow statuses after which an execution never changes (`parked` waits for a person:
    /// following ends there too).
    public static let endStatuses: Set<String> = ["completed", "failed", "cancelled", "parked", "terminated", "timedOut"]

    /// The entries of `history` (a `workflow/history` answer) that are new or changed since the last call.
    public mutating func changes(_ history: JSONValue) -> [JSONValue] {
        var out: [JSONValue] = []
        for e in history["entries"]?.arrayValue ?? [] {
            let seq = e["seq"]?.int64Value ?? 0
            let state = "\(e["status"]?.stringValue ?? "")/\(e["attempts"]?.int64Value ?? 0)"
            if shown[seq] != state {
                shown[seq] = state
                out.append(e)
            }
        }
        return out
    }
}

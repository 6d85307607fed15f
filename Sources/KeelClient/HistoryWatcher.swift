public import KeelCore
public import KeelProtocol

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
        (history["entries"]?.arrayValue ?? []).filter { e in
            changed(
                e["seq"]?.int64Value ?? 0, status: e["status"]?.stringValue ?? "",
                attempts: e["attempts"]?.int64Value ?? 0)
        }
    }

    /// The entries of a typed `workflow/history` answer that are new or changed since the last call.
    public mutating func changes(_ history: WorkflowHistoryResult) -> [Wire.HistoryEntry] {
        history.entries.filter { changed($0.seq, status: $0.status.rawValue, attempts: $0.attempts) }
    }

    /// True (and remembered) when entry `seq` is new or its status or attempt count moved.
    private mutating func changed(_ seq: Int64, status: String, attempts: Int64) -> Bool {
        let state = "\(status)/\(attempts)"
        guard shown[seq] != state else { return false }
        shown[seq] = state
        return true
    }
}

public import KeelCore

/// One schedule (docs/protocol.md, "Schedules"): what it starts and when, and where it is.
public struct ScheduleRecord: Sendable, Equatable {
    public var id: String
    /// `{spec, action, overlap, catchupWindowMs, note?}` as the client gave them, normalized.
    public var definition: JSONValue
    public var paused: Bool
    /// The next slot not yet handled; nil when the spec has no slot left.
    public var nextSlotAt: EpochMillis?
    /// `{lastWorkflowId?, bufferedSlotMs?, started, skipped, recentActions: [...]}`.
    public var state: JSONValue
    /// Raised by every change: an update from an older read is refused (`.stale`).
    public var version: Int
    public var createdAt: EpochMillis
    public var updatedAt: EpochMillis

    public init(
        id: String, definition: JSONValue, paused: Bool, nextSlotAt: EpochMillis?, state: JSONValue, now: EpochMillis
    ) {
        self.id = id
        self.definition = definition
        self.paused = paused
        self.nextSlotAt = nextSlotAt
        self.state = state
        self.version = 1
        self.createdAt = now
        self.updatedAt = now
    }
}

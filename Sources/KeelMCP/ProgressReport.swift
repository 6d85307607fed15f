import KeelCore

/// The `notifications/progress` of one `tools/call` whose `_meta` has a `progressToken`: one
/// per new message (an activity's: when the task's status, attempt or heartbeat details change,
/// a worker's heartbeat reaching the client at the next poll; `keel_follow_workflow`'s: each new
/// or ended step), and at least every `every` while nothing changes (which also keeps a
/// client's request timeout from firing on a long call).
struct ProgressReport {
    let token: JSONValue
    let tool: String
    let every: Duration
    private var sent: Int64 = 0
    private var lastMessage: String?
    private var lastSent: ContinuousClock.Instant?

    init(token: JSONValue, tool: String, every: Duration) {
        self.token = token
        self.tool = tool
        self.every = every
    }

    /// The message to send for the task's state `answer` (an `activity/result`), or nil for none yet.
    mutating func next(_ answer: JSONValue) -> String? {
        next(message: Self.message(tool: tool, answer: answer))
    }

    /// `message` when it differs from the last one sent or the last is `every` old, else nil.
    mutating func next(message: String) -> String? {
        let now = ContinuousClock.now
        if message == lastMessage, let lastSent, now - lastSent < every { return nil }
        lastMessage = message
        lastSent = now
        sent += 1
        return message
    }

    /// The last message again once `every` passed without another (keeps the client's request
    /// timeout from firing while nothing changes), else nil.
    mutating func repeatWhenQuiet() -> String? {
        lastMessage.flatMap { next(message: $0) }
    }

    /// The notification's params for `message` (`progress` counts the notifications sent).
    func params(_ message: String) -> JSONValue {
        ["progressToken": token, "progress": JSONValue(sent), "message": .string(message)]
    }

    /// `TOOL: STATUS, attempt N`, then `: DETAILS` when the running attempt heartbeated details
    /// (a string as is, anything else as JSON).
    static func message(tool: String, answer: JSONValue) -> String {
        let status = answer["status"]?.stringValue ?? "scheduled"
        var text = "\(tool): \(status), attempt \(answer["attempts"]?.int64Value ?? 0)"
        if let details = answer["heartbeatDetails"], !details.isNull {
            text += ": " + (details.stringValue ?? JSONWriter.string(details))
        }
        return text
    }
}

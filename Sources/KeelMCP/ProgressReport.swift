import KeelCore

/// The `notifications/progress` of one `tools/call` whose `_meta` has a `progressToken`: one
/// when the task's status, attempt or heartbeat details change (a worker's heartbeat reaches
/// the client at the next poll), and at least every `every` while nothing changes (which also
/// keeps a client's request timeout from firing on a long call).
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
        let message = Self.message(tool: tool, answer: answer)
        let now = ContinuousClock.now
        if message == lastMessage, let lastSent, now - lastSent < every { return nil }
        lastMessage = message
        lastSent = now
        sent += 1
        return message
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

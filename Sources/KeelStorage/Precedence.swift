public import KeelCore

/// Where a task or an execution waits among the ready work of its name (docs/protocol.md,
/// "Priorities and fairness"): the higher `priority` first; within one priority, round-robin over
/// fairness keys, so one key's 10,000 queued tasks do not starve another key's 10; within one key,
/// first in, first out. Work without a key shares one unnamed key.
public struct Precedence: Sendable, Hashable {
    public var priority: Int
    public var fairnessKey: String?

    public init(priority: Int = 0, fairnessKey: String? = nil) {
        self.priority = priority
        self.fairnessKey = fairnessKey
    }

    /// Priority 0, no key: what work given neither gets.
    public static let standard = Precedence()
    /// The priorities a caller may give.
    public static let priorities = -1000...1000
    /// The longest fairness key, in UTF-8 bytes.
    public static let maximumKeyBytes = 256

    /// `priority` (always) and `fairnessKey` (when set), as results show them.
    public var fields: [String: JSONValue] {
        var fields: [String: JSONValue] = ["priority": JSONValue(priority)]
        if let fairnessKey { fields["fairnessKey"] = .string(fairnessKey) }
        return fields
    }
}

import ArgumentParser
import KeelCore

/// `--priority` and `--fairness-key` of `keel call` and `keel workflow start` (docs/protocol.md,
/// "Priorities and fairness").
struct PrecedenceOptions: ParsableArguments {
    @Option(help: "Priority from -1000 to 1000: higher runs first among the queued work of the same name (default 0).")
    var priority: Int?
    @Option(help: "Fairness key (a customer, a tenant): queued work of one name and priority is handed out round-robin over keys.")
    var fairnessKey: String?

    func validate() throws {
        if let priority, !(-1000...1000).contains(priority) {
            throw ValidationError("--priority must be from -1000 to 1000 (higher runs first); got \(priority)")
        }
        if let fairnessKey, fairnessKey.isEmpty || fairnessKey.utf8.count > 256 {
            throw ValidationError("--fairness-key must be 1 to 256 bytes")
        }
    }

    /// The request params these flags add.
    var params: [String: JSONValue] {
        var p: [String: JSONValue] = [:]
        if let priority { p["priority"] = JSONValue(priority) }
        if let fairnessKey { p["fairnessKey"] = .string(fairnessKey) }
        return p
    }
}

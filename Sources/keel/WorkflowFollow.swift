import ArgumentParser
import KeelClient
import KeelCore

/// `keel workflow follow ID`: prints an execution's stream as it grows, until it has ended.
struct WorkflowFollow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Print a workflow's stream (events its code and activities publish) as it grows, until it ends.",
        discussion: """
            Each event once, in order: `#OFFSET NAME EVENT` (with --format json, one JSON object per line). \
            --after N starts after offset N, e.g. to resume where an earlier follow stopped. Exit status: 0 when \
            the workflow completed, 1 when it ended otherwise, 3 when keel cannot be reached (docs/cli.md).
            """)
    @Argument var workflowId: String
    @Option(help: "Start after this offset (default 0: from the first event).") var after: Int64 = 0
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let (id, after, json) = (workflowId, after, connection.json)
        let status = try await runClient(connection) { client -> String in
            for try await event in client.follow(id, afterOffset: after) {
                say(json ? JSONWriter.string(event, sortedKeys: true) : Self.line(event))
            }
            return try await client.call("workflow/describe", ["workflowId": .string(id)])["status"]?.stringValue ?? ""
        }
        if !json { printError("workflow \(workflowId) \(status)") }
        if status != "completed" { throw ExitCode(1) }
    }

    /// `#3 progress {"step":1}  (activity t-…, attempt 2)`.
    static func line(_ e: JSONValue) -> String {
        var text = "#\(e["offset"]?.int64Value ?? 0) \(e["name"]?.stringValue ?? "event") \(JSONWriter.string(e["event"] ?? .null, sortedKeys: true))"
        if e["source"] == "activity" {
            text += "  (activity \(e["taskId"]?.stringValue ?? "?"), attempt \(e["attempt"]?.int64Value ?? 0))"
        }
        return text
    }
}

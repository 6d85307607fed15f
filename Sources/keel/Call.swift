import ArgumentParser
import Foundation
import KeelClient
import KeelCore

/// `keel call NAME JSON`: a one-shot durable activity call.
struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call an activity by name, durably, and print its output.",
        discussion: "Exit status: 0 completed, 1 failed/timed out/cancelled, 2 bad input, 3 cannot reach keel.")

    @Argument(help: "Activity name, e.g. greet.hello.") var name: String
    @Argument(help: "Input as JSON (default null; '-' reads stdin).") var input: String = "null"
    @Option(help: "Idempotency key: the same key returns the stored result.") var idempotencyKey: String?
    @Option(help: "Start-to-close timeout per attempt, e.g. 30s.") var startToClose: String?
    @Option(help: "Schedule-to-close timeout for the whole call, e.g. 5m.") var scheduleToClose: String?
    @Option(help: "Most attempts (0 = unlimited).") var maxAttempts: Int?
    @Flag(help: "Return at once with the task id instead of waiting.") var noWait = false
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        // The bytes go to the parser as they are: decoding stdin into a String first would replace
        // invalid UTF-8 with U+FFFD and send data the caller never wrote.
        let bytes = input == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile()) : Array(input.utf8)
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch {
            FileHandle.standardError.write(Data("keel call: input is not JSON: \(error)\n".utf8))
            throw ExitCode(2)
        }
        var timeouts: [String: JSONValue] = [:]
        if let startToClose { timeouts["startToCloseMs"] = JSONValue(try parseDuration(startToClose)) }
        if let scheduleToClose { timeouts["scheduleToCloseMs"] = JSONValue(try parseDuration(scheduleToClose)) }
        let retry: JSONValue? = maxAttempts.map { ["maximumAttempts": JSONValue($0)] }
        let timeoutsValue: JSONValue? = timeouts.isEmpty ? nil : .object(timeouts)
        let (name, key, wait) = (name, idempotencyKey, !noWait)
        let result = try await runClient(connection) { client in
            try await client.callActivity(
                name, input: value, idempotencyKey: key, retryPolicy: retry, timeouts: timeoutsValue, wait: wait)
        }
        let status = result["status"]?.stringValue ?? "unknown"
        if connection.json || noWait {
            print(JSONWriter.string(result, sortedKeys: true))
        } else if status == "completed" {
            print(JSONWriter.string(result["output"] ?? .null, sortedKeys: true))
        } else {
            let f = result["failure"]
            FileHandle.standardError.write(Data(
                "keel call: \(name) \(status) after \(result["attempts"]?.int64Value ?? 0) attempt(s): \(f?["type"]?.stringValue ?? "Error"): \(f?["message"]?.stringValue ?? "")\n".utf8))
        }
        if status != "completed" && !(noWait && status == "scheduled" || noWait && status == "running") { throw ExitCode(1) }
    }
}

/// Runs `body` against the orchestrator, turning protocol errors into messages and exit codes.
func runClient<T: Sendable>(_ options: ConnectionOptions, _ body: @escaping @Sendable (KeelClient) async throws -> T) async throws -> T {
    do {
        return try await KeelClient.withClient(options.endpoint, name: "keel-cli", token: try options.fileToken(), body)
    } catch let error as KeelError {
        var line = "keel: \(error.message) (code \(error.code.rpcCode))"
        // The id of the orchestrator's log line with the full error (4001 and internal errors).
        if let incident = error.data?["incident"]?.stringValue { line += " [incident \(incident)]" }
        if let data = error.data, let errors = data["errors"]?.arrayValue {
            for e in errors.prefix(10) {
                line += "\n  at \(e["instanceLocation"]?.stringValue ?? ""): \(e["message"]?.stringValue ?? "")"
            }
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
        throw ExitCode(error.code == .connectionClosed ? 3 : 2)
    }
}

import ArgumentParser
import Foundation
import KeelClient
import KeelCore
import enum KeelProtocol.Wire
import struct KeelProtocol.ActivityResultParams

/// `keel call NAME JSON`: a one-shot durable activity call.
struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call an activity by name, durably, and print its output.",
        discussion: """
            Waits up to --schedule-to-start (default 60 s) for a worker to take the call; if no connected \
            worker serves NAME, says so at once on stderr. Exit status: 0 completed, 1 failed/timed out/cancelled \
            (ScheduleToStartTimeout when no worker took it in time), 2 bad input, 3 cannot reach keel. See docs/cli.md.
            """)

    @Argument(help: "Activity name, e.g. greet.hello.") var name: String
    // `.allUnrecognized`: `keel call n.neg -5` is the number -5, not an unknown option `-5`.
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Input as JSON (default null; '-' reads stdin; a negative number is input).", valueName: "input"))
    var inputs: [String] = []
    var input: String { inputs.first ?? "null" }
    @Option(help: "Idempotency key: the same key returns the stored result.") var idempotencyKey: String?
    @Option(help: "Start-to-close timeout per attempt, e.g. 30s.") var startToClose: String?
    @Option(help: "Schedule-to-close timeout for the whole call, e.g. 5m.") var scheduleToClose: String?
    @Option(
        help: "How long the call may wait for a worker to take it, in seconds or e.g. 500ms, 5m (default 60; 0 = no limit).")
    var scheduleToStart: String = "60"
    @Option(help: "Most attempts (0 = unlimited).") var maxAttempts: Int?
    @Flag(help: "Return at once with the task id instead of waiting.") var noWait = false
    @OptionGroup var precedence: PrecedenceOptions
    @OptionGroup var connection: ConnectionOptions

    /// Statuses after which a task never changes.
    static let endStatuses: Set<String> = ["completed", "failed", "timedOut", "cancelled"]

    func validate() throws { try validateInput(inputs) }

    func run() async throws {
        // The bytes go to the parser as they are: decoding stdin into a String first would replace
        // invalid UTF-8 with U+FFFD and send data the caller never wrote.
        let bytes = input == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile()) : Array(input.utf8)
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch {
            ErrorReport.write("keel call: input is not JSON: \(error)", exitCode: 2, json: connection.json)
            throw ExitCode(2)
        }
        let scheduleToStartMs = try parseSeconds(scheduleToStart)
        let timeouts = Wire.Timeouts(
            startToCloseMs: try startToClose.map(parseDuration), scheduleToStartMs: scheduleToStartMs,
            scheduleToCloseMs: try scheduleToClose.map(parseDuration))
        let retry = maxAttempts.map { Wire.RetryPolicy(maximumAttempts: Int64($0)) }
        let timeoutsValue = timeouts == Wire.Timeouts() ? nil : timeouts
        let (name, key, wait, json) = (name, idempotencyKey, !noWait, connection.json)
        let (priority, fairnessKey) = (precedence.priority, precedence.fairnessKey)
        let waiting = scheduleToStartMs.map { "waiting up to \(describeMillis($0)) for one (--schedule-to-start to change)" }
            ?? "waiting for one with no limit (--schedule-to-start to set one)"
        let result = try await runClient(connection) { client -> JSONValue in
            // Queued without waiting first, so a call nobody can run is reported at once.
            var r = try await client.callActivity(
                name, input: value, idempotencyKey: key, retryPolicy: retry, timeouts: timeoutsValue, priority: priority,
                fairnessKey: fairnessKey, wait: false)
            if let notice = waitingNotice(r, name: name, waiting: waiting) { ErrorReport.notice(notice, json: json) }
            while wait, let id = r["taskId"], !Self.endStatuses.contains(r["status"]?.stringValue ?? "") {
                r = try await client.call(ActivityResultParams(taskId: id.stringValue, waitTimeoutMs: 60_000)).json
            }
            return r
        }
        let status = result["status"]?.stringValue ?? "unknown"
        if connection.json {
            print(JSONWriter.string(result, sortedKeys: true))
        } else if noWait {
            print(queuedText(result))
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

/// Parses a schedule-to-start limit: bare seconds ("60", "0" = none) or a duration ("500ms", "5m").
/// - Returns: milliseconds, or nil for no limit.
func parseSeconds(_ text: String) throws -> Int64? {
    if text == "0" { return nil }
    if let n = Int64(text) {
        guard n > 0, n <= 86_400 * 365 else { throw ValidationError("\(text) seconds is out of range") }
        return n * 1000
    }
    return try parseDuration(text)
}

/// Runs `body` against the orchestrator, turning protocol errors into messages and exit codes.
func runClient<T: Sendable>(_ options: ConnectionOptions, _ body: @escaping @Sendable (KeelClient) async throws -> T) async throws -> T {
    do {
        return try await KeelClient.withClient(endpoints: options.endpoints, name: "keel-cli", token: try options.fileToken(), body)
    } catch let error as KeelError {
        throw ExitCode(ErrorReport.write(error, json: options.json))
    }
}

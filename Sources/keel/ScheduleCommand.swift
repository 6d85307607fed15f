import ArgumentParser
import KeelClient
import KeelCore
// By name: KeelProtocol's `Flag` would shadow ArgumentParser's.
import enum KeelProtocol.Wire
import struct KeelProtocol.ScheduleCreateParams
import struct KeelProtocol.ScheduleDeleteParams
import struct KeelProtocol.ScheduleDescribeParams
import struct KeelProtocol.ScheduleListParams
import struct KeelProtocol.SchedulePauseParams
import struct KeelProtocol.ScheduleTriggerParams
import struct KeelProtocol.ScheduleUnpauseParams

/// `keel schedule …`: start a workflow on a cron expression or an interval (docs/cli.md, "Schedules").
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Start a workflow on a cron expression or an interval, durably.",
        subcommands: [Create.self, List.self, Describe.self, Pause.self, Unpause.self, Trigger.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a schedule.",
            discussion: """
                Each slot starts workflow --workflow with id SCHEDULE_ID-<slot time in UTC>, at most once, \
                across restarts. Give --cron (5 fields or @daily, @hourly …, read in --time-zone) or --every.
                """)
        @Argument(help: "Schedule id.") var scheduleId: String
        @Option(help: "Workflow each slot starts.") var workflow: String
        @Option(help: "The workflow's input as JSON ('-' reads stdin).") var input: String = "null"
        @Option(help: "Cron expression, e.g. '0 9 * * MON-FRI' or @daily.") var cron: String?
        @Option(help: "IANA time zone the cron expression is read in (default UTC).") var timeZone: String?
        @Option(help: "Interval between slots, whole seconds, e.g. 30s, 15m, 1h.") var every: String?
        @Option(help: "Phase of an --every schedule from the epoch, e.g. 5m.") var offset: String?
        @Option(help: "Delay each start by a stable random amount below this, e.g. 30s.") var jitter: String?
        @Option(help: "While the previous slot's workflow runs: skip, bufferOne, allowAll or cancelOther (default skip).")
        var overlap: String?
        @Option(help: "Slots missed for longer than this while Keel was down are skipped (default 365d).")
        var catchupWindow: String?
        @Flag(help: "Create it paused.") var paused = false
        @Option(help: "A note shown with the schedule.") var note: String?
        @OptionGroup var precedence: PrecedenceOptions
        @OptionGroup var connection: ConnectionOptions

        func validate() throws {
            guard (cron == nil) != (every == nil) else { throw ValidationError("give one of --cron and --every") }
            _ = try overlapPolicy(overlap)
        }

        func run() async throws {
            let spec = Wire.ScheduleSpec(
                cron: cron, timeZone: timeZone, intervalMs: try every.map(parseDuration), offsetMs: try offset.map(parseDuration),
                jitterMs: try jitter.map(parseDuration))
            let action = Wire.ScheduleAction(
                workflow: workflow, input: try readJSON(input), priority: precedence.priority.map(Int64.init),
                fairnessKey: precedence.fairnessKey)
            let p = ScheduleCreateParams(
                scheduleId: scheduleId, spec: spec, action: action, overlap: try overlapPolicy(overlap),
                catchupWindowMs: try catchupWindow.map(parseDuration), paused: paused ? true : nil, note: note)
            let answer = try await runClient(connection) { try await $0.call(p).json }
            printAnswer(answer, json: connection.json) { scheduleLines($0).joined(separator: "\n") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List schedules by id.")
        @Option(help: "At most this many (1-1000).") var limit: Int = 100
        @Option(help: "A previous page's nextCursor.") var cursor: String?
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let p = ScheduleListParams(limit: Int64(limit), cursor: cursor)
            let answer = try await runClient(connection) { try await $0.call(p).json }
            printAnswer(answer, json: connection.json) { a in
                let rows = (a["schedules"]?.arrayValue ?? []).map { s in
                    let next = s["nextActionTimeMs"]?.int64Value.map { "next \(formatTime($0))" } ?? ""
                    return "\(s["scheduleId"]?.stringValue ?? "")  \(s["workflow"]?.stringValue ?? "")  \(specText(s["spec"]))  "
                        + (s["paused"] == true ? "paused" : next)
                }
                let more = a["nextCursor"]?.stringValue.map { ["more: --cursor \($0)"] } ?? []
                return (rows.isEmpty ? ["no schedules"] : rows + more).joined(separator: "\n")
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a schedule: its spec, next starts and recent ones.")
        @Argument(help: "Schedule id.") var scheduleId: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let p = ScheduleDescribeParams(scheduleId: scheduleId)
            let answer = try await runClient(connection) { try await $0.call(p).json }
            printAnswer(answer, json: connection.json) { scheduleLines($0).joined(separator: "\n") }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause a schedule: no slot starts until it is unpaused.")
        @Argument(help: "Schedule id.") var scheduleId: String
        @Option(help: "Why (shown with the schedule).") var note: String?
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let p = SchedulePauseParams(scheduleId: scheduleId, note: note)
            let answer = try await runClient(connection) { try await $0.call(p).json }
            printAnswer(answer, json: connection.json) { scheduleLines($0).joined(separator: "\n") }
        }
    }

    struct Unpause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unpause a schedule; the slots that fell while it was paused are not started.")
        @Argument(help: "Schedule id.") var scheduleId: String
        @Option(help: "Why (shown with the schedule).") var note: String?
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let p = ScheduleUnpauseParams(scheduleId: scheduleId, note: note)
            let answer = try await runClient(connection) { try await $0.call(p).json }
            printAnswer(answer, json: connection.json) { scheduleLines($0).joined(separator: "\n") }
        }
    }

    struct Trigger: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start the schedule's workflow now (even when paused).")
        @Argument(help: "Schedule id.") var scheduleId: String
        @Option(help: "Overlap policy for this start (default: the schedule's).") var overlap: String?
        @OptionGroup var connection: ConnectionOptions

        func validate() throws { _ = try overlapPolicy(overlap) }

        func run() async throws {
            let p = ScheduleTriggerParams(scheduleId: scheduleId, overlap: try overlapPolicy(overlap))
            let answer = try await runClient(connection) { try await $0.call(p).json }
            printAnswer(answer, json: connection.json) { a in
                let id = a["workflowId"]?.stringValue ?? ""
                return a["started"] == true ? "started \(id)" : "not started: \(id) (the overlap policy held it, or it exists)"
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a schedule; workflows it started keep running.")
        @Argument(help: "Schedule id.") var scheduleId: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let p = ScheduleDeleteParams(scheduleId: scheduleId)
            let answer = try await runClient(connection) { try await $0.call(p).json }
            printAnswer(answer, json: connection.json) { _ in "deleted schedule \(scheduleId)" }
        }
    }
}

/// `--overlap`: one of the schema's policies, or nil when not given.
private func overlapPolicy(_ text: String?) throws -> Wire.ScheduleOverlap? {
    guard let text else { return nil }
    let policy = Wire.ScheduleOverlap(rawValue: text)
    guard policy.isKnown else {
        let names = Wire.ScheduleOverlap.allCases.map(\.rawValue).joined(separator: ", ")
        throw ValidationError("--overlap must be one of \(names); got \(text)")
    }
    return policy
}

/// `cron "0 9 * * *" in Europe/Paris` or `every 3600 s`, plus jitter.
private func specText(_ spec: JSONValue?) -> String {
    var text: String
    if let cron = spec?["cron"]?.stringValue {
        text = "cron \"\(cron)\" in \(spec?["timeZone"]?.stringValue ?? "UTC")"
    } else {
        text = "every \(durationText(spec?["intervalMs"]?.int64Value ?? 0))"
        if let offset = spec?["offsetMs"]?.int64Value, offset > 0 { text += " offset \(durationText(offset))" }
    }
    if let jitter = spec?["jitterMs"]?.int64Value, jitter > 0 { text += " jitter \(durationText(jitter))" }
    return text
}

/// `365 d`, `2 h`, `15 min`, `30 s` or `250 ms`: the largest unit that divides `ms`.
private func durationText(_ ms: Int64) -> String {
    for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("min", 60_000), ("s", 1000)] where ms > 0 && ms % size == 0 {
        return "\(ms / size) \(unit)"
    }
    return "\(ms) ms"
}

/// `keel schedule describe` as aligned lines.
private func scheduleLines(_ s: JSONValue) -> [String] {
    var lines = [
        "schedule  \(s["scheduleId"]?.stringValue ?? "")",
        "workflow  \(s["action"]?["workflow"]?.stringValue ?? "")",
        "spec      \(specText(s["spec"]))",
        "overlap   \(s["overlap"]?.stringValue ?? "")   catch-up window \(durationText(s["catchupWindowMs"]?.int64Value ?? 0))",
        "status    \(s["paused"] == true ? "paused" : "active")",
    ]
    if let note = s["note"]?.stringValue { lines.append("note      \(note)") }
    let next = (s["nextActionTimesMs"]?.arrayValue ?? []).compactMap(\.int64Value).map(formatTime)
    if !next.isEmpty { lines.append("next      \(next.joined(separator: ", "))") }
    lines.append("started   \(s["started"]?.int64Value ?? 0)   skipped \(s["skipped"]?.int64Value ?? 0)")
    if let running = s["runningWorkflowId"]?.stringValue { lines.append("running   \(running)") }
    if let buffered = s["bufferedSlotMs"]?.int64Value { lines.append("buffered  slot \(formatTime(buffered))") }
    for action in s["recentActions"]?.arrayValue ?? [] {
        lines.append("recent    \(action["workflowId"]?.stringValue ?? "") at \(formatTime(action["startedAtMs"]?.int64Value ?? 0))")
    }
    if let error = s["lastError"], let message = error["message"]?.stringValue {
        lines.append("error     slot \(formatTime(error["slotMs"]?.int64Value ?? 0)): \(message)")
    }
    return lines
}

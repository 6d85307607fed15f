import ArgumentParser
import Foundation
import KeelClient
import KeelCore
import struct KeelProtocol.WorkflowListParams

/// `keel workflow list`: newest first with a time column, filters on status, name and creation time.
struct WorkflowList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List workflows, newest first, with filters and paging.",
        discussion: """
            --created-after and --created-before take a UTC time (2026-12-04T13:00:00Z or 2026-12-04) or a \
            duration meaning that long ago (30m, 2h, 7d). The next page's cursor is printed on stderr.
            """)
    @Option(help: "pending, running, suspended, completed, failed, cancelled, parked, terminated or timedOut.") var status: String?
    @Option(help: "Workflow name.") var name: String?
    @Option(help: "Only workflows created at or after this time (a UTC time, or e.g. 2h for two hours ago).")
    var createdAfter: String?
    @Option(help: "Only workflows created before this time (a UTC time, or e.g. 2h for two hours ago).")
    var createdBefore: String?
    @Flag(help: "Oldest first instead of newest first.") var oldestFirst = false
    @Option(help: "At most this many (1-1000).") var limit: Int = 100
    @Option(help: "Continue from a previous page's cursor (with the same order).") var cursor: String?
    @Option(help: """
        Which workflows, by fields and search attributes: e.g. 'customer = "acme" AND startedAt > "2026-12-01"' \
        (=, !=, <, <=, >, >=, IN (…), STARTS_WITH; AND, OR, NOT, parentheses; docs/cli.md).
        """)
    var query: String?
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let params = WorkflowListParams(
            status: status.map(WorkflowListParams.Status.init(rawValue:)), name: name,
            createdAfterMs: try createdAfter.map { try parseInstant($0, now: now) },
            createdBeforeMs: try createdBefore.map { try parseInstant($0, now: now) },
            order: oldestFirst ? .oldest : .newest, limit: Int64(limit), cursor: cursor, query: query)
        let answer = try await runClient(connection) { try await $0.call(params).json }
        if connection.json {
            print(JSONWriter.string(answer, sortedKeys: true))
            return
        }
        let rows = (answer["workflows"]?.arrayValue ?? []).map { w in
            [
                w["createdAtMs"]?.int64Value.map(formatTime) ?? "", w["workflowId"]?.stringValue ?? "",
                w["name"]?.stringValue ?? "", w["status"]?.stringValue ?? "",
            ]
        }
        for line in alignedColumns(["CREATED (UTC)", "WORKFLOW", "NAME", "STATUS"], rows) { print(line) }
        // On stderr: stdout stays the table alone, for `| wc -l`, `| awk` and the like.
        if let next = answer["nextCursor"]?.stringValue { printError("next page: --cursor \(next)") }
        for unknown in answer["unknownAttributes"]?.arrayValue ?? [] {
            let key = unknown["key"]?.stringValue ?? "?"
            let close = (unknown["suggestions"]?.arrayValue ?? []).compactMap(\.stringValue)
            printError("no workflow has a search attribute named \(key)" + (close.isEmpty ? "" : " (did you mean \(close.joined(separator: " or "))?)"))
        }
    }
}

/// Parses a point in time: RFC 3339 (`2026-12-04T13:00:00Z`, fractional seconds allowed), a
/// UTC date (`2026-12-04`), or a duration before `now` (`30m`, `2h`, `7d`).
/// - Returns: epoch milliseconds.
/// - Throws: `ValidationError` naming the accepted forms.
func parseInstant(_ text: String, now: Int64) throws -> Int64 {
    let full = ISO8601DateFormatter()
    let fractional = ISO8601DateFormatter()
    fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    let day = ISO8601DateFormatter()
    day.formatOptions = [.withFullDate]
    day.timeZone = TimeZone(identifier: "UTC")
    for formatter in [full, fractional, day] {
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    }
    if let ago = try? parseDuration(text), !text.allSatisfy(\.isNumber) { return max(0, now - ago) }
    throw ValidationError("\(text) is not a time; use e.g. 2026-12-04T13:00:00Z, 2026-12-04, or 2h for two hours ago")
}

/// Rows padded so every column lines up, whatever the widths of its cells (a header first);
/// no trailing spaces when the last cells are empty.
func alignedColumns(_ header: [String], _ rows: [[String]]) -> [String] {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0.indices.contains(i) ? $0[i].count : 0 }.max() ?? 0 }
    return all.map { row in
        let line = row.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
        return String(line.joined(separator: "  ").reversed().drop { $0 == " " }.reversed())
    }
}

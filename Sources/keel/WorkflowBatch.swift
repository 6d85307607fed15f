import ArgumentParser
import Foundation
import KeelClient
import KeelCore
import struct KeelProtocol.WorkflowBatchParams

/// `--query` on `keel workflow cancel|signal|terminate`: act on every workflow a query matches
/// (docs/cli.md, "Batch operations"). A dry run counts first; acting needs `--yes`.
///
/// A command takes it with `@OptionGroup var batch: BatchOptions` and starts its `run()` with
/// `if batch.query != nil { return try await runBatch("terminate", batch, connection: connection, reason: reason) }`.
struct BatchOptions: ParsableArguments {
    @Option(help: "Act on every workflow this matches, e.g. 'status=running AND name=orders.*' (docs/cli.md).")
    var query: String?

    @Flag(help: "With --query: count the matches, change nothing.")
    var dryRun = false

    @Flag(help: "With --query: act without asking (needed when stdin is not a terminal).")
    var yes = false

    func validate() throws {
        if query == nil, dryRun || yes { throw ValidationError("--dry-run and --yes go with --query") }
    }
}

/// The exit status when `--query` matched workflows but neither `--yes` nor a terminal's "y" confirmed.
let batchUnconfirmedExitCode: Int32 = 2

/// Runs `operation` over the workflows `batch.query` matches: a dry run over every page first,
/// then, once confirmed, the operation page by page. Exits 1 when some workflow failed.
func runBatch(
    _ operation: String, _ batch: BatchOptions, connection: ConnectionOptions, reason: String?,
    signal: WorkflowBatchParams.Signal? = nil
) async throws {
    guard let query = batch.query else { return }
    let base = WorkflowBatchParams(
        operation: .init(rawValue: operation), query: query, dryRun: true, signal: signal, reason: reason)
    let count = try await batchPages(base, dryRun: true, connection: connection)
    let matched = count["matched"]?.int64Value ?? 0
    let sample = (count["sample"]?.arrayValue ?? []).compactMap(\.stringValue)
    let summary = "\(matched) workflow\(matched == 1 ? "" : "s") match \(query)"
        + (sample.isEmpty ? "" : ": \(sample.joined(separator: ", "))\(matched > Int64(sample.count) ? ", …" : "")")
    if batch.dryRun || matched == 0 {
        if connection.json { print(JSONWriter.string(count, sortedKeys: true)) } else { print(summary) }
        return
    }
    printError(summary)
    if !batch.yes, !confirm("\(operation) \(matched) workflow\(matched == 1 ? "" : "s")?") {
        printError("keel: nothing done; add --yes to \(operation) them")
        throw ExitCode(batchUnconfirmedExitCode)
    }
    let done = try await batchPages(base, dryRun: false, connection: connection)
    let failed = done["failedCount"]?.int64Value ?? 0
    if connection.json {
        print(JSONWriter.string(done, sortedKeys: true))
    } else {
        print("\(operation): \(done["applied"]?.int64Value ?? 0) applied, \(done["skipped"]?.int64Value ?? 0) skipped (already ended), "
            + "\(failed) failed of \(done["matched"]?.int64Value ?? 0) matched")
        for f in done["failed"]?.arrayValue ?? [] {
            printError("  \(f["workflowId"]?.stringValue ?? ""): \(f["error"]?["message"]?.stringValue ?? "") (code \(f["error"]?["code"]?.int64Value ?? 0))")
        }
    }
    if failed > 0 { throw ExitCode(1) }
}

/// Follows `nextCursor` to the end and adds the pages up.
private func batchPages(_ base: WorkflowBatchParams, dryRun: Bool, connection: ConnectionOptions) async throws
    -> JSONValue
{
    try await runClient(connection) { client in
        var params = base
        params.dryRun = dryRun
        var total: [String: Int64] = ["matched": 0, "applied": 0, "skipped": 0, "failedCount": 0]
        var failed: [JSONValue] = [], sample: [JSONValue] = []
        while true {
            let page = try await client.call(WorkflowBatchParams.method, params.json)
            for key in total.keys { total[key, default: 0] += page[key]?.int64Value ?? 0 }
            failed += page["failed"]?.arrayValue ?? []
            sample += (page["sample"]?.arrayValue ?? []).prefix(max(0, 10 - sample.count))
            guard let next = page["nextCursor"]?.stringValue else { break }
            params.cursor = next
        }
        var o: [String: JSONValue] = total.mapValues { JSONValue($0) }
        o["operation"] = base.operation.json
        o["query"] = .string(base.query)
        o["dryRun"] = .bool(dryRun)
        o["failed"] = .array(failed)
        if dryRun { o["sample"] = .array(sample) }
        return .object(o)
    }
}

/// Asks on the terminal; false when stdin is not one (scripts must say --yes).
private func confirm(_ question: String) -> Bool {
    guard isatty(STDIN_FILENO) == 1 else { return false }
    FileHandle.standardError.write(Data("\(question) [y/N] ".utf8))
    return ["y", "yes"].contains(readLine()?.trimmingCharacters(in: .whitespaces).lowercased() ?? "")
}

import ArgumentParser
import Foundation
import KeelClient
import KeelCore
import struct KeelProtocol.WorkflowHistoryParams
import struct KeelProtocol.WorkflowHistoryResult

/// `keel workflow history`: the journal with times, attempts, inputs and results; `--follow`
/// watches a run live.
struct WorkflowHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Print a workflow's journal: every step with times, attempts, inputs and results.",
        discussion: """
            --follow polls every --interval, prints each new or changed step as it happens, and ends when the \
            workflow ends (exit 0 completed, 1 failed, cancelled or parked). With --format json, --follow prints \
            JSON Lines: each changed entry, then the final history.
            """)
    @Argument var workflowId: String
    @Option(help: "An older generation (a run replaced by continue-as-new or reset); default the current one.") var generation: Int?
    @Flag(help: "Keep watching: print steps as they happen until the workflow ends.") var follow = false
    @Option(help: "How often --follow polls, e.g. 500ms.") var interval = "500ms"
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        // 50 ms at least: a tighter poll only loads the orchestrator; an hour at most.
        guard (50...3_600_000).contains(try parseDuration(interval)) else {
            throw ValidationError("--interval must be from 50ms to 1h")
        }
    }

    /// Statuses after which an execution never changes (`parked` waits for a person: following ends too).
    static let endStatuses = HistoryWatcher.endStatuses

    /// How an execution that did not complete ended (a terminate's reason, a timeout), if it did.
    static func endedLine(_ h: WorkflowHistoryResult) -> String? {
        guard let f = h.failure else { return nil }
        return "ended \(h.status?.rawValue ?? ""): \(f.type): \(f.message)"
    }

    func run() async throws {
        let json = connection.json
        let pollMs = try parseDuration(interval)
        guard follow else {
            let params = WorkflowHistoryParams(workflowId: workflowId, generation: generation.map(Int64.init))
            let h = try await runClient(connection) { try await $0.call(params) }
            if json { print(JSONWriter.string(h.json, sortedKeys: true)); return }
            print(Self.header(h))
            let events = h.events ?? []
            for e in events where e.type == .resetFrom { print("↺ \(e.message)") }
            for e in h.entries { historyLines(e).forEach { print($0) } }
            for e in events where e.type == .resetTo { print("↺ \(e.message)") }
            if let ended = Self.endedLine(h) { print(ended) }
            return
        }
        let final = try await runClient(connection) { client -> WorkflowHistoryResult in
            var watcher = HistoryWatcher()
            var first = true
            while true {
                let h = try await client.call(WorkflowHistoryParams(workflowId: workflowId))
                if first, !json { say(Self.header(h)) }
                first = false
                for e in watcher.changes(h) {
                    if json { say(JSONWriter.string(e.json, sortedKeys: true)) } else { historyLines(e).forEach(say) }
                }
                if Self.endStatuses.contains(h.status?.rawValue ?? "") { return h }
                try await Task.sleep(for: .milliseconds(pollMs))
            }
        }
        let status = final.status?.rawValue ?? ""
        if json {
            say(JSONWriter.string(final.json, sortedKeys: true))
        } else {
            say("workflow \(workflowId) \(status)")
        }
        if status != "completed" { throw ExitCode(1) }
    }

    static func header(_ h: WorkflowHistoryResult) -> String {
        "\(h.workflowId) \(h.name ?? "") \(h.status?.rawValue ?? "") (run \(h.runId)"
            + (h.generation.map { ", generation \($0))" } ?? ")")
    }
}

import ArgumentParser
import Foundation
import KeelClient
import KeelCore
import struct KeelProtocol.ActivityCancelParams
import struct KeelProtocol.ActivityListParams
import struct KeelProtocol.ActivityResultParams

/// `keel task …`: see and cancel activity calls that are queued or running (issue 13).
struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task",
        abstract: "List, describe and cancel queued and running activity calls.",
        subcommands: [List.self, Describe.self, Cancel.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List open activity tasks (queued and running), oldest first.")
        @Option(help: "scheduled or running.") var status: String?
        @Option(help: "Activity name.") var name: String?
        @Option(help: "At most this many (1-1000).") var limit: Int = 100
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let params = ActivityListParams(
                status: status.map(ActivityListParams.Status.init(rawValue:)), name: name, limit: Int64(limit))
            let answer = try await runClient(connection) { try await $0.call(params) }
            if connection.json { print(JSONWriter.string(answer.json, sortedKeys: true)); return }
            let tasks = answer.tasks
            let width = tasks.map { ($0.name ?? "").count }.max() ?? 0
            for t in tasks {
                let name = t.name ?? ""
                var line = "\(t.taskId)  \(t.status.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))"
                line += "  \(name.padding(toLength: width, withPad: " ", startingAt: 0))  attempts \(t.attempts ?? 0)"
                if t.waitingForWorker == true { line += "  (no worker serves it)" }
                if let w = t.workflowId { line += "  workflow \(w)" }
                if let precedence = precedenceText(priority: t.priority, fairnessKey: t.fairnessKey) {
                    line += "  priority \(precedence)"
                }
                print(line)
            }
            if answer.count > tasks.count {
                printError("\(answer.count - Int64(tasks.count)) more: use --limit, --status or --name")
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a task's status, attempts, last failure and output.")
        @Argument var taskId: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let params = ActivityResultParams(taskId: taskId, waitTimeoutMs: 0)
            let t = try await runClient(connection) { try await $0.call(params).json }
            if connection.json { print(JSONWriter.string(t, sortedKeys: true)); return }
            print("task      \(t["taskId"]?.stringValue ?? "")")
            print("name      \(t["name"]?.stringValue ?? "")")
            print("status    \(t["status"]?.stringValue ?? "")")
            print("attempts  \(t["attempts"]?.int64Value ?? 0)")
            if let out = t["output"] { print("output    \(JSONWriter.string(out, sortedKeys: true))") }
            if let f = t["failure"], f != .null {
                print("failure   \(f["type"]?.stringValue ?? "Error"): \(f["message"]?.stringValue ?? "")")
            }
            if t["waitingForWorker"] == true {
                let s = (t["suggestions"]?.arrayValue ?? []).compactMap(\.stringValue)
                print("waiting   for a worker for \(t["name"]?.stringValue ?? "")" + (s.isEmpty ? "" : " (did you mean \(s.joined(separator: " or "))?)"))
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a queued or running task (a running attempt is told to stop).",
            discussion: "Exit status: 0 cancelled (or already ended: its status is printed), 2 no such task, 3 cannot reach keel.")
        @Argument var taskId: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let params = ActivityCancelParams(taskId: taskId)
            let t = try await runClient(connection) { try await $0.call(params).json }
            if connection.json { print(JSONWriter.string(t, sortedKeys: true)); return }
            let status = t["status"]?.stringValue ?? ""
            print(status == "cancelled" ? "task \(taskId) cancelled" : "task \(taskId) had already ended: \(status)")
        }
    }
}

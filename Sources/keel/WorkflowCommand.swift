import ArgumentParser
import Foundation
import KeelClient
import KeelCore

/// `keel workflow …`: drive and inspect workflow executions.
struct WorkflowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflow",
        abstract: "Start, signal, cancel and inspect workflow executions.",
        subcommands: [
            Start.self, Result.self, Signal.self, Cancel.self, Terminate.self, Describe.self, List.self, History.self, Resume.self,
        ])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a workflow (idempotent by id).")
        @Argument(help: "Workflow name.") var name: String
        @Argument(help: "Input as JSON ('-' reads stdin).") var input: String = "null"
        @Option(name: .customLong("id"), help: "Workflow id (default: generated).") var workflowId: String?
        @Flag(help: "Fail if the id exists instead of returning the existing execution.") var failIfExists = false
        @Flag(help: "Wait for the result and print it.") var wait = false
        @OptionGroup var timeouts: WorkflowTimeoutOptions
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            var params: [String: JSONValue] = ["name": .string(name), "input": try readJSON(input)]
            params.merge(try timeouts.params()) { _, new in new }
            if let workflowId { params["workflowId"] = .string(workflowId) }
            if failIfExists { params["conflictPolicy"] = "fail" }
            let p = JSONValue.object(params)
            let wait = self.wait
            let answer = try await runClient(connection) { client -> JSONValue in
                let started = try await client.call("workflow/start", p)
                let waiting = "it stays pending until one connects (`keel workflow cancel` to drop it)"
                if let notice = waitingNotice(started, name: "workflow \(name)", waiting: waiting) { printError(notice) }
                guard wait, let id = started["workflowId"] else { return started }
                return try await waitForResult(client, id)
            }
            try printResult(answer, json: connection.json || !wait)
        }
    }

    struct Result: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Wait for a workflow's result.",
            discussion: """
                Exit status: 0 completed, 1 failed/cancelled/parked/terminated/timedOut, 2 bad input, 3 cannot reach keel, \
                4 still running when --timeout passed. See docs/cli.md.
                """)
        /// The exit status when `--timeout` passes before the workflow ends (docs/cli.md).
        static let stillRunningExitCode: Int32 = 4
        /// Statuses of an execution that has not ended.
        static let openStatuses: Set<String> = ["pending", "running", "suspended"]
        @Argument var workflowId: String
        @Option(help: "How long to wait, e.g. 30s (default: until it ends).") var timeout: String?
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let id = JSONValue.string(workflowId)
            let timeoutMs = try timeout.map(parseDuration)
            let answer = try await runClient(connection) { client in
                if let timeoutMs { return try await client.call("workflow/result", ["workflowId": id, "waitTimeoutMs": JSONValue(timeoutMs)]) }
                return try await waitForResult(client, id)
            }
            let status = answer["status"]?.stringValue ?? ""
            if let timeoutMs, Self.openStatuses.contains(status) {
                if connection.json { print(JSONWriter.string(answer, sortedKeys: true)) }
                printError("keel: workflow \(workflowId) is still running (status \(status)); waited \(describeMillis(timeoutMs))")
                throw ExitCode(Self.stillRunningExitCode)
            }
            try printResult(answer, json: connection.json)
        }
    }

    struct Signal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a signal to a workflow (stored durably, delivered in order).")
        @Argument var workflowId: String
        @Argument var name: String
        @Argument(help: "Payload as JSON.") var payload: String = "null"
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let p: JSONValue = ["workflowId": .string(workflowId), "name": .string(name), "payload": try readJSON(payload)]
            let answer = try await runClient(connection) { try await $0.call("workflow/signal", p) }
            print(connection.json ? JSONWriter.string(answer, sortedKeys: true) : "signal \(name) delivered to \(workflowId)")
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a workflow: its steps see Cancelled and may compensate.")
        @Argument var workflowId: String
        @Option(help: "Why, recorded in the failure.") var reason: String?
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            var p: [String: JSONValue] = ["workflowId": .string(workflowId)]
            if let reason { p["reason"] = .string(reason) }
            let params = JSONValue.object(p)
            let answer = try await runClient(connection) { try await $0.call("workflow/cancel", params) }
            print(JSONWriter.string(answer, sortedKeys: true))
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a workflow's status, current step, runs and last error.")
        @Argument var workflowId: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let id = JSONValue.string(workflowId)
            let d = try await runClient(connection) { try await $0.call("workflow/describe", ["workflowId": id]) }
            if connection.json { print(JSONWriter.string(d, sortedKeys: true)); return }
            print("workflow  \(d["workflowId"]?.stringValue ?? "")")
            print("name      \(d["name"]?.stringValue ?? "")")
            print("status    \(d["status"]?.stringValue ?? "")")
            print("runs      \(d["runs"]?.int64Value ?? 0)   steps \(d["steps"]?.int64Value ?? 0)")
            if let s = d["currentStep"] {
                print("step      #\(s["seq"]?.int64Value ?? 0) \(s["kind"]?.stringValue ?? "") \(s["name"]?.stringValue ?? "") (\(s["status"]?.stringValue ?? ""))"
                    + (s["attempts"].map { " attempts \($0)" } ?? ""))
            }
            if let out = d["output"] { print("output    \(JSONWriter.string(out, sortedKeys: true))") }
            if let e = d["lastError"] { print("error     \(e["type"]?.stringValue ?? ""): \(e["message"]?.stringValue ?? "")") }
            if let w = d["waitingFor"]?.stringValue { print("waiting   for \(w)") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List workflows, oldest first, with filters and paging.")
        @Option(help: "pending, running, suspended, completed, failed, cancelled, parked, terminated or timedOut.") var status: String?
        @Option(help: "Workflow name.") var name: String?
        @Option(help: "At most this many (1-1000).") var limit: Int = 100
        @Option(help: "Continue from a previous page's cursor.") var cursor: String?
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            var p: [String: JSONValue] = ["limit": JSONValue(limit)]
            if let status { p["status"] = .string(status) }
            if let name { p["name"] = .string(name) }
            if let cursor { p["cursor"] = .string(cursor) }
            let params = JSONValue.object(p)
            let answer = try await runClient(connection) { try await $0.call("workflow/list", params) }
            if connection.json { print(JSONWriter.string(answer, sortedKeys: true)); return }
            for w in answer["workflows"]?.arrayValue ?? [] {
                print("\(w["workflowId"]?.stringValue ?? "")\t\(w["name"]?.stringValue ?? "")\t\(w["status"]?.stringValue ?? "")")
            }
            if let next = answer["nextCursor"]?.stringValue { print("next page: --cursor \(next)") }
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a workflow's journal: every step with times, attempts, inputs and results.")
        @Argument var workflowId: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let id = JSONValue.string(workflowId)
            let h = try await runClient(connection) { try await $0.call("workflow/history", ["workflowId": id]) }
            if connection.json { print(JSONWriter.string(h, sortedKeys: true)); return }
            print("\(h["workflowId"]?.stringValue ?? "") \(h["name"]?.stringValue ?? "") \(h["status"]?.stringValue ?? "") (run \(h["runId"]?.int64Value ?? 0))")
            for e in h["entries"]?.arrayValue ?? [] { print(formatEntry(e)) }
            // How it ended when it did not complete: a terminate's reason, a timeout.
            if let f = h["failure"] {
                print("ended \(h["status"]?.stringValue ?? ""): \(f["type"]?.stringValue ?? ""): \(f["message"]?.stringValue ?? "")")
            }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a parked workflow again (after fixing a non-determinism).")
        @Argument var workflowId: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let id = JSONValue.string(workflowId)
            let answer = try await runClient(connection) { try await $0.call("workflow/resume", ["workflowId": id]) }
            print(JSONWriter.string(answer, sortedKeys: true))
        }
    }
}

/// One journal entry as a line of text.
func formatEntry(_ e: JSONValue) -> String {
    let seq = e["seq"]?.int64Value ?? 0
    var line = "#\(seq) \(e["kind"]?.stringValue ?? "") \(e["name"]?.stringValue ?? "") \(e["status"]?.stringValue ?? "")"
    if let a = e["attempts"]?.int64Value, a > 1 { line += " after \(a) attempts" }
    if let r = e["result"] { line += " → \(abbreviate(JSONWriter.string(r, sortedKeys: true)))" }
    if let f = e["failure"] { line += " ✗ \(f["type"]?.stringValue ?? ""): \(f["message"]?.stringValue ?? "")" }
    return line
}

func abbreviate(_ s: String, _ n: Int = 100) -> String { s.count > n ? String(s.prefix(n)) + "…" : s }

/// Parses JSON given on the command line, or stdin for "-".
func readJSON(_ text: String) throws -> JSONValue {
    let source = text == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : text
    do { return try JSONParser.parse(source) } catch {
        FileHandle.standardError.write(Data("keel: not JSON: \(error)\n".utf8))
        throw ExitCode(2)
    }
}

/// Waits for a workflow to end, in bounded slices.
func waitForResult(_ client: KeelClient, _ id: JSONValue) async throws -> JSONValue {
    while true {
        let r = try await client.call("workflow/result", ["workflowId": id, "waitTimeoutMs": 60_000])
        if let s = r["status"]?.stringValue, ["completed", "failed", "cancelled", "parked", "terminated", "timedOut"].contains(s) {
            return r
        }
    }
}

/// Prints a result; exits 1 unless it completed (or is just a start acknowledgement).
func printResult(_ r: JSONValue, json: Bool) throws {
    let status = r["status"]?.stringValue ?? ""
    if json || r["started"] != nil {
        print(JSONWriter.string(r, sortedKeys: true))
    } else if status == "completed" {
        print(JSONWriter.string(r["output"] ?? .null, sortedKeys: true))
    } else {
        let f = r["failure"]
        FileHandle.standardError.write(Data("keel: workflow \(status): \(f?["type"]?.stringValue ?? ""): \(f?["message"]?.stringValue ?? "")\n".utf8))
    }
    if r["started"] == nil, !["completed", "pending", "running", "suspended"].contains(status) { throw ExitCode(1) }
}

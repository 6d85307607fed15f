import ArgumentParser
import Foundation
import KeelClient
import KeelCore
import struct KeelProtocol.WorkflowStartParams
import struct KeelProtocol.WorkflowResultParams
import struct KeelProtocol.WorkflowCancelParams
import struct KeelProtocol.WorkflowBatchParams
import struct KeelProtocol.WorkflowDescribeParams
import struct KeelProtocol.WorkflowQueryParams
import struct KeelProtocol.WorkflowResumeParams

/// `keel workflow …`: drive and inspect workflow executions.
struct WorkflowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflow",
        abstract: "Start, signal, cancel and inspect workflow executions.",
        subcommands: [
            Start.self, Result.self, Signal.self, Query.self, Update.self, Cancel.self, Terminate.self, Describe.self, WorkflowList.self,
            WorkflowHistory.self, WorkflowFollow.self, Resume.self, Reset.self,
        ])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a workflow (idempotent by id).")
        @Argument(help: "Workflow name.") var name: String
        @Argument(help: "Input as JSON ('-' reads stdin).") var input: String = "null"
        @Option(name: .customLong("id"), help: "Workflow id (default: generated).") var workflowId: String?
        @Flag(help: "Fail if the id exists instead of returning the existing execution.") var failIfExists = false
        @Flag(help: "Wait for the result and print it.") var wait = false
        @OptionGroup var timeouts: WorkflowTimeoutOptions
        @OptionGroup var precedence: PrecedenceOptions
        @Option(name: .customLong("search-attribute"),
            help: "key=value, repeatable: a search attribute that `keel workflow list --query` finds it by (42 and true are typed; other values are text).")
        var searchAttributes: [String] = []
        @Option(help: "A memo shown with the workflow, as a JSON object.") var memo: String?
        @Option(help: "Signal-with-start: also send this signal, in the start's transaction; an open workflow with the id is signalled instead.")
        var signal: String?
        @Option(help: "The payload of --signal, as JSON.") var signalPayload: String?
        @OptionGroup var connection: ConnectionOptions

        func validate() throws {
            if signalPayload != nil, signal == nil { throw ValidationError("--signal-payload needs --signal NAME") }
            if signal != nil, failIfExists { throw ValidationError("--signal signals the workflow the id already has; drop --fail-if-exists") }
        }

        func run() async throws {
            var p = WorkflowStartParams(
                name: name, input: try readJSON(input), workflowId: workflowId, conflictPolicy: failIfExists ? .fail : nil,
                executionTimeoutMs: try timeouts.executionTimeoutMs(), runTimeoutMs: try timeouts.runTimeoutMs(),
                priority: precedence.priority.map(Int64.init), fairnessKey: precedence.fairnessKey,
                memo: try memo.map(readJSON))
            if !searchAttributes.isEmpty { p.searchAttributes = try parseSearchAttributes(searchAttributes).objectValue?.dictionary }
            if let signal {
                // A fixed request id: a retry of this command after a lost answer delivers once.
                p.signal = .init(
                    name: signal, payload: try signalPayload.map(readJSON) ?? .null, requestId: UUID().uuidString.lowercased())
            }
            let params = p
            let wait = self.wait
            let answer = try await runClient(connection) { client -> JSONValue in
                let started = try await client.call(params)
                let waiting = "it stays pending until one connects (`keel workflow cancel` to drop it)"
                if let notice = waitingNotice(started.json, name: "workflow \(name)", waiting: waiting) { printError(notice) }
                guard wait else { return started.json }
                return try await waitForResult(client, .string(started.workflowId))
            }
            if wait { try printResult(answer, json: connection.json) } else { printAnswer(answer, json: connection.json) { startText($0, name: name) } }
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
            let answer = try await runClient(connection) { [workflowId] client in
                if let timeoutMs {
                    return try await client.call(WorkflowResultParams(workflowId: workflowId, waitTimeoutMs: timeoutMs)).json
                }
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
        static let configuration = CommandConfiguration(
            abstract: "Send a signal to a workflow (stored durably, delivered in order).",
            discussion: "With --query the arguments are NAME [PAYLOAD] and every matching open workflow gets the signal.")
        @Argument var workflowId: String
        @Argument var name: String?
        @Argument(help: "Payload as JSON.") var payload: String = "null"
        @Option(help: "Deduplicates the signal: sent again with the same id, it is delivered once (default: a new id).")
        var requestId: String?
        @OptionGroup var batch: BatchOptions
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            if batch.query != nil {
                // No workflow id then: the first argument is the signal's name, the second its payload.
                let signal = WorkflowBatchParams.Signal(name: workflowId, payload: try readJSON(name ?? "null"))
                return try await runBatch("signal", batch, connection: connection, reason: nil, signal: signal)
            }
            guard let name else { throw ValidationError("give the signal's name after the workflow id") }
            let p = SignalParams.typed(workflowId: workflowId, name: name, payload: try readJSON(payload), requestId: requestId)
            let answer = try await runClient(connection) { try await $0.call(p) }
            let text = answer.duplicate == true
                ? "signal \(name) was delivered to \(workflowId) before (request id seen); not delivered again"
                : "signal \(name) delivered to \(workflowId)"
            print(connection.json ? JSONWriter.string(answer.json, sortedKeys: true) : text)
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a workflow (or every one --query matches): its steps see Cancelled and may compensate.")
        @Argument var workflowId: String?
        @Option(help: "Why, recorded in the failure.") var reason: String?
        @OptionGroup var batch: BatchOptions
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            if batch.query != nil {
                guard workflowId == nil else { throw ValidationError("give a workflow id or --query, not both") }
                return try await runBatch("cancel", batch, connection: connection, reason: reason)
            }
            guard let workflowId else { throw ValidationError("give a workflow id, or --query to cancel many") }
            let params = WorkflowCancelParams(workflowId: workflowId, reason: reason)
            let answer = try await runClient(connection) { try await $0.call(params).json }
            printAnswer(answer, json: connection.json) { cancelText($0, id: workflowId) }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a workflow's status, current step, runs and last error.")
        @Argument var workflowId: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let params = WorkflowDescribeParams(workflowId: workflowId)
            let d = try await runClient(connection) { try await $0.call(params).json }
            if connection.json { print(JSONWriter.string(d, sortedKeys: true)); return }
            for line in describeLines(d) { print(line) }
        }
    }

    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the latest value a workflow published for a query (no worker needed).")
        @Argument var workflowId: String
        @Argument(help: "The query's name.") var name: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let params = WorkflowQueryParams(workflowId: workflowId, name: name)
            let answer = try await runClient(connection) { try await $0.call(params).json }
            if connection.json { print(JSONWriter.string(answer, sortedKeys: true)); return }
            print(JSONWriter.string(answer["value"] ?? .null, sortedKeys: true))
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send an update to a workflow and print its answer (docs/protocol.md, \"Updates\").",
            discussion: """
                Exits 0 when the workflow answered it, 1 when it rejected it, 3 when the wait ended first \
                (the update stays delivered: run again with the printed --update-id to keep waiting).
                """)
        @Argument var workflowId: String
        @Argument(help: "The update's name.") var name: String
        @Argument(help: "Input as JSON ('-' reads stdin).") var input: String = "null"
        @Option(help: "Names the update: sent again with the same id, it is delivered once (default: a new id).")
        var updateId: String?
        @Option(help: "How long to wait for the answer, in milliseconds.") var waitMs: Int64 = 60_000
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let p = UpdateParams.typed(
                workflowId: workflowId, name: name, input: try readJSON(input), updateId: updateId, waitTimeoutMs: waitMs)
            let answer = try await runClient(connection) { try await $0.call(p).json }
            let status = answer["status"]?.stringValue ?? ""
            if connection.json {
                print(JSONWriter.string(answer, sortedKeys: true))
            } else {
                switch status {
                case "completed": print(JSONWriter.string(answer["result"] ?? .null, sortedKeys: true))
                case "rejected":
                    let f = answer["failure"] ?? .null
                    print("update \(name) was rejected: \(f["type"]?.stringValue ?? "Rejected"): \(f["message"]?.stringValue ?? "")")
                default:
                    print("""
                        update \(name) is delivered but not answered yet after \(waitMs) ms; to keep waiting run \
                        keel workflow update \(workflowId) \(name) --update-id \(answer["updateId"]?.stringValue ?? "?")
                        """)
                    if let awaited = answer["waitingFor"]?.arrayValue?.compactMap(\.stringValue), !awaited.isEmpty {
                        printError("note: workflow \(workflowId) waits for update \(awaited.joined(separator: " or ")), not \(name)")
                    }
                }
            }
            switch status {
            case "completed": return
            case "rejected": throw ExitCode(1)
            default: throw ExitCode(3)
            }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a parked workflow again (after fixing a non-determinism).")
        @Argument var workflowId: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let params = WorkflowResumeParams(workflowId: workflowId)
            let answer = try await runClient(connection) { try await $0.call(params).json }
            printAnswer(answer, json: connection.json) { resumeText($0, id: workflowId) }
        }
    }
}

/// `--search-attribute key=value` flags as an object: a value that is a number or true/false is
/// typed, anything else (quoted or not) is text.
func parseSearchAttributes(_ flags: [String]) throws -> JSONValue {
    var attributes = JSONObject()
    for flag in flags {
        guard let eq = flag.firstIndex(of: "="), eq != flag.startIndex else {
            throw ValidationError("--search-attribute takes key=value, e.g. --search-attribute customer=acme; got \(flag)")
        }
        let key = String(flag[..<eq])
        let text = String(flag[flag.index(after: eq)...])
        switch try? JSONParser.parse(Array(text.utf8)) {
        case .number(let n)?: attributes[key] = .number(n)
        case .bool(let b)?: attributes[key] = .bool(b)
        case .string(let s)?: attributes[key] = .string(s)
        default: attributes[key] = .string(text)
        }
    }
    return .object(attributes)
}

/// Parses JSON given on the command line, or stdin for "-".
func readJSON(_ text: String) throws -> JSONValue {
    // Bytes, not a String: decoding would replace invalid UTF-8 with U+FFFD and send data nobody wrote.
    let source = text == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile()) : Array(text.utf8)
    do { return try JSONParser.parse(source) } catch {
        FileHandle.standardError.write(Data("keel: not JSON: \(error)\n".utf8))
        throw ExitCode(2)
    }
}

/// Waits for a workflow to end, in bounded slices.
func waitForResult(_ client: KeelClient, _ id: JSONValue) async throws -> JSONValue {
    while true {
        let r = try await client.call(WorkflowResultParams(workflowId: id.stringValue ?? "", waitTimeoutMs: 60_000)).json
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

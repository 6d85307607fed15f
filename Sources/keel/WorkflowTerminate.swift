import ArgumentParser
import Foundation
import KeelClient
import KeelCore
import KeelProtocol

extension WorkflowCommand {
    /// `keel workflow terminate ID [--reason R]`: `workflow/terminate` (docs/cli.md).
    struct Terminate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a workflow at once: no compensation, status terminated (its children too).",
            discussion: """
                Unlike cancel, the workflow's code gets no say: its live run is told to stop, its \
                activities are cancelled and its open children are terminated. Exit status: 0 \
                terminated, 1 it had already ended otherwise, 2 bad input, 3 cannot reach keel.
                """)
        @Argument var workflowId: String?
        @Option(help: "Why, recorded as the failure's message and in history.") var reason: String?
        @OptionGroup var batch: BatchOptions
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            if batch.query != nil {
                guard workflowId == nil else { throw ValidationError("give a workflow id or --query, not both") }
                return try await runBatch("terminate", batch, connection: connection, reason: reason)
            }
            guard let workflowId else { throw ValidationError("give a workflow id, or --query to terminate many") }
            let params = WorkflowTerminateParams(workflowId: workflowId, reason: reason)
            let answer = try await runClient(connection) { try await $0.call(params).json }
            let status = answer["status"]?.stringValue ?? ""
            if connection.json {
                print(JSONWriter.string(answer, sortedKeys: true))
            } else if status == "terminated" {
                print("workflow \(workflowId) terminated: \(answer["failure"]?["message"]?.stringValue ?? "")")
            }
            guard status == "terminated" else {
                printError("keel: workflow \(workflowId) had already ended (\(status)); nothing to terminate")
                throw ExitCode(1)
            }
        }
    }
}

/// `--execution-timeout` and `--run-timeout` of `keel workflow start` (Temporal's vocabulary).
struct WorkflowTimeoutOptions: ParsableArguments {
    @Option(help: "End the workflow as timedOut if it has not finished this long after its start, across continue-as-new (e.g. 1h).")
    var executionTimeout: String?
    @Option(help: "End the workflow as timedOut if one run (until a continue-as-new) lasts longer than this (e.g. 10m).")
    var runTimeout: String?

    /// `workflow/start`'s `executionTimeoutMs`, when given.
    func executionTimeoutMs() throws -> Int64? { try executionTimeout.map(parseDuration) }

    /// `workflow/start`'s `runTimeoutMs`, when given.
    func runTimeoutMs() throws -> Int64? { try runTimeout.map(parseDuration) }
}

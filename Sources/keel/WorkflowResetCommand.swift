import ArgumentParser
import Foundation
import KeelClient
import KeelCore
import struct KeelProtocol.WorkflowResetParams

extension WorkflowCommand {
    /// `keel workflow reset ID --to-step N`: the way out after a bad deploy (docs/cli.md).
    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a workflow again from a step: keep its journal up to --to-step, re-run the rest with today's workers.",
            discussion: """
                Works on completed, failed, cancelled, parked and running workflows (a running one is stopped first). \
                Steps up to N replay from the journal (their activities do not run again); the rest run again. \
                `keel workflow history ID` lists the steps; both runs' histories record the reset. \
                Exit status: 0 reset, 2 bad step or unknown workflow, 3 cannot reach keel.
                """)
        @Argument var workflowId: String
        @Option(name: .customLong("to-step"), help: "The last journal step to keep (0 keeps none).") var toStep: Int
        @Option(help: "Why, recorded in both runs' history.") var reason: String?
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let params = WorkflowResetParams(workflowId: workflowId, toStep: Int64(toStep), reason: reason)
            let r = try await runClient(connection) { try await $0.call(params).json }
            if connection.json { print(JSONWriter.string(r, sortedKeys: true)); return }
            print("workflow \(workflowId) reset to step \(toStep): generation \(r["previousGeneration"]?.int64Value ?? 0) "
                + "(\(r["previousStatus"]?.stringValue ?? "")) → generation \(r["generation"]?.int64Value ?? 0) "
                + "(\(r["status"]?.stringValue ?? "")), \(r["keptSteps"]?.int64Value ?? 0) step(s) kept")
        }
    }
}

import KeelCore

/// The one place `workflow/batch` reaches `terminate` (issue 13). Terminate arrives with its own
/// change (protocol method `workflow/terminate`); until then ``batchTerminate`` is nil, and a batch
/// terminate is refused with `1014 operationUnavailable` before anything is touched (its dry run
/// still counts matches).
///
/// At the merge, the one line: `static let batchTerminate: BatchTerminate? = { try await $0.terminate($1, reason: $2) }`
/// (the engine's terminate of one workflow, however it is named there).
extension Engine {
    typealias BatchTerminate = @Sendable (Engine, _ workflowId: String, _ reason: String) async throws -> Void

    static let batchTerminate: BatchTerminate? = nil
}

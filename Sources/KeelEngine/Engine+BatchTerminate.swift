import KeelCore

/// The one place `workflow/batch` reaches `terminate` (issue 13). Terminate arrives with its own
/// change (protocol method `workflow/terminate`); until then a batch terminate is refused with
/// `1014 operationUnavailable` before anything is touched, and its dry run still counts matches.
///
/// At the merge: set ``batchTerminateAvailable`` to true and call the engine's terminate below.
extension Engine {
    static let batchTerminateAvailable = false

    /// Terminates one workflow for a batch.
    func terminateForBatch(_ id: String, reason: String) async throws {
        throw KeelError(.operationUnavailable, "terminate is not available on this server yet", data: ["workflowId": .string(id)])
    }
}

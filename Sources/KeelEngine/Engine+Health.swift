import KeelCore
import KeelStorage

/// The `/healthz` probe's question to the engine.
extension Engine {
    /// Returns when the store answers a read of its clock and the node holds its lease, and
    /// throws what the store threw otherwise. Not isolated: a busy engine does not delay it.
    public nonisolated func checkStore() async throws {
        _ = try await cluster.store.now()
        guard cluster.membership.isServing else {
            throw KeelError(.storageFailure, "this node does not hold its lease on the shared store")
        }
    }
}

import KeelCore
import KeelStorage

/// The `/healthz` probe's question to the engine.
extension Engine {
    /// Returns when the store answers a read (an indexed lookup of an id that never exists), and
    /// throws what the store threw otherwise. Not isolated: a busy engine does not delay it.
    public nonisolated func checkStore() async throws {
        if let cluster {
            _ = try await cluster.store.now()
            guard await cluster.membership.isServing else {
                throw KeelError(.storageFailure, "this node does not hold its lease on the shared store")
            }
            return
        }
        _ = try await storage.read { try $0.workflow(id: "keel-healthz-probe") }
    }
}

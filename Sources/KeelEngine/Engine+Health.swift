import KeelStorage

/// The `/healthz` probe's question to the engine.
extension Engine {
    /// Returns when the store answers a read (an indexed lookup of an id that never exists), and
    /// throws what the store threw otherwise. Not isolated: a busy engine does not delay it.
    public nonisolated func checkStore() async throws {
        _ = try await storage.read { try $0.workflow(id: "keel-healthz-probe") }
    }
}

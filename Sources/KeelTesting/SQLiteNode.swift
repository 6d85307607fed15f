public import KeelEngine
public import KeelStorage
import Logging

/// An engine on a real SQLite file as the one node of its store, as `keel serve --db` runs it,
/// for tests that drive the engine without a server around it.
public struct SQLiteNode: Sendable {
    public let engine: Engine
    public let store: SQLiteStore

    /// Opens (or creates) the file at `path`, joins its one node and builds the engine on it.
    public static func open(path: String, options: Engine.Options = Engine.Options()) async throws -> SQLiteNode {
        let logger = Logger(label: "keel-test")
        let store = SQLiteStore(storage: try SQLiteStorage(path: path))
        let membership = NodeMembership(store: store, settings: .soleNodeOfItsStore, logger: logger)
        do {
            _ = try await membership.join()
        } catch {
            await store.close()
            throw error
        }
        let engine = Engine(
            cluster: ClusterNode(store: store, membership: membership), clock: SystemClock(),
            checker: SchemaContractChecker(), options: options, logger: logger)
        return SQLiteNode(engine: engine, store: store)
    }

    /// Closes the file.
    public func close() async { await store.close() }
}

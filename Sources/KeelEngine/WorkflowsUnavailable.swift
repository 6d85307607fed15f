public import KeelCore
public import KeelStorage

/// The ``Storage`` of a node on a shared ``Store``: workflows do not run there yet (docs/scaling.md,
/// "What runs on PostgreSQL"), so the engine refuses workflow methods before they reach storage,
/// and any path that still would reach it fails with a coded error instead of acting.
struct WorkflowsUnavailable: Storage {
    static let message =
        "workflows do not run on a shared PostgreSQL store yet (activities do; docs/scaling.md): "
        + "run workflows on a node with --store sqlite:PATH"

    static var error: KeelError {
        KeelError(.methodNotFound, message, data: ["reason": "workflowsNotOnThisStore"])
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any StorageTransaction) throws -> T) async throws -> T {
        throw Self.error
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any StorageReader) throws -> T) async throws -> T {
        throw Self.error
    }

    func now() -> EpochMillis { SystemClock().now() }

    func close() async {}
}

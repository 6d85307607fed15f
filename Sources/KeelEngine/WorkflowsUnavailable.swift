public import KeelCore
public import KeelStorage

/// The ``Storage`` of a node on a shared ``Store``: the engine's workflow path goes through its
/// ``SharedLedger``, and the methods a shared store does not serve yet (docs/scaling.md) are
/// refused before they reach storage; any path that still would reach it fails with a coded error
/// instead of acting.
struct WorkflowsUnavailable: Storage {
    static let message =
        "this operation does not run on a shared PostgreSQL store yet (docs/scaling.md): "
        + "run it on a node with --store sqlite:PATH"

    static var error: KeelError {
        KeelError(.methodNotFound, message, data: ["reason": "workflowsNotOnThisStore"])
    }

    /// -32601 for a workflow method a node of a shared store does not serve yet.
    static func refusal(_ method: String) -> KeelError {
        KeelError(
            .methodNotFound,
            "\(method) does not run on a shared PostgreSQL store yet (workflow start, step, result, signal, cancel, "
                + "describe and history do; docs/scaling.md)",
            data: ["reason": "workflowsNotOnThisStore", "method": .string(method)])
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

public import KeelClient
public import KeelCore

/// How Keel's MCP server reaches the engine: one protocol method call with the wire's coded
/// `KeelError`s. `keel mcp serve` uses a ``ReconnectingClient`` (stdio, out of process); the
/// streamable-HTTP endpoint on `--http` an in-process session of the orchestrator.
public protocol KeelCalls: Sendable {
    /// Calls `method` with `params`; throws the wire's `KeelError`.
    func call(_ method: String, _ params: JSONValue) async throws -> JSONValue
}

extension ReconnectingClient: KeelCalls {}

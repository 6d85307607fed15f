import KeelCore
import KeelProtocol

/// ``ToolService`` on `keel mcp serve`'s stdio: one JSON-RPC connection is one session, and a
/// request's key is the session key and its JSON-RPC id (docs/mcp.md, "Keel as an MCP server").
final class ToolServerHandler: RPCHandler {
    let service: ToolService
    /// Part of every derived idempotency key: the same MCP request id from another session is another call.
    let sessionKey: String

    init(keel: any KeelCalls, sessionKey: String) {
        service = ToolService(keel: keel)
        self.sessionKey = sessionKey
    }

    func handleRequest(method: String, params: JSONValue, connection: RPCConnection) async throws -> JSONValue {
        let id = RPCConnection.currentRequestID.map { JSONWriter.string($0.json) } ?? "none"
        let context = ToolService.Context(requestKey: "\(sessionKey):\(id)") { method, params in
            connection.notify(method, params: params)
        }
        return try await service.answer(method: method, params: params, context: context)
    }

    func handleNotification(method: String, params: JSONValue, connection: RPCConnection) async {
        guard method == "notifications/cancelled", let id = params["requestId"] else { return }
        await service.cancel(requestKey: "\(sessionKey):\(JSONWriter.string(id))")
    }
}

import KeelCore
import KeelProtocol

/// Answers what an MCP server asks of its client (Keel's bridge): `ping`, and `roots/list` with no
/// roots. Keel declares no client capabilities, so sampling and elicitation get `-32601`.
/// `notifications/tools/list_changed` is passed to `onToolsChanged`.
struct ServerRequests: RPCHandler {
    let onToolsChanged: @Sendable () -> Void

    func handleRequest(method: String, params: JSONValue, connection: RPCConnection) async throws -> JSONValue {
        switch method {
        case "ping": return [:]
        case "roots/list": return ["roots": []]
        default: throw KeelError(.methodNotFound, "the Keel MCP bridge serves no method \(method)")
        }
    }

    func handleNotification(method: String, params: JSONValue, connection: RPCConnection) async {
        if method == "notifications/tools/list_changed" { onToolsChanged() }
    }
}

import KeelClient
import KeelCore
import KeelProtocol

/// Answers an MCP client (an IDE assistant, an agent framework) on `keel mcp serve`'s stdio:
/// Keel's activities and workflows as tools, each call durable (docs/mcp.md, "Keel as an MCP server").
final class ToolServerHandler: RPCHandler {
    let keel: ReconnectingClient
    /// Part of every derived idempotency key: the same MCP request id from another session is another call.
    let sessionKey: String
    private let catalog = Locked(ToolCatalog(workers: []))
    /// The Keel task behind each MCP request still running, so `notifications/cancelled` reaches it.
    private let running = Locked<[String: String]>([:])

    init(keel: ReconnectingClient, sessionKey: String) {
        self.keel = keel
        self.sessionKey = sessionKey
    }

    func handleRequest(method: String, params: JSONValue, connection: RPCConnection) async throws -> JSONValue {
        switch method {
        case "initialize":
            return [
                "protocolVersion": .string(ProtocolVersion.negotiate(params["protocolVersion"]?.stringValue)),
                "capabilities": ["tools": ["listChanged": false]],
                "serverInfo": ["name": "keel", "version": "0.1.0"],
                "instructions": "Keel's activities and workflows as tools. Every call is durable: retried by Keel, and a repeated call with the same _meta.idempotencyKey answers the stored result.",
            ]
        case "ping":
            return [:]
        case "tools/list":
            return ["tools": .array(try await refreshedCatalog().tools)]
        case "tools/call":
            return try await callTool(params, connection: connection)
        default:
            throw KeelError(.methodNotFound, "keel mcp serve serves no method \(method)")
        }
    }

    func handleNotification(method: String, params: JSONValue, connection: RPCConnection) async {
        guard method == "notifications/cancelled", let id = params["requestId"] else { return }
        guard let taskId = running.withLock({ $0[Self.key(id)] }) else { return }
        do {
            _ = try await keel.call("activity/cancel", ["taskId": .string(taskId)])
        } catch {
            Log.write("could not cancel task \(taskId) for MCP request \(id): \(error)")
        }
    }

    /// The catalog from a fresh `worker/list`.
    private func refreshedCatalog() async throws -> ToolCatalog {
        let fresh = ToolCatalog(workers: try await keel.workers())
        catalog.withLock { $0 = fresh }
        return fresh
    }

    private func callTool(_ params: JSONValue, connection: RPCConnection) async throws -> JSONValue {
        guard let name = params["name"]?.stringValue else { throw KeelError(.invalidParams, "tools/call needs a tool name") }
        let arguments = params["arguments"] ?? [:]
        if let (method, request) = WorkflowTools.request(tool: name, arguments: arguments) {
            do {
                return ToolResult.success(try await keel.call(method, request))
            } catch let error as KeelError {
                return ToolResult.error("\(error.code.name): \(error.message)", data: error.data)
            }
        }
        var entry = catalog.withLock { $0.activities[name] }
        if entry == nil { entry = try await refreshedCatalog().activities[name] }
        guard let entry else {
            throw KeelError(.invalidParams, "unknown tool \(name): no connected worker serves an activity of that name")
        }
        let key = idempotencyKey(params)
        var call: [String: JSONValue] = [
            "name": .string(name), "input": entry.input(from: arguments), "idempotencyKey": .string(key), "wait": false,
        ]
        var answer: JSONValue
        do {
            answer = try await keel.call("activity/call", .object(call))
            let requestKey = RPCConnection.currentRequestID.map { Self.key($0.json) }
            if let taskId = answer["taskId"]?.stringValue, let requestKey { running.withLock { $0[requestKey] = taskId } }
            defer { if let requestKey { running.withLock { _ = $0.removeValue(forKey: requestKey) } } }
            // With a progressToken the client hears how the task stands every few seconds (which
            // also keeps a client's request timeout from firing on a long call).
            let progressToken = params["_meta"]?["progressToken"]
            call = ["idempotencyKey": .string(key), "waitTimeoutMs": progressToken == nil ? 30_000 : 5_000]
            var polls: Int64 = 0
            while !Self.isEnded(answer) {
                if let progressToken {
                    polls += 1
                    let status = answer["status"]?.stringValue ?? "scheduled"
                    connection.notify(
                        "notifications/progress",
                        params: [
                            "progressToken": progressToken, "progress": JSONValue(polls),
                            "message": .string("\(name): \(status), attempt \(answer["attempts"]?.int64Value ?? 0)"),
                        ])
                }
                answer = try await keel.call("activity/result", .object(call))
            }
        } catch let error as KeelError {
            return ToolResult.error("\(error.code.name): \(error.message)", data: error.data)
        }
        return ToolResult.from(activity: answer, structured: entry.outputIsObject)
    }

    /// `_meta.idempotencyKey` when the client gives one, else the session key and the request id.
    private func idempotencyKey(_ params: JSONValue) -> String {
        if let given = params["_meta"]?["idempotencyKey"]?.stringValue, !given.isEmpty { return given }
        return "mcp:\(sessionKey):\(RPCConnection.currentRequestID.map { Self.key($0.json) } ?? "none")"
    }

    private static func key(_ id: JSONValue) -> String { JSONWriter.string(id) }

    private static func isEnded(_ answer: JSONValue) -> Bool {
        ["completed", "failed", "timedOut", "cancelled"].contains(answer["status"]?.stringValue ?? "")
    }
}

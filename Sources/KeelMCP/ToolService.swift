public import KeelCore
import KeelProtocol

/// Keel as an MCP server, independent of the transport: answers `server/discover`, `initialize`,
/// `tools/list` and `tools/call` with Keel's activities and workflows as tools, each call durable
/// (docs/mcp.md, "Keel as an MCP server"). `keel mcp serve` puts it on stdio
/// (``ToolServerHandler``); `keel serve --http` on `POST /mcp` (KeelWeb's `MCPEndpoint`).
public final class ToolService: Sendable {
    /// One request's place in its transport.
    public struct Context: Sendable {
        /// Unique among the open requests of this service and the same when a client repeats a
        /// request in the same session (`SESSION:REQUEST-ID`): the derived idempotency key is
        /// `mcp:` + this, and `notifications/cancelled` finds the Keel task by it.
        public var requestKey: String
        /// Sends a notification (`notifications/progress`) to the client that made this request.
        public var notify: @Sendable (_ method: String, _ params: JSONValue) -> Void

        public init(requestKey: String, notify: @escaping @Sendable (_ method: String, _ params: JSONValue) -> Void) {
            self.requestKey = requestKey
            self.notify = notify
        }
    }

    let keel: any KeelCalls
    private let catalog = Locked(ToolCatalog(workers: []))
    /// The Keel task behind each request still running, by ``Context/requestKey``.
    private let running = Locked<[String: String]>([:])
    /// How to stop each `keel_follow_workflow` call still following, by ``Context/requestKey``.
    private let following = Locked<[String: @Sendable () -> Void]>([:])
    /// How often a call with a `progressToken` looks at its task (a new heartbeat is told at once).
    let progressPoll: Duration
    /// The longest silence between two progress notifications of a call.
    let progressEvery: Duration

    public init(keel: any KeelCalls, progressPoll: Duration = .seconds(1), progressEvery: Duration = .seconds(5)) {
        self.keel = keel
        self.progressPoll = progressPoll
        self.progressEvery = progressEvery
    }

    static let serverInfo: JSONValue = ["name": "keel", "version": "0.1.0"]
    static let capabilities: JSONValue = ["tools": ["listChanged": false]]
    static let instructions: JSONValue =
        "Keel's activities and workflows as tools. Every call is durable: retried by Keel, and a repeated call with the same _meta.idempotencyKey answers the stored result."

    /// Answers one request of either era; a 2026-07-28 request's result carries `resultType`.
    /// - Throws: `KeelError` for the JSON-RPC error answer: `-32601` for a method Keel does not
    ///   serve, `-32602` for an unknown tool, `-32022` for a revision Keel does not speak.
    public func answer(method: String, params: JSONValue, context: Context) async throws -> JSONValue {
        let meta = RequestMeta(params: params)
        try meta.check()
        let result: JSONValue
        switch method {
        case "server/discover":
            result = [
                "supportedVersions": .array(RequestMeta.supportedVersions.map { .string($0) }),
                "capabilities": Self.capabilities, "serverInfo": Self.serverInfo, "instructions": Self.instructions,
            ]
            return Self.complete(result, cacheable: true)
        case "initialize":
            return [
                "protocolVersion": .string(ProtocolVersion.negotiate(params["protocolVersion"]?.stringValue)),
                "capabilities": Self.capabilities, "serverInfo": Self.serverInfo, "instructions": Self.instructions,
            ]
        case "ping":
            result = [:]
        case "tools/list":
            result = ["tools": .array(try await refreshedCatalog().tools)]
        case "tools/call":
            result = try await callTool(params, context: context)
        default:
            throw KeelError(.methodNotFound, "Keel's MCP server serves no method \(method)")
        }
        return meta.isModern ? Self.complete(result, cacheable: method == "tools/list") : result
    }

    /// `notifications/cancelled` for the request `requestKey`: cancels the Keel task behind it,
    /// or stops a `keel_follow_workflow` call (the workflow runs on).
    public func cancel(requestKey: String) async {
        if let stop = following.withLock({ $0[requestKey] }) {
            stop()
            return
        }
        guard let taskId = running.withLock({ $0[requestKey] }) else { return }
        do {
            _ = try await keel.call("activity/cancel", ["taskId": .string(taskId)])
        } catch {
            Log.write("could not cancel task \(taskId) for MCP request \(requestKey): \(error)")
        }
    }

    /// `result` with 2026-07-28's `resultType: complete`, and for a cacheable one (`server/discover`,
    /// `tools/list`) the cache hints that revision requires: `ttlMs: 0` (stale at once: the tools
    /// are whatever workers are connected now) and `cacheScope: private`.
    static func complete(_ result: JSONValue, cacheable: Bool = false) -> JSONValue {
        guard case .object(var object) = result else { return result }
        object["resultType"] = "complete"
        if cacheable {
            object["ttlMs"] = 0
            object["cacheScope"] = "private"
        }
        return .object(object)
    }

    /// The catalog from a fresh `worker/list`.
    private func refreshedCatalog() async throws -> ToolCatalog {
        let fresh = ToolCatalog(workers: try await keel.call("worker/list", [:])["workers"]?.arrayValue ?? [])
        catalog.withLock { $0 = fresh }
        return fresh
    }

    private func callTool(_ params: JSONValue, context: Context) async throws -> JSONValue {
        guard let name = params["name"]?.stringValue else {
            throw KeelError(.invalidParams, "tools/call needs a tool name")
        }
        let arguments = params["arguments"] ?? [:]
        if name == WorkflowTools.follow { return try await follow(arguments, params: params, context: context) }
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
        let key = Self.idempotencyKey(params, context: context)
        let call = ActivityCallParams(name: name, input: entry.input(from: arguments), idempotencyKey: key, wait: false)
        var answer: JSONValue
        do {
            answer = try await keel.call(ActivityCallParams.method, call.json)
            if let taskId = answer["taskId"]?.stringValue { running.withLock { $0[context.requestKey] = taskId } }
            defer { running.withLock { _ = $0.removeValue(forKey: context.requestKey) } }
            var progress = params["_meta"]?["progressToken"].map {
                ProgressReport(token: $0, tool: name, every: progressEvery)
            }
            let wait: Duration = progress == nil ? .seconds(30) : progressPoll
            let poll = ActivityResultParams(idempotencyKey: key, waitTimeoutMs: Self.milliseconds(wait)).json
            while !Self.isEnded(answer) {
                if let message = progress?.next(answer), let params = progress?.params(message) {
                    context.notify("notifications/progress", params)
                }
                answer = try await keel.call(ActivityResultParams.method, poll)
            }
        } catch let error as KeelError {
            return ToolResult.error("\(error.code.name): \(error.message)", data: error.data)
        }
        return ToolResult.from(activity: answer, structured: entry.outputIsObject)
    }

    /// `keel_follow_workflow` (``WorkflowFollow``) in a task of its own that ``cancel(requestKey:)``
    /// (or the transport cancelling this call) stops; it then answers the steps seen so far.
    private func follow(_ arguments: JSONValue, params: JSONValue, context: Context) async throws -> JSONValue {
        let follow: WorkflowFollow
        do {
            let (workflowId, timeout) = try WorkflowFollow.arguments(arguments)
            follow = WorkflowFollow(
                keel: keel, workflowId: workflowId, timeout: timeout, poll: progressPoll,
                progress: params["_meta"]?["progressToken"].map {
                    ProgressReport(token: $0, tool: WorkflowTools.follow, every: progressEvery)
                }, notify: context.notify)
        } catch let error as KeelError {
            return ToolResult.error("\(error.code.name): \(error.message)", data: error.data)
        }
        let task = Task {
            var follow = follow
            return try await follow.run()
        }
        following.withLock { $0[context.requestKey] = { task.cancel() } }
        defer { following.withLock { _ = $0.removeValue(forKey: context.requestKey) } }
        do {
            return ToolResult.success(try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() })
        } catch let error as KeelError {
            return ToolResult.error("\(error.code.name): \(error.message)", data: error.data)
        }
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    /// `_meta.idempotencyKey` when the client gives one, else `mcp:` and the request key.
    static func idempotencyKey(_ params: JSONValue, context: Context) -> String {
        if let given = params["_meta"]?["idempotencyKey"]?.stringValue, !given.isEmpty { return given }
        return "mcp:\(context.requestKey)"
    }

    private static func isEnded(_ answer: JSONValue) -> Bool {
        ["completed", "failed", "timedOut", "cancelled"].contains(answer["status"]?.stringValue ?? "")
    }
}

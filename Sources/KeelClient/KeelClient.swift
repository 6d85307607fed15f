public import KeelCore
public import KeelProtocol
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// A connection to an orchestrator for driving work: call activities, list workers.
///
/// Use ``withClient(_:name:_:)``: it connects, sends `initialize`, runs `body`, and closes.
public struct KeelClient: Sendable {
    public let connection: RPCConnection

    /// Connects, initializes and runs `body`; the connection closes when `body` returns.
    /// - Parameter token: sent in `initialize` on any transport (a Unix socket started with
    ///   `--socket-requires-token`, or a role other than the socket's admin); over TCP it replaces the endpoint's.
    /// - Throws: `KeelError(.connectionClosed)` when the orchestrator cannot be reached, or its answer to `initialize`.
    public static func withClient<T: Sendable>(
        _ endpoint: Endpoint, name: String = "keel-swift", token explicitToken: String? = nil,
        handler: any RPCHandler = IgnoringHandler(), _ body: @escaping @Sendable (KeelClient) async throws -> T
    ) async throws -> T {
        let limits = RPCChannel.Limits()
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        let channel: NIOAsyncChannel<Frame, Never>
        var token: String?
        do {
            switch endpoint {
            case .unixSocket(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path) { RPCChannel.configure($0, limits: limits) }
            case .tcp(let host, let port, let t):
                token = t
                channel = try await bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connect(host: host, port: port) { RPCChannel.configure($0, limits: limits) }
            case .tls(let host, let port, let t, let options):
                token = t
                channel = try await TLSConnection.connect(host: host, port: port, options: options, limits: limits)
            case .stdio:
                let (input, output) = StdioWire.take()
                channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .takingOwnershipOfDescriptors(input: input, output: output) { RPCChannel.configure($0, limits: limits) }
            }
        } catch let error as KeelError {
            throw error  // already says what went wrong (a TLS file, a failed TLS handshake)
        } catch {
            throw KeelError(
                .connectionClosed,
                "cannot reach the orchestrator at \(endpoint): \(ConnectFailure.reason(error)). Is `keel serve` running?",
                cause: error)
        }
        let initParams: JSONValue = [
            "protocolVersion": "1", "clientInfo": ["name": .string(name), "version": "0.1.0"],
            "token": (explicitToken ?? token).map { .string($0) } ?? .null,
        ]
        return try await RPCChannel.withConnection(channel, limits: limits, handler: handler) { connection in
            _ = try await connection.call("initialize", params: initParams)
            return try await body(KeelClient(connection: connection))
        }
    }

    /// ``withClient(_:name:token:handler:_:)`` on the first of `endpoints` that answers: each is
    /// tried in order until one connects and accepts `initialize`; `body` runs once, on that one
    /// (a connection lost inside `body` is not retried elsewhere: the request may have been acted on).
    /// - Throws: `KeelError(.connectionClosed)` naming every endpoint when none can be reached.
    public static func withClient<T: Sendable>(
        endpoints: [Endpoint], name: String = "keel-swift", token: String? = nil,
        _ body: @escaping @Sendable (KeelClient) async throws -> T
    ) async throws -> T {
        var unreachable: [String] = []
        for endpoint in endpoints {
            let started = Locked(false)
            do {
                return try await withClient(endpoint, name: name, token: token) { client in
                    started.withLock { $0 = true }
                    return try await body(client)
                }
            } catch let error as KeelError where error.code == .connectionClosed && !started.withLock({ $0 }) {
                unreachable.append(error.message)
            }
        }
        guard unreachable.count > 1 else {
            throw KeelError(.connectionClosed, unreachable.first ?? "no orchestrator endpoint was given")
        }
        throw KeelError(.connectionClosed, "cannot reach any of \(endpoints.count) orchestrators: " + unreachable.joined(separator: "; "))
    }

    /// Sends any request.
    public func call(_ method: String, _ params: JSONValue = [:]) async throws -> JSONValue {
        try await connection.call(method, params: params)
    }

    /// Sends a request of a generated params type (``WorkflowSignalParams``…) and reads the answer
    /// as its result type.
    /// - Throws: the orchestrator's `KeelError`, or `KeelError(.invalidParams)` naming the field
    ///   when the answer does not have the result's shape.
    public func call<Request: WireRequest>(_ params: Request) async throws -> Request.Response {
        try Request.Response(json: try await call(Request.method, params.json))
    }

    /// Calls an activity by name, durably (`activity/call`). `priority` (higher first) and
    /// `fairnessKey` place it among the queued calls of the same name (docs/protocol.md,
    /// "Priorities and fairness").
    public func callActivity(
        _ name: String, input: JSONValue, idempotencyKey: String? = nil, retryPolicy: Wire.RetryPolicy? = nil,
        timeouts: Wire.Timeouts? = nil, priority: Int? = nil, fairnessKey: String? = nil, wait: Bool = true,
        waitTimeoutMs: Int64 = 3_600_000
    ) async throws -> JSONValue {
        let p = ActivityCallParams(
            name: name, input: input, idempotencyKey: idempotencyKey, retryPolicy: retryPolicy, timeouts: timeouts,
            wait: wait, waitTimeoutMs: waitTimeoutMs, priority: priority.map(Int64.init), fairnessKey: fairnessKey)
        return try await call(ActivityCallParams.method, p.json)
    }

    /// Sends a signal to a workflow (`workflow/signal`) with a `requestId` (``SignalParams``):
    /// sending it again with the same id delivers nothing (the answer has `duplicate: true`).
    public func signalWorkflow(_ workflowId: String, name: String, payload: JSONValue = .null, requestId: String? = nil)
        async throws -> JSONValue
    {
        try await call(
            WorkflowSignalParams.method,
            SignalParams.typed(workflowId: workflowId, name: name, payload: payload, requestId: requestId).json)
    }

    /// Sends an update to a workflow and waits for its answer (`workflow/update`, docs/protocol.md
    /// "Updates"), with an `updateId` (``UpdateParams``): sending it again with the same id
    /// delivers nothing more and answers the same outcome. The answer is `{status, result?,
    /// failure?, …}`: `completed`, `rejected`, or `pending` when `waitTimeoutMs` passed first.
    public func updateWorkflow(
        _ workflowId: String, name: String, input: JSONValue = .null, updateId: String? = nil, waitTimeoutMs: Int64? = nil
    ) async throws -> JSONValue {
        try await call(
            WorkflowUpdateParams.method,
            UpdateParams.typed(
                workflowId: workflowId, name: name, input: input, updateId: updateId, waitTimeoutMs: waitTimeoutMs
            ).json)
    }

    /// Creates a schedule (`schedule/create`, docs/protocol.md "Schedules"): `spec` is
    /// `{"cron": …, "timeZone"?}` or `{"intervalMs": …, "offsetMs"?}` (plus `jitterMs`?), `action`
    /// `{"workflow": NAME, "input"?, "priority"?, "fairnessKey"?, …}`; `options` adds `overlap`,
    /// `catchupWindowMs`, `paused`, `note`. Answers the schedule as `schedule/describe` shows it.
    public func createSchedule(_ scheduleId: String, spec: JSONValue, action: JSONValue, options: [String: JSONValue] = [:])
        async throws -> JSONValue
    {
        var p = options
        p["scheduleId"] = .string(scheduleId)
        p["spec"] = spec
        p["action"] = action
        return try await call("schedule/create", .object(JSONObject(p)))
    }

    /// Sends `schedule/describe`, `schedule/pause`, `schedule/unpause`, `schedule/trigger` or
    /// `schedule/delete` (`verb`) for one schedule, with `extra` params (`note`, `overlap`).
    public func schedule(_ verb: String, _ scheduleId: String, _ extra: [String: JSONValue] = [:]) async throws -> JSONValue {
        var p = extra
        p["scheduleId"] = .string(scheduleId)
        return try await call("schedule/\(verb)", .object(JSONObject(p)))
    }

    /// Connected workers (`worker/list`).
    public func workers() async throws -> [JSONValue] {
        try await call("worker/list")["workers"]?.arrayValue ?? []
    }
}

/// Over stdio, stdout is the wire: the wire gets a private copy of fd 1, and fd 1 itself then
/// points at stderr, so a stray `print` can never corrupt a message (STYLE.md §8).
enum StdioWire {
    static func take() -> (input: Int32, output: Int32) {
        let input = dup(0)
        let output = dup(1)
        dup2(2, 1)
        return (input, output)
    }
}

/// A handler for clients that serve nothing: requests get `-32601`.
public struct IgnoringHandler: RPCHandler {
    public init() {}
    public func handleRequest(method: String, params: JSONValue, connection: RPCConnection) async throws -> JSONValue {
        if method == "ping" { return [:] }
        throw KeelError(.methodNotFound, "this client serves no method \(method)")
    }
    public func handleNotification(method: String, params: JSONValue, connection: RPCConnection) async {}
}

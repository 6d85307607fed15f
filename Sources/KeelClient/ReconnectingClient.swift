public import KeelCore
public import KeelProtocol

/// The outcome of a call the client could not establish.
public enum KeelClientError: Error, Sendable, CustomStringConvertible {
    /// The connection dropped while the call `method` was in flight and the call is not safe to
    /// repeat (not a read, no idempotency key): it may or may not have taken effect. Repeat it with
    /// an idempotency key, or check Keel's state first (docs/clients.md "Reconnecting").
    case outcomeUnknown(method: String)

    public var description: String {
        switch self {
        case .outcomeUnknown(let method): "connection to Keel lost during \(method); outcome unknown"
        }
    }
}

/// A client that keeps one connection to the orchestrator and survives its restarts.
///
/// When the connection drops, the next ``call(_:_:)`` reconnects (full-jitter backoff for up to
/// `reconnectTimeout`); a call in flight at the drop is sent again when that is safe (a read, an
/// `activity/call` with an idempotency key, a `workflow/start` with a workflow id), else it throws
/// ``KeelClientError/outcomeUnknown(method:)`` (docs/clients.md "Reconnecting"). Call ``close()``.
/// Given several endpoints, it connects to the first reachable one in order, and a reconnect goes
/// on from the next (docs/clients.md "Several endpoints").
public actor ReconnectingClient {
    /// The first of ``endpoints``.
    public let endpoint: Endpoint
    /// Where the client connects, tried in order.
    public let endpoints: [Endpoint]
    var ring: EndpointRing
    let name: String
    let reconnectTimeout: Duration
    var backoff: ReconnectBackoff
    var link: Link?
    var opening: Task<Link, any Error>?
    var isClosed = false

    /// Reads: repeating them changes nothing in Keel.
    static let reads: Set<String> = [
        "ping", "activity/result", "workflow/result", "workflow/describe", "workflow/history", "workflow/list", "workflow/query",
        "worker/list", "workflow/follow",
    ]

    /// Connects and initializes once, failing at once when Keel is not reachable.
    /// - Parameters:
    ///   - backoff: the reconnect backoff (defaults 100 ms, capped at 2 s).
    ///   - reconnectTimeout: how long one call keeps reconnecting before it throws.
    /// - Throws: `KeelError(.connectionClosed)` when Keel cannot be reached, or its answer to `initialize`.
    public static func connect(
        _ endpoint: Endpoint, name: String = "keel-swift", backoff: ReconnectBackoff = ReconnectBackoff(),
        reconnectTimeout: Duration = .seconds(30)
    ) async throws -> ReconnectingClient {
        try await connect([endpoint], name: name, backoff: backoff, reconnectTimeout: reconnectTimeout)
    }

    /// Connects to the first reachable of `endpoints` (in order) and initializes, failing at once
    /// when none is reachable.
    /// - Throws: `KeelError(.connectionClosed)` naming each endpoint and why when none can be
    ///   reached (with one endpoint, its own error), or an answer to `initialize`.
    public static func connect(
        _ endpoints: [Endpoint], name: String = "keel-swift", backoff: ReconnectBackoff = ReconnectBackoff(),
        reconnectTimeout: Duration = .seconds(30)
    ) async throws -> ReconnectingClient {
        let client = ReconnectingClient(endpoints: endpoints, name: name, backoff: backoff, reconnectTimeout: reconnectTimeout)
        try await client.start()
        return client
    }

    init(endpoints: [Endpoint], name: String, backoff: ReconnectBackoff, reconnectTimeout: Duration) {
        ring = EndpointRing(endpoints)
        self.endpoints = ring.endpoints
        self.endpoint = ring.current
        self.name = name
        self.backoff = backoff
        self.reconnectTimeout = reconnectTimeout
    }

    deinit { link?.holder.cancel() }

    private func start() async throws {
        var failures: [String] = []
        for _ in endpoints {
            do {
                link = try await Link.open(ring.current, name: name)
                ring.succeeded()
                return
            } catch let error as KeelError where endpoints.count > 1 && error.code == .connectionClosed {
                failures.append(error.message)
                _ = ring.failed()
            }
        }
        throw KeelError(.connectionClosed, "no Keel endpoint is reachable: \(failures.joined(separator: "; "))")
    }

    /// Closes the connection; later calls throw `KeelError(.connectionClosed)`.
    public func close() {
        isClosed = true
        link?.holder.cancel()
        link?.connection.close()
    }

    /// Sends any request, reconnecting first if the connection dropped.
    /// - Throws: the peer's `KeelError`, ``KeelClientError/outcomeUnknown(method:)``, or
    ///   `KeelError(.connectionClosed)` when Keel stayed unreachable for `reconnectTimeout`.
    public func call(_ method: String, _ params: JSONValue = [:]) async throws -> JSONValue {
        while true {
            let current = try await connected()
            do {
                return try await current.connection.call(method, params: params)
            } catch let error as KeelError where error.code == .connectionClosed && current.connection.isClosed {
                if isClosed { throw error }
                guard Self.isSafeToRepeat(method, params) else { throw KeelClientError.outcomeUnknown(method: method) }
            }
        }
    }

    /// Sends a request of a generated params type and reads the answer as its result type; see
    /// `KeelClient`'s. Sent again after a reconnect as ``call(_:_:)`` is.
    public func call<Request: WireRequest>(_ params: Request) async throws -> Request.Response {
        try Request.Response(json: try await call(Request.method, params.json))
    }

    /// Calls an activity by name, durably (`activity/call`); see ``KeelClient/callActivity(_:input:idempotencyKey:retryPolicy:timeouts:wait:waitTimeoutMs:)``.
    public func callActivity(
        _ name: String, input: JSONValue, idempotencyKey: String? = nil, waitTimeoutMs: Int64 = 3_600_000
    ) async throws -> JSONValue {
        let p = ActivityCallParams(
            name: name, input: input, idempotencyKey: idempotencyKey, wait: true, waitTimeoutMs: waitTimeoutMs)
        return try await call(ActivityCallParams.method, p.json)
    }

    /// Sends a signal to a workflow (`workflow/signal`) with a `requestId` (``SignalParams``), so
    /// that a signal in flight when the connection drops is sent again after the reconnect and
    /// still delivered once.
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

    /// Connected workers (`worker/list`).
    public func workers() async throws -> [JSONValue] {
        try await call("worker/list")["workers"]?.arrayValue ?? []
    }

    /// True when a call whose connection dropped before its answer is sent again on the next
    /// connection (docs/clients.md, "Clients"): reads, and writes Keel deduplicates — an
    /// `activity/call` with an `idempotencyKey`, a `workflow/start` with a `workflowId`, a
    /// `workflow/signal` with a `requestId`, a `workflow/update` with an `updateId`. Anything else ends with ``KeelClientError/outcomeUnknown(method:)``.
    public static func isSafeToRepeat(_ method: String, _ params: JSONValue) -> Bool {
        if reads.contains(method) { return true }
        switch method {
        case "activity/call": return params["idempotencyKey"]?.stringValue != nil
        case "workflow/signal": return params["requestId"]?.stringValue != nil
        case "workflow/update": return params["updateId"]?.stringValue != nil
        case "workflow/start":
            return params["workflowId"]?.stringValue != nil && params["conflictPolicy"]?.stringValue != "fail"
        default: return false
        }
    }

    /// The live link, reopened with backoff when it ended; one reopen is shared by every caller.
    private func connected() async throws -> Link {
        if isClosed { throw KeelError(.connectionClosed, "the client is closed") }
        if let link, !link.connection.isClosed { return link }
        if let opening { return try await opening.value }
        // Awaited right here by this caller (and any that arrive meanwhile); ends on its own.
        let task = Task { try await self.reopen() }
        opening = task
        defer { opening = nil }
        let fresh = try await task.value
        return fresh
    }

    private func reopen() async throws -> Link {
        let deadline = ContinuousClock.now + reconnectTimeout
        _ = ring.failed()  // the connected endpoint dropped: start with the next one
        while true {
            do {
                let fresh = try await Link.open(ring.current, name: name)
                link?.holder.cancel()
                link = fresh
                backoff.reset()
                ring.succeeded()
                return fresh
            } catch let error as KeelError where error.code == .unauthorized || error.code == .unsupportedProtocolVersion {
                throw error
            } catch {
                if !ring.failed() && !isClosed { continue }  // the next endpoint at once; wait only after a whole round
                let pause = backoff.next()
                if ContinuousClock.now + pause > deadline || isClosed { throw error }
                try await Task.sleep(for: pause)
            }
        }
    }

    /// One connection, held open by a task inside `KeelClient.withClient`'s scope.
    final class Link: Sendable {
        let connection: RPCConnection
        /// Keeps the connection's scope open; cancelled by `close()`, by a replacing link, and on deinit.
        let holder: Task<Void, Never>

        init(connection: RPCConnection, holder: Task<Void, Never>) {
            self.connection = connection
            self.holder = holder
        }

        static func open(_ endpoint: Endpoint, name: String) async throws -> Link {
            let (opened, continuation) = AsyncStream<Result<RPCConnection, any Error>>.makeStream()
            let holder = Task {
                do {
                    _ = try await KeelClient.withClient(endpoint, name: name) { client in
                        continuation.yield(.success(client.connection))
                        // Until cancelled: by the owner, or by withClient when the peer closes.
                        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                        return true
                    }
                } catch {
                    continuation.yield(.failure(error))
                }
                continuation.finish()
            }
            for await result in opened {
                return Link(connection: try result.get(), holder: holder)
            }
            throw KeelError(.connectionClosed, "the connection to \(endpoint) ended during initialize")
        }
    }
}

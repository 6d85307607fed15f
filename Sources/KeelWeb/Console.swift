import KeelCore
import KeelEngine
import KeelMCP
import KeelProtocol

/// The web UI's way into the engine: one in-process admin session that calls the protocol's own
/// methods (`workflow/list`, `workflow/describe`, `worker/list`, …), so every page shows what the
/// CLI shows and every action goes through the same checks as `keel workflow signal`.
struct Console: Sendable {
    let engine: Engine
    private let handler: SessionHandler

    /// - Parameter grant: what the session may do: the pages' admin session, or the client
    ///   role of the `/mcp` endpoint (whose tool calls need what `activity/call` needs).
    init(engine: Engine, grant: Grant = .admin("web-ui")) async throws {
        self.engine = engine
        let connection = RPCConnection(outbound: DiscardingOutbound())
        let session = Session(
            connection: connection, transport: "http", credentials: Credentials(), anonymous: grant,
            label: grant.identity)
        handler = SessionHandler(engine: engine, session: session)
        _ = try await handler.handleRequest(method: "initialize", params: [:], connection: connection)
    }

    /// Calls one protocol method; errors are the wire's coded `KeelError`s.
    func call(_ method: String, _ params: JSONValue = [:]) async throws -> JSONValue {
        try await handler.handleRequest(method: method, params: params, connection: handler.session.connection)
    }

    /// A request of a generated params type, through the same checks as any request; the answer typed.
    func call<Request: WireRequest>(_ params: Request) async throws -> Request.Response {
        try Request.Response(json: try await call(Request.method, params.json))
    }
}

extension Console: KeelCalls {}

/// The console session sends nothing: the engine only writes to connections that registered
/// as workers or hold a request open, and this one does neither.
private struct DiscardingOutbound: RPCOutbound {
    func write(_ bytes: [UInt8]) {}
    func close() {}
    var hasRoom: Bool { true }
    func setDrainHandler(_ handler: @escaping @Sendable () -> Void) {}
}

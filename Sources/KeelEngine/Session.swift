public import KeelCore
public import KeelProtocol
import Synchronization

/// One connection's state as the engine sees it: transport facts and the handshake.
public final class Session: Sendable {
    public let connection: RPCConnection
    /// `unix`, `tcp` or `stdio`.
    public let transport: String
    /// The peer's process id when known (spawned workers, Unix-socket peers).
    public let pid: Int32?
    /// The token `initialize` must carry; nil when the transport needs none.
    /// Kept for source compatibility: the same as `credentials.adminToken` with no anonymous grant.
    public var requiredToken: String? { anonymous == nil ? credentials.adminToken : nil }
    /// The tokens this connection may present in `initialize`.
    public let credentials: Credentials
    /// The grant of a connection that presents no token; nil when a token is required.
    public let anonymous: Grant?
    /// A display name for logs, e.g. the spawned worker's name.
    public let label: String
    /// The peer's address for logs (`127.0.0.1:51234`), when known.
    public let peer: String?

    private let initializedFlag = Atomic<Bool>(false)
    private let closeFlag = Atomic<Bool>(false)
    private let grantBox = Locked<Grant?>(nil)

    /// True once the engine asked for the connection to close after its current answer
    /// (a failed token check).
    public var shouldClose: Bool { closeFlag.load(ordering: .acquiring) }
    func closeAfterReply() { closeFlag.store(true, ordering: .releasing) }

    /// A session that needs `requiredToken` (the admin token) in `initialize`, or none (admin) when nil.
    public convenience init(
        connection: RPCConnection, transport: String, pid: Int32? = nil, requiredToken: String? = nil,
        label: String? = nil
    ) {
        self.init(
            connection: connection, transport: transport, pid: pid, credentials: Credentials(adminToken: requiredToken),
            anonymous: requiredToken == nil ? .admin("local-\(transport)") : nil, label: label)
    }

    /// A session whose `initialize` is checked against `credentials`; without a token it gets `anonymous`.
    public init(
        connection: RPCConnection, transport: String, pid: Int32? = nil, credentials: Credentials, anonymous: Grant?,
        label: String? = nil, peer: String? = nil
    ) {
        self.connection = connection
        self.transport = transport
        self.pid = pid
        self.credentials = credentials
        self.anonymous = anonymous
        self.label = label ?? "\(transport)#\(connection.id)"
        self.peer = peer
    }

    /// What this connection may do; nil before `initialize` succeeded.
    public var grant: Grant? { grantBox.withLock { $0 } }
    func setGrant(_ g: Grant) { grantBox.withLock { $0 = g } }

    public var isInitialized: Bool { initializedFlag.load(ordering: .acquiring) }
    func markInitialized() { initializedFlag.store(true, ordering: .releasing) }
}

/// Adapts a session to ``RPCHandler`` so a transport can serve it.
public struct SessionHandler: RPCHandler {
    public let engine: Engine
    public let session: Session

    public init(engine: Engine, session: Session) {
        self.engine = engine
        self.session = session
    }

    public func handleRequest(method: String, params: JSONValue, connection: RPCConnection) async throws -> JSONValue {
        // Checked here, before the engine: what Keel accepts must stay readable when echoed back.
        try PayloadDepth.checkRequest(params, method: method)
        do {
            return try await engine.handleRequest(method: method, params: params, session: session)
        } catch {
            // A store failure or an unexpected error is logged in full under an incident id; the
            // wire gets the code, the id and the reason.
            throw engine.errorForWire(error, method: method)
        }
    }

    public func handleNotification(method: String, params: JSONValue, connection: RPCConnection) async {
        await engine.handleNotification(method: method, params: params, session: session)
    }
}

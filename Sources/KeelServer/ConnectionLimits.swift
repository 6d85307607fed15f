/// Limits on the connections the listeners accept, set by `keel serve` flags (docs/guarantees.md,
/// "Limits"). They protect the orchestrator from peers that have not authenticated: before
/// `initialize` succeeds a peer can hold little memory, for little time, on few connections.
public struct ConnectionLimits: Sendable {
    /// A connection that has not completed `initialize` by then is sent `-32008` and closed
    /// (`--handshake-timeout`, in seconds on the command line).
    public var handshakeTimeoutMs: Int64 = 10_000
    /// The frame limit until `initialize` succeeds; batches are refused until then too
    /// (`--max-handshake-bytes`).
    public var maxHandshakeFrameBytes = 64 * 1024
    /// Open listener connections at once, all transports (`--max-connections`). Lowered at start
    /// to what the file-descriptor limit allows, keeping a reserve for the store and workers.
    public var maxConnections = 1024
    /// Open TCP connections at once from one peer address (`--max-connections-per-peer`).
    public var maxConnectionsPerPeer = 64
    /// Failed token checks one peer address may make per minute before its new connections are
    /// refused with `-32011` (`--max-auth-failures`).
    public var maxAuthFailuresPerMinute = 10

    public init() {}
}

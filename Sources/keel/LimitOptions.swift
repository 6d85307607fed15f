import ArgumentParser
import KeelProtocol
import KeelServer

/// `keel serve` flags for the connection and backpressure limits (docs/guarantees.md, "Limits").
struct LimitOptions: ParsableArguments {
    @Option(help: "Seconds a connection has to complete initialize (and, with TLS, its handshake) before it is closed.")
    var handshakeTimeout: Double = 10
    @Option(help: "Largest line before initialize succeeds, in bytes.")
    var maxHandshakeBytes = 64 * 1024
    @Option(help: "Open connections at once, all listeners; lowered at start to fit the fd limit.")
    var maxConnections = 1024
    @Option(help: "Open TCP connections at once from one address.")
    var maxConnectionsPerPeer = 64
    @Option(help: "Failed token checks per address per minute before its connections are refused.")
    var maxAuthFailures = 10
    @Option(help: "Requests served at once per connection; more wait unread (a worker's is raised to fit what it registers).")
    var maxRequestsPerConnection = 512
    @Option(help: "Items in one batch.")
    var maxBatchItems = 1024
    @Option(help: "Queued outgoing bytes above which a peer gets no new work until it drains.")
    var writeHighWaterBytes = 8 * 1024 * 1024
    @Option(help: "Seconds a peer with bytes pending may read nothing before it is cut off.")
    var writeStallTimeout: Double = 60

    func validate() throws {
        guard handshakeTimeout > 0, handshakeTimeout <= 3600 else {
            throw ValidationError("--handshake-timeout must be more than 0 and at most 3600 seconds")
        }
        guard writeStallTimeout > 0, writeStallTimeout <= 86_400 else {
            throw ValidationError("--write-stall-timeout must be more than 0 and at most 86400 seconds")
        }
        for (flag, value) in [
            ("--max-handshake-bytes", maxHandshakeBytes), ("--max-connections", maxConnections),
            ("--max-connections-per-peer", maxConnectionsPerPeer), ("--max-auth-failures", maxAuthFailures),
            ("--max-requests-per-connection", maxRequestsPerConnection), ("--max-batch-items", maxBatchItems),
            ("--write-high-water-bytes", writeHighWaterBytes),
        ] where value < 1 || value > 1 << 30 {
            throw ValidationError("\(flag) must be from 1 to 1073741824")
        }
    }

    /// Copies the flags into the server's options.
    func apply(to options: inout KeelServer.Options) {
        options.connections.handshakeTimeoutMs = Int64(handshakeTimeout * 1000)
        options.connections.maxHandshakeFrameBytes = maxHandshakeBytes
        options.connections.maxConnections = maxConnections
        options.connections.maxConnectionsPerPeer = maxConnectionsPerPeer
        options.connections.maxAuthFailuresPerMinute = maxAuthFailures
        options.limits.maxConcurrentRequests = maxRequestsPerConnection
        options.limits.maxBatchItems = maxBatchItems
        options.limits.writeHighWaterBytes = writeHighWaterBytes
        options.limits.writeStallTimeoutMs = Int64(writeStallTimeout * 1000)
    }
}

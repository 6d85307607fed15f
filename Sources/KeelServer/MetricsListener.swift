import KeelCore
import KeelEngine
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// `keel serve --metrics-listen HOST:PORT`: a small HTTP/1.1 listener for the scraper and the
/// orchestrator's health probe (docs/metrics.md). `GET /metrics` answers the Prometheus text
/// exposition format; `GET /healthz` answers 200 `ok` when the store answers a read, else 503.
/// Any other path is 404 and any other method 405. It reads no body and holds no state.
final class MetricsListener: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// Scrapers open one connection at a time; a handful covers Prometheus, a probe and a curl
    /// without letting a flood of idle connections hold descriptors.
    static let maxConnections = 16
    /// A connection with nothing to read for this long is closed (scrape intervals are ≤ 60 s
    /// and Prometheus reconnects at will).
    static let idleTimeout: TimeAmount = .seconds(75)

    let server: NIOAsyncChannel<Connection, Never>
    let address: ListenAddress
    private let open = Atomic<Int>(0)

    /// Binds `address`.
    /// - Throws: `KeelError(.invalidParams)` in one sentence when the address cannot be bound
    ///   (in use, not a local address, permission), so `keel serve` stops at start.
    static func bind(_ address: ListenAddress, group: any EventLoopGroup) async throws -> MetricsListener {
        let server: NIOAsyncChannel<Connection, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                        try channel.pipeline.syncOperations.addHandler(CloseWhenIdle())
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        return try Connection(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw KeelError(
                .invalidParams, "cannot listen for metrics on \(address) (--metrics-listen): \(Self.reason(error))",
                cause: error)
        }
        let port = server.channel.localAddress?.port ?? address.port
        return MetricsListener(server: server, address: ListenAddress(host: address.host, port: port))
    }

    /// The bind failure in words: "the address is in use" rather than NIO's errno dump.
    private static func reason(_ error: any Error) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case EADDRINUSE: return "the address is in use"
            case EADDRNOTAVAIL: return "the host is not an address of this machine"
            case EACCES: return "permission denied (ports below 1024 need privileges)"
            default: return "bind failed (errno \(io.errnoCode))"
            }
        }
        return "\(error)"
    }

    private init(server: NIOAsyncChannel<Connection, Never>, address: ListenAddress) {
        self.server = server
        self.address = address
    }

    /// Serves connections until the listener is closed; each connection is a child task.
    func run(engine: Engine, logger: Logger) async {
        do {
            try await server.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in inbound {
                            guard self.open.add(1, ordering: .relaxed).newValue <= Self.maxConnections else {
                                self.open.subtract(1, ordering: .relaxed)
                                connection.channel.close(promise: nil)
                                continue
                            }
                            group.addTask {
                                defer { self.open.subtract(1, ordering: .relaxed) }
                                await Self.serve(connection, engine: engine, logger: logger)
                            }
                        }
                    } catch {
                        logger.error("metrics listener failed", metadata: ["error": "\(error)"])
                    }
                    // The listener closed (shutdown): end kept-alive connections now rather than
                    // at their idle timeout, so shutdown does not wait for a scraper.
                    group.cancelAll()
                }
            }
        } catch {
            logger.error("metrics listener failed", metadata: ["error": "\(error)"])
        }
    }

    /// Stops accepting; open connections end when their peer or idle timeout closes them.
    func close() { server.channel.close(promise: nil) }

    private static func serve(_ connection: Connection, engine: Engine, logger: Logger) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                for try await part in inbound {
                    switch part {
                    case .head(let h): head = h
                    case .body: continue  // nothing here takes a body; it is read and dropped
                    case .end:
                        guard let request = head else { continue }
                        head = nil
                        let reply = await MetricsRoute(method: request.method, uri: request.uri).reply(engine: engine)
                        try await reply.write(to: outbound, version: request.version, keepAlive: request.isKeepAlive)
                        if !request.isKeepAlive { return }
                    }
                }
            }
        } catch {
            logger.debug("metrics connection ended", metadata: ["error": "\(error)"])
        }
    }
}

/// Closes a connection that the `IdleStateHandler` before it reports idle.
private final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

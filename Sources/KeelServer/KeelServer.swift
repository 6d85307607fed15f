import Glibc
public import KeelCore
public import KeelEngine
public import KeelProtocol
public import KeelStorage
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// The orchestrator as one service: store, engine, listeners and stdio workers, started in
/// dependency order and stopped in reverse (drain work, stop listeners, stop workers, close store).
public final class KeelServer: Service, Sendable {
    /// Everything `keel serve` can set.
    public struct Options: Sendable {
        public var databasePath: String
        public var durability: Durability = .full
        public var socketPath: String?
        /// `host:port` for the TCP listener; needs `token`.
        public var tcpAddress: (host: String, port: Int)?
        public var token: String?
        public var workers: [WorkerSpec] = []
        /// Extra environment variable names passed to spawned workers.
        public var passEnvironment: Set<String> = []
        public var limits = RPCChannel.Limits()
        /// Caps on listener connections before and after the handshake.
        public var connections = ConnectionLimits()
        public var engine = Engine.Options()

        public init(databasePath: String) { self.databasePath = databasePath }
    }

    /// Where the server ended up listening, once ready.
    public struct Endpoints: Sendable {
        public var socketPath: String?
        public var tcpPort: Int?
    }

    let options: Options
    let logger: Logger
    let clock: any WallClock
    private let readiness = Mutex<(Endpoints?, [CheckedContinuation<Endpoints, any Error>], (any Error)?)>((nil, [], nil))
    private let stopSignal = OneShotSignal()

    public init(options: Options, clock: any WallClock = SystemClock(), logger: Logger) {
        self.options = options
        self.clock = clock
        self.logger = logger
    }

    /// Waits until the store is open and every listener is bound.
    /// - Throws: the start-up error if the server failed to start.
    public func ready() async throws -> Endpoints {
        try await withCheckedThrowingContinuation { c in
            let immediate: Result<Endpoints, any Error>? = readiness.withLock { s in
                if let e = s.0 { return .success(e) }
                if let err = s.2 { return .failure(err) }
                s.1.append(c)
                return nil
            }
            if let immediate { c.resume(with: immediate) }
        }
    }

    private func markReady(_ result: Result<Endpoints, any Error>) {
        let waiters = readiness.withLock { s -> [CheckedContinuation<Endpoints, any Error>] in
            switch result {
            case .success(let e): s.0 = e
            case .failure(let err): s.2 = err
            }
            defer { s.1 = [] }
            return s.1
        }
        for w in waiters { w.resume(with: result) }
    }

    /// Asks the server to drain and stop, as SIGTERM does.
    public func stop() { stopSignal.fire() }

    public func run() async throws {
        do {
            try await runServer()
        } catch {
            markReady(.failure(error))
            throw error
        }
    }

    private func runServer() async throws {
        let storage = try SQLiteStorage(path: options.databasePath, durability: options.durability)
        let engine = Engine(
            storage: storage, clock: clock, checker: SchemaContractChecker(), options: options.engine, logger: logger)
        let stop = stopSignal
        await engine.setShutdownHandler { stop.fire() }
        try await engine.recover()

        let group = MultiThreadedEventLoopGroup.singleton
        let handshakeBytes = min(options.connections.maxHandshakeFrameBytes, options.limits.maxFrameBytes)
        let admission = makeAdmission()
        var unixServer: NIOAsyncChannel<AcceptedChannel, Never>?
        var tcpServer: NIOAsyncChannel<AcceptedChannel, Never>?
        var endpoints = Endpoints()
        if let path = options.socketPath {
            try UnixSocketPath.prepare(path)
            // Owner-only (0600) from the first moment anyone can reach it: bind inside a private
            // 0700 directory, chmod, then rename into place. (A umask would be process-wide and
            // race with anything else this process creates.)
            let staging = try UnixSocketPath.stagingPath(for: path)
            unixServer = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .bind(unixDomainSocketPath: staging.socket) { AcceptedChannel.configure($0, handshakeBytes: handshakeBytes) }
            try UnixSocketPath.publish(staging, at: path)
            endpoints.socketPath = path
        }
        if let (host, port) = options.tcpAddress {
            guard let token = options.token, !token.isEmpty else {
                throw KeelError(.invalidParams, "TCP needs a token (--token or --token-file): anyone who can reach the port could run work")
            }
            _ = token
            tcpServer = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port) { AcceptedChannel.configure($0, handshakeBytes: handshakeBytes) }
            endpoints.tcpPort = tcpServer?.channel.localAddress?.port
        }
        let supervisor = WorkerSupervisor(
            engine: engine, limits: options.limits, passEnvironment: options.passEnvironment, socketPath: options.socketPath,
            logger: logger)
        logger.info(
            "keel is serving",
            metadata: [
                "db": "\(options.databasePath)", "sync": "\(options.durability.rawValue)",
                "socket": "\(endpoints.socketPath ?? "-")", "tcp": "\(endpoints.tcpPort.map(String.init) ?? "-")",
            ])
        markReady(.success(endpoints))
        let unixListener = unixServer, tcpListener = tcpServer

        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await engine.run() }
                if let unixListener {
                    group.addTask {
                        await self.accept(unixListener, transport: "unix", token: nil, engine: engine, admission: admission)
                    }
                }
                if let tcpListener {
                    group.addTask {
                        await self.accept(
                            tcpListener, transport: "tcp", token: self.options.token, engine: engine, admission: admission)
                    }
                }
                for spec in options.workers {
                    group.addTask { await supervisor.supervise(spec) }
                }
                group.addTask {
                    await stop.wait()
                    self.logger.info("shutting down: draining running attempts")
                    await engine.shutdown()
                    unixListener?.channel.close(promise: nil)
                    tcpListener?.channel.close(promise: nil)
                    supervisor.stop()
                    await engine.closeAllSessions()
                }
            }
        } onGracefulShutdown: {
            stop.fire()
        }
        await storage.close()
        if let path = options.socketPath { unlink(path) }
        logger.info("keel stopped")
    }
}

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
        /// `host:port` for the TCP listener; needs at least one token.
        public var tcpAddress: (host: String, port: Int)?
        /// The admin token (`--token`, `--token-file`, `$KEEL_TOKEN`).
        public var token: String?
        /// The client-role token (`--client-token-file`).
        public var clientToken: String?
        /// The worker-role token (`--worker-token-file`) and the names it may serve (`--worker-names`).
        public var workerToken: String?
        public var workerNames: NameAllowList = .all
        /// Unix-socket peers must present a token too (`--socket-requires-token`); by default
        /// the socket's 0600 mode is its authentication and its peers are admin.
        public var socketRequiresToken = false
        public var workers: [WorkerSpec] = []
        /// Extra environment variable names passed to spawned workers.
        public var passEnvironment: Set<String> = []
        public var limits = RPCChannel.Limits()
        /// Caps on listener connections before and after the handshake.
        public var connections = ConnectionLimits()
        public var engine = Engine.Options()
        /// TLS on the TCP listener (`--tls-cert`, `--tls-key`, …); nil: TCP is clear text.
        public var tls: ServerTLSOptions?
        /// Where to serve `GET /metrics` and `GET /healthz` (`--metrics-listen`); nil: no metrics
        /// listener and no metrics backend. Port 0 takes a free port (see ``Endpoints/metricsPort``).
        public var metricsAddress: ListenAddress?
        /// Opens the shared store this node runs on (`--store postgres://…`); nil: the SQLite file
        /// at ``databasePath``. Set by the command line, which links the PostgreSQL driver.
        public var sharedStore: SharedStore?
        /// Listeners run beside the orchestrator's own, such as the web UI (`--http`).
        public var sidecars: [any Sidecar] = []

        public init(databasePath: String) { self.databasePath = databasePath }
    }

    /// A store shared by several nodes, and this node's lease on it (docs/scaling.md).
    public struct SharedStore: Sendable {
        /// What the start-up log shows (a URL with its password redacted).
        public var description: String
        public var open: @Sendable () async throws -> any Store
        public var lease = NodeMembership.Settings()
        public var pollInterval: Duration = .milliseconds(50)

        public init(description: String, open: @escaping @Sendable () async throws -> any Store) {
            self.description = description
            self.open = open
        }
    }

    /// Where the server ended up listening, once ready.
    public struct Endpoints: Sendable {
        public var socketPath: String?
        public var tcpPort: Int?
        /// The metrics listener's bound port (the real one when port 0 was asked for).
        public var metricsPort: Int?
        /// Each sidecar's bound port, by its name (`http` for the web UI).
        public var sidecarPorts: [String: Int] = [:]
    }

    let options: Options
    let logger: Logger
    let clock: any WallClock
    private let readiness = Locked<(Endpoints?, [CheckedContinuation<Endpoints, any Error>], (any Error)?)>((nil, [], nil))
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

    /// The tokens every listener checks, validated (length, one per role).
    var credentials: Credentials {
        Credentials(
            adminToken: options.token, clientToken: options.clientToken, workerToken: options.workerToken,
            workerNames: options.workerNames)
    }

    /// What each listener grants, for the start-up log line (never a token): e.g.
    /// `socket=admin tokens=admin,worker(greet.*)`.
    var accessSummary: String {
        var tokens: [String] = []
        if options.token != nil { tokens.append("admin") }
        if options.clientToken != nil { tokens.append("client") }
        if options.workerToken != nil { tokens.append("worker(\(options.workerNames))") }
        let socket = options.socketRequiresToken ? "token" : "admin"
        return "socket=\(socket) tokens=\(tokens.isEmpty ? "none" : tokens.joined(separator: ",")) spawned=worker+client"
    }

    private func runServer() async throws {
        let credentials = self.credentials
        try credentials.validate()
        if options.socketRequiresToken && credentials.isEmpty {
            throw KeelError(.invalidParams, "--socket-requires-token needs a token (--token-file, --client-token-file or --worker-token-file)")
        }
        // Before anything records a metric: swift-metrics binds each metric object to the backend
        // of the moment it was made.
        if options.metricsAddress != nil || options.sidecars.contains(where: \.servesMetrics) {
            MetricsExposition.bootstrap()
        }
        let (engine, closeStore) = try await makeEngine()
        let stop = stopSignal
        await engine.setShutdownHandler { stop.fire() }
        try await engine.recover()

        let group = MultiThreadedEventLoopGroup.singleton
        let handshakeBytes = min(options.connections.maxHandshakeFrameBytes, options.limits.maxFrameBytes)
        let admission = makeAdmission()
        var unixServer: NIOAsyncChannel<AcceptedChannel, Never>?
        var tcpServer: NIOAsyncChannel<AcceptedChannel, Never>?
        var endpoints = Endpoints()
        var metricsListener: MetricsListener?
        if let address = options.metricsAddress {
            do {
                metricsListener = try await MetricsListener.bind(address, group: group)
            } catch {
                await closeStore()
                throw error
            }
            endpoints.metricsPort = metricsListener?.address.port
        }
        var started: [any Sidecar] = []
        for sidecar in options.sidecars {
            do {
                endpoints.sidecarPorts[sidecar.name] = try await sidecar.start(engine: engine, logger: logger)
                started.append(sidecar)
            } catch {
                for s in started { s.close() }
                metricsListener?.close()
                await closeStore()
                throw error
            }
        }
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
            guard !credentials.isEmpty || certificateGrant != nil else {
                throw KeelError(
                    .invalidParams,
                    "TCP needs a token (--token-file, --client-token-file or --worker-token-file): anyone who can reach the port could run work")
            }
            let tls = try makeTLS(admission: admission)
            tcpServer = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port) { AcceptedChannel.configure($0, handshakeBytes: handshakeBytes, tls: tls) }
            endpoints.tcpPort = tcpServer?.channel.localAddress?.port
        }
        let supervisor = WorkerSupervisor(
            engine: engine, limits: options.limits, passEnvironment: options.passEnvironment, socketPath: options.socketPath,
            credentials: credentials, logger: logger)
        logger.info(
            "keel is serving",
            metadata: [
                "db": "\(options.sharedStore?.description ?? options.databasePath)", "sync": "\(options.durability.rawValue)",
                "socket": "\(endpoints.socketPath ?? "-")", "tcp": "\(endpoints.tcpPort.map(String.init) ?? "-")",
                "access": "\(accessSummary)", "tls": "\(tlsSummary)",
                "metrics": "\(metricsListener.map { "http://\($0.address)/metrics" } ?? "-")",
            ])
        markReady(.success(endpoints))
        let unixListener = unixServer, tcpListener = tcpServer, metrics = metricsListener, sidecars = started

        // A cancelled server (its service group cancelled it) stops in the same order as a drained one.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { group in
                    group.addTask { await engine.run() }
                    if let unixListener {
                        let anonymous: Grant? = self.options.socketRequiresToken ? nil : .admin("local-socket")
                        group.addTask {
                            await self.accept(
                                unixListener, transport: "unix", credentials: credentials, anonymous: anonymous, engine: engine,
                                admission: admission)
                        }
                    }
                    if let tcpListener {
                        group.addTask {
                            await self.accept(
                                tcpListener, transport: "tcp", credentials: credentials, anonymous: self.certificateGrant,
                                engine: engine,
                                admission: admission)
                        }
                    }
                    if let metrics {
                        group.addTask { await metrics.run(engine: engine, logger: self.logger) }
                    }
                    for sidecar in sidecars {
                        group.addTask { await sidecar.run() }
                    }
                    for spec in options.workers {
                        group.addTask { await supervisor.supervise(spec) }
                    }
                    group.addTask { await HeapTrim.run(until: stop) { await engine.compactTables() } }
                    group.addTask {
                        await stop.wait()
                        self.logger.info("shutting down: draining running attempts")
                        supervisor.stopRestarting()
                        await engine.shutdown()
                        unixListener?.channel.close(promise: nil)
                        tcpListener?.channel.close(promise: nil)
                        metrics?.close()
                        for sidecar in sidecars { sidecar.close() }
                        supervisor.stop()
                        await engine.closeAllSessions()
                    }
                }
            } onGracefulShutdown: {
                stop.fire()
            }
        } onCancel: {
            stop.fire()
        }
        await closeStore()
        if let path = options.socketPath { unlink(path) }
        logger.info("keel stopped")
    }
}

extension KeelServer {
    /// The engine on the SQLite file, or as a node of the shared store (joined before it serves),
    /// and how to close its store at the end.
    fileprivate func makeEngine() async throws -> (Engine, @Sendable () async -> Void) {
        let checker = SchemaContractChecker()
        guard let shared = options.sharedStore else {
            let storage = try SQLiteStorage(path: options.databasePath, durability: options.durability)
            let engine = Engine(storage: storage, clock: clock, checker: checker, options: options.engine, logger: logger)
            return (engine, { await storage.close() })
        }
        let store = try await shared.open()
        let membership = NodeMembership(store: store, settings: shared.lease, logger: logger)
        do {
            try await membership.join()
        } catch {
            await store.close()
            throw error
        }
        let node = ClusterNode(store: store, membership: membership, pollInterval: shared.pollInterval)
        let engine = Engine(cluster: node, clock: clock, checker: checker, options: options.engine, logger: logger)
        return (engine, { await store.close() })
    }
}

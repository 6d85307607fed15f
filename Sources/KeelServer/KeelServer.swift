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

        /// Options for the store at `databasePath`; large frames, large payloads' validations and
        /// contract compilations run on NIO's blocking thread pool (``ThreadPoolExecutor``).
        public init(databasePath: String) {
            self.databasePath = databasePath
            let longWork = ThreadPoolExecutor()
            limits.longWork = longWork
            engine.longWork = longWork
        }
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
    private let readiness = Locked<(Endpoints?, [CheckedContinuation<Endpoints, any Error>], (any Error)?)>(
        (nil, [], nil))
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

    /// Starts the server and runs its parts in a service group of their own until it stopped.
    /// (`keel serve` puts the parts of ``start()`` in its own group, with the signal handlers.)
    /// Cancelled, or shut down gracefully as a service of another group, it stops in the same
    /// order as after ``stop()``.
    public func run() async throws {
        let services = try await start()
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        let stop = stopSignal
        // Unstructured, so that cancelling this task stops the parts in order instead of all at once.
        let running = Task { try await group.run() }
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await running.value
            } onGracefulShutdown: {
                stop.fire()
            }
        } onCancel: {
            stop.fire()
        }
    }

    /// Opens the store, recovers, binds every listener and reports ready (``ready()``); returns the
    /// parts as services for one `ServiceGroup`, in start order. The group stops them in reverse:
    /// a stop request ends the first to stop, the engine drains, then the timers stop, the
    /// listeners close, the spawned workers stop, and last the store closes (ServerServices.swift).
    /// - Throws: the start-up error (bad options, a store that cannot open, a port in use); what
    ///   was opened is closed again.
    public func start() async throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        do {
            return try await startParts()
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
        return
            "socket=\(socket) tokens=\(tokens.isEmpty ? "none" : tokens.joined(separator: ",")) spawned=worker+client"
    }

    private func startParts() async throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let credentials = self.credentials
        try credentials.validate()
        if options.socketRequiresToken && credentials.isEmpty {
            throw KeelError(
                .invalidParams,
                "--socket-requires-token needs a token (--token-file, --client-token-file or --worker-token-file)")
        }
        // Before anything records a metric: swift-metrics binds each metric object to the backend
        // of the moment it was made.
        if options.metricsAddress != nil || options.sidecars.contains(where: \.servesMetrics) {
            MetricsExposition.bootstrap()
        }
        let (engine, membership, closeStore) = try await makeEngine()
        let stop = stopSignal
        await engine.setShutdownHandler { stop.fire() }

        let group = MultiThreadedEventLoopGroup.singleton
        let handshakeBytes = min(options.connections.maxHandshakeFrameBytes, options.limits.maxFrameBytes)
        let admission = makeAdmission()
        var unixServer: NIOAsyncChannel<AcceptedChannel, Never>?
        var tcpServer: NIOAsyncChannel<AcceptedChannel, Never>?
        var endpoints = Endpoints()
        var metricsListener: MetricsListener?
        var started: [any Sidecar] = []
        // The Unix socket's private directory, until the socket is moved out of it into place.
        var staging: (directory: String, socket: String)?
        do {
            try await engine.recover()
            if let address = options.metricsAddress {
                metricsListener = try await MetricsListener.bind(address, group: group)
                endpoints.metricsPort = metricsListener?.address.port
            }
            for sidecar in options.sidecars {
                endpoints.sidecarPorts[sidecar.name] = try await sidecar.start(engine: engine, logger: logger)
                started.append(sidecar)
            }
            if let path = options.socketPath {
                try UnixSocketPath.prepare(path)
                // Owner-only (0600) from the first moment anyone can reach it: bind inside a private
                // 0700 directory, chmod, then rename into place. (A umask would be process-wide and
                // race with anything else this process creates.)
                let staged = try UnixSocketPath.stagingPath(for: path)
                staging = staged
                unixServer = try await ServerBootstrap(group: group)
                    .serverChannelOption(.backlog, value: 256)
                    .bind(unixDomainSocketPath: staged.socket) {
                        AcceptedChannel.configure($0, handshakeBytes: handshakeBytes)
                    }
            }
            if let (host, port) = options.tcpAddress {
                guard !credentials.isEmpty || certificateGrant != nil else {
                    throw KeelError(
                        .invalidParams,
                        "TCP needs a token (--token-file, --client-token-file or --worker-token-file): anyone who can reach the port could run work"
                    )
                }
                let tls = try makeTLS(admission: admission)
                tcpServer = try await ServerBootstrap(group: group)
                    .serverChannelOption(.backlog, value: 256)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                    .bind(host: host, port: port) {
                        AcceptedChannel.configure($0, handshakeBytes: handshakeBytes, tls: tls)
                    }
                endpoints.tcpPort = tcpServer?.channel.localAddress?.port
            }
            // The socket appears last: a client that sees it (tests, scripts, `keel dev`'s workers)
            // finds every other listener bound too.
            if let path = options.socketPath, let staged = staging {
                try UnixSocketPath.publish(staged, at: path)
                staging = nil
                endpoints.socketPath = path
            }
        } catch {
            // Whatever opened before the failure closes again, the store last.
            tcpServer?.channel.close(promise: nil)
            unixServer?.channel.close(promise: nil)
            if let staged = staging {
                UnixSocketPath.discard(staged)
            } else if let path = endpoints.socketPath {
                unlink(path)
            }
            for s in started { s.close() }
            metricsListener?.close()
            await leave(membership)
            await closeStore()
            throw error
        }
        let supervisor = WorkerSupervisor(
            engine: engine, limits: options.limits, passEnvironment: options.passEnvironment,
            socketPath: options.socketPath,
            credentials: credentials, logger: logger)
        let nodeId = membership.lease?.nodeId
        logger.info(
            "keel is serving",
            metadata: [
                "db": "\(options.sharedStore?.description ?? options.databasePath)",
                "sync": "\(options.durability.rawValue)",
                "socket": "\(endpoints.socketPath ?? "-")", "tcp": "\(endpoints.tcpPort.map(String.init) ?? "-")",
                "access": "\(accessSummary)", "tls": "\(tlsSummary)",
                "metrics": "\(metricsListener.map { "http://\($0.address)/metrics" } ?? "-")",
                "node": "\(nodeId ?? "-")",
            ])
        markReady(.success(endpoints))
        let socketPath = options.socketPath
        let logger = self.logger
        var listeners: [any ServerPart] = []
        if let unixServer {
            let anonymous: Grant? = options.socketRequiresToken ? nil : .admin("local-socket")
            listeners.append(
                ListenerService(
                    name: "unix listener", logger: logger,
                    serve: {
                        await self.accept(
                            unixServer, transport: "unix", credentials: credentials, anonymous: anonymous,
                            engine: engine,
                            admission: admission)
                    },
                    close: { unixServer.channel.close(promise: nil) },
                    closed: { if let socketPath { unlink(socketPath) } }))
        }
        if let tcpServer {
            let anonymous = certificateGrant
            listeners.append(
                ListenerService(
                    name: "tcp listener", logger: logger,
                    serve: {
                        await self.accept(
                            tcpServer, transport: "tcp", credentials: credentials, anonymous: anonymous, engine: engine,
                            admission: admission)
                    },
                    close: { tcpServer.channel.close(promise: nil) }))
        }
        if let metricsListener {
            listeners.append(
                ListenerService(
                    name: "metrics listener", logger: logger,
                    serve: { await metricsListener.run(engine: engine, logger: logger) },
                    close: { metricsListener.close() }))
        }
        for sidecar in started {
            listeners.append(
                ListenerService(
                    name: "\(sidecar.name) sidecar", logger: logger, serve: { await sidecar.run() },
                    close: { sidecar.close() }))
        }
        let parts: [any ServerPart] =
            [
                StoreService(engine: engine) {
                    // Drained, its claims given back: a node leaves the cluster, so the others stop
                    // listing its workers and take what it still held at once, not after its lease.
                    await self.leave(membership)
                    await closeStore()
                    logger.info("keel stopped")
                },
                WorkerSupervisorService(supervisor: supervisor, specs: options.workers),
            ] + listeners + [
                HeapTrimService(engine: engine),
                TimerService(engine: engine),
                EngineService(engine: engine) {
                    logger.info("shutting down: draining running attempts")
                    supervisor.stopRestarting()
                },
                StopRequestService(signal: stop),
            ]
        // Whichever part ends first — a stop request, or one that failed — stops the rest in order.
        return parts.map {
            .init(
                service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: $0.name)
        }
    }
}

extension KeelServer {
    /// A node that stops (or whose start failed after it joined) leaves at once, so that no live
    /// membership row outlasts the process: the others would list its workers and wait for its
    /// lease to run out before taking what it held.
    fileprivate func leave(_ membership: NodeMembership) async {
        do {
            try await membership.leave()
        } catch {
            logger.warning("the node could not leave the cluster; its lease runs out instead",
                metadata: ["error": "\(error)"])
        }
    }

    /// The SQLite file at ``Options/databasePath`` as a store with one node: its lease never runs
    /// out (the file's lock keeps every other process out), and at open the previous process's
    /// node is retired and what an earlier version left in the file is taken over
    /// (``SQLiteStore/adoptLocalPathState()``), so their work runs again at once.
    fileprivate func sqliteNode() throws -> SharedStore {
        let storage = try SQLiteStorage(path: options.databasePath, durability: options.durability, clock: clock)
        let logger = logger
        var shared = SharedStore(description: options.databasePath) {
            let store = SQLiteStore(storage: storage)
            let retired: [String]
            let adopted: SQLiteStore.LocalPathState
            do {
                retired = try await store.retireRecordedNodes()
                adopted = try await store.adoptLocalPathState()
            } catch {
                await storage.close()
                throw error
            }
            if !retired.isEmpty { logger.info("the previous process's node is gone", metadata: ["nodes": "\(retired)"]) }
            if !adopted.isEmpty {
                logger.notice("took over what an earlier Keel version left in the file",
                    metadata: ["timers": "\(adopted.timers)", "executions": "\(adopted.executions)", "tasks": "\(adopted.tasks)"])
            }
            return store
        }
        shared.lease = .soleNodeOfItsStore
        return shared
    }

    /// The engine as a node of its store, joined before it serves (the SQLite file's only node,
    /// or one of the nodes of the shared store), its membership, and how to close its store at
    /// the end.
    fileprivate func makeEngine() async throws -> (Engine, NodeMembership, @Sendable () async -> Void) {
        let shared = try options.sharedStore ?? sqliteNode()
        let checker = SchemaContractChecker()
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
        return (engine, membership, { await store.close() })
    }
}

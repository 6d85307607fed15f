import ArgumentParser
import Foundation
import NIOCore
import KeelCore
import KeelEngine
import KeelServer
import KeelStorage
import Logging
import ServiceLifecycle
import UnixSignals
import KeelProtocol
#if canImport(KeelPostgres)
import KeelPostgres
#endif

/// `keel serve`: the orchestrator.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the orchestrator: the store, the listeners and the workers it spawns.")

    @Option(help: "SQLite database file (created if missing).") var db = "keel.db"
    @Option(help: "Where the state lives: sqlite:PATH (as --db), or postgres://USER@HOST[:PORT]/DB[?host=SOCKETDIR] shared by several nodes (docs/scaling.md).")
    var store: String?
    @Option(help: "With a postgres:// store: how long this node's lease lasts without a renewal before other nodes take its work over (ms).")
    var nodeLeaseMs: Int64 = 10_000
    @Option(help: "With a postgres:// store: how often this node looks for ready tasks and for the end of tasks its callers wait on elsewhere (ms).")
    var clusterPollMs: Int64 = 50
    @Option(help: "With a postgres:// store: how many write transactions this node runs at once; writes that arrive while all are busy share the next one (0: each write its own transaction).")
    var commitSlots = 4
    @Option(help: "Unix socket to listen on (mode 0600).") var socket = "keel.sock"
    @Option(help: "Also listen on TCP host:port (needs a token file; TLS with --tls-cert and --tls-key).") var tcp: String?
    @Option(help: "The admin token (visible in /proc: prefer --token-file or $KEEL_TOKEN).") var token: String?
    @Option(help: "File holding the admin token (mode 0600; make one with keel token new).") var tokenFile: String?
    @Option(help: "File holding the client-role token (start, signal, query, call, read).") var clientTokenFile: String?
    @Option(help: "File holding the worker-role token (register, answer its attempts, heartbeat).") var workerTokenFile: String?
    @Option(help: "Names the worker token may serve, e.g. 'greet.*,billing.charge' (default: all).") var workerNames: String?
    @ArgumentParser.Flag(help: "Unix-socket peers must present a token too (default: the socket's 0600 mode makes them admin).")
    var socketRequiresToken = false
    @Option(name: .customLong("worker"), help: "Spawn and supervise a stdio worker: a command line (repeatable).")
    var workers: [String] = []
    @Option(
        name: .customLong("mcp"),
        help: "Spawn and supervise an MCP server as a worker: NAME=\"COMMAND ARGS\"; its tools become activities mcp.NAME.TOOL (repeatable).")
    var mcpServers: [String] = []
    @OptionGroup(title: "TLS on the TCP listener") var tls: ServeTLSOptions
    @Option(help: "Commit durability: full (fsync each commit, default) or normal.") var sync = "full"
    @Option(help: "Largest message in bytes (default 16 MiB).") var maxMessageBytes = 16 * 1024 * 1024
    @Option(help: "Environment variable passed to spawned workers (repeatable).") var passEnv: [String] = []
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(help: "NIO event loop threads (default 1: fewer thread wake-ups per message; see docs/performance.md).")
    var eventLoops = 1
    @ArgumentParser.Flag(
        inversion: .prefixedNo,
        help: "Run Swift concurrency on the event loops (the default): half the thread crossings and shorter latency; --no-concurrency-on-event-loops keeps Swift's own pool, up to 13% more throughput under a flood on 2 cores (docs/performance.md).")
    var concurrencyOnEventLoops = true
    @OptionGroup(title: "Limits") var limits: LimitOptions
    @Option(
        name: .customLong("activity-limit"),
        help: "Limit an activity across all workers: NAME=concurrency:N,rate:N/s (or /m, /h; repeatable; as keel.json's \"activities\").")
    var activityLimits: [String] = []
    @OptionGroup(title: "Invariant check") var invariant: InvariantOptions
    @Option(help: "Serve GET /metrics (Prometheus) and GET /healthz over HTTP on HOST:PORT (port 0: any free port; off by default).")
    var metricsListen: String?
    @OptionGroup(title: "Web UI") var web: WebOptions
    @Option(help: "Append a span per workflow execution and activity attempt to this file as OTLP/JSON lines (off by default; docs/traces.md).")
    var traceFile: String?

    func validate() throws {
        _ = try databasePath()
        guard (1_000...600_000).contains(nodeLeaseMs) else { throw ValidationError("--node-lease-ms must be from 1000 to 600000") }
        guard (1...10_000).contains(clusterPollMs) else { throw ValidationError("--cluster-poll-ms must be from 1 to 10000") }
        guard (0...64).contains(commitSlots) else { throw ValidationError("--commit-slots must be from 0 to 64") }
        guard Durability(rawValue: sync) != nil else { throw ValidationError("--sync takes full or normal") }
        guard maxMessageBytes >= 1024, maxMessageBytes <= 1 << 30 else {
            throw ValidationError("--max-message-bytes must be from 1024 to 1073741824")
        }
        if token != nil && tokenFile != nil { throw ValidationError("use --token or --token-file, not both") }
        if workerNames != nil && workerTokenFile == nil && tls.tlsClientRole != "worker" {
            throw ValidationError("--worker-names needs --worker-token-file (or --tls-client-role worker)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard (1...64).contains(eventLoops) else { throw ValidationError("--event-loops must be from 1 to 64") }
        try tls.validate(tcp: tcp)
        for server in mcpServers { _ = try MCPWorkerSpec.make(server) }
        do { _ = try ActivityLimit.parseAssignments(activityLimits) } catch let error as KeelError { throw ValidationError(error.message) }
    }

    func run() async throws {
        useEventLoops(eventLoops)
        var logger = Logger(label: "keel")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        if let notice = EventLoopExecutor.notice { logger.warning("\(notice)") }
        var options = KeelServer.Options(databasePath: try databasePath())
        options.sharedStore = try sharedStore()
        options.durability = Durability(rawValue: sync) ?? .full
        options.socketPath = socket
        options.limits.maxFrameBytes = maxMessageBytes
        options.engine.maxMessageBytes = maxMessageBytes
        options.passEnvironment = Set(passEnv)
        limits.apply(to: &options)
        options.engine.activityLimits = try ActivityLimit.parseAssignments(activityLimits)
        invariant.apply(to: &options)
        if let traceFile { options.engine.tracer = try TraceFileOption.tracer(path: traceFile, command: "serve", logger: logger) }
        if let metricsListen {
            do {
                options.metricsAddress = try ListenAddress(parsing: metricsListen)
            } catch let error as KeelError {
                FileHandle.standardError.write(Data("keel serve: --metrics-listen \(error.message)\n".utf8))
                throw ExitCode(1)
            }
        }
        if let tcp {
            let parts = tcp.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--tcp takes host:port") }
            options.tcpAddress = (String(parts[0]), port)
        }
        options.tls = try tls.load()
        try loadCredentials(into: &options, logger: logger)
        try web.apply(to: &options, command: "serve")
        options.workers = try workers.map { try WorkerSpec(command: $0) } + mcpServers.map(MCPWorkerSpec.make)
        let server = KeelServer(options: options, logger: logger)
        do {
            // One group of the server's parts (store, engine, timers, listeners, workers), stopped
            // in order on SIGTERM or SIGINT, from the first moment of start-up.
            try await ServerGroup.run(server, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("keel serve: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

extension Serve {
    /// The SQLite file from `--store sqlite:PATH`, else `--db`.
    func databasePath() throws -> String {
        guard let store else { return db }
        let url: StoreURL
        do { url = try StoreURL(parsing: store) } catch let error as KeelError { throw ValidationError(error.message) }
        switch url {
        case .sqlite(let path):
            return path
        case .postgres:
            return db
        }
    }

    /// The shared store of `--store postgres://…`, nil for SQLite.
    func sharedStore() throws -> KeelServer.SharedStore? {
        guard let store, case .postgres(let location) = try StoreURL(parsing: store) else { return nil }
        #if canImport(KeelPostgres)
        let slots = commitSlots
        var shared = KeelServer.SharedStore(description: StoreURL.redacted(store)) {
            let postgres = try await PostgresStore(location)
            return slots == 0 ? postgres : GroupCommitStore(postgres, maximumInFlight: slots)
        }
        shared.lease = NodeMembership.Settings(leaseMillis: nodeLeaseMs)
        shared.pollInterval = .milliseconds(clusterPollMs)
        return shared
        #else
        throw ValidationError("this keel was built without PostgreSQL (KEEL_WITHOUT_POSTGRES=1); use --store sqlite:PATH")
        #endif
    }

    /// Reads the tokens: admin from `--token-file`, `--token` (with a warning) or `$KEEL_TOKEN`;
    /// client and worker from their files. Token files must be owner-only.
    func loadCredentials(into options: inout KeelServer.Options, logger: Logger) throws {
        do {
            if let tokenFile {
                options.token = try TokenFile.read(tokenFile)
            } else if let token {
                logger.warning(
                    "--token on the command line is visible to other local users in /proc/PID/cmdline; use --token-file or $KEEL_TOKEN")
                options.token = token
            } else if let env = ProcessInfo.processInfo.environment["KEEL_TOKEN"], !env.isEmpty {
                options.token = env
            }
            options.clientToken = try clientTokenFile.map(TokenFile.read)
            options.workerToken = try workerTokenFile.map(TokenFile.read)
            if let workerNames { options.workerNames = try NameAllowList(parsing: workerNames) }
        } catch let error as KeelError {
            FileHandle.standardError.write(Data("keel serve: \(error.message)\n".utf8))
            throw ExitCode(2)
        }
        options.socketRequiresToken = socketRequiresToken
        if tcp != nil, options.token == nil, options.clientToken == nil, options.workerToken == nil,
            options.tls?.clientRole == nil
        {
            throw ValidationError(
                "--tcp needs a token: --token-file, --client-token-file, --worker-token-file or $KEEL_TOKEN (or --tls-client-ca with --tls-client-role)")
        }
    }
}

/// Sizes NIO's shared event loop group before anything uses it. One loop measured best on 2 cores
/// (W3 1.37 → 1.11 ms per activity, W2 p99 3.60 → 3.04 ms; docs/performance.md).
func useEventLoops(_ count: Int) {
    // Already sized at the top of `main`, where Swift concurrency was moved onto the loops.
    guard EventLoopExecutor.installedLoopCount == nil else { return }
    NIOSingletons.groupLoopCountSuggestion = count
}

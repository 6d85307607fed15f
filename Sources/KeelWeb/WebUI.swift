import Foundation
import Hummingbird
public import KeelCore
public import KeelEngine
import KeelMCP
public import KeelServer
public import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// `keel serve --http HOST:PORT`: the web UI (docs/ui.md) as a ``Sidecar`` of the orchestrator,
/// on Hummingbird. Server-rendered pages, live updates by server-sent events, and `/metrics`,
/// `/healthz` and `/readyz` on the same listener.
public final class WebUI: Sidecar {
    /// Everything `--http…` sets.
    public struct Options: Sendable {
        public var address: ListenAddress
        /// `--http-read-only`: no action forms, and every action is refused with 403.
        public var readOnly = false
        /// Off loopback: the token that may act (the serve's admin token).
        public var adminToken: String?
        /// Off loopback: the token that may read (the serve's client token).
        public var clientToken: String?
        /// When the port is taken, try the next ones, then any free port (`keel dev`).
        public var nextFreePortIfTaken = false

        public init(address: ListenAddress) { self.address = address }
    }

    public let name = "http"
    public var servesMetrics: Bool { true }
    let options: Options
    private let running = Mutex<(task: Task<Void, Never>, group: ServiceGroup, events: LiveEvents)?>(nil)
    /// How long a graceful stop may take before the server task is cancelled.
    static let stopGraceSeconds = 5

    public init(options: Options) { self.options = options }

    /// Checks `options` before anything starts: off loopback a credential is required.
    /// - Throws: `KeelError(.invalidParams)` in one sentence.
    public func validate() throws {
        if !WebAccess.isLoopback(options.address.host), options.adminToken == nil, options.clientToken == nil {
            throw KeelError(
                .invalidParams,
                "--http \(options.address) is not a loopback address: give a token (--token-file or --client-token-file) so the UI asks for it, or bind 127.0.0.1")
        }
    }

    public func start(engine: Engine, logger: Logger) async throws -> Int {
        try validate()
        let events = LiveEvents()
        let secret = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 16) }.joined()
        let access = WebAccess(
            loopback: WebAccess.isLoopback(options.address.host), readOnly: options.readOnly,
            adminToken: options.adminToken, clientToken: options.clientToken)
        let mcpSession = try await Console(engine: engine, grant: Grant(roles: [.client], identity: "web-mcp"))
        let responder = WebResponder(
            console: try await Console(engine: engine), access: access, guardian: ActionGuard(token: secret), events: events,
            mcp: MCPEndpoint(service: ToolService(keel: mcpSession), access: access))
        var address = options.address
        for _ in 0..<Self.portsTried {
            do {
                return try await serve(responder, events: events, on: address, logger: logger)
            } catch let error as KeelError
                where options.nextFreePortIfTaken && address.port != 0 && (error.cause as? IOError)?.errnoCode == EADDRINUSE
            {
                address.port = address.port < 65535 ? address.port + 1 : 0
            }
        }
        return try await serve(responder, events: events, on: ListenAddress(host: address.host, port: 0), logger: logger)
    }

    /// Ports tried from the asked one up with ``Options/nextFreePortIfTaken`` before any free port.
    static let portsTried = 20

    /// Binds `address` and starts serving; returns the bound port.
    private func serve(_ responder: WebResponder, events: LiveEvents, on address: ListenAddress, logger: Logger) async throws -> Int {
        let bound = BoundPort()
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        let app = Application(
            responder: responder,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in bound.resolve(.success(channel.localAddress?.port ?? 0)) },
            logger: quiet)
        // Its own group without signals: keel's ServiceGroup owns SIGTERM; close() stops this one.
        let group = ServiceGroup(configuration: .init(services: [app], logger: quiet))
        let task = Task {
            do {
                try await group.run()
                bound.resolve(.failure(KeelError(.invalidParams, "the web UI on \(address) stopped before it started")))
            } catch {
                bound.resolve(.failure(KeelError(.invalidParams, "cannot serve the web UI on \(address) (--http): \(Self.reason(error))", cause: error)))
            }
        }
        running.withLock { $0 = (task, group, events) }
        do {
            let port = try await bound.value()
            logger.info("web UI is serving", metadata: ["url": "http://\(ListenAddress(host: address.host, port: port))/"])
            return port
        } catch {
            task.cancel()
            throw error
        }
    }

    /// A bind failure in words rather than NIO's errno dump.
    static func reason(_ error: any Error) -> String {
        guard let io = error as? IOError else { return "\(error)" }
        switch io.errnoCode {
        case EADDRINUSE: return "the address is in use"
        case EADDRNOTAVAIL: return "the host is not an address of this machine"
        case EACCES: return "permission denied (ports below 1024 need privileges)"
        default: return "bind failed (errno \(io.errnoCode))"
        }
    }

    public func run() async {
        await running.withLock { $0 }?.task.value
    }

    /// Ends the live-update streams, stops accepting and lets open requests finish; cancels
    /// the server after ``stopGraceSeconds`` if they have not.
    public func close() {
        guard let (task, group, events) = running.withLock({ $0 }) else { return }
        events.stop()
        Task {
            await group.triggerGracefulShutdown()
            try? await Task.sleep(for: .seconds(Self.stopGraceSeconds))
            task.cancel()
        }
    }
}

/// The bound port, or why binding failed: resolved once, awaited once.
private final class BoundPort: Sendable {
    private let state = Mutex<(Result<Int, any Error>?, CheckedContinuation<Int, any Error>?)>((nil, nil))

    func resolve(_ result: Result<Int, any Error>) {
        let waiter = state.withLock { s -> CheckedContinuation<Int, any Error>? in
            guard s.0 == nil else { return nil }
            s.0 = result
            defer { s.1 = nil }
            return s.1
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> Int {
        try await withCheckedThrowingContinuation { c in
            let ready = state.withLock { s -> Result<Int, any Error>? in
                if let r = s.0 { return r }
                s.1 = c
                return nil
            }
            if let ready { c.resume(with: ready) }
        }
    }
}

import KeelStorage
import Logging
import PostgresNIO
import Synchronization

/// A few connections the store keeps for its writes (``PostgresStore/apply(_:)``), beside
/// postgres-nio's pool.
///
/// Why not the pool for these: each time the pool gives a connection back it arms an idle timer
/// and a keep-alive timer, each three tasks and a clock timer, and cancels both at the next lease,
/// so every write cost several thread wake-ups more than its round trip: with Swift concurrency on
/// the event loop, a sequential workflow of four writes took 16 thread switches of the node
/// through the pool and 8–9 on these (docs/scaling.md, "The pool's timers"). Keeping connections open past a minimum is the
/// pool's own way out, and it crashes this postgres-nio when a kept connection is lost while a
/// lease waits (a precondition in `createNewDemandConnectionIfPossible`, seen in
/// `PostgresRestartTests`), so the store keeps these itself.
///
/// A write takes a free one; when none is free, or none is open yet, it goes to the pool as
/// before, and a missing connection is opened in the background (at most one attempt per
/// ``retryInterval`` while they fail). A connection the server closed, or one a failed write left
/// inside a transaction, is given up and replaced (``mayReuse(_:after:)``). One left unused for
/// ``idleLimit`` is closed when a write next finds it, and that write goes to the pool while a new
/// one opens: these run no keep-alive queries, and a connection idle through a network split may
/// be dead without knowing it. A write stuck on a connection that stopped answering keeps it, as
/// the pool would; ``PostgresStore/perform(_:)``'s deadline answers the caller.
final class WriteConnections: Sendable {
    /// How many connections the set keeps at most.
    let capacity: Int
    /// How long after a failed connect the next attempt may start.
    static let retryInterval: Duration = .seconds(1)
    /// How long a connection may sit unused before a write no longer trusts it (the pool's
    /// keep-alive query runs after 30 s idle).
    let idleLimit: Duration

    /// What the writes did so far.
    struct Statistics: Sendable, Equatable {
        /// Writes that ran on a connection of the set.
        var onSet = 0
        /// Writes that ran on the pool's (none free, or none open yet).
        var onPool = 0
        /// Connections opened.
        var opened = 0
        /// Connections given up: closed by the server, or left inside a transaction by a failed write.
        var replaced = 0
        /// Connections closed because they sat unused past ``WriteConnections/idleLimit``.
        var retiredIdle = 0
    }

    /// A free connection and when it was last given back.
    private struct Free {
        let connection: PostgresConnection
        let since: ContinuousClock.Instant
    }

    private struct State {
        var statistics = Statistics()
        var free: [Free] = []
        /// Open, free or in use, plus those being opened.
        var count = 0
        var nextId = 0
        var notBefore: ContinuousClock.Instant?
        var closed = false
    }

    private let state = Mutex(State())
    private let configuration: @Sendable () throws -> PostgresConnection.Configuration
    private let logger: Logger
    /// Connection ids start here, apart from the pool's.
    private static let firstId = 1_000_000

    /// - Parameters:
    ///   - capacity: how many connections to keep (0: every write goes to the pool).
    ///   - idleLimit: how long a connection may sit unused and still be written on.
    ///   - configuration: the configuration of a new connection.
    init(
        capacity: Int, idleLimit: Duration = .seconds(30), logger: Logger,
        configuration: @escaping @Sendable () throws -> PostgresConnection.Configuration
    ) {
        self.capacity = max(0, capacity)
        self.idleLimit = idleLimit
        self.logger = logger
        self.configuration = configuration
    }

    /// Counts since the set was made.
    var statistics: Statistics { state.withLock { $0.statistics } }
    /// Connections open or being opened now.
    var openCount: Int { state.withLock { $0.count } }

    /// Runs `body` on a free connection of the set, or on one of `pool`'s when none is free.
    func withConnection<T: Sendable>(
        orFrom pool: PostgresClient, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        guard let connection = take() else {
            return try await pool.withConnection { try await body($0) }
        }
        let result: T
        do {
            result = try await body(connection)
        } catch {
            if Self.mayReuse(connection, after: error) { giveBack(connection) } else { drop(connection, after: error) }
            throw error
        }
        giveBack(connection)
        return result
    }

    /// True when `connection` is in a known state after `error`: still open, and not left inside
    /// a transaction (`withTransaction` rolls back a failed one; a rollback that failed leaves it
    /// unknown). A statement the server refused leaves its connection as good as before, so a
    /// client that keeps sending what the server refuses costs no new connections.
    static func mayReuse(_ connection: PostgresConnection, after error: any Error) -> Bool {
        guard !connection.isClosed else { return false }
        if let transaction = error as? PostgresTransactionError, transaction.rollbackError != nil { return false }
        return true
    }

    /// A set dropped without ``close()`` (its store's owner failed before closing it) closes its
    /// free connections in a task of their own: postgres-nio asserts, in a debug build, that a
    /// connection is closed before it is freed, and that assertion ended a whole test process.
    /// None is in use here: a write on one holds the set.
    deinit {
        let free = state.withLock { $0.free.map(\.connection) }
        guard !free.isEmpty else { return }
        let logger = self.logger
        Task { for connection in free { await Self.close(connection, logger: logger) } }
    }

    /// Closes every free connection and keeps those in use from coming back.
    func close() async {
        let free = state.withLock { state -> [PostgresConnection] in
            state.closed = true
            state.count -= state.free.count
            defer { state.free = [] }
            return state.free.map(\.connection)
        }
        for connection in free { await Self.close(connection, logger: logger) }
    }

    /// A free, open connection; nil when there is none (one is opened when the set has room).
    private func take() -> PostgresConnection? {
        let now = ContinuousClock.now
        var stale: [PostgresConnection] = []
        let (connection, open) = state.withLock { state -> (PostgresConnection?, Int?) in
            while let free = state.free.popLast() {
                if free.connection.isClosed {
                    state.count -= 1
                    state.statistics.replaced += 1
                    StoreMetrics.writeConnectionReplaced()
                } else if now - free.since > idleLimit {
                    state.count -= 1
                    state.statistics.retiredIdle += 1
                    stale.append(free.connection)
                } else {
                    state.statistics.onSet += 1
                    return (free.connection, nil)
                }
            }
            state.statistics.onPool += 1
            guard !state.closed, state.count < capacity else { return (nil, nil) }
            if let notBefore = state.notBefore, ContinuousClock.now < notBefore { return (nil, nil) }
            state.count += 1
            state.nextId += 1
            return (nil, Self.firstId + state.nextId)
        }
        for connection in stale { Task { await Self.close(connection, logger: logger) } }
        if let open { Task { await self.open(id: open) } }
        return connection
    }

    private func giveBack(_ connection: PostgresConnection) {
        let keep = state.withLock { state -> Bool in
            guard !state.closed, !connection.isClosed else {
                state.count -= 1
                if !state.closed { state.statistics.replaced += 1 }
                return false
            }
            state.free.append(Free(connection: connection, since: .now))
            return true
        }
        guard !keep else { return }
        if !connection.isClosed { Task { await Self.close(connection, logger: logger) } } else { StoreMetrics.writeConnectionReplaced() }
    }

    private func drop(_ connection: PostgresConnection, after error: any Error) {
        state.withLock { state in
            state.count -= 1
            state.statistics.replaced += 1
        }
        StoreMetrics.writeConnectionReplaced()
        logger.info(
            "a write on one of the store's connections failed; closing it, a new one replaces it",
            metadata: ["error": "\(error)"])
        Task { await Self.close(connection, logger: logger) }
    }

    private func open(id: Int) async {
        do {
            let connection = try await PostgresConnection.connect(configuration: try configuration(), id: id, logger: logger)
            let keep = state.withLock { state -> Bool in
                state.notBefore = nil
                state.statistics.opened += 1
                guard !state.closed else {
                    state.count -= 1
                    return false
                }
                state.free.append(Free(connection: connection, since: .now))
                return true
            }
            if !keep { await Self.close(connection, logger: logger) }
        } catch {
            state.withLock { state in
                state.count -= 1
                state.notBefore = ContinuousClock.now + Self.retryInterval
            }
            logger.info("cannot open a write connection; writes use the pool meanwhile", metadata: ["error": "\(error)"])
        }
    }

    private static func close(_ connection: PostgresConnection, logger: Logger) async {
        guard !connection.isClosed else { return }
        do { try await connection.close() } catch {
            logger.debug("closing a write connection failed", metadata: ["error": "\(error)"])
        }
    }
}

import KeelCore
import Logging
import PostgresNIO

/// Keel's statements sent as named prepared statements: each connection parses and plans a
/// statement once, then every later call is only Bind and Execute.
///
/// Why: the statement log of `keel bench` on one node showed PostgreSQL spending as long parsing
/// and planning the store's statements (the finish of a run of tasks, a step with its claimed task,
/// an execution's end) as running them — 0.6–1.1 ms per statement against 0.3–0.8 ms of execution
/// on this 2-core machine (docs/scaling.md, "Prepared statements").
///
/// postgres-nio prepares a statement per connection by the static `name` and `sql` of a
/// ``PostgresPreparedStatement`` type, while Keel builds its SQL with ``PostgresQuery``
/// interpolation (binds for every value, so the text of a call site never varies). One type,
/// ``KeelStatement``, serves every text: its static `name` and `sql` are read from a task-local
/// that ``PreparedStatements/run(_:on:logger:)`` sets around the call (postgres-nio reads both in
/// the calling task, before the call suspends). Each distinct text gets one name for the process's
/// life; a connection prepares it the first time it sends it.
///
/// Bounded: at most ``PreparedStatements/capacity`` texts are named (postgres-nio keeps a connection's prepared
/// statements until the connection closes); past that a text is sent unnamed, parsed and planned
/// per call as before. Statements whose text is built per request (a workflow filter's `WHERE`)
/// and migrations are sent unnamed by their callers, so they never take a name.
final class PreparedStatements: Sendable {
    /// The registry every store uses. Keel's store has about 60 fixed statement texts.
    static let shared = PreparedStatements(capacity: 256)

    /// The text and name of the statement being sent by the current task.
    @TaskLocal static var current: Named?

    struct Named: Sendable {
        let name: String
        let sql: String
    }

    /// How many distinct statement texts get a name.
    let capacity: Int
    private let names = Locked([String: String]())
    private let prefix: String

    /// A registry naming at most `capacity` texts; `prefix` starts each name (one per registry,
    /// so two registries in one process never give one name to two texts).
    init(capacity: Int, prefix: String = "keel_") {
        self.capacity = capacity
        self.prefix = prefix
    }

    /// The name of `sql`, given on first sight; nil once ``capacity`` texts have names.
    func name(for sql: String) -> String? {
        names.withLock { names in
            if let name = names[sql] { return name }
            guard names.count < capacity else { return nil }
            let name = "\(prefix)\(names.count + 1)"
            names[sql] = name
            return name
        }
    }

    /// How many texts have names.
    var namedCount: Int { names.withLock { $0.count } }

    /// The texts that have names.
    var namedTexts: [String] { names.withLock { Array($0.keys) } }
}

/// The one ``PostgresPreparedStatement`` type: its name and text are the current task's
/// (``PreparedStatements/current``), its binds the query's.
struct KeelStatement: PostgresPreparedStatement {
    typealias Row = PostgresRow

    static var name: String { PreparedStatements.current?.name ?? "keel_unnamed" }
    static var sql: String { PreparedStatements.current?.sql ?? "" }

    let bindings: PostgresBindings

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// The rows of a statement sent through ``PreparedStatements``: an `AsyncSequence` of
/// `PostgresRow`, so postgres-nio's `decode(_:)` on row sequences applies.
typealias PreparedRows = AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow>

extension PreparedStatements {
    /// Sends `query` through `named` as this registry's statement of its text, or through
    /// `unnamed` once the registry is full.
    fileprivate func send(
        _ query: PostgresQuery,
        named: (KeelStatement) async throws -> PreparedRows,
        unnamed: (PostgresQuery) async throws -> PostgresRowSequence
    ) async throws -> PreparedRows {
        guard let name = name(for: query.sql) else {
            return try await unnamed(query).map { (row) throws -> PostgresRow in row }
        }
        return try await Self.$current.withValue(.init(name: name, sql: query.sql)) {
            try await named(KeelStatement(bindings: query.binds))
        }
    }
}

extension PostgresConnection {
    /// Sends `query` as a named prepared statement of this connection (unnamed when the
    /// registry is full); see ``PreparedStatements``.
    func prepared(
        _ query: PostgresQuery, logger: Logger, names: PreparedStatements = .shared
    ) async throws -> PreparedRows {
        try await names.send(
            query, named: { try await self.execute($0, logger: logger) }, unnamed: { try await self.query($0, logger: logger) })
    }
}

extension PostgresClient {
    /// Sends `query` on a pooled connection as a named prepared statement of that connection
    /// (unnamed when the registry is full); see ``PreparedStatements``.
    func prepared(_ query: PostgresQuery, logger: Logger) async throws -> PreparedRows {
        try await PreparedStatements.shared.send(
            query, named: { try await self.execute($0, logger: logger) }, unnamed: { try await self.query($0, logger: logger) })
    }
}

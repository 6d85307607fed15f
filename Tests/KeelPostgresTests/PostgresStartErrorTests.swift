import KeelCore
import KeelPostgres
import KeelStorage
import KeelTesting
import Testing

/// Each way a PostgreSQL store can be unusable at start is a one-line `storageFailure` that says
/// which (issue 12, item 4: bad input), never a hang or a crash.
@Suite struct PostgresStartErrorTests {
    static func location(_ url: String) throws -> PostgresLocation {
        guard case .postgres(let location) = try StoreURL(parsing: url) else { throw KeelError(.invalidParams, url) }
        return location
    }

    static func startError(_ url: String) async throws -> KeelError {
        do {
            let store = try await PostgresStore(location(url))
            await store.close()
        } catch let error as KeelError {
            return error
        }
        throw KeelError(.internalError, "\(url) opened")
    }

    @Test func anUnreachableServerIsOneLine() async throws {
        let error = try await Self.startError("postgres://keel@127.0.0.1:1/keel")
        #expect(error.code == .storageFailure)
        #expect(error.data?["reason"] == .string("unreachable"))
        #expect(error.message.hasPrefix("cannot use postgres://keel@127.0.0.1:1/keel: cannot connect"))
        #expect(!error.message.contains("\n"))
    }

    @Test func aWrongPasswordIsRefusedWithoutEchoingIt() async throws {
        let cluster = try await PostgresCluster.shared()
        let database = try await offCooperativePool { try cluster.createDatabase() }
        try await offCooperativePool {
            try cluster.psql(
                "DO $$ BEGIN CREATE ROLE keel_password LOGIN PASSWORD 'right'; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        }
        let wrong = "postgres://keel_password:sekrit-wrong@localhost/\(database)?host=\(cluster.directory)"
        let error = try await Self.startError(wrong)
        #expect(error.data?["reason"] == .string("authentication"))
        #expect(error.message.contains("refused the credentials"))
        #expect(!error.message.contains("sekrit-wrong"))
        #expect(StoreURL.redacted(wrong).contains(":***@"))
    }

    @Test func aMissingDatabaseIsNamed() async throws {
        let cluster = try await PostgresCluster.shared()
        let error = try await Self.startError(cluster.url(database: "no_such_db"))
        #expect(error.data?["reason"] == .string("noDatabase"))
        #expect(error.message.contains("no_such_db"))
    }

    @Test func aSchemaNewerThanTheBinaryIsRefused() async throws {
        let cluster = try await PostgresCluster.shared()
        let database = try await offCooperativePool { try cluster.createDatabase() }
        let url = cluster.url(database: database)
        let store = try await PostgresStore(Self.location(url))
        await store.close()
        try await offCooperativePool {
            try cluster.psql("INSERT INTO keel_schema (version, migrated_at) VALUES (99, now())", database: database)
        }
        let error = try await Self.startError(url)
        #expect(error.data?["reason"] == .string("schemaTooNew"))
        #expect(error.message.contains("schema version 99"))
    }

    @Test func nodesStartingTogetherMigrateOnce() async throws {
        let cluster = try await PostgresCluster.shared()
        let database = try await offCooperativePool { try cluster.createDatabase() }
        let location = try Self.location(cluster.url(database: database))
        let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<4 { group.addTask { try await PostgresStore(location, maximumConnections: 2) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for store in stores { await store.close() }
        try await offCooperativePool {
            // One row per migration: a second migrator would have failed on CREATE TABLE or added a row.
            try cluster.psql(
                "DO $$ BEGIN IF (SELECT count(*) FROM keel_schema) <> (SELECT count(DISTINCT version) FROM keel_schema) THEN RAISE 'migrated twice'; END IF; END $$",
                database: database)
        }
    }
}

import KeelCore
import Logging
import PostgresNIO

/// Applies ``PostgresMigrations`` once, under a session advisory lock, so that nodes starting
/// together neither race nor fail; refuses a database whose schema is newer than this binary.
enum PostgresSchema {
    /// The schema version this binary writes.
    static var latest: Int { PostgresMigrations.all.count }

    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "SELECT pg_advisory_lock(\(PostgresStore.advisoryLockKey), \(Int32(1)))", logger: logger)
        do {
            try await migrateLocked(connection, logger: logger)
        } catch {
            try await unlock(connection, logger: logger)
            throw error
        }
        try await unlock(connection, logger: logger)
    }

    private static func unlock(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_unlock(\(PostgresStore.advisoryLockKey), \(Int32(1)))", logger: logger)
    }

    private static func migrateLocked(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "CREATE TABLE IF NOT EXISTS keel_schema (version BIGINT NOT NULL, migrated_at TIMESTAMPTZ NOT NULL)",
            logger: logger)
        var current = 0
        for try await version in try await connection.query(
            "SELECT coalesce(max(version), 0) FROM keel_schema", logger: logger
        ).decode(Int.self) {
            current = version
        }
        guard current <= latest else {
            throw KeelError(
                .storageFailure,
                "the database is at schema version \(current), newer than this keel binary knows (\(latest)): "
                    + "upgrade keel before starting it on this database",
                data: ["reason": .string("schemaTooNew")])
        }
        for version in (current + 1)...max(current + 1, latest) where version <= latest {
            try await connection.withTransaction(logger: logger) { tx in
                for statement in PostgresMigrations.all[version - 1] {
                    try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await tx.query(
                    "INSERT INTO keel_schema (version, migrated_at) VALUES (\(version), now())", logger: logger)
            }
            logger.info("migrated the PostgreSQL schema", metadata: ["version": "\(version)"])
        }
    }
}

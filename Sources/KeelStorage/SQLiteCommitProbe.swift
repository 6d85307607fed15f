import CSQLite
import Foundation

/// The floor under every store write: what one sequential single-row commit costs on this disk, in
/// WAL mode with the store's `synchronous` setting (`keel bench`, docs/performance.md "Floors").
/// Nothing else runs in its transactions, so no write of the store can commit faster.
public enum SQLiteCommitProbe {
    /// Times `count` sequential `BEGIN IMMEDIATE; INSERT one row; COMMIT` transactions on a new
    /// SQLite file in `directory`, opened as ``SQLiteStorage`` opens its own (WAL, `synchronous`
    /// FULL or NORMAL), then deletes the file.
    /// - Parameters:
    ///   - directory: an existing folder on the disk to measure (the store's own folder).
    ///   - durability: the `synchronous` setting to commit with.
    ///   - count: how many commits to time.
    /// - Returns: each commit's wall time, BEGIN to COMMIT (fsync included), in milliseconds.
    /// - Throws: `KeelError(.storageFailure)` if the file cannot be created or written.
    public static func commitLatencies(directory: String, durability: Durability, count: Int) throws -> [Double] {
        let path = directory + "/commit-probe-\(UUID().uuidString.prefix(8)).db"
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let db = try SQLiteConnection(path: path, readOnly: false)
        // The same pragmas as SQLiteStorage.init: the commit must fsync exactly as the store's do.
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=\(durability == .full ? "FULL" : "NORMAL")")
        try db.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY, value TEXT NOT NULL)")
        func commit() throws {
            try db.execute("BEGIN IMMEDIATE")
            try db.statement("INSERT INTO probe (value) VALUES ('{\"orderId\":12345,\"sku\":\"KEEL-1\"}')").run()
            try db.execute("COMMIT")
        }
        // A running store appends to a WAL file that already has its size: after each checkpoint
        // its commits write over frames already on disk, and their fsync carries no change of the
        // file's length. A new file grows with every commit, and each fsync then also writes the
        // file's metadata, several times dearer here. So the WAL is grown first, checkpointed, and
        // the timed commits write over it, as the store's do.
        for _ in 0..<(count + count / 2) { try commit() }
        try db.execute("PRAGMA wal_checkpoint(RESTART)")
        let clock = ContinuousClock()
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        for _ in 0..<count {
            let start = clock.now
            try commit()
            let (seconds, attoseconds) = (clock.now - start).components
            latencies.append(Double(seconds) * 1000 + Double(attoseconds) / 1e15)
        }
        return latencies
    }
}

import CSQLite
import Foundation
import Glibc
public import KeelCore
import Synchronization

/// The embedded store: one SQLite file in WAL mode, one writer thread doing group commit, and a
/// pool of read-only connections that never wait for the writer.
public final class SQLiteStorage: Storage, @unchecked Sendable {
    // @unchecked: `writerQueue` and `readers` are guarded by their own locks; the connections are
    // only touched by the writer thread or by the reader that checked one out.
    public let path: String
    public let durability: Durability
    private let writerQueue = WriterQueue()
    private let writerThread: Thread
    private let readers: Locked<[SQLiteConnection]>
    private let readerQueue = DispatchQueue(label: "keel.storage.read", attributes: .concurrent)
    private let readerSlots = DispatchSemaphore(value: SQLiteStorage.readerCount)
    /// One orchestrator per file; nil for an in-memory database.
    private let lock: DatabaseLock?
    /// Checkpoints the WAL beside the writer; nil for an in-memory database (it has no WAL).
    let checkpointer: WALCheckpointer?
    private let clock: (any WallClock)?

    /// Read connections; reads beyond this wait for a free one.
    static let readerCount = 4

    /// Opens (creating if needed) the database at `path` and migrates it to the latest schema.
    /// - Throws: `KeelError(.storageFailure)` if the file cannot be opened or migrated.
    /// `clock` (nil: the system's) gives the times the store itself writes as ``Store``'s database
    /// clock (leases, claims, timers due): one process holds the file, so its engine's clock is it.
    public init(path: String, durability: Durability = .full, clock: (any WallClock)? = nil) throws {
        self.path = path
        self.durability = durability
        self.clock = clock
        // Before anything touches the file: a second orchestrator must not even migrate it.
        lock = path == ":memory:" || path.isEmpty ? nil : try DatabaseLock(databasePath: path)
        let writer: SQLiteConnection
        do {
            try Self.createOwnerOnly(path)
            writer = try SQLiteConnection(path: path, readOnly: false)
        } catch {
            throw Self.cannotServe(path, error)
        }
        do {
            // WAL: readers see a snapshot and never block the writer, nor it them.
            try writer.execute("PRAGMA journal_mode=WAL")
            // FULL: every COMMIT is fsynced before it returns, the durability DESIGN.md promises.
            try writer.execute("PRAGMA synchronous=\(durability == .full ? "FULL" : "NORMAL")")
            // Invariants are the database's job too (STYLE.md §7).
            try writer.execute("PRAGMA foreign_keys=ON")
            // Another process (an offline `keel` command) may hold the lock briefly; wait, don't fail.
            try writer.execute("PRAGMA busy_timeout=5000")
            try Self.migrate(writer)
            try Self.checkWritable(writer)
            if let pages = _SQLiteTestHooks.environmentPageLimit {
                try writer.execute("PRAGMA max_page_count=\(pages)")
            }
        } catch {
            throw Self.cannotServe(path, error)
        }
        var pool: [SQLiteConnection] = []
        for _ in 0..<Self.readerCount {
            let r = try SQLiteConnection(path: path, readOnly: true)
            try r.execute("PRAGMA busy_timeout=5000")
            pool.append(r)
        }
        readers = Locked(pool)
        do {
            checkpointer = lock == nil ? nil : try WALCheckpointer(path: path, durability: durability)
        } catch {
            throw Self.cannotServe(path, error)
        }
        checkpointer?.install(on: writer)
        let queue = writerQueue
        writerThread = Thread { [checkpointer] in
            // Named from inside: Linux takes at most 15 bytes, and a name set before start() was
            // lost (the thread showed as its creator, an event loop, in top and perf).
            Thread.current.name = Self.writerThreadName
            Self.writerLoop(connection: writer, queue: queue, checkpointer: checkpointer)
        }
        writerThread.start()
    }

    /// Proves at start that the store can commit: a read-only file, a WAL that cannot be created, or
    /// a full disk is refused now with a clear message, not discovered by the first caller. The
    /// write (a no-op update of `user_version` in its own transaction) changes nothing.
    static func checkWritable(_ db: SQLiteConnection) throws {
        var version: Int64 = 0
        try db.statement("PRAGMA user_version").forEachRow { version = $0.int(0) }
        try db.execute("BEGIN IMMEDIATE")
        do {
            try db.execute("PRAGMA user_version=\(version)")
            try db.execute("COMMIT")
        } catch {
            _ = db.rollBackIfOpen()  // the store is not opened: the connection is closed with it
            throw error
        }
    }

    /// The start-up error for a store that cannot be used, saying what to check.
    static func cannotServe(_ path: String, _ error: any Error) -> KeelError {
        let reason = StorageFailureReason(error)
        let detail = (error as? KeelError).map { $0.cause.map { "\($0)" } ?? $0.message } ?? "\(error)"
        let hint = switch reason {
        case .readOnly: "it is read-only or its directory does not allow creating \(path)-wal and \(path)-shm"
        case .diskFull: "the disk is full"
        case .busy: "another process holds its lock"
        case .corrupt: "it is damaged or not a Keel database"
        default: "the store failed"
        }
        return KeelError(
            .storageFailure, "cannot use the database \(path): \(hint) (\(detail)); Keel needs to write it to run",
            data: ["reason": .string(reason.rawValue)], cause: error)
    }

    /// Creates the database file with mode 0600 before SQLite opens it: SQLite gives its WAL and
    /// SHM files the database file's mode, so all three stay owner-only (the socket is 0600 too).
    /// An existing file keeps its mode.
    static func createOwnerOnly(_ path: String) throws {
        guard path != ":memory:", !path.isEmpty, access(path, F_OK) != 0 else { return }
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if fd >= 0 {
            Glibc.close(fd)
        } else if errno != EEXIST {
            throw KeelError(.storageFailure, "cannot create the database \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func migrate(_ db: SQLiteConnection) throws {
        var version = 0
        try db.statement("PRAGMA user_version").forEachRow { version = Int($0.int(0)) }
        guard version < Migrations.all.count else { return }
        // A migration may rebuild a table that others reference (SQLite's procedure for a schema
        // change ALTER TABLE cannot make): foreign keys are off meanwhile (the pragma is a no-op
        // inside a transaction) and checked in full before the commit.
        try db.execute("PRAGMA foreign_keys=OFF")
        // BEGIN IMMEDIATE takes the write lock up front, so two processes cannot both migrate.
        try db.execute("BEGIN IMMEDIATE")
        do {
            for (i, sql) in Migrations.all.enumerated() where i >= version {
                try db.execute(sql)
            }
            var violations = 0
            try db.statement("PRAGMA foreign_key_check").forEachRow { _ in violations += 1 }
            guard violations == 0 else {
                throw KeelError(.storageFailure, "migrating the database would break \(violations) foreign key(s); nothing was changed")
            }
            try db.execute("PRAGMA user_version=\(Migrations.all.count)")
            try db.execute("COMMIT")
        } catch {
            // The connection is not used after a failed migration: opening the store fails.
            _ = db.rollBackIfOpen()
            throw error
        }
        try db.execute("PRAGMA foreign_keys=ON")
    }

    public func now() -> EpochMillis { clock?.now() ?? EpochMillis(Date().timeIntervalSince1970 * 1000) }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any StorageTransaction) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            write(body) { continuation.resume(with: $0) }
        }
    }

    /// ``write(_:)`` that hands its outcome to `completion` (once, on the writer thread, or at once
    /// when the store is closed) instead of suspending a task: a caller that need not wait keeps
    /// no task, and no async frames, while the commit runs (docs/performance.md, "Starts and steps
    /// keep no task while they commit"). `completion` must not block: the writer's next batch
    /// waits for it.
    public func write<T: Sendable>(
        _ body: @escaping @Sendable (any StorageTransaction) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        if !writerQueue.enqueue(WriteJob(body: body, completion: completion)) {
            completion(.failure(KeelError(.storageFailure, "the store is closed")))
        }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any StorageReader) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            readerQueue.async { [self] in
                readerSlots.wait()
                defer { readerSlots.signal() }
                guard let connection = readers.withLock({ $0.popLast() }) else {
                    continuation.resume(throwing: KeelError(.storageFailure, "the store is closed"))
                    return
                }
                defer { readers.withLock { $0.append(connection) } }
                do {
                    // A read transaction pins one snapshot for the whole closure. One that an
                    // earlier read could not end is ended first.
                    guard connection.rollBackIfOpen() else {
                        throw KeelError(.storageFailure, "a store reader is inside a transaction it cannot end")
                    }
                    try connection.execute("BEGIN")
                    let result = Result { try body(SQLiteTransaction(db: connection)) }
                    // Nothing was written: a failed COMMIT changes no answer, only the connection.
                    do { try connection.execute("COMMIT") } catch { _ = connection.rollBackIfOpen() }
                    continuation.resume(with: result)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// `write` with SQLite's own transaction, for this module's SQL (``SQLiteStore``).
    func writeSQL<T: Sendable>(_ body: @escaping @Sendable (SQLiteTransaction) throws -> T) async throws -> T {
        try await write { tx in try body(try Self.sqlite(tx)) }
    }

    /// `write(_:completion:)` with SQLite's own transaction.
    func writeSQL<T: Sendable>(
        _ body: @escaping @Sendable (SQLiteTransaction) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        write({ tx in try body(try Self.sqlite(tx)) }, completion: completion)
    }

    /// `read` with SQLite's own transaction, for this module's SQL.
    func readSQL<T: Sendable>(_ body: @escaping @Sendable (SQLiteTransaction) throws -> T) async throws -> T {
        try await read { tx in try body(try Self.sqlite(tx)) }
    }

    private static func sqlite(_ tx: Any) throws -> SQLiteTransaction {
        guard let tx = tx as? SQLiteTransaction else {
            throw KeelError(.internalError, "a SQLite store was handed a transaction of another store")
        }
        return tx
    }

    public func close() async {
        checkpointer?.stop()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            writerQueue.close { c.resume() }
        }
        readers.withLock { $0.removeAll() }
        lock?.release()
    }

    // MARK: - The writer

    /// The writer thread's name as `top -H`, `perf` and `/proc/PID/task/*/comm` show it.
    static let writerThreadName = "keel-sql-writer"

    /// Commits batches until the queue closes. `checkpointer` (held here for as long as the
    /// writer's WAL hook may call it) finishes its checkpoints between batches.
    private static func writerLoop(connection db: SQLiteConnection, queue: WriterQueue, checkpointer: WALCheckpointer?) {
        let clock = ContinuousClock()
        while let batch = queue.takeBatch() {
            let started = clock.now
            commit(batch, on: db)
            StoreMetrics.recordCommit(writes: batch.count, duration: clock.now - started)
            checkpointer?.afterCommit(db, idle: queue.isEmpty)
        }
        // Closed here, not when the thread's closure is released: once `close()` returns, another
        // store may open the file at once (a server restarted in the same process).
        db.close()
        queue.finishClose()
    }

    /// One group commit: every job in its own savepoint, then one COMMIT (one fsync) for all. The
    /// transaction's own statements are prepared once and kept, like every other statement: run
    /// through `sqlite3_exec` they were parsed and compiled again each time, two or four for every
    /// job (about 18 a W1 workflow, ~100 of SQLite's allocations).
    private static func commit(_ batch: [any AnyWriteJob], on db: SQLiteConnection) {
        if let pages = _SQLiteTestHooks.takePageLimit(forDatabaseAt: db.path) {
            do { try db.execute("PRAGMA max_page_count=\(pages)") } catch {
                for job in batch { job.finish(commitError: error) }
                return
            }
        }
        do {
            // A transaction an earlier batch's failure left open is ended first: nothing of it
            // was acknowledged.
            guard db.rollBackIfOpen() else {
                throw KeelError(.storageFailure, "the store's writer is inside a transaction it cannot end")
            }
            // IMMEDIATE: take the write lock now, so the commit cannot fail with SQLITE_BUSY halfway.
            try db.statement("BEGIN IMMEDIATE").run()
        } catch {
            for job in batch { job.finish(commitError: error) }
            return
        }
        let tx = SQLiteTransaction(db: db)
        for job in batch {
            do {
                try db.statement("SAVEPOINT job").run()
                if job.run(tx) {
                    try db.statement("RELEASE job").run()
                } else {
                    try db.statement("ROLLBACK TO job").run()
                    try db.statement("RELEASE job").run()
                }
            } catch {
                // Keep the body's own error (SQLITE_FULL, say) over the savepoint's that followed it.
                if job.error == nil { job.fail(error) }
            }
            // SQLite may roll the whole transaction back on SQLITE_FULL or SQLITE_IOERR ("autocommit"
            // is on again). Then nothing of this batch is durable, and a later job's SAVEPOINT would
            // open a new transaction that RELEASE commits on its own: fail the whole batch instead,
            // so nothing is acknowledged that was not committed, and nothing commits unreported.
            if db.isAutocommit {
                let cause = job.error ?? db.lastError(SQLITE_ABORT | (2 << 8))  // SQLITE_ABORT_ROLLBACK
                for other in batch { other.finish(commitError: other.error ?? cause) }
                return
            }
        }
        do {
            try db.statement("COMMIT").run()
            for job in batch { job.finish(commitError: nil) }
        } catch {
            // Nothing of the batch is acknowledged; one left open is ended before the next batch.
            _ = db.rollBackIfOpen()
            for job in batch { job.finish(commitError: error) }
        }
    }
}

/// The writer's inbox: a lock and condition so the thread sleeps while there is nothing to do.
private final class WriterQueue: @unchecked Sendable {
    // @unchecked: all state is read and written under `condition`'s lock.
    private let condition = NSCondition()
    private var jobs: [any AnyWriteJob] = []
    private var closing = false
    private var onClosed: (@Sendable () -> Void)?

    /// Bound on one batch so one commit's latency stays small under a flood.
    static let maximumBatch = 1024

    func enqueue(_ job: any AnyWriteJob) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if closing { return false }
        jobs.append(job)
        if jobs.count == 1 { condition.signal() }
        return true
    }

    /// Whether no write waits now.
    var isEmpty: Bool {
        condition.lock()
        defer { condition.unlock() }
        return jobs.isEmpty
    }

    /// The next batch, waiting while empty; nil once closed and drained.
    func takeBatch() -> [any AnyWriteJob]? {
        condition.lock()
        defer { condition.unlock() }
        while jobs.isEmpty && !closing { condition.wait() }
        if jobs.isEmpty { return nil }
        if jobs.count <= Self.maximumBatch {
            defer { jobs = [] }
            return jobs
        }
        let batch = Array(jobs.prefix(Self.maximumBatch))
        jobs.removeFirst(Self.maximumBatch)
        return batch
    }

    func close(_ done: @escaping @Sendable () -> Void) {
        condition.lock()
        closing = true
        onClosed = done
        condition.signal()
        condition.unlock()
    }

    func finishClose() {
        condition.lock()
        let done = onClosed
        condition.unlock()
        done?()
    }
}

private protocol AnyWriteJob: Sendable {
    /// Runs the body; false if it threw (its savepoint is rolled back).
    func run(_ tx: SQLiteTransaction) -> Bool
    func fail(_ error: any Error)
    /// The error the body threw or the savepoint failed with, if any.
    var error: (any Error)? { get }
    func finish(commitError: (any Error)?)
}

private final class WriteJob<T: Sendable>: AnyWriteJob, @unchecked Sendable {
    // @unchecked: `result` is written and read only on the writer thread, before `finish` hands it over.
    let body: @Sendable (any StorageTransaction) throws -> T
    let completion: @Sendable (Result<T, any Error>) -> Void
    var result: Result<T, any Error>?

    init(body: @escaping @Sendable (any StorageTransaction) throws -> T, completion: @escaping @Sendable (Result<T, any Error>) -> Void) {
        self.body = body
        self.completion = completion
    }

    func run(_ tx: SQLiteTransaction) -> Bool {
        do {
            result = .success(try body(tx))
            return true
        } catch {
            result = .failure(error)
            return false
        }
    }

    func fail(_ error: any Error) { result = .failure(error) }

    var error: (any Error)? {
        if case .failure(let e)? = result { e } else { nil }
    }

    func finish(commitError: (any Error)?) {
        if let commitError {
            completion(.failure(commitError))
        } else {
            completion(result ?? .failure(KeelError(.storageFailure, "write did not run")))
        }
    }
}

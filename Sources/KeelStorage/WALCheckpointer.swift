import CSQLite
import Foundation
import KeelCore
import Synchronization

/// Copies the WAL back into the database file mostly on a thread of its own, so that commits do
/// not wait for it. SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past
/// 1,000 pages: that commit, and every write queued behind it, waited for the whole copy and the
/// database file's fsync (docs/performance.md, "Checkpoints off the commit path").
///
/// The writer's WAL hook (``install(on:)``, called after each commit with the WAL's size) asks
/// for a checkpoint once the WAL holds ``threshold`` pages, and this thread runs it `PASSIVE` on
/// its own connection while the writer goes on. It cannot finish the job alone: the frames the
/// writer adds meanwhile are left, and SQLite starts the WAL over only once every frame is back
/// in the file — a WAL that only grows makes every commit dearer. So once this thread's pass is
/// done, the writer runs a short one itself, between two batches, after it has answered the
/// first (``afterCommit(_:idle:)``): it copies only what came since. Should the WAL still reach
/// ``inlineBound`` pages (checkpoints failing), the writer checkpoints inline, as SQLite would.
final class WALCheckpointer: @unchecked Sendable {
    // @unchecked: `requested`, `stopping`, `stopped` and `passDone` are guarded by `condition`;
    // `connection` is used only by the checkpointer's thread, `walPages` only by the writer's.

    /// WAL pages after which a checkpoint is asked for (SQLite's own automatic threshold).
    static let threshold: Int32 = 1_000
    /// WAL pages after which the writer finishes a checkpoint even with writes waiting.
    static let busyBound: Int32 = 2 * threshold
    /// WAL pages after which the writer checkpoints inline (this thread's passes fail).
    static let inlineBound: Int32 = 10_000
    /// The thread's name as `top -H` and `/proc/PID/task/*/comm` show it (at most 15 bytes).
    static let threadName = "keel-sql-ckpt"

    private let condition = NSCondition()
    private var requested = false
    private var passDone = false
    private var stopping = false
    private var stopped = false
    private let connection: SQLiteConnection
    /// The WAL's size after the writer's last commit.
    private var walPages: Int32 = 0

    /// Passes run on this thread, short ones the writer ran to finish them, checkpoints the
    /// writer ran inline at ``inlineBound``, and failures.
    let completed = Atomic<Int>(0)
    let finished = Atomic<Int>(0)
    let inline = Atomic<Int>(0)
    let failed = Atomic<Int>(0)

    /// Opens the checkpointer's own read-write connection to `path`, synced as `durability` says
    /// (a checkpoint fsyncs the database file under FULL and NORMAL alike), and starts its thread.
    init(path: String, durability: Durability) throws {
        connection = try SQLiteConnection(path: path, readOnly: false)
        try connection.execute("PRAGMA synchronous=\(durability == .full ? "FULL" : "NORMAL")")
        let thread = Thread { [self] in
            Thread.current.name = Self.threadName
            run()
        }
        thread.start()
    }

    /// Makes `writer`'s commits ask this checkpointer instead of checkpointing themselves. The
    /// writer connection must not outlive `self` (the hook holds it unretained).
    func install(on writer: SQLiteConnection) {
        sqlite3_wal_hook(writer.handle, walHook, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Called by the writer inside each COMMIT with the WAL's size in pages.
    fileprivate func walGrew(to pages: Int32, writer: OpaquePointer?) {
        if pages < walPages {
            // The WAL started over (a pass of this thread's found the writer idle and left
            // nothing behind): no pass is waiting to be finished.
            condition.withLock { passDone = false }
        }
        walPages = pages
        if pages >= Self.inlineBound {
            count(sqlite3_wal_checkpoint_v2(writer, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil), inline)
            return
        }
        guard pages >= Self.threshold else { return }
        condition.withLock {
            if !passDone {
                requested = true
                condition.signal()
            }
        }
    }

    /// Called by the writer after a batch was committed and answered: once this thread's pass is
    /// done, copies what the writer added since, so the next transaction starts the WAL over.
    /// Only when `idle` (no write waits), unless the WAL passed ``busyBound``.
    func afterCommit(_ writer: SQLiteConnection, idle: Bool) {
        guard walPages >= Self.threshold, idle || walPages >= Self.busyBound else { return }
        let ready = condition.withLock {
            defer { passDone = false }
            return passDone
        }
        guard ready else { return }
        walPages = 0
        count(sqlite3_wal_checkpoint_v2(writer.handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil), finished)
    }

    /// Stops the thread after the pass it runs, if any, and closes its connection.
    func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
            while !stopped { condition.wait() }
        }
    }

    private func run() {
        while waitForRequest() {
            let rc = sqlite3_wal_checkpoint_v2(connection.handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            count(rc, completed)
            if rc == SQLITE_OK { condition.withLock { passDone = true } }
        }
        connection.close()
        condition.withLock {
            stopped = true
            condition.broadcast()
        }
    }

    /// Waits until a pass is asked for (true) or the checkpointer stops (false).
    private func waitForRequest() -> Bool {
        condition.withLock {
            while !requested && !stopping { condition.wait() }
            requested = false
            return !stopping
        }
    }

    /// SQLITE_BUSY: another checkpoint was running (the other thread's); the next commit past
    /// the threshold asks again. Anything else that is not OK is a failure: counted
    /// (`keel_store_checkpoint_failures_total`); the WAL grows until a later one succeeds, up to
    /// ``inlineBound``.
    private func count(_ rc: Int32, _ counter: borrowing Atomic<Int>) {
        switch rc {
        case SQLITE_OK: counter.add(1, ordering: .relaxed)
        case SQLITE_BUSY: break
        default:
            failed.add(1, ordering: .relaxed)
            StoreMetrics.checkpointFailed()
        }
    }
}

/// The writer connection's WAL hook: SQLite calls it after each commit, on the writer's thread.
private let walHook: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Int32 = {
    context, db, _, pages in
    guard let context else { return SQLITE_OK }
    Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().walGrew(to: pages, writer: db)
    return SQLITE_OK
}

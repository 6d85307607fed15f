import Glibc
public import KeelCore
import Synchronization

/// One orchestrator per SQLite file: an exclusive `flock` on `PATH.lock`, held while the store is
/// open, with the holder's pid written in the file so a second `keel serve` can say who holds it.
///
/// A separate file, not the database itself: SQLite's own locks are POSIX record locks, which a
/// process loses when it closes *any* descriptor of the file, so Keel never opens the database
/// outside SQLite. The kernel releases the lock when the holder exits, `kill -9` included; the
/// file itself stays (removing it would race with the next holder).
public final class DatabaseLock: Sendable {
    /// The lock file's path (`PATH.lock`).
    public let path: String
    /// The lock file's descriptor; -1 once released.
    private let fd: Locked<Int32>

    /// Takes the lock for the database at `databasePath`, or throws naming the holder.
    /// - Throws: `KeelError(.storageFailure)` with `data.holderPid` when another process (or
    ///   another open store in this one) holds it, or when the lock file cannot be created.
    public init(databasePath: String) throws {
        let path = databasePath + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw KeelError(
                .storageFailure,
                "cannot use the database \(databasePath): cannot create its lock file \(path) "
                    + "(\(String(cString: strerror(errno)))); Keel needs to write next to the database",
                data: ["reason": "readOnly"])
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.readPid(fd)
            close(fd)
            let who = holder.map { "pid \($0)" } ?? "another process"
            throw KeelError(
                .storageFailure,
                "the database \(databasePath) is in use by another orchestrator (\(who), lock \(path)); "
                    + "one `keel serve` per SQLite file — several nodes need the PostgreSQL store",
                data: ["reason": "busy", "holderPid": holder.map { JSONValue(Int64($0)) } ?? .null])
        }
        Self.writePid(fd)
        self.path = path
        self.fd = Locked(fd)
    }

    /// Releases the lock; later calls do nothing. Unlocked explicitly before the close: a child
    /// this process forked may still hold a copy of the descriptor until its exec (O_CLOEXEC closes
    /// it only then), and the flock belongs to the open file description they share, so a close
    /// alone would leave the file locked meanwhile — a store reopened at once was refused as busy.
    public func release() {
        fd.withLock { fd in
            guard fd >= 0 else { return }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }

    /// The pid the holder wrote, if the file holds one.
    private static func readPid(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[..<n], as: UTF8.self).split(separator: "\n").first ?? ""
        return Int32(text)
    }

    /// Replaces the file's content with this process's pid. Best effort by design: the lock is the
    /// flock, the pid only names the holder in the error above.
    private static func writePid(_ fd: Int32) {
        let line = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) != 0 { return }
        _ = line.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }
}

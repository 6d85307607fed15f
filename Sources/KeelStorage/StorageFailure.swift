import CSQLite
public import KeelCore

/// Why a store operation failed, read from the SQLite result code kept as the error's `cause`.
/// The engine uses it to word its answer and to label the `keel_store_write_failures_total` metric;
/// the SQLite code itself stays in the log (docs/errors.md, 4001).
public enum StorageFailureReason: String, Sendable, CaseIterable {
    /// SQLITE_FULL: the disk (or the database's `max_page_count`) has no room.
    case diskFull
    /// SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM: the file or its WAL cannot be written.
    case readOnly
    /// SQLITE_IOERR: the operating system failed a read, write or fsync.
    case ioError
    /// SQLITE_BUSY, SQLITE_LOCKED: another process held the lock past `busy_timeout`.
    case busy
    /// SQLITE_CORRUPT, SQLITE_NOTADB: the file is damaged or not a database.
    case corrupt
    /// The store was closed (shutdown).
    case closed
    /// Anything else.
    case other

    /// Classifies `error` (a `KeelError(.storageFailure)` from this module, or anything else).
    public init(_ error: any Error) {
        guard let keel = error as? KeelError else {
            self = .other
            return
        }
        guard let sqlite = keel.cause as? SQLiteError else {
            self = keel.message.contains("closed") ? .closed : .other
            return
        }
        switch sqlite.code & 0xFF {
        case SQLITE_FULL: self = .diskFull
        case SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM: self = .readOnly
        case SQLITE_IOERR: self = .ioError
        case SQLITE_BUSY, SQLITE_LOCKED: self = .busy
        case SQLITE_CORRUPT, SQLITE_NOTADB: self = .corrupt
        default: self = .other
        }
    }

    /// A few words for a message on the wire, with no path or SQL.
    public var summary: String {
        switch self {
        case .diskFull: "the disk is full"
        case .readOnly: "the database cannot be written"
        case .ioError: "an I/O error"
        case .busy: "the database is locked by another process"
        case .corrupt: "the database file is damaged"
        case .closed: "the store is closed"
        case .other: "a store error"
        }
    }
}

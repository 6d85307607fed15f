import CSQLite
import KeelCore

/// One SQLite connection with a prepared-statement cache. Not thread-safe: each connection is
/// used by one thread at a time (the writer thread, or a reader checked out of the pool).
final class SQLiteConnection: @unchecked Sendable {
    // @unchecked: handed between threads but used by one at a time (writer thread, or a pool checkout).
    private(set) var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    let path: String

    init(path: String, readOnly: Bool) throws {
        self.path = path
        let flags = readOnly
            ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
            : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            handle = nil
            throw KeelError(.storageFailure, "cannot open the database \(path): \(message)", cause: SQLiteError(rc))
        }
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit { close() }

    /// Finalizes the cached statements and closes the connection now (its locks and, for the last
    /// connection, the WAL checkpoint go with it); later calls do nothing.
    func close() {
        for (_, s) in statements { sqlite3_finalize(s) }
        statements = [:]
        sqlite3_close_v2(handle)
        handle = nil
    }

    /// Runs SQL text that returns no rows (pragmas, DDL, transaction control).
    func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? "error \(rc)"
            sqlite3_free(error)
            throw KeelError(.storageFailure, "the store failed: \(message)", cause: SQLiteError(rc))
        }
    }

    /// A cached prepared statement, reset and with bindings cleared.
    func statement(_ sql: String) throws -> Statement {
        if let s = statements[sql] {
            sqlite3_reset(s)
            sqlite3_clear_bindings(s)
            return Statement(handle: s, connection: self)
        }
        var s: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &s, nil)
        guard rc == SQLITE_OK, let s else { throw lastError(rc) }
        statements[sql] = s
        return Statement(handle: s, connection: self)
    }

    func lastError(_ rc: Int32) -> KeelError {
        let message = String(cString: sqlite3_errmsg(handle))
        return KeelError(.storageFailure, "the store failed: \(message)", cause: SQLiteError(rc))
    }

    /// True when no transaction is open: after COMMIT, or after SQLite rolled one back by itself.
    var isAutocommit: Bool { sqlite3_get_autocommit(handle) != 0 }

    /// Ends a transaction a failure left open. Nothing to do when SQLite already rolled it back
    /// itself (on SQLITE_FULL or SQLITE_IOERR autocommit is on again, and a ROLLBACK would fail).
    /// - Returns: false when the connection is still inside a transaction: its next BEGIN would
    ///   fail, so the caller tries again before it (and counts it, ``StoreMetrics/transactionsLeftOpen``).
    func rollBackIfOpen() -> Bool {
        guard !isAutocommit else { return true }
        do {
            try execute("ROLLBACK")
        } catch {
            StoreMetrics.transactionLeftOpen()
        }
        return isAutocommit
    }

    var changes: Int { Int(sqlite3_changes(handle)) }
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
}

/// The SQLite result code behind a storage failure; kept as `KeelError.cause`, never sent.
struct SQLiteError: Error, CustomStringConvertible {
    var code: Int32
    init(_ code: Int32) { self.code = code }
    var isConstraint: Bool { code & 0xFF == SQLITE_CONSTRAINT }
    var description: String { "SQLite error \(code): \(String(cString: sqlite3_errstr(code)))" }
}

/// A prepared statement being bound and stepped.
struct Statement {
    let handle: OpaquePointer
    unowned let connection: SQLiteConnection

    func bind(_ values: [SQLValue]) throws -> Statement {
        for (i, v) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch v {
            case .null: rc = sqlite3_bind_null(handle, index)
            case .int(let n): rc = sqlite3_bind_int64(handle, index, n)
            case .text(let s): rc = Self.bindText(s, handle: handle, index: index)
            case .real(let d): rc = sqlite3_bind_double(handle, index, d)
            }
            guard rc == SQLITE_OK else { throw connection.lastError(rc) }
        }
        return self
    }

    /// Binds text with its byte length, so a NUL inside (`acct\0alice`) is data, not the end:
    /// with length -1 SQLite stops at the first NUL and `acct\0alice` == `acct\0mallory`.
    private static func bindText(_ text: String, handle: OpaquePointer, index: Int32) -> Int32 {
        var text = text
        return text.withUTF8 { bytes in
            guard let base = bytes.baseAddress, let count = Int32(exactly: bytes.count) else {
                // An empty buffer may have no address; a nil pointer would bind NULL, not "".
                return bytes.isEmpty
                    ? sqlite3_bind_text(handle, index, "", 0, keel_sqlite_transient()) : SQLITE_TOOBIG
            }
            return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                sqlite3_bind_text(handle, index, $0, count, keel_sqlite_transient())
            }
        }
    }

    /// Steps to completion; for INSERT/UPDATE/DELETE.
    func run() throws {
        let rc = sqlite3_step(handle)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw connection.lastError(rc) }
        sqlite3_reset(handle)
    }

    /// Steps once per row, handing each row to `body`.
    func forEachRow(_ body: (Row) throws -> Void) throws {
        while true {
            let rc = sqlite3_step(handle)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw connection.lastError(rc) }
            try body(Row(handle: handle))
        }
        sqlite3_reset(handle)
    }
}

/// A value bound to or read from SQL. Only portable types: integers, text, and the doubles of
/// numeric search attributes (STYLE.md §7).
enum SQLValue {
    case null
    case int(Int64)
    case text(String)
    case real(Double)
}

extension SQLValue {
    static func optional(_ v: Int64?) -> SQLValue { v.map { .int($0) } ?? .null }
    static func optional(_ v: String?) -> SQLValue { v.map { .text($0) } ?? .null }
    static func json(_ v: JSONValue?) -> SQLValue { v.map { .text(JSONWriter.string($0)) } ?? .null }

    init(_ bind: SQLFragment.Bind) {
        switch bind {
        case .text(let s): self = .text(s)
        case .int(let n): self = .int(n)
        case .real(let d): self = .real(d)
        }
    }
}

/// The current row of a stepping statement.
struct Row {
    let handle: OpaquePointer

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func optionalInt(_ column: Int32) -> Int64? {
        sqlite3_column_type(handle, column) == SQLITE_NULL ? nil : sqlite3_column_int64(handle, column)
    }

    func text(_ column: Int32) -> String {
        // By byte count, not up to the first NUL (see `Statement.bindText`).
        guard let p = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeRawBufferPointer(start: p, count: count), as: UTF8.self)
    }

    func optionalText(_ column: Int32) -> String? {
        sqlite3_column_type(handle, column) == SQLITE_NULL ? nil : text(column)
    }

    /// A TEXT JSON column; corrupt JSON reads as null rather than crashing the orchestrator.
    func json(_ column: Int32) -> JSONValue? {
        guard let p = sqlite3_column_text(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return try? JSONParser.parse(UnsafeRawBufferPointer(start: p, count: count))
    }
}

import Foundation
import Synchronization
import KeelCore

/// Fault injection for tests, by database path. Not API (leading `_`, STYLE.md §2).
///
/// `max_page_count` lowered on the live writer connection makes SQLite itself answer SQLITE_FULL
/// once the file would grow: a real full disk as far as every layer above SQLite can tell, with
/// no mock of the store. Keyed by path so parallel tests in one process do not see each other's limits.
public enum _SQLiteTestHooks {
    private static let pageLimits = Locked<[String: Int]>([:])

    /// Caps the database at `path` to `pages` pages (never below its current size, as SQLite
    /// does), from the writer's next batch on; `nil` lifts the cap.
    public static func setMaximumPageCount(_ pages: Int?, forDatabaseAt path: String) {
        pageLimits.withLock { $0[path] = pages ?? Self.unlimited }
    }

    /// The environment variable that caps a database at start (for end-to-end tests of the `keel`
    /// binary): `KEEL_TEST_MAX_DB_PAGES=1` keeps the file at its size after migration, so the first
    /// write that needs a new page fails with SQLITE_FULL. Read only here, only at open.
    public static let pageLimitVariable = "KEEL_TEST_MAX_DB_PAGES"

    static var environmentPageLimit: Int? {
        ProcessInfo.processInfo.environment[pageLimitVariable].flatMap { Int($0) }.map { max(1, $0) }
    }

    /// The largest page count SQLite accepts: the default limit.
    static let unlimited = 4_294_967_294

    /// The cap to apply at `path`, if a test changed it since the last call (then forgotten).
    static func takePageLimit(forDatabaseAt path: String) -> Int? {
        pageLimits.withLock { $0.removeValue(forKey: path) }
    }
}

import Foundation
import KeelCore
@testable import KeelStorage
import KeelTesting
import Synchronization
import Testing

/// The WAL is checkpointed on a thread of its own, not inside the commit that took it past 1,000
/// pages (docs/performance.md, "Checkpoints off the commit path"); if that thread stops, the
/// writer still bounds the WAL. Each of the thousands of commits is an await, and under the whole
/// suite's load each waits its turn on the pool: 0.4 s alone took 78–118 s in full runs, so the
/// limit is 5 minutes (fewer, larger commits left no moment for the writer to finish a pass).
@Suite("WAL checkpoints beside the writer", .timeLimit(.minutes(5)))
struct WALCheckpointerTests {
    /// `count` commits, each a row of `bytes` bytes.
    static func commit(_ storage: SQLiteStorage, _ count: Int, bytes: Int) async throws {
        try await storage.writeSQL { tx in
            try tx.db.execute("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        }
        for _ in 0..<count {
            try await storage.writeSQL { tx in
                try tx.db.execute("INSERT INTO filler (body) VALUES (zeroblob(\(bytes)))")
            }
        }
    }

    static func walPages(_ dir: TemporaryDirectory) -> Int {
        let size = (try? FileManager.default.attributesOfItem(atPath: dir.file("k.db-wal"))[.size] as? Int) ?? 0
        return size / (4096 + 24)
    }

    static func rows(_ storage: SQLiteStorage) async throws -> Int {
        try await storage.readSQL { tx in
            var n = 0
            try tx.db.statement("SELECT count(*) FROM filler").forEachRow { n = Int($0.int(0)) }
            return n
        }
    }

    @Test func commitsPastTheThresholdAreCheckpointedBesideTheWriter() async throws {
        try await TemporaryDirectory.with { dir in
            let storage = try SQLiteStorage(path: dir.file("k.db"), durability: .normal)
            let checkpointer = try #require(storage.checkpointer)
            // ~3,000 commits of a page or two: past the threshold a few times.
            try await Self.commit(storage, 3_000, bytes: 3_000)
            let ran = try await eventually(timeout: .seconds(30)) { checkpointer.completed.load(ordering: .relaxed) > 0 }
            #expect(ran, "no checkpoint ran on the checkpointer's thread")
            #expect(checkpointer.finished.load(ordering: .relaxed) > 0, "the writer never finished a pass")
            #expect(checkpointer.inline.load(ordering: .relaxed) == 0, "the writer checkpointed inline")
            #expect(checkpointer.failed.load(ordering: .relaxed) == 0)
            // Started over behind the checkpoints: well short of the ~7,200 pages written (the
            // file keeps its largest size: the threshold plus what came during a pass).
            #expect(Self.walPages(dir) < 5_000, "WAL of \(Self.walPages(dir)) pages")
            #expect(try await Self.rows(storage) == 3_000)
            await storage.close()
            // Everything is in the file once it is reopened.
            let reopened = try SQLiteStorage(path: dir.file("k.db"))
            #expect(try await Self.rows(reopened) == 3_000)
            await reopened.close()
        }
    }

    @Test func withoutItsThreadTheWriterStillBoundsTheWAL() async throws {
        try await TemporaryDirectory.with { dir in
            let storage = try SQLiteStorage(path: dir.file("k.db"), durability: .normal)
            let checkpointer = try #require(storage.checkpointer)
            checkpointer.stop()
            // ~2,600 commits of ~4 pages: past the inline bound (10,000 pages).
            try await Self.commit(storage, 2_600, bytes: 15_000)
            #expect(checkpointer.inline.load(ordering: .relaxed) > 0, "the writer never checkpointed")
            #expect(Self.walPages(dir) <= Int(WALCheckpointer.inlineBound) + 100, "WAL of \(Self.walPages(dir)) pages")
            #expect(try await Self.rows(storage) == 2_600)
            await storage.close()
        }
    }
}

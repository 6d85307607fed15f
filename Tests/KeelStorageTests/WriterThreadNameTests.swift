import Foundation
@testable import KeelStorage
import KeelTesting
import Testing

/// The store's threads carry their own names, so `top -H`, `perf` and `/proc/PID/task/*/comm`
/// tell them from the event loop that created them (docs/performance.md, "Thread crossings").
@Suite struct WriterThreadNameTests {
    static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { tid in
            (try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// The writer's and the WAL checkpointer's threads.
    @Test(arguments: [SQLiteStorage.writerThreadName, WALCheckpointer.threadName])
    func theStoresThreadsAreNamed(_ name: String) async throws {
        #expect(name.utf8.count <= 15, "Linux keeps at most 15 bytes of a thread's name")
        try await TemporaryDirectory.with { dir in
            let store = try SQLiteStorage(path: dir.file("k.db"))
            let named = try await eventually(timeout: .seconds(10)) { Self.threadNames().contains(name) }
            #expect(named, "threads: \(Self.threadNames())")
            await store.close()
        }
    }
}

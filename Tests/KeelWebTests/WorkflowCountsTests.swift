import KeelCore
import KeelStorage
import KeelTesting
import Testing

/// The list's counts in the store: one grouped count, exact, or stopped after `atMost + 1` rows.
@Suite("Workflow counts")
struct WorkflowCountsTests {
    @Test("counts per status follow the name filter and stop after atMost + 1 rows when asked")
    func counts() async throws {
        try await TemporaryDirectory.with { dir in
            let store = try SQLiteStorage(path: dir.file("keel.db"))
            try await store.write { tx in
                for i in 0..<5 {
                    var w = WorkflowRecord(id: "w-\(i)", name: i < 4 ? "a" : "b", input: .null, contractHash: nil, now: 1000 + Int64(i))
                    if i == 0 { w.status = .completed }
                    _ = try tx.insertWorkflow(w)
                }
            }
            let exact = try await store.read { try $0.workflowCounts(WorkflowFilter(), atMost: nil) }
            #expect(exact == [.pending: 4, .completed: 1])
            var filter = WorkflowFilter()
            filter.name = "a"
            let onlyA = filter
            let named = try await store.read { try $0.workflowCounts(onlyA, atMost: nil) }
            #expect(named == [.pending: 3, .completed: 1])
            let capped = try await store.read { try $0.workflowCounts(WorkflowFilter(), atMost: 2) }
            #expect(capped.values.reduce(0, +) == 3, "stops after atMost + 1 rows")
            await store.close()
        }
    }
}

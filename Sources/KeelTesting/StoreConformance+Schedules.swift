import KeelCore
import KeelStorage

/// Schedules on a store every node shares (docs/protocol.md, "Schedules"): created once, written
/// whole and fenced by version, so of two nodes handling the same slot one write wins.
extension StoreConformance {
    static func schedulesAreFencedByVersion(_ store: any Store) async throws {
        let now = try await store.now()
        func schedule(_ id: String) -> ScheduleRecord {
            ScheduleRecord(id: id, definition: ["spec": ["intervalMs": 1000]], paused: false, nextSlotAt: now + 1000, state: [:], now: now)
        }
        try expect(try await store.apply([.createSchedule(schedule("s1")), .createSchedule(schedule("s2")), .createSchedule(schedule("s1"))]),
            [.applied, .applied, .duplicate])
        var next = try await store.schedule(id: "s1")
        try expect(next?.version, 1)
        try expect(next?.nextSlotAt, now + 1000)
        next?.nextSlotAt = now + 2000
        next?.state = ["started": 1]
        next?.version = 2
        let moved = try requireValue(next)
        // Two nodes wrote from version 1: the first wins, the second learns it moved.
        try expect(try await store.apply([.updateSchedule(moved, expectedVersion: 1)]), [.applied])
        var late = moved
        late.nextSlotAt = now + 9000
        try expect(try await store.apply([.updateSchedule(late, expectedVersion: 1)]), [.changedMeanwhile])
        let stored = try await store.schedule(id: "s1")
        try expect(stored?.nextSlotAt, now + 2000)
        try expect(stored?.state, ["started": 1])
        try expect(stored?.version, 2)
        try expect(try await store.schedules(after: nil, limit: 1).map(\.id), ["s1"])
        try expect(try await store.schedules(after: "s1", limit: 10).map(\.id), ["s2"])
        try expect(try await store.apply([.deleteSchedule(id: "s1"), .deleteSchedule(id: "s1")]), [.applied, .notFound])
        try expect(try await store.apply([.updateSchedule(moved, expectedVersion: 2)]), [.notFound])
        try expect(try await store.schedule(id: "s1") == nil, "deleted")
    }

    /// `value`, or a conformance failure naming the line.
    static func requireValue<T>(_ value: T?, line: Int = #line) throws -> T {
        guard let value else { throw ConformanceFailure(description: "StoreConformance.swift:\(line): expected a value, got nil") }
        return value
    }
}

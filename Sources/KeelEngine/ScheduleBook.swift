import KeelCore
import KeelStorage

/// Where schedules are kept (docs/protocol.md, "Schedules"): the node's ``Store``. Every write
/// of a schedule is its whole row, fenced by the version it was read at.
struct ScheduleBook {
    let store: any Store

    func schedule(_ id: String) async throws -> ScheduleRecord? { try await store.schedule(id: id) }
    /// Schedules in id order after `cursor`, at most `limit`.
    func schedules(after cursor: String?, limit: Int) async throws -> [ScheduleRecord] {
        try await store.schedules(after: cursor, limit: limit)
    }
    /// `.applied`, or `.duplicate` when the id is taken.
    func insert(_ record: ScheduleRecord) async throws -> WriteOutcome { try await apply(.createSchedule(record)) }
    /// `.applied`; `.stale` when the stored version is no longer `expectedVersion` (another node
    /// or request wrote it); `.notFound` once deleted.
    func update(_ record: ScheduleRecord, expectedVersion: Int) async throws -> WriteOutcome {
        try await apply(.updateSchedule(record, expectedVersion: expectedVersion))
    }
    /// `.applied`, or `.notFound`.
    func delete(_ id: String) async throws -> WriteOutcome { try await apply(.deleteSchedule(id: id)) }

    private func apply(_ change: Change) async throws -> WriteOutcome {
        Engine.writeOutcome(try await store.apply([change]).first ?? .notFound)
    }
}

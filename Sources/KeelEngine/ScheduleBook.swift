import KeelCore
import KeelStorage

/// Where schedules are kept (docs/protocol.md, "Schedules"): this process's SQLite ``Storage``
/// or the ``Store`` several nodes share. Every write of a schedule is its whole row, fenced by
/// the version it was read at.
protocol ScheduleBook: Sendable {
    func schedule(_ id: String) async throws -> ScheduleRecord?
    /// Schedules in id order after `cursor`, at most `limit`.
    func schedules(after cursor: String?, limit: Int) async throws -> [ScheduleRecord]
    /// `.applied`, or `.duplicate` when the id is taken.
    func insert(_ record: ScheduleRecord) async throws -> WriteOutcome
    /// `.applied`; `.stale` when the stored version is no longer `expectedVersion` (another node
    /// or request wrote it); `.notFound` once deleted.
    func update(_ record: ScheduleRecord, expectedVersion: Int) async throws -> WriteOutcome
    /// `.applied`, or `.notFound`.
    func delete(_ id: String) async throws -> WriteOutcome
}

struct LocalScheduleBook: ScheduleBook {
    let storage: any Storage

    func schedule(_ id: String) async throws -> ScheduleRecord? { try await storage.read { try $0.schedule(id: id) } }
    func schedules(after cursor: String?, limit: Int) async throws -> [ScheduleRecord] {
        try await storage.read { try $0.schedules(after: cursor, limit: limit) }
    }
    func insert(_ record: ScheduleRecord) async throws -> WriteOutcome { try await storage.write { try $0.insertSchedule(record) } }
    func update(_ record: ScheduleRecord, expectedVersion: Int) async throws -> WriteOutcome {
        try await storage.write { try $0.updateSchedule(record, expectedVersion: expectedVersion) }
    }
    func delete(_ id: String) async throws -> WriteOutcome { try await storage.write { try $0.deleteSchedule(id: id) } }
}

struct SharedScheduleBook: ScheduleBook {
    let store: any Store

    func schedule(_ id: String) async throws -> ScheduleRecord? { try await store.schedule(id: id) }
    func schedules(after cursor: String?, limit: Int) async throws -> [ScheduleRecord] {
        try await store.schedules(after: cursor, limit: limit)
    }
    func insert(_ record: ScheduleRecord) async throws -> WriteOutcome { try await apply(.createSchedule(record)) }
    func update(_ record: ScheduleRecord, expectedVersion: Int) async throws -> WriteOutcome {
        try await apply(.updateSchedule(record, expectedVersion: expectedVersion))
    }
    func delete(_ id: String) async throws -> WriteOutcome { try await apply(.deleteSchedule(id: id)) }

    private func apply(_ change: Change) async throws -> WriteOutcome {
        Engine.writeOutcome(try await store.apply([change]).first ?? .notFound)
    }
}

import KeelCore
import KeelStorage
import KeelTesting
import Logging
import PostgresNIO
import Testing

@testable import KeelPostgres

/// The store's statements are named prepared statements of each connection, parsed and planned
/// once per connection (docs/scaling.md, "Prepared statements"); past the registry's bound a text
/// is sent unnamed and answers the same.
@Suite struct PreparedStatementTests {
    private let logger = Logger(label: "keel.test.prepared")

    @Test func aStatementIsPreparedOnceAndItsLaterCallsAnswerWithTheirOwnBinds() async throws {
        let (store, connection) = try await storeAndConnection()
        defer { Task { await store.close(); try? await connection.close() } }
        let names = PreparedStatements(capacity: 8, prefix: "keel_test_")

        for n in 1...3 {
            let rows = try await connection.prepared("SELECT \(Int64(n)) + 1, \("x\(n)")::text", logger: logger, names: names)
            var answers: [(Int64, String)] = []
            for try await answer in rows.decode((Int64, String).self) { answers.append(answer) }
            #expect(answers.count == 1)
            #expect(answers.first?.0 == Int64(n) + 1 && answers.first?.1 == "x\(n)")
        }
        #expect(names.namedCount == 1)
        let prepared = try await statements(on: connection)
        #expect(prepared.count == 1, "one text, one prepared statement: \(prepared)")
        #expect(prepared.first?.name == "keel_test_1")
        #expect(prepared.first?.sql.contains("SELECT $1 + 1") == true)
    }

    @Test func pastTheBoundATextIsSentUnnamedAndAnswersTheSame() async throws {
        let (store, connection) = try await storeAndConnection()
        defer { Task { await store.close(); try? await connection.close() } }
        let names = PreparedStatements(capacity: 1, prefix: "keel_bound_")

        let first = try await connection.prepared("SELECT \(Int64(1))", logger: logger, names: names)
        #expect(try await store.firstInt(first) == 1)
        let second = try await connection.prepared("SELECT \(Int64(2)) * 10", logger: logger, names: names)
        #expect(try await store.firstInt(second) == 20)
        #expect(names.name(for: "SELECT $1 * 10") == nil)
        #expect(try await statements(on: connection).map(\.name) == ["keel_bound_1"])
    }

    @Test func theStoreNamesItsStatementsAndKeepsWithinTheBound() async throws {
        let store = try await PostgresStoreConformanceTests.freshStore()
        defer { Task { await store.close() } }
        let node = try await store.join(nodeId: "n", leaseMillis: 60_000)
        let now = try await store.now()
        for round in 0..<3 {
            _ = try await store.apply([.enqueueTask(StoreConformance.task("t\(round)", now: now))])
            // The same claim statement, prepared on its first call, takes each round's task.
            let claimed = try await store.claimTasks(TaskClaim(names: ["echo"], limit: 1), node: node)
            #expect(claimed.map(\.id) == ["t\(round)"])
        }
        let named = PreparedStatements.shared.namedCount
        #expect(named > 0, "the store sent no statement through the registry")
        #expect(named <= PreparedStatements.shared.capacity)
    }

    /// A lone finish (every finish of a node with one call in flight, as a sequential workflow's
    /// activity) is a named statement, planned once per connection; a run of several is still
    /// sent unnamed, planned for its own rows (PostgresBatch.swift, `finishAll`).
    @Test func aLoneFinishIsAPreparedStatementAndARunOfFinishesIsNot() async throws {
        let store = try await PostgresStoreConformanceTests.freshStore()
        defer { Task { await store.close() } }
        let node = try await store.join(nodeId: "n", leaseMillis: 60_000)
        let now = try await store.now()
        for id in ["a", "b", "c"] { _ = try await store.apply([.enqueueTask(StoreConformance.task(id, now: now))]) }
        let claimed = try await store.claimTasks(TaskClaim(names: ["echo"], limit: 3), node: node)
        #expect(claimed.count == 3)
        let finish = { (id: String) in Change.finishTask(id: id, attempt: 1, status: .completed, output: .string(id), failure: nil) }

        #expect(try await store.apply([finish("a")]) == [.applied])
        #expect(try await store.apply([finish("a")]) != [.applied], "a repeat applies nothing")
        #expect(try await store.apply([finish("b"), finish("c")]) == [.applied, .applied])
        for id in ["a", "b", "c"] {
            let task = try await store.task(id: id)
            #expect(task?.status == .completed && task?.output == .string(id))
        }
        let finishTexts = PreparedStatements.shared.namedTexts.filter { $0.contains("UPDATE activity_tasks t SET status = r.status") }
        #expect(finishTexts.contains { $0.contains("jsonb_to_record(") }, "a lone finish was not sent as a named statement")
        #expect(!finishTexts.contains { $0.contains("jsonb_to_recordset(") }, "a run of finishes was named")
    }

    /// A fresh database's store, and a connection of its own to that database.
    private func storeAndConnection() async throws -> (PostgresStore, PostgresConnection) {
        let store = try await PostgresStoreConformanceTests.freshStore()
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try PostgresSettings(store.location).connection(), id: 1, logger: logger)
            return (store, connection)
        } catch {
            await store.close()
            throw error
        }
    }

    /// This connection's prepared statements (`pg_prepared_statements` is per session).
    private func statements(on connection: PostgresConnection) async throws -> [(name: String, sql: String)] {
        var found: [(name: String, sql: String)] = []
        for try await (name, sql) in try await connection.query(
            "SELECT name, statement FROM pg_prepared_statements ORDER BY name", logger: logger
        ).decode((String, String).self) {
            found.append((name, sql))
        }
        return found
    }
}

import KeelCore
import KeelStorage

/// Search attributes and memo (docs/protocol.md, "Search attributes and memo"): the same query
/// finds the same executions on every store.
extension StoreConformance {
    static func searchAttributesAreQueried(_ store: any Store) async throws {
        let now = try await store.now()
        func started(_ id: String, _ at: Int64, _ attributes: JSONValue?, name: String = "flow") -> Change {
            var r = execution(id, now: now + at)
            r.name = name
            r.searchAttributes = attributes
            return .startExecution(r)
        }
        try expect(try await store.apply([
            started("e1", 1, ["customer": "acme", "amount": 120, "vip": true, "due": "2026-12-10T00:00:00Z"]),
            started("e2", 2, ["customer": "globex", "amount": 80.5]),
            started("e3", 3, ["customer": "Zeta"]),
            started("e4", 4, ["customer": "acme-eu"], name: "other"),
            started("e5", 5, nil),
        ]), Array(repeating: .applied, count: 5))
        func found(_ q: SearchQuery) async throws -> [String] {
            var f = WorkflowFilter()
            f.query = q
            return try await store.executions(f).map(\.record.id)
        }
        let customer = SearchField.attribute("customer")
        let amount = SearchField.attribute("amount")
        try expect(try await found(.compare(customer, .equal, .string("acme"))), ["e1"])
        try expect(try await found(.compare(amount, .greaterOrEqual, .number(100))), ["e1"])
        try expect(try await found(.compare(amount, .less, .number(100))), ["e2"])
        // A value is compared only with a literal of its kind: no amount is text.
        try expect(try await found(.compare(amount, .greater, .string("1"))), [])
        try expect(try await found(.compare(.attribute("vip"), .equal, .bool(true))), ["e1"])
        // NOT and != also hold for executions without the attribute.
        try expect(try await found(.not(.compare(.attribute("vip"), .equal, .bool(true)))), ["e2", "e3", "e4", "e5"])
        try expect(try await found(.compare(customer, .notEqual, .string("acme"))), ["e2", "e3", "e4", "e5"])
        // Text compares byte-wise on every store ("Z" < "a"), whatever the database's locale.
        try expect(try await found(.compare(customer, .less, .string("b"))), ["e1", "e3", "e4"])
        try expect(try await found(.startsWith(customer, "acme")), ["e1", "e4"])
        // The keys some execution has, each once and in order, for a hint about a key none has.
        try expect(try await store.searchAttributeKeys(), ["amount", "customer", "due", "vip"])
        // An RFC 3339 string is also an instant.
        let dec11: EpochMillis = 1_796_947_200_000
        try expect(try await found(.compare(.attribute("due"), .less, .time(dec11))), ["e1"])
        try expect(try await found(.compare(.attribute("due"), .greater, .time(dec11))), [])
        try expect(try await found(.any([.compare(customer, .equal, .string("globex")), .compare(.name, .equal, .string("other"))])),
            ["e2", "e4"])
        try expect(try await found(.all([.compare(.status, .equal, .string("pending")), .compare(.createdAt, .greaterOrEqual, .time(now + 3))])),
            ["e3", "e4", "e5"])
        try expect(try await found(.startsWith(.workflowId, "e")), ["e1", "e2", "e3", "e4", "e5"])

        // Paging a query: the cursor continues it.
        var page = WorkflowFilter()
        page.query = .startsWith(customer, "acme")
        page.limit = 1
        let first = try await store.executions(page)
        try expect(first.map(\.record.id), ["e1"])
        page.after = (first[0].record.createdAt, first[0].record.id)
        try expect(try await store.executions(page).map(\.record.id), ["e4"])

        // The web UI's counts: per status, of what the query matches, whatever the filter's status.
        var counted = WorkflowFilter()
        counted.query = .startsWith(customer, "acme")
        counted.status = .completed
        try expect(try await store.workflowCounts(counted, atMost: nil), [.pending: 2])
        try expect(try await store.workflowCounts(WorkflowFilter(), atMost: nil), [.pending: 5])
        // Past `atMost` the count stops after one more row: a lower bound.
        try expect(try await store.workflowCounts(WorkflowFilter(), atMost: 2), [.pending: 3])

        // Upserts are fenced by the run's epoch and replace the index rows.
        try expect(try await store.apply([.setSearchAttributes(workflowId: "e2", epoch: 7, attributes: ["customer": "initech"])]),
            [.superseded(currentEpoch: 0)])
        try expect(try await store.apply([
            .setSearchAttributes(workflowId: "e2", epoch: 0, attributes: ["customer": "initech"]),
            .setExecutionData(.memo, workflowId: "e2", epoch: 0, value: ["owner": "ops"]),
            .setSearchAttributes(workflowId: "missing", epoch: 0, attributes: nil),
        ]), [.applied, .applied, .notFound])
        try expect(try await found(.compare(customer, .equal, .string("globex"))), [])
        try expect(try await found(.compare(customer, .equal, .string("initech"))), ["e2"])
        try expect(try await found(.compare(amount, .less, .number(100))), [])  // the attribute removed is gone
        let e2 = try await store.execution(id: "e2")?.record
        try expect(e2?.searchAttributes, ["customer": "initech"])
        try expect(e2?.memo, ["owner": "ops"])
        try expect(try await store.execution(id: "e1")?.record.searchAttributes?["due"], .string("2026-12-10T00:00:00Z"))
    }
}

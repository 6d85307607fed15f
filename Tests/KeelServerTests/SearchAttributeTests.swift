import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelTesting
import Testing

/// Issue 17, item 4: search attributes set at start and upserted by the workflow, found by
/// `workflow/list`'s query; a memo shown with the workflow (docs/protocol.md, "Search attributes
/// and memo"). A real orchestrator on a real SQLite file, a Swift worker on a real socket.
@Suite("Search attributes and memo", .serialized, .timeLimit(.minutes(3)))
struct SearchAttributeTests {
    static func worker(_ endpoint: Endpoint) -> Worker {
        let w = Worker(name: "search-worker", endpoint: endpoint)
        w.workflow("order.ship") { (input: JSONValue, ctx) -> JSONValue in
            try await ctx.upsertSearchAttributes(["stage": "packed", "items": input["items"] ?? 0])
            let _: JSONValue = try await ctx.signal("go")
            let attributes = try await ctx.upsertSearchAttributes(["stage": "shipped", "items": nil])
            try await ctx.upsertMemo(["carrier": "dhl"])
            return attributes
        }
        return w
    }

    static func ids(_ client: KeelClient, _ query: String, extra: JSONObject = [:]) async throws -> [String] {
        var params: JSONObject = ["query": .string(query), "limit": 1000]
        for (k, v) in extra { params[k] = v }
        let list = try await client.call("workflow/list", .object(params))
        #expect(ProtocolValidator.shared.checkResult(method: "workflow/list", result: list) == nil, "\(list)")
        return (list["workflows"]?.arrayValue ?? []).compactMap { $0["workflowId"]?.stringValue }
    }

    static func start(_ client: KeelClient, _ id: String, customer: String, items: Int) async throws {
        let started = try await client.call("workflow/start", [
            "name": "order.ship", "workflowId": .string(id), "input": ["items": JSONValue(items)],
            "searchAttributes": ["customer": .string(customer), "priorityCustomer": .bool(customer == "acme")],
            "memo": ["owner": "ops", "ticket": ["id": 7]],
        ])
        #expect(started["started"] == true, "\(started)")
    }

    @Test func attributesSetAtStartAndUpsertedAreFoundByAQueryAndKeptAcrossARestart() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(Self.worker(endpoint)) {
                    try await KeelClient.withClient(endpoint) { client in
                        try await Self.start(client, "o-acme", customer: "acme", items: 3)
                        try await Self.start(client, "o-globex", customer: "globex", items: 12)
                        try await Self.start(client, "o-initech", customer: "initech", items: 5)
                        _ = try await eventually { try await Self.ids(client, #"stage = "packed""#).count == 3 }
                        #expect(try await Self.ids(client, #"customer = "acme" AND stage = "packed""#) == ["o-acme"])
                        #expect(try await Self.ids(client, "items >= 5") == ["o-globex", "o-initech"])
                        #expect(try await Self.ids(client, #"priorityCustomer = true OR customer STARTS_WITH "glo""#) == ["o-acme", "o-globex"])
                        #expect(try await Self.ids(client, #"NOT customer IN ("acme", "globex")"#) == ["o-initech"])
                        #expect(try await Self.ids(client, #"status != "completed" AND items < 10"#) == ["o-acme", "o-initech"])
                        // The other filters still apply, ANDed with the query.
                        #expect(try await Self.ids(client, "items > 0", extra: ["name": "other.flow"]) == [])
                        let d = try await client.call("workflow/describe", ["workflowId": "o-acme"])
                        #expect(ProtocolValidator.shared.checkResult(method: "workflow/describe", result: d) == nil, "\(d)")
                        #expect(d["searchAttributes"] == ["customer": "acme", "priorityCustomer": true, "stage": "packed", "items": 3])
                        #expect(d["memo"] == ["owner": "ops", "ticket": ["id": 7]])
                        let listed = try await client.call("workflow/list", ["query": #"customer = "acme""#])
                        #expect(listed["workflows"]?.arrayValue?.first?["searchAttributes"]?["stage"] == "packed")
                        #expect(listed["unknownAttributes"] == nil, "every key exists: \(listed)")
                        // A typo finds nothing; the answer names the key no workflow has and the close ones.
                        let typo = try await client.call("workflow/list", ["query": #"custmer = "acme" AND stage = "packed""#])
                        #expect(ProtocolValidator.shared.checkResult(method: "workflow/list", result: typo) == nil, "\(typo)")
                        #expect(typo["workflows"] == [] && typo["unknownAttributes"] == [["key": "custmer", "suggestions": ["customer"]]], "\(typo)")
                        _ = try await client.call("workflow/signal", ["workflowId": "o-acme", "name": "go"])
                        let r = try await client.call("workflow/result", ["workflowId": "o-acme", "waitTimeoutMs": 30_000])
                        #expect(r["output"] == ["customer": "acme", "priorityCustomer": true, "stage": "shipped"], "\(r)")
                    }
                }
            }
            // A new orchestrator on the same file: what was stored is what a query finds.
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    #expect(try await Self.ids(client, #"stage = "shipped""#) == ["o-acme"])
                    #expect(try await Self.ids(client, #"stage = "packed""#) == ["o-globex", "o-initech"])
                    #expect(try await Self.ids(client, "items = 3") == [], "the upsert removed it")
                    let d = try await client.call("workflow/describe", ["workflowId": "o-acme"])
                    #expect(d["memo"] == ["owner": "ops", "ticket": ["id": 7], "carrier": "dhl"])
                    let history = try await client.call("workflow/history", ["workflowId": "o-acme"])
                    let upserts = (history["entries"]?.arrayValue ?? []).filter { $0["kind"] == "upsert" }
                    #expect(upserts.map { $0["name"] } == ["searchAttributes", "searchAttributes", "memo"])
                }
            }
        }
    }

    /// A child step carries the child's own search attributes and memo, checked as a start's are.
    @Test func aChildIsStartedWithItsOwnAttributesAndMemo() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let w = Worker(name: "child-attributes", endpoint: endpoint)
                w.workflow("invoice.line") { (input: JSONValue, _) -> JSONValue in input }
                w.workflow("invoice.batch") { (_: JSONValue, ctx) -> JSONValue in
                    let line: JSONValue = try await ctx.child(
                        "invoice.line", ["n": 1] as JSONValue, id: "line-1", searchAttributes: ["customer": "acme", "amount": 12],
                        memo: ["source": "batch"])
                    do {
                        _ = try await ctx.step("child", name: "invoice.line", input: [
                            "input": 2, "workflowId": "line-2", "searchAttributes": ["status": "x"],
                        ])
                        return ["line": line, "refused": false]
                    } catch let error as KeelError {
                        return ["line": line, "refused": .string(error.message)]
                    }
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await KeelClient.withClient(endpoint) { client in
                        _ = try await client.call("workflow/start", ["name": "invoice.batch", "workflowId": "batch-1"])
                        let r = try await client.call("workflow/result", ["workflowId": "batch-1", "waitTimeoutMs": 30_000])
                        #expect(r["output"]?["line"] == ["n": 1], "\(r)")
                        let refused = r["output"]?["refused"]?.stringValue ?? ""
                        #expect(refused.contains("/input/searchAttributes/status") || refused.contains("params.input.searchAttributes.status"),
                            "a built-in field's name, refused naming the field: \(refused)")
                        #expect(try await Self.ids(client, #"customer = "acme" AND amount > 10"#) == ["line-1"])
                        let d = try await client.call("workflow/describe", ["workflowId": "line-1"])
                        #expect(d["memo"] == ["source": "batch"] && d["parentId"] == "batch-1", "\(d)")
                    }
                }
            }
        }
    }

    @Test func pagesOfAQueryNeitherSkipNorRepeatWhileNewWorkflowsArrive() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    for i in 0..<25 {
                        _ = try await client.call("workflow/start", [
                            "name": "page.flow", "workflowId": .string("p\(i)"), "searchAttributes": ["tenant": "t1", "n": JSONValue(i)],
                        ])
                    }
                    var seen: [String] = []
                    var cursor: JSONValue = .null
                    var arrived = 25
                    repeat {
                        let page = try await client.call("workflow/list", ["query": #"tenant = "t1""#, "limit": 10, "cursor": cursor])
                        seen += (page["workflows"]?.arrayValue ?? []).compactMap { $0["workflowId"]?.stringValue }
                        cursor = page["nextCursor"] ?? .null
                        // Five more between pages: they sort after every existing one.
                        for _ in 0..<5 where arrived < 40 {
                            _ = try await client.call("workflow/start", [
                                "name": "page.flow", "workflowId": .string("p\(arrived)"), "searchAttributes": ["tenant": "t1"],
                            ])
                            arrived += 1
                        }
                    } while cursor != .null
                    #expect(seen.count == Set(seen).count, "a workflow was listed twice: \(seen)")
                    #expect(Set(seen) == Set((0..<arrived).map { "p\($0)" }), "skipped: \(Set((0..<arrived).map { "p\($0)" }).subtracting(seen))")
                }
            }
        }
    }

    static let longNote: JSONValue = ["note": .string(String(repeating: "é", count: 513))]
    static let tooMany: JSONValue = .object(JSONObject((0..<33).map { ("k\($0)", JSONValue(1)) }))
    static let bigMemo: JSONValue = ["blob": .string(String(repeating: "x", count: 33_000))]

    /// Bad starts: the param, its value, the field the error names and words of its message.
    static let badStarts: [(String, JSONValue, String, String)] = [
        ("searchAttributes", ["status": "x"], "/searchAttributes/status", "must not match"),
        ("searchAttributes", ["9lives": "x"], "/searchAttributes/9lives", "does not match the pattern"),
        ("searchAttributes", ["tags": ["a", "b"]], "/searchAttributes/tags", "is not of type"),
        ("searchAttributes", ["gone": nil], "/searchAttributes/gone", "is not of type"),
        // 513 characters pass the schema's length; the 1,026 bytes do not.
        ("searchAttributes", longNote, "searchAttributes.note", "1026 bytes"),
        ("searchAttributes", tooMany, "/searchAttributes", "32"),
        ("searchAttributes", "customer=acme", "/searchAttributes", "is not of type"),
        ("memo", "x", "/memo", "is not of type"),
        ("memo", bigMemo, "memo", "the most is 32768"),
    ]

    /// What is refused, each naming the field.
    @Test(arguments: badStarts)
    func aBadStartIsRefusedNamingTheField(param: String, value: JSONValue, field: String, message: String) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    var params: JSONObject = ["name": "bad.flow"]
                    params[param] = value
                    let error = await #expect(throws: KeelError.self) { _ = try await client.call("workflow/start", .object(params)) }
                    #expect(error?.code == .invalidParams)
                    #expect(error?.message.contains(field) == true && error?.message.contains(message) == true, "\(error?.message ?? "")")
                    let list = try await client.call("workflow/list", [:])
                    #expect(list["workflows"] == [], "nothing was started")
                }
            }
        }
    }

    @Test func aBadUpsertFailsTheWorkflowCodeNotTheExecution() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let w = Worker(name: "bad-upsert", endpoint: endpoint)
                w.workflow("upsert.bad") { (_: JSONValue, ctx) -> JSONValue in
                    do {
                        try await ctx.upsertSearchAttributes(["name": "clash"])
                        return "accepted"
                    } catch let error as KeelError {
                        let ok = try await ctx.upsertSearchAttributes(["fine": true])
                        return ["refused": .string(error.message), "code": JSONValue(error.code.rpcCode), "after": ok]
                    }
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await KeelClient.withClient(endpoint) { client in
                        _ = try await client.call("workflow/start", ["name": "upsert.bad", "workflowId": "ub"])
                        let r = try await client.call("workflow/result", ["workflowId": "ub", "waitTimeoutMs": 30_000])
                        #expect(r["status"] == "completed", "\(r)")
                        #expect(r["output"]?["refused"]?.stringValue?.contains("input.name") == true, "\(r)")
                        #expect(r["output"]?["code"] == JSONValue(KeelError.Code.invalidParams.rpcCode))
                        #expect(r["output"]?["after"] == ["fine": true])
                        #expect(try await Self.ids(client, "fine = true") == ["ub"])
                    }
                }
            }
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelServer
import KeelTesting
import KeelWeb
import Testing

/// The web UI's Contracts page, heartbeat ages, each attempt's error and exact counts
/// (issue 14, docs/ui.md): a real orchestrator, a real Swift worker over the socket, pages over TCP.
@Suite("Web UI details", .serialized, .timeLimit(.minutes(5)))
struct WebUIDetailTests {
    static let chargeInput: JSONValue = [
        "type": "object", "required": ["amount"], "properties": ["amount": ["type": "integer", "minimum": 1]],
    ]

    /// Serves `web.charge` (with an input contract), `web.flaky` (fails its first attempt) and
    /// the workflow `web.retry` that calls `web.flaky`.
    private func makeWorker(_ endpoint: Endpoint) -> Worker {
        let attempts = Locked(0)
        let w = Worker(name: "web-detail-worker", endpoint: endpoint)
        w.activity("web.charge", input: Self.chargeInput, description: "Charges a card.") { (input: JSONValue, _) -> JSONValue in
            ["charged": input["amount"] ?? .null]
        }
        w.activity("web.flaky") { (_: JSONValue, ctx) -> JSONValue in
            if attempts.withLock({ n in n += 1; return n }) == 1 {
                throw ActivityFailure("card declined on the first try", type: "Declined", retryable: true)
            }
            return ["attempt": JSONValue(ctx.attempt)]
        }
        w.workflow("web.retry") { (_: JSONValue, ctx) -> JSONValue in
            try await ctx.activity("web.flaky", [:] as JSONValue, as: JSONValue.self, retryPolicy: ["initialIntervalMs": 10])
        }
        return w
    }

    /// Runs `body` with an orchestrator whose web UI took a free port and, when asked, the worker.
    private func withUI(
        worker: Bool = true, _ body: @escaping @Sendable (Endpoint, Int) async throws -> Void
    ) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: {
                $0.sidecars = [WebUI(options: WebUI.Options(address: ListenAddress(host: "127.0.0.1", port: 0)))]
            }) { endpoint, server in
                let port = try #require(try await server.ready().sidecarPorts["http"])
                if worker {
                    try await LiveOrchestrator.withWorker(makeWorker(endpoint)) {
                        let registered = try await eventually {
                            try await KeelClient.withClient(endpoint) { try await $0.call("worker/list") }["workers"]?.arrayValue?.count == 1
                        }
                        #expect(registered)
                        try await body(endpoint, port)
                    }
                } else {
                    try await body(endpoint, port)
                }
                return true
            }
        }
    }

    private func call(_ endpoint: Endpoint, _ method: String, _ params: JSONValue) async throws -> JSONValue {
        try await KeelClient.withClient(endpoint, name: "web-test") { try await $0.call(method, params) }
    }

    private func get(_ path: String, port: Int) async throws -> HTTPProbe.Response {
        try await HTTPProbe.request("GET", path, port: port)
    }

    @Test("the contracts page shows each contract's schema, hash and version, its worker and a recent violation")
    func contractsPage() async throws {
        try await withUI { endpoint, port in
            await #expect(throws: KeelError.self) {
                _ = try await call(endpoint, "activity/call", ["name": "web.charge", "input": ["amount": "ten"]])
            }
            let page = try await get("/contracts", port: port)
            #expect(page.status == 200)
            #expect(page.body.contains("<a href=\"/contracts\">Contracts</a>"), "the nav links the page")
            #expect(page.body.contains("<tr data-name=\"web.charge\">"))
            #expect(page.body.contains("<tr data-name=\"web.retry\">"), "workflow contracts are listed too")
            #expect(page.body.contains("id=\"activity-web.charge\""))
            #expect(page.body.contains("Version 1, pinned"))
            #expect(page.body.contains("web-detail-worker ("), "the serving worker is named")
            #expect(page.body.contains("Charges a card."))
            #expect(page.body.contains("&quot;minimum&quot;: 1"), "the input schema is shown as JSON")
            #expect(page.body.contains("<td>input</td><td>at /amount:"), "the refused call is a recent violation")
            #expect(page.body.utf8.count < 100_000)
            let json = try JSONParser.parse(try await get("/contracts.json", port: port).body)
            let charge = try #require(json["contracts"]?.arrayValue?.first { $0["name"] == "web.charge" })
            #expect(charge["version"] == 1 && charge["input"] == Self.chargeInput)
            #expect(charge["violations"]?.arrayValue?.count == 1)
            #expect(charge["workers"]?.arrayValue?.first?["name"] == "web-detail-worker")
        }
    }

    @Test("the workers page shows how long ago each worker last sent something")
    func heartbeatAge() async throws {
        try await withUI { endpoint, port in
            let before = Int64(Date().timeIntervalSince1970 * 1000)
            _ = try await call(endpoint, "activity/call", ["name": "web.charge", "input": ["amount": 3]])
            let list = try await call(endpoint, "worker/list", [:])
            let last = try #require(list["workers"]?.arrayValue?.first?["lastMessageAtMs"]?.int64Value)
            #expect(last >= before - 1000, "the answer to activity/execute counts as a message")
            let page = try await get("/workers", port: port)
            #expect(page.body.contains("<th>Last message</th>"))
            #expect(page.body.contains("<td class=\"heartbeat\">under 10 s ago</td>")
                || page.body.contains("<td class=\"heartbeat\">10 s ago</td>"))
        }
    }

    @Test("a step retried once after a failure shows the first attempt's error on the workflow page")
    func attemptErrors() async throws {
        try await withUI { endpoint, port in
            _ = try await call(endpoint, "workflow/start", ["name": "web.retry", "workflowId": "retried-1", "input": [:]])
            let done = try await call(endpoint, "workflow/result", ["workflowId": "retried-1", "waitTimeoutMs": 60_000])
            #expect(done["status"] == "completed")
            let page = try await get("/workflow?id=retried-1", port: port)
            #expect(page.status == 200)
            #expect(page.body.contains("<li class=\"attempt-failure\" data-attempt=\"1\">Attempt 1 failed"))
            #expect(page.body.contains("<b>Declined</b>: card declined on the first try"))
            #expect(!page.body.contains("data-attempt=\"2\""), "the attempt that succeeded has no error")
            let history = try await call(endpoint, "workflow/history", ["workflowId": "retried-1"])
            let step = try #require(history["entries"]?.arrayValue?.first)
            #expect(step["attempts"] == 2)
            #expect(step["attemptFailures"]?.arrayValue?.first?["failure"]?["type"] == "Declined")
        }
    }

    @Test("a step that failed once then succeeded is drawn as queue wait, running, backoff, running")
    func attemptTimeline() async throws {
        try await withUI { endpoint, port in
            _ = try await call(endpoint, "workflow/start", ["name": "web.retry", "workflowId": "timeline-1", "input": [:]])
            let done = try await call(endpoint, "workflow/result", ["workflowId": "timeline-1", "waitTimeoutMs": 60_000])
            #expect(done["status"] == "completed")
            let history = try await call(endpoint, "workflow/history", ["workflowId": "timeline-1"])
            let step = try #require(history["entries"]?.arrayValue?.first)
            let first = try #require(step["attemptFailures"]?.arrayValue?.first)
            let started = try #require(first["startedAtMs"]?.int64Value, "the failed attempt's start is kept")
            let failed = try #require(first["failedAtMs"]?.int64Value)
            let restarted = try #require(step["startedAtMs"]?.int64Value, "the entry carries its last attempt's start")
            #expect(started <= failed && failed <= restarted)

            let page = try await get("/workflow?id=timeline-1", port: port)
            #expect(page.status == 200)
            #expect(page.body.utf8.count < 100_000)
            #expect(page.body.contains("<p class=\"legend\">"))
            let row = try #require(page.body.components(separatedBy: "<tr data-seq=\"1\">").dropFirst().first?
                .components(separatedBy: "</tr>").first)
            let segments = row.components(separatedBy: "<div class=\"seg ").dropFirst().map { String($0.prefix(while: { c in c != "\"" })) }
            #expect(segments == ["seg-queue", "seg-run failed", "seg-backoff", "seg-run"])
            #expect(row.contains("title=\"attempt 1 running "), "each segment says what it was")
            #expect(row.contains(", failed: Declined\""))
            #expect(row.contains("title=\"backoff "))
            #expect(row.contains("title=\"attempt 2 running "))
        }
    }

    @Test("the list counts are exact past 1,000")
    func exactCounts() async throws {
        try await withUI(worker: false) { endpoint, port in
            try await KeelClient.withClient(endpoint, name: "web-test") { client in
                for chunk in stride(from: 0, to: 1003, by: 100) {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for i in chunk..<min(chunk + 100, 1003) {
                            group.addTask {
                                _ = try await client.call("workflow/start", ["name": "web.many", "workflowId": .string("many-\(i)")])
                            }
                        }
                        try await group.waitForAll()
                    }
                }
            }
            _ = try await call(endpoint, "workflow/terminate", ["workflowId": "many-0", "reason": "test"])
            let page = try await get("/workflows", port: port)
            #expect(page.body.contains("all 1003</a>"))
            #expect(page.body.contains("<span class=\"badge s-pending\">pending</span> 1002</a>"))
            #expect(page.body.contains("<span class=\"badge s-terminated\">terminated</span> 1</a>"))
            let named = try await get("/workflows?name=web.other", port: port)
            #expect(named.body.contains("all 0</a>"), "the counts follow the name filter")
        }
    }
}

import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
/// docs/clients.md "Reconnecting": `keel serve` killed with kill -9 and restarted on the same
/// socket and database, with the Swift client and worker connected.
@Suite("Swift client and worker reconnect", .serialized, .timeLimit(.minutes(2)))
struct ReconnectTests {
    /// Generous: CI runs on 2 busy cores; the backoff cap itself is 2 s.
    static let backWithin: Duration = .seconds(15)

    func makeWorker(_ endpoint: Endpoint) -> Worker {
        let w = Worker(name: "reconnect-swift", endpoint: endpoint)
        w.activity("echo") { (input: JSONValue, _) -> JSONValue in input }
        w.activity("slow") { (input: JSONValue, ctx) -> JSONValue in
            await ctx.sleep(for: .milliseconds(input["ms"]?.int64Value ?? 0))
            return input
        }
        w.workflow("twoApprovals") { (_: JSONValue, ctx) -> [JSONValue] in
            let first: JSONValue = try await ctx.signal("approve")
            let second: JSONValue = try await ctx.signal("approve")
            return [first, second]
        }
        return w
    }

    func registered(_ client: ReconnectingClient) async throws -> Bool {
        try await eventually(timeout: Self.backWithin) {
            try await client.workers().contains { $0["name"]?.stringValue == "reconnect-swift" }
        }
    }

    /// Runs `body` with a `keel serve` in a temp dir, this suite's worker registered on it, and a
    /// reconnecting client; stops them after.
    func withKeelAndWorker(_ body: (KeelProcess, ReconnectingClient) async throws -> Void) async throws {
        try await TemporaryDirectory.with { dir in
            let keel = KeelProcess(dir: dir)
            try await keel.start()
            let worker = makeWorker(keel.endpoint)
            let workerTask = Task { try await worker.run() }
            defer { workerTask.cancel() }
            let client = try await ReconnectingClient.connect(keel.endpoint)
            #expect(try await registered(client))
            try await body(keel, client)
            await client.close()
            keel.stop()
        }
    }

    func running(_ client: ReconnectingClient) async throws -> Bool {
        try await eventually(timeout: Self.backWithin) {
            try await client.workers().contains { ($0["inFlight"]?.int64Value ?? 0) > 0 }
        }
    }

    @Test func theSameClientCallsAgainEvenOneSentWhileKeelIsDown() async throws {
        try await TemporaryDirectory.with { dir in
            let keel = KeelProcess(dir: dir)
            try await keel.start()
            let client = try await ReconnectingClient.connect(keel.endpoint)
            _ = try await client.call("ping")
            keel.kill9()
            async let listed = client.workers()  // sent while Keel is down: waits with backoff
            try await Task.sleep(for: .milliseconds(500))
            try await keel.start()
            _ = try await listed
            _ = try await client.call("ping")
            await client.close()
            keel.stop()
        }
    }

    @Test func aConnectedWorkerServesAgainSoonAfterKeelComesBack() async throws {
        try await withKeelAndWorker { keel, client in
            keel.kill9()
            try await Task.sleep(for: .seconds(3))  // the worker keeps failing: its backoff grows to the cap
            try await keel.start()
            #expect(try await registered(client), "the worker did not re-register")
            let result = try await client.callActivity("echo", input: ["after": "restart"], waitTimeoutMs: 20_000)
            #expect(result["status"] == "completed" && result["output"] == ["after": "restart"], "\(result)")
        }
    }

    @Test func aCallInFlightWithoutAKeyThrowsOutcomeUnknownAndOneWithAKeyCompletes() async throws {
        try await withKeelAndWorker { keel, client in
            let unkeyed = Task { try await client.callActivity("slow", input: ["ms": 3000]) }
            #expect(try await running(client))
            keel.kill9()
            await #expect(throws: KeelClientError.self) { try await unkeyed.value }
            try await keel.start()
            #expect(try await registered(client))

            let keyed = Task { try await client.callActivity("slow", input: ["ms": 1500], idempotencyKey: "swift-k1", waitTimeoutMs: 30_000) }
            #expect(try await running(client))
            keel.kill9()
            try await Task.sleep(for: .milliseconds(300))
            try await keel.start()
            let result = try await keyed.value
            #expect(result["status"] == "completed", "\(result)")
        }
    }

    /// A signal carries a `requestId` (a fresh one by default), so the client may send it again
    /// after a dropped connection: Keel delivers it once.
    @Test func aSignalSentAgainWithItsRequestIdIsDeliveredOnce() async throws {
        #expect(ReconnectingClient.isSafeToRepeat("workflow/signal", SignalParams.make(workflowId: "w", name: "s", payload: 1)))
        #expect(!ReconnectingClient.isSafeToRepeat("workflow/signal", ["workflowId": "w", "name": "s"]))
        try await withKeelAndWorker { _, client in
            _ = try await client.call("workflow/start", ["name": "twoApprovals", "workflowId": "approvals", "input": [:]])
            let first = try await client.signalWorkflow("approvals", name: "approve", payload: "A", requestId: "swift-signal-1")
            #expect(first["duplicate"] == false, "\(first)")
            let resent = try await client.signalWorkflow("approvals", name: "approve", payload: "A", requestId: "swift-signal-1")
            #expect(resent["duplicate"] == true, "\(resent)")
            // Two signals with default ids are two signals.
            _ = try await client.signalWorkflow("approvals", name: "approve", payload: "B")
            let result = try await client.call("workflow/result", ["workflowId": "approvals", "waitTimeoutMs": 30_000])
            #expect(result["output"] == ["A", "B"], "\(result)")
        }
    }

    @Test func theBackoffIsFullJitterCappedAndResets() {
        var backoff = ReconnectBackoff(initial: .milliseconds(100), max: .seconds(1))
        let waits = (0..<40).map { _ in backoff.next() }
        #expect(waits.allSatisfy { $0 >= .zero && $0 <= .seconds(1) })
        #expect(waits[0] <= .milliseconds(100))
        backoff.reset()
        #expect(backoff.next() <= .milliseconds(100))
    }
}
}

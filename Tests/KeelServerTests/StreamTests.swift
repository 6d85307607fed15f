import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Execution streams (docs/protocol.md, "Streams"): a workflow and its activities publish, any
/// client follows from an offset; each event is stored once and read once, in order.
@Suite("Streams: publish and follow", .timeLimit(.minutes(3)))
struct StreamTests {
    /// `st.agent` publishes "thinking", runs `st.tokens` (which publishes each token of its
    /// input), waits for signal `go`, publishes "done" and returns the answer.
    static func worker(_ endpoint: Endpoint, tokenAttempts: Counter) -> Worker {
        let w = Worker(name: "stream-worker", endpoint: endpoint)
        w.activity("st.tokens") { (input: JSONValue, ctx) -> String in
            tokenAttempts.bump("tokens")
            let words = (input["text"]?.stringValue ?? "").split(separator: " ").map(String.init)
            for word in words { try await ctx.publish(.string(word), name: "token") }
            return words.joined(separator: " ")
        }
        w.activity("st.direct") { (_: JSONValue, ctx) -> String in
            do {
                try await ctx.publish("nowhere")
                return "published"
            } catch let error as KeelError {
                return "\(error.code.rpcCode)"
            }
        }
        w.workflow("st.agent") { (input: JSONValue, ctx) -> JSONValue in
            try await ctx.publish(["phase": "thinking"], name: "status")
            let answer: String = try await ctx.activity("st.tokens", ["text": input["text"] ?? ""] as JSONValue)
            let _: JSONValue = try await ctx.signal("go")
            try await ctx.publish(["phase": "done"], name: "status")
            return ["answer": .string(answer)]
        }
        return w
    }

    func collect(_ endpoint: Endpoint, _ id: String, after: Int64 = 0) async throws -> [JSONValue] {
        try await KeelClient.withClient(endpoint) { client in
            var events: [JSONValue] = []
            for try await e in client.follow(id, afterOffset: after, waitTimeoutMs: 5_000) { events.append(e) }
            return events
        }
    }

    @Test func aFollowerGetsEveryEventOnceInOrderAcrossReplays() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let attempts = Counter()
                try await LiveOrchestrator.withWorker(Self.worker(endpoint, tokenAttempts: attempts)) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await start(endpoint, "st.agent", ["text": "durable streams work"], id: "agent-1")
                    // A follower from the start, while the execution waits for its signal.
                    let following = Task { try await collect(endpoint, "agent-1") }
                    #expect(try await eventually {
                        try await rpc(endpoint, "workflow/describe", ["workflowId": "agent-1"])["status"] == "suspended"
                    })
                    let early = try await rpc(endpoint, "workflow/follow", ["workflowId": "agent-1"])
                    #expect(early["done"] == false)
                    #expect(early["events"]?.arrayValue?.count == 4)
                    _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "agent-1", "name": "go", "payload": 1])
                    let events = try await following.value
                    // The run after the signal replayed the first publish step: stored once.
                    #expect(events.map { $0["offset"] } == [1, 2, 3, 4, 5])
                    #expect(events.map { $0["name"] } == ["status", "token", "token", "token", "status"])
                    #expect(events.map { $0["event"] } == [["phase": "thinking"], "durable", "streams", "work", ["phase": "done"]])
                    #expect(events.map { $0["source"] } == ["workflow", "activity", "activity", "activity", "workflow"])
                    #expect(events[1]["attempt"] == 1)
                    #expect(events[0]["seq"] == 1)
                    #expect(attempts.get("tokens") == 1)
                    // From an offset: only what follows it; after the end: nothing, done.
                    let tail = try await collect(endpoint, "agent-1", after: 3)
                    #expect(tail.map { $0["offset"] } == [4, 5])
                    let end = try await rpc(endpoint, "workflow/follow", ["workflowId": "agent-1", "afterOffset": 5, "waitTimeoutMs": 5_000])
                    #expect(end["events"] == [])
                    #expect(end["done"] == true)
                    #expect(end["status"] == "completed")
                    #expect(end["nextOffset"] == 5)
                    // Paging: limit 2 from the start.
                    let page = try await rpc(endpoint, "workflow/follow", ["workflowId": "agent-1", "limit": 2])
                    #expect(page["events"]?.arrayValue?.count == 2)
                    #expect(page["nextOffset"] == 2)
                    #expect(page["done"] == false)
                }
            }
        }
    }

    @Test func aLongPollReturnsAsSoonAsAnEventIsPublished() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let attempts = Counter()
                try await LiveOrchestrator.withWorker(Self.worker(endpoint, tokenAttempts: attempts)) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await start(endpoint, "st.agent", ["text": "one"], id: "agent-2")
                    #expect(try await eventually {
                        try await rpc(endpoint, "workflow/describe", ["workflowId": "agent-2"])["status"] == "suspended"
                    })
                    let waiting = Task {
                        try await rpc(endpoint, "workflow/follow", ["workflowId": "agent-2", "afterOffset": 2, "waitTimeoutMs": 60_000])
                    }
                    try await Task.sleep(for: .milliseconds(200))
                    let began = ContinuousClock.now
                    _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "agent-2", "name": "go", "payload": 1])
                    let answer = try await waiting.value
                    #expect(ContinuousClock.now - began < .seconds(30), "the poll waited for its timeout")
                    #expect(answer["events"]?.arrayValue?.map { $0["event"] } == [["phase": "done"]])
                }
            }
        }
    }

    @Test func badFollowsAndPublishesGetPreciseErrors() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let attempts = Counter()
                try await LiveOrchestrator.withWorker(Self.worker(endpoint, tokenAttempts: attempts)) {
                    try await waitForWorkers(endpoint, 1)
                    let missing = await #expect(throws: KeelError.self) {
                        _ = try await rpc(endpoint, "workflow/follow", ["workflowId": "nope"])
                    }
                    #expect(missing?.code == .workflowNotFound)
                    let badLimit = await #expect(throws: KeelError.self) {
                        _ = try await rpc(endpoint, "workflow/follow", ["workflowId": "nope", "limit": 0])
                    }
                    #expect(badLimit?.code == .invalidParams)
                    // An activity called directly has no stream: its publish is refused, precisely.
                    let called = try await rpc(endpoint, "activity/call", ["name": "st.direct", "input": [:], "waitTimeoutMs": 30_000])
                    #expect(called["output"] == "-32602", "\(called)")
                    // A publish for a task this connection does not run: 2006.
                    let stray = await #expect(throws: KeelError.self) {
                        _ = try await rpc(endpoint, "activity/publish", ["taskId": "t-none", "attempt": 1, "event": 1])
                    }
                    #expect(stray?.code == .attemptSuperseded)
                }
            }
        }
    }
}

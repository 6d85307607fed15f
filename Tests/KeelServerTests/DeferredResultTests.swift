import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelServer
import KeelTesting
import Testing

/// A `workflow/result`, `activity/call` or `activity/result` that waits keeps no task on the
/// orchestrator: its answer is deferred
/// (KeelProtocol's `DeferredAnswer`) and sent when the execution ends or the wait times out
/// (docs/performance.md, "Waiting requests"). A real orchestrator on a real SQLite file, a Swift
/// worker on a real socket.
@Suite("Deferred workflow results", .serialized, .timeLimit(.minutes(3)))
struct DeferredResultTests {
    static func worker(_ endpoint: Endpoint) -> Worker {
        let w = Worker(name: "deferred-worker", endpoint: endpoint)
        w.activity("slow.echo") { (input: JSONValue, _) -> JSONValue in
            try await Task.sleep(for: .milliseconds(input["ms"]?.numberValue?.int64Value ?? 0))
            return input
        }
        w.workflow("wait.go") { (input: JSONValue, ctx) -> JSONValue in
            let payload: JSONValue = try await ctx.signal("go")
            return ["input": input, "signal": payload]
        }
        return w
    }

    static func start(_ client: KeelClient, _ id: String) async throws {
        _ = try await client.call("workflow/start", ["name": "wait.go", "workflowId": .string(id), "input": .string(id)])
    }

    static func signal(_ client: KeelClient, _ id: String) async throws {
        _ = try await client.call("workflow/signal", ["workflowId": .string(id), "name": "go", "payload": .string(id)])
    }

    /// A deferred answer holds its request's slot until it is sent, and gives it back then: with
    /// 8 slots a connection, 20 waiting results on one connection are all answered once their
    /// executions end. Were the slots not given back, the 9th result would never be read.
    @Test func moreWaitingResultsThanSlotsAreAllAnswered() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: { $0.limits.maxConcurrentRequests = 8 }) { endpoint, _ in
                try await LiveOrchestrator.withWorker(Self.worker(endpoint)) {
                    let ids = (1...20).map { "defer-\($0)" }
                    try await KeelClient.withClient(endpoint) { client in
                        for id in ids { try await Self.start(client, id) }
                    }
                    try await KeelClient.withClient(endpoint) { waiting in
                        try await KeelClient.withClient(endpoint) { control in
                            try await withThrowingTaskGroup(of: (String, JSONValue).self) { group in
                                for id in ids {
                                    group.addTask {
                                        (id, try await waiting.call("workflow/result", ["workflowId": .string(id), "waitTimeoutMs": 60_000]))
                                    }
                                }
                                try await Task.sleep(for: .milliseconds(300))
                                for id in ids { try await Self.signal(control, id) }
                                var answered = 0
                                for try await (id, result) in group {
                                    #expect(result["status"] == "completed", "\(id): \(result)")
                                    #expect(result["output"] == ["input": .string(id), "signal": .string(id)], "\(id): \(result)")
                                    answered += 1
                                }
                                #expect(answered == ids.count)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The same for activity calls: 20 waiting `activity/call`s on one connection of 8 slots are
    /// all answered with their outputs; a call whose wait times out is answered with the task as
    /// it is then, and `activity/result` later with its end.
    @Test func waitingActivityCallsAreAnsweredWhenTheyEnd() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: { $0.limits.maxConcurrentRequests = 8 }) { endpoint, _ in
                try await LiveOrchestrator.withWorker(Self.worker(endpoint)) {
                    try await KeelClient.withClient(endpoint) { client in
                        try await withThrowingTaskGroup(of: (Int, JSONValue).self) { group in
                            for n in 1...20 {
                                group.addTask {
                                    (n, try await client.call("activity/call", ["name": "slow.echo", "input": ["ms": 100, "n": .init(n)]]))
                                }
                            }
                            var answered = 0
                            for try await (n, result) in group {
                                #expect(result["status"] == "completed" && result["output"]?["n"] == .init(n), "\(n): \(result)")
                                answered += 1
                            }
                            #expect(answered == 20)
                        }
                        let early = try await client.call(
                            "activity/call", ["name": "slow.echo", "input": ["ms": 1_500], "waitTimeoutMs": 200])
                        #expect(early["status"] != "completed" && early["output"] == nil, "\(early)")
                        let id = try #require(early["taskId"])
                        let end = try await client.call("activity/result", ["taskId": id, "waitTimeoutMs": 30_000])
                        #expect(end["status"] == "completed" && end["output"] == ["ms": 1_500], "\(end)")
                    }
                }
            }
        }
    }

    /// A wait that times out is answered with the execution as it is then, and a later wait on
    /// the same connection with its end.
    @Test func aWaitThatTimesOutAnswersTheCurrentStatus() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(Self.worker(endpoint)) {
                    try await KeelClient.withClient(endpoint) { client in
                        try await Self.start(client, "defer-timeout")
                        let began = ContinuousClock.now
                        let early = try await client.call("workflow/result", ["workflowId": "defer-timeout", "waitTimeoutMs": 300])
                        let waited = ContinuousClock.now - began
                        #expect(early["status"] != "completed" && early["output"] == nil, "\(early)")
                        #expect(waited >= .milliseconds(250), "answered after \(waited)")
                        try await Self.signal(client, "defer-timeout")
                        let end = try await client.call("workflow/result", ["workflowId": "defer-timeout", "waitTimeoutMs": 30_000])
                        #expect(end["status"] == "completed", "\(end)")
                    }
                }
            }
        }
    }

    /// A caller that leaves while its answer is deferred costs nothing later: the execution ends,
    /// the answer goes nowhere, and the orchestrator answers the next caller.
    @Test func aCallerThatLeavesWhileWaitingIsNoProblem() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(Self.worker(endpoint)) {
                    try await KeelClient.withClient(endpoint) { client in try await Self.start(client, "defer-leave") }
                    // Sends the wait and closes the connection while it waits.
                    let left = Task {
                        try await KeelClient.withClient(endpoint) { client in
                            _ = try await client.call("workflow/result", ["workflowId": "defer-leave", "waitTimeoutMs": 60_000])
                        }
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    left.cancel()
                    _ = await left.result
                    try await KeelClient.withClient(endpoint) { client in
                        try await Self.signal(client, "defer-leave")
                        let end = try await client.call("workflow/result", ["workflowId": "defer-leave", "waitTimeoutMs": 30_000])
                        #expect(end["status"] == "completed", "\(end)")
                        #expect(try await client.call("ping") == [:])
                    }
                }
            }
        }
    }

    /// A step inside a batch cannot defer its answer (a batch is answered in one line): it is
    /// recorded in a child task, held, and the batch is answered with the step's outcome once its
    /// activity ended. The peer running the workflow is a raw socket, so the batch is what it sent.
    @Test func aHeldStepInABatchIsAnsweredWhenItsActivityEnds() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(Self.worker(endpoint)) {
                    let runner = try WirePeer(path: dir.file("k.sock"))
                    _ = await runner.call("initialize", ["protocolVersion": "1"])
                    let registered = await runner.call("worker/register", ["name": "batch-runner", "workflows": [["name": "batch.flow"]]])
                    #expect(registered?["result"]?["workerId"] != nil, "\(String(describing: registered))")
                    try await KeelClient.withClient(endpoint) { client in
                        _ = try await client.call("workflow/start", ["name": "batch.flow", "workflowId": "in-batch"])
                    }
                    guard let run = await runner.request("workflow/run") else {
                        Issue.record("no workflow/run arrived")
                        return
                    }
                    let p = run["params"] ?? .null
                    let step: JSONValue = [
                        "jsonrpc": "2.0", "id": "step-in-batch", "method": "workflow/step",
                        "params": [
                            "workflowId": "in-batch", "runId": p["runId"] ?? .null, "attemptToken": p["attemptToken"] ?? .null,
                            "seq": 1, "kind": "activity", "name": "slow.echo", "input": ["ms": 300],
                        ],
                    ]
                    let sent = ContinuousClock.now
                    await runner.send([step])
                    let answer = await runner.batchAnswer()?.arrayValue?.first
                    #expect(answer?["id"] == "step-in-batch", "\(String(describing: answer))")
                    #expect(answer?["result"] == ["status": "completed", "result": ["ms": 300]], "\(String(describing: answer))")
                    #expect(ContinuousClock.now - sent >= .milliseconds(300), "answered before the activity ended")
                }
            }
        }
    }
}

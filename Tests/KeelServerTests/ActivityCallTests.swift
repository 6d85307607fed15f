import Foundation
import KeelClient
import KeelCore
import KeelEngine
import KeelServer
import KeelTesting
import Testing

@Suite("Durable activity calls", .timeLimit(.minutes(3)))
struct ActivityCallTests {
    @Test func aCallIsDispatchedToARegisteredWorkerAndItsOutputReturned() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let counter = Counter()
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: counter)) {
                    try await waitForWorkers(endpoint, 1)
                    let r = try await call(endpoint, "greet.hello", ["name": "Ada"])
                    #expect(r["status"] == "completed")
                    #expect(r["output"] == ["greeting": "Hello, Ada"])
                    #expect(r["attempts"] == 1)
                }
            }
        }
    }

    @Test func retryableFailuresAreRetriedWithBackoffUntilSuccess() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let counter = Counter()
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: counter)) {
                    try await waitForWorkers(endpoint, 1)
                    let r = try await call(endpoint, "flaky.twice", [:], extra: ["retryPolicy": ["initialIntervalMs": 10, "backoffCoefficient": 2]])
                    #expect(r["status"] == "completed")
                    #expect(r["attempts"] == 3)
                    #expect(counter.get("flaky") == 3)
                }
            }
        }
    }

    @Test func aNonRetryableFailureEndsTheTaskAndIsReturnedAsData() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let counter = Counter()
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: counter)) {
                    try await waitForWorkers(endpoint, 1)
                    let r = try await call(endpoint, "fail.hard", [:])
                    #expect(r["status"] == "failed")
                    #expect(r["failure"]?["type"] == "CardDeclined")
                    #expect(r["failure"]?["details"] == ["code": "51"])
                    #expect(counter.get("hard") == 1)
                }
            }
        }
    }

    @Test func maximumAttemptsBoundsRetries() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let counter = Counter()
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: counter)) {
                    try await waitForWorkers(endpoint, 1)
                    let r = try await call(endpoint, "flaky.twice", [:], extra: ["retryPolicy": ["initialIntervalMs": 5, "maximumAttempts": 2]])
                    #expect(r["status"] == "failed")
                    #expect(r["attempts"] == 2)
                    #expect(counter.get("flaky") == 2)
                }
            }
        }
    }

    @Test func theSameIdempotencyKeyReturnsTheStoredResultWithoutRunningAgain() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let counter = Counter()
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: counter)) {
                    try await waitForWorkers(endpoint, 1)
                    let a = try await call(endpoint, "greet.hello", ["name": "Ada"], extra: ["idempotencyKey": "k1"])
                    let b = try await call(endpoint, "greet.hello", ["name": "Ada"], extra: ["idempotencyKey": "k1"])
                    #expect(a["taskId"] == b["taskId"])
                    #expect(b["output"] == ["greeting": "Hello, Ada"])
                    #expect(counter.get("greet") == 1)
                    await #expect(throws: KeelError.self) {
                        _ = try await call(endpoint, "greet.hello", ["name": "Bob"], extra: ["idempotencyKey": "k1"])
                    }
                }
            }
        }
    }

    @Test func aCallWithNoWorkerWaitsAndRunsWhenOneRegisters() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let scheduled = try await call(endpoint, "greet.hello", ["name": "Later"], extra: ["wait": false])
                #expect(scheduled["status"] == "scheduled")
                let counter = Counter()
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: counter)) {
                    let done = try await KeelClient.withClient(endpoint) {
                        try await $0.call("activity/result", ["taskId": scheduled["taskId"]!, "waitTimeoutMs": 60_000])
                    }
                    #expect(done["status"] == "completed")
                    #expect(done["output"] == ["greeting": "Hello, Later"])
                }
            }
        }
    }

    @Test func inputThatBreaksTheContractIsRefusedWithPointersAndNotStored() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let counter = Counter()
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: counter)) {
                    try await waitForWorkers(endpoint, 1)
                    do {
                        _ = try await call(endpoint, "greet.hello", ["name": ""])
                        Issue.record("expected a contract violation")
                    } catch let e as KeelError {
                        #expect(e.code == .inputContractViolation)
                        #expect(e.data?["errors"]?.arrayValue?.first?["instanceLocation"] == "/name")
                    }
                    #expect(counter.get("greet") == 0)
                }
            }
        }
    }

    @Test func outputThatBreaksTheContractIsRecordedAsAViolationNotASuccess() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: Counter())) {
                    try await waitForWorkers(endpoint, 1)
                    let r = try await call(endpoint, "bad.output", [:])
                    #expect(r["status"] == "failed")
                    #expect(r["failure"]?["type"] == "OutputContractViolation")
                }
            }
        }
    }

    @Test func aSecondWorkerWithADifferentContractIsRefusedNamingBoth() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: Counter(), name: "first")) {
                    try await waitForWorkers(endpoint, 1)
                    let error = try await KeelClient.withClient(endpoint) { client -> KeelError? in
                        do {
                            _ = try await client.call("worker/register", [
                                "name": "second", "activities": [["name": "greet.hello", "input": ["type": "string"]]],
                            ])
                            return nil
                        } catch let e as KeelError { return e }
                    }
                    #expect(error?.code == .contractConflict)
                    #expect(error?.message.contains("first") == true)
                    #expect(error?.message.contains("second") == true)
                }
            }
        }
    }

    @Test func cancellationReachesTheRunningActivity() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let counter = Counter()
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: counter)) {
                    try await waitForWorkers(endpoint, 1)
                    let started = try await call(endpoint, "slow.wait", [:], extra: ["wait": false])
                    #expect(try await eventually { counter.get("ticks") > 2 })
                    let cancelled = try await KeelClient.withClient(endpoint) {
                        try await $0.call("activity/cancel", ["taskId": started["taskId"]!])
                    }
                    #expect(cancelled["status"] == "cancelled")
                    #expect(try await eventually { counter.get("slow-cancelled") == 1 })
                }
            }
        }
    }

    @Test func aTaskWhoseWorkerDisconnectsMidCallIsRetriedOnAnotherWorker() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let counter = Counter()
                // The first worker's attempt hangs; then the worker goes away.
                let first = Worker(name: "vanishing", endpoint: endpoint)
                first.activity("echo") { (_: JSONValue, _) -> JSONValue in
                    counter.bump("first")
                    try await Task.sleep(for: .seconds(60))
                    return "never"
                }
                let firstTask = Task { try await first.run() }
                try await waitForWorkers(endpoint, 1)
                let started = try await call(endpoint, "echo", ["v": 1], extra: ["wait": false, "retryPolicy": ["initialIntervalMs": 10]])
                #expect(try await eventually { counter.get("first") == 1 })
                firstTask.cancel()
                _ = try? await firstTask.value
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: counter, name: "second")) {
                    let done = try await KeelClient.withClient(endpoint) {
                        try await $0.call("activity/result", ["taskId": started["taskId"]!, "waitTimeoutMs": 60_000])
                    }
                    #expect(done["status"] == "completed")
                    #expect(done["output"] == ["v": 1])
                    #expect((done["attempts"]?.int64Value ?? 0) >= 2)
                }
            }
        }
    }

    @Test func anAttemptPastItsStartToCloseTimeoutIsRetried() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let counter = Counter()
                let w = Worker(name: "sleepy", endpoint: endpoint)
                w.activity("first.slow") { (_: JSONValue, ctx) -> JSONValue in
                    counter.bump("runs")
                    if ctx.attempt == 1 { try await Task.sleep(for: .seconds(10)) }
                    return ["attempt": JSONValue(ctx.attempt)]
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await waitForWorkers(endpoint, 1)
                    let r = try await call(endpoint, "first.slow", [:], extra: [
                        // 3 s, far below attempt 1's 10 s sleep. On a loaded CI machine a later attempt
                        // may time out too, so any attempt after the first may be the one that completes.
                        "timeouts": ["startToCloseMs": 3000], "retryPolicy": ["initialIntervalMs": 10, "maximumIntervalMs": 100],
                    ])
                    #expect(r["status"] == "completed")
                    #expect((r["output"]?["attempt"]?.int64Value ?? 0) >= 2, "\(r)")
                }
            }
        }
    }

    @Test func noWorkerWithinScheduleToStartTimesTheTaskOut() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let r = try await call(endpoint, "nobody.serves", [:], extra: ["timeouts": ["scheduleToStartMs": 100]])
                #expect(r["status"] == "timedOut")
                #expect(r["failure"]?["type"] == "ScheduleToStartTimeout")
            }
        }
    }

    /// The timer loop sleeps until its next deadline: a timer set earlier than that one wakes it.
    /// With the loop's longest sleep at 60 s and a timer an hour away, a 100 ms schedule-to-start
    /// still fires long before the loop would have woken on its own.
    @Test func anEarlierTimerWakesTheTimerLoopFromALongSleep() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: { $0.engine.maxTimerSleepMs = 60_000 }) { endpoint, _ in
                let far = try await call(
                    endpoint, "nobody.serves", [:], extra: ["wait": false, "timeouts": ["scheduleToCloseMs": 3_600_000]])
                #expect(far["status"] == "scheduled")
                try await Task.sleep(for: .milliseconds(200))  // the loop is asleep until the far deadline
                let started = ContinuousClock.now
                let r = try await call(endpoint, "nobody.serves", [:], extra: ["timeouts": ["scheduleToStartMs": 100]])
                #expect(r["failure"]?["type"] == "ScheduleToStartTimeout", "\(r)")
                #expect(ContinuousClock.now - started < .seconds(30), "the timer waited for the loop's own wake-up")
            }
        }
    }

    @Test func heartbeatDetailsReachTheNextAttempt() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let w = Worker(name: "hb", endpoint: endpoint)
                w.activity("resumable") { (_: JSONValue, ctx) -> JSONValue in
                    if ctx.attempt == 1 {
                        try await ctx.heartbeat(["page": 7])
                        throw ActivityFailure("crashed after page 7", retryable: true)
                    }
                    return ["resumedFrom": ctx.heartbeatDetails ?? .null]
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await waitForWorkers(endpoint, 1)
                    let r = try await call(endpoint, "resumable", [:], extra: ["retryPolicy": ["initialIntervalMs": 10]])
                    #expect(r["output"] == ["resumedFrom": ["page": 7]])
                }
            }
        }
    }

    @Test func workersListsConnectedWorkersAndDropsThemOnDisconnect() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let task = Task { try await makeWorker(endpoint, counter: Counter(), name: "listed").run() }
                try await waitForWorkers(endpoint, 1)
                let workers = try await KeelClient.withClient(endpoint) { try await $0.workers() }
                #expect(workers.first?["name"] == "listed")
                #expect(workers.first?["language"] == "swift")
                #expect(workers.first?["transport"] == "unix")
                #expect(workers.first?["activities"]?.arrayValue?.contains("greet.hello") == true)
                task.cancel()
                _ = try? await task.value
                #expect(try await eventually { try await KeelClient.withClient(endpoint) { try await $0.workers() }.isEmpty })
            }
        }
    }
}

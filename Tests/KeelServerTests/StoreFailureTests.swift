import Foundation
import KeelClient
import KeelCore
import KeelEngine
import KeelStorage
import KeelTesting
import Testing

/// A full disk made real by SQLite itself: `max_page_count` lowered on the live database (the
/// `_SQLiteTestHooks` cap), so every layer above SQLite sees SQLITE_FULL exactly as on a full disk.
@Suite("When the store fails", .serialized, .timeLimit(.minutes(2)))
struct StoreFailureTests {
    /// A string big enough to need new pages (SQLite pages are 4 KiB): its write cannot fit a capped file.
    static let big = String(repeating: "x", count: 64 * 1024)

    /// The 4001 a call ended with, and how long it took; nil if it did not fail.
    func failure(of body: @Sendable () async throws -> JSONValue) async -> (KeelError?, Duration) {
        let start = ContinuousClock.now
        do {
            _ = try await body()
            return (nil, ContinuousClock.now - start)
        } catch let e as KeelError {
            return (e, ContinuousClock.now - start)
        } catch {
            return (KeelError(.internalError, "\(error)"), ContinuousClock.now - start)
        }
    }

    @Test func callsFailFastWith4001WhileTheDiskIsFullAndServiceResumesWhenSpaceReturns() async throws {
        try await TemporaryDirectory.with { dir in
            let db = dir.file("keel.db")
            defer { _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db) }
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(makeWorker(endpoint, counter: Counter())) {
                    try await waitForWorkers(endpoint, 1)
                    let before = try await call(endpoint, "echo", ["n": 1])
                    #expect(before["status"] == "completed")
                    let failuresBefore = StoreFailureMetrics.failures

                    _SQLiteTestHooks.setMaximumPageCount(1, forDatabaseAt: db)
                    let (error, elapsed) = await failure { try await call(endpoint, "echo", ["pad": .string(Self.big)]) }
                    #expect(error?.code == .storageFailure, "\(String(describing: error))")
                    #expect(error?.data?["reason"] == "diskFull")
                    #expect(error?.data?["incident"]?.stringValue?.hasPrefix("inc-") == true)
                    #expect(error?.message.contains("full") == true)
                    #expect(error?.message.contains("SQL") == false, "no SQLite text on the wire")
                    #expect(elapsed < .seconds(45), "a full disk must fail the call, not hang it: \(elapsed)")
                    #expect(StoreFailureMetrics.failures > failuresBefore)

                    _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db)
                    let after = try await call(endpoint, "echo", ["pad": .string(Self.big)])
                    #expect(after["status"] == "completed")
                    #expect(after["output"]?["pad"]?.stringValue?.count == Self.big.count)
                    // What was acknowledged before the disk filled is still there.
                    let again = try await KeelClient.withClient(endpoint) {
                        try await $0.call("activity/result", ["taskId": before["taskId"]!, "waitTimeoutMs": 0])
                    }
                    #expect(again["status"] == "completed")
                    #expect(again["output"] == ["n": 1])
                }
            }
        }
    }

    /// A schedule whose slots fall while the disk is full: each round's starts fail (logged with an
    /// incident id, counted), the slots stay due and are tried again a second later, and once space
    /// returns each starts exactly once.
    @Test func aScheduleWhoseStartsCannotBeStoredStartsEachSlotOnceWhenSpaceReturns() async throws {
        let hour: Int64 = 3_600_000
        let clock = ManualClock()
        let start = (clock.now() / hour + 1) * hour
        clock.advance(byMs: start - hour / 2 - clock.now())
        try await TemporaryDirectory.with { dir in
            let db = dir.file("keel.db")
            defer { _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db) }
            try await LiveOrchestrator.with(in: dir, clock: clock) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    _ = try await client.createSchedule(
                        "full", spec: ["intervalMs": JSONValue(hour)], action: ["workflow": "sched.none", "input": ["pad": .string(Self.big)]],
                        options: ["overlap": "allowAll"])
                    let failuresBefore = StoreFailureMetrics.failures
                    _SQLiteTestHooks.setMaximumPageCount(1, forDatabaseAt: db)
                    clock.advance(byMs: 3 * hour)  // slots 0, 1 and 2 fall
                    #expect(try await eventually { StoreFailureMetrics.failures > failuresBefore })
                    #expect(try await client.schedule("describe", "full")["started"] == 0)

                    _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db)
                    #expect(try await eventually { try await client.schedule("describe", "full")["started"] == 3 })
                    let listed = try await client.call("workflow/list", ["name": "sched.none", "limit": 100])
                    let ids = (listed["workflows"]?.arrayValue ?? []).compactMap { $0["workflowId"]?.stringValue }
                    #expect(ids.count == 3 && Set(ids).count == 3, "\(ids)")
                }
            }
        }
    }

    @Test func aResultThatCannotBeStoredFailsTheCallAtOnceAndLandsWhenSpaceReturns() async throws {
        try await TemporaryDirectory.with { dir in
            let db = dir.file("keel.db")
            defer { _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db) }
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let worker = Worker(name: "filler", endpoint: endpoint, maxConcurrent: 4)
                // The task and its claim are already stored; the disk fills before the result is.
                worker.activity("fill.then.answer") { (_: JSONValue, _) -> JSONValue in
                    _SQLiteTestHooks.setMaximumPageCount(1, forDatabaseAt: db)
                    return ["pad": .string(Self.big)]
                }
                try await LiveOrchestrator.withWorker(worker) {
                    try await waitForWorkers(endpoint, 1)
                    let (error, elapsed) = await failure { try await call(endpoint, "fill.then.answer", [:]) }
                    #expect(error?.code == .storageFailure, "\(String(describing: error))")
                    #expect(error?.data?["reason"] == "diskFull")
                    #expect(elapsed < .seconds(45), "the waiting call must be told at once: \(elapsed)")
                    let taskId = try #require(error?.data?["taskId"])

                    // Not acknowledged, not lost: still open in the store, and never reported completed.
                    let open = try await KeelClient.withClient(endpoint) {
                        try await $0.call("activity/result", ["taskId": taskId, "waitTimeoutMs": 0])
                    }
                    #expect(open["status"] == "running")

                    // Space returns: the retried commit lands (the task is not stuck ending).
                    _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db)
                    let done = try await KeelClient.withClient(endpoint) {
                        try await $0.call("activity/result", ["taskId": taskId, "waitTimeoutMs": 30_000])
                    }
                    #expect(done["status"] == "completed")
                    #expect(done["output"]?["pad"]?.stringValue?.count == Self.big.count)
                }
            }
        }
    }

    @Test func aResultNotYetStoredWhenKeelStopsIsRunAgainAfterARestartOnTheSameFile() async throws {
        try await TemporaryDirectory.with { dir in
            let db = dir.file("keel.db")
            defer { _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db) }
            let counter = Counter()
            let makeFiller: @Sendable (Endpoint) -> Worker = { endpoint in
                let worker = Worker(name: "filler", endpoint: endpoint, maxConcurrent: 4)
                worker.activity("fill.once") { (_: JSONValue, _) -> JSONValue in
                    if counter.bump("runs") == 1 { _SQLiteTestHooks.setMaximumPageCount(1, forDatabaseAt: db) }
                    return ["pad": .string(Self.big)]
                }
                return worker
            }
            let taskId = try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(makeFiller(endpoint)) {
                    try await waitForWorkers(endpoint, 1)
                    let (error, _) = await failure { try await call(endpoint, "fill.once", [:]) }
                    #expect(error?.code == .storageFailure)
                    return try #require(error?.data?["taskId"])
                }
            }
            // The cap belongs to the old connection; a restart on the same file has room again.
            _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db)
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(makeFiller(endpoint)) {
                    try await waitForWorkers(endpoint, 1)
                    let done = try await KeelClient.withClient(endpoint) {
                        try await $0.call("activity/result", ["taskId": taskId, "waitTimeoutMs": 30_000])
                    }
                    #expect(done["status"] == "completed")
                    #expect(done["attempts"] == 2, "the attempt whose result was never stored ran again")
                    #expect(counter.get("runs") == 2)
                }
            }
        }
    }
    @Test func aWorkflowWhoseEndCannotBeStoredRunsAgainAndCompletesWhenSpaceReturns() async throws {
        try await TemporaryDirectory.with { dir in
            let db = dir.file("keel.db")
            defer { _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db) }
            let counter = Counter()
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let worker = Worker(name: "flows", endpoint: endpoint, maxConcurrent: 4)
                worker.workflow("wf.bigEnd") { (_: JSONValue, _) -> JSONValue in
                    if counter.bump("runs") == 1 { _SQLiteTestHooks.setMaximumPageCount(1, forDatabaseAt: db) }
                    return ["pad": .string(Self.big)]
                }
                try await LiveOrchestrator.withWorker(worker) {
                    try await waitForWorkers(endpoint, 1)
                    let failuresBefore = StoreFailureMetrics.failures
                    _ = try await start(endpoint, "wf.bigEnd", [:], id: "big-1")
                    // The end did not commit: the workflow is run again (with a pause), never reported done.
                    #expect(try await eventually { counter.get("runs") >= 2 })
                    #expect(StoreFailureMetrics.failures > failuresBefore)
                    // With backoff (50 ms doubling) a second holds a handful of runs, not a busy loop;
                    // load only lowers the count.
                    try await Task.sleep(for: .seconds(1))
                    #expect(counter.get("runs") < 20, "runs while full: \(counter.get("runs"))")
                    let meanwhile = try await KeelClient.withClient(endpoint) {
                        try await $0.call("workflow/describe", ["workflowId": "big-1"])
                    }
                    #expect(meanwhile["status"] != "completed")

                    _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db)
                    let r = try await result(endpoint, "big-1", timeoutMs: 30_000)
                    #expect(r["status"] == "completed", "\(r)")
                    #expect(r["output"]?["pad"]?.stringValue?.count == Self.big.count)
                }
            }
        }
    }
    /// A `workflow/start` over a connection is answered after its commit without a task waiting
    /// on it (`Engine.startWorkflow(_:answer:)`): a commit that fails answers 4001 with an
    /// incident, nothing runs, and the same start succeeds once space returns.
    @Test func aStartThatCannotBeStoredFailsWith4001AndTheSameStartLandsWhenSpaceReturns() async throws {
        try await TemporaryDirectory.with { dir in
            let db = dir.file("keel.db")
            defer { _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db) }
            let counter = Counter()
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let worker = Worker(name: "starts", endpoint: endpoint, maxConcurrent: 4)
                worker.workflow("wf.bigStart") { (input: JSONValue, _) -> JSONValue in
                    counter.bump("runs")
                    return ["padBytes": JSONValue(input["pad"]?.stringValue?.count ?? 0)]
                }
                try await LiveOrchestrator.withWorker(worker) {
                    try await waitForWorkers(endpoint, 1)
                    let input: JSONValue = ["pad": .string(Self.big)]
                    _SQLiteTestHooks.setMaximumPageCount(1, forDatabaseAt: db)
                    let (error, elapsed) = await failure { try await start(endpoint, "wf.bigStart", input, id: "big-start-1") }
                    #expect(error?.code == .storageFailure, "\(String(describing: error))")
                    #expect(error?.data?["incident"]?.stringValue?.hasPrefix("inc-") == true)
                    #expect(elapsed < .seconds(45), "a full disk must fail the start, not hang it: \(elapsed)")
                    #expect(counter.get("runs") == 0, "a start that was not stored must not run")

                    _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db)
                    let started = try await start(endpoint, "wf.bigStart", input, id: "big-start-1")
                    #expect(started["started"] == true, "\(started)")
                    let r = try await result(endpoint, "big-start-1", timeoutMs: 30_000)
                    #expect(r["status"] == "completed", "\(r)")
                    #expect(r["output"]?["padBytes"] == JSONValue(Self.big.count))
                    #expect(counter.get("runs") == 1)
                }
            }
        }
    }

    /// An activity step answered after its commit without a task waiting on it (the deferred
    /// path of `Engine.storeActivityStep`): a commit that fails answers the step with 4001 and an
    /// incident, the activity does not run, the run is not trusted and runs again, and once space
    /// returns the step is stored and the activity runs once.
    @Test func anActivityStepThatCannotBeStoredFailsTheStepAndTheRunRunsAgainUntilItLands() async throws {
        try await TemporaryDirectory.with { dir in
            let db = dir.file("keel.db")
            defer { _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db) }
            let counter = Counter()
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let worker = Worker(name: "steps", endpoint: endpoint, maxConcurrent: 4)
                worker.activity("echo.big") { (input: JSONValue, _) -> JSONValue in
                    counter.bump("activity")
                    return input
                }
                worker.workflow("wf.bigStep") { (_: JSONValue, ctx) -> JSONValue in
                    if counter.bump("runs") == 1 { _SQLiteTestHooks.setMaximumPageCount(1, forDatabaseAt: db) }
                    do {
                        let input: JSONValue = ["pad": .string(Self.big)]
                        return try await ctx.activity("echo.big", input, as: JSONValue.self)
                    } catch let error as KeelError {
                        if error.code == .storageFailure, error.data?["incident"]?.stringValue?.hasPrefix("inc-") == true {
                            counter.bump("stepStoreFailures")
                        }
                        throw error
                    }
                }
                try await LiveOrchestrator.withWorker(worker) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await start(endpoint, "wf.bigStep", [:], id: "big-step-1")
                    #expect(try await eventually { counter.get("stepStoreFailures") >= 1 && counter.get("runs") >= 2 })
                    #expect(counter.get("activity") == 0, "an activity whose step is not stored must not run")
                    let meanwhile = try await KeelClient.withClient(endpoint) {
                        try await $0.call("workflow/describe", ["workflowId": "big-step-1"])
                    }
                    #expect(meanwhile["status"] != "completed" && meanwhile["status"] != "failed", "\(meanwhile)")

                    _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db)
                    let r = try await result(endpoint, "big-step-1", timeoutMs: 30_000)
                    #expect(r["status"] == "completed", "\(r)")
                    #expect(r["output"]?["pad"]?.stringValue?.count == Self.big.count)
                    #expect(counter.get("activity") == 1)
                }
            }
        }
    }

    @Test func aRetryThatCannotBeStoredIsRetriedUntilItLandsAndTheNextAttemptRuns() async throws {
        try await TemporaryDirectory.with { dir in
            let db = dir.file("keel.db")
            defer { _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db) }
            let counter = Counter()
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let worker = Worker(name: "flaky", endpoint: endpoint, maxConcurrent: 4)
                worker.activity("fail.big.once") { (_: JSONValue, ctx) -> JSONValue in
                    counter.bump("runs")
                    guard ctx.attempt > 1 else {
                        // The failure (with its details) must be stored with the retry: it cannot fit.
                        _SQLiteTestHooks.setMaximumPageCount(1, forDatabaseAt: db)
                        throw ActivityFailure("try again", type: "Transient", retryable: true, details: ["pad": .string(Self.big)])
                    }
                    return ["attempt": JSONValue(ctx.attempt)]
                }
                try await LiveOrchestrator.withWorker(worker) {
                    try await waitForWorkers(endpoint, 1)
                    let failuresBefore = StoreFailureMetrics.failures
                    let started = try await call(endpoint, "fail.big.once", [:], extra: [
                        "wait": false, "retryPolicy": ["initialIntervalMs": 10, "maximumIntervalMs": 100],
                    ])
                    #expect(try await eventually { StoreFailureMetrics.failures > failuresBefore })
                    // No second attempt while the retry is not durable.
                    #expect(counter.get("runs") == 1)
                    _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db)
                    let done = try await KeelClient.withClient(endpoint) {
                        try await $0.call("activity/result", ["taskId": started["taskId"]!, "waitTimeoutMs": 30_000])
                    }
                    #expect(done["status"] == "completed", "\(done)")
                    #expect(done["output"] == ["attempt": 2])
                    #expect(counter.get("runs") == 2)
                }
            }
        }
    }
}

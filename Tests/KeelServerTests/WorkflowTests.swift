import Foundation
import KeelClient
import KeelCore
import KeelEngine
import KeelServer
import KeelTesting
import Testing

struct N: Codable, Sendable { var n: Int }
struct Approval: Codable, Sendable { var approved: Bool }

/// A Swift worker with the workflows the live tests use, plus the test activities.
func makeWorkflowWorker(_ endpoint: Endpoint, counter: Counter) -> Worker {
    let w = makeWorker(endpoint, counter: counter, name: "wf-worker")
    w.workflow("wf.sequence") { (input: N, ctx) -> N in
        let a: N = try await ctx.activity("echo", N(n: input.n))
        let b: N = try await ctx.activity("echo", N(n: a.n + 1))
        return N(n: b.n)
    }
    w.workflow("wf.parallel") { (_: JSONValue, ctx) -> JSONValue in
        let first = try ctx.startActivity("echo", ["i": 1] as JSONValue, as: JSONValue.self)
        let second = try ctx.startActivity("echo", ["i": 2] as JSONValue, as: JSONValue.self)
        async let a = first.value
        async let b = second.value
        return ["a": try await a, "b": try await b]
    }
    w.workflow("wf.longSleep") { (_: JSONValue, ctx) -> JSONValue in
        let before = try await ctx.now()
        try await ctx.sleep(for: .seconds(30 * 86_400))
        let after = try await ctx.now()
        counter.bump("slept")
        return ["sleptMs": JSONValue(after - before)]
    }
    w.workflow("wf.approval") { (_: JSONValue, ctx) -> JSONValue in
        let first: Approval = try await ctx.signal("approve")
        let second: Approval = try await ctx.signal("approve")
        return ["first": .bool(first.approved), "second": .bool(second.approved)]
    }
    w.workflow("wf.oneSignal") { (_: JSONValue, ctx) -> JSONValue in
        try await ctx.signal("go")
    }
    w.workflow("wf.signalTimeout") { (_: JSONValue, ctx) -> String in
        do {
            let _: Approval = try await ctx.signal("never", timeout: .milliseconds(100))
            return "got it"
        } catch let f as ActivityFailure where f.type == "TimedOut" {
            return "timed out"
        }
    }
    w.workflow("wf.parent") { (input: N, ctx) -> JSONValue in
        let c: N = try await ctx.child("wf.sequence", N(n: input.n))
        return ["child": JSONValue(c.n)]
    }
    w.workflow("wf.saga") { (_: JSONValue, ctx) -> String in
        _ = try await ctx.activity("echo", ["step": "book"] as JSONValue, as: JSONValue.self)
        do {
            _ = try await ctx.activity("slow.wait", [:] as JSONValue, as: JSONValue.self)
            return "finished"
        } catch let f as ActivityFailure where f.isCancellation {
            _ = try await ctx.activity("echo", ["step": "compensate"] as JSONValue, as: JSONValue.self)
            counter.bump("compensated")
            throw f
        }
    }
    w.workflow("wf.loop") { (input: JSONValue, ctx) -> JSONValue in
        let i = input["i"]?.int64Value ?? 0
        if i < 3 {
            _ = try await ctx.activity("echo", ["i": JSONValue(i)] as JSONValue, as: JSONValue.self)
            try ctx.continueAsNew(["i": JSONValue(i + 1)] as JSONValue)
        }
        return ["done": JSONValue(i)]
    }
    w.workflow("wf.drift") { (_: JSONValue, ctx) -> String in
        if counter.get("version") == 1 {
            _ = try await ctx.activity("echo", [:] as JSONValue, as: JSONValue.self)
        } else {
            try await ctx.sleep(for: .seconds(60))
        }
        return "fixed"
    }
    w.workflow("wf.sideEffects") { (_: JSONValue, ctx) -> JSONValue in
        ["t": JSONValue(try await ctx.now()), "r": JSONValue(try await ctx.random()), "u": .string(try await ctx.uuid())]
    }
    return w
}

func start(_ endpoint: Endpoint, _ name: String, _ input: JSONValue, id: String) async throws -> JSONValue {
    try await KeelClient.withClient(endpoint) {
        try await $0.call("workflow/start", ["name": .string(name), "input": input, "workflowId": .string(id)])
    }
}

func result(_ endpoint: Endpoint, _ id: String, timeoutMs: Int64 = 60_000) async throws -> JSONValue {
    try await KeelClient.withClient(endpoint) {
        try await $0.call("workflow/result", ["workflowId": .string(id), "waitTimeoutMs": JSONValue(timeoutMs)])
    }
}

func rpc(_ endpoint: Endpoint, _ method: String, _ params: JSONValue) async throws -> JSONValue {
    try await KeelClient.withClient(endpoint) { try await $0.call(method, params) }
}

@Suite("Durable workflows", .timeLimit(.minutes(3)))
struct WorkflowTests {
    func withWorkflows(
        clock: ManualClock = ManualClock(), hold: Int64 = 5_000,
        _ body: @escaping @Sendable (Endpoint, Counter) async throws -> Void
    ) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, clock: clock, configure: { $0.engine.stepHoldMs = hold }) { endpoint, _ in
                let counter = Counter()
                try await LiveOrchestrator.withWorker(makeWorkflowWorker(endpoint, counter: counter)) {
                    try await waitForWorkers(endpoint, 1)
                    try await body(endpoint, counter)
                }
            }
        }
    }

    @Test func aSequenceOfActivitiesCompletesWithTheRightResult() async throws {
        try await withWorkflows { endpoint, _ in
            _ = try await start(endpoint, "wf.sequence", ["n": 1], id: "seq-1")
            let r = try await result(endpoint, "seq-1")
            #expect(r["status"] == "completed")
            #expect(r["output"] == ["n": 2])
            let h = try await rpc(endpoint, "workflow/history", ["workflowId": "seq-1"])
            #expect(h["entries"]?.arrayValue?.map { $0["kind"] } == ["activity", "activity"])
            #expect(h["entries"]?.arrayValue?.first?["result"] == ["n": 1])
        }
    }

    @Test func startingAnExistingIdReturnsTheExistingExecution() async throws {
        try await withWorkflows { endpoint, _ in
            let a = try await start(endpoint, "wf.sequence", ["n": 1], id: "dup")
            let b = try await start(endpoint, "wf.sequence", ["n": 5], id: "dup")
            #expect(a["started"] == true)
            #expect(b["started"] == false)
            #expect(try await result(endpoint, "dup")["output"] == ["n": 2])
            await #expect(throws: KeelError.self) {
                _ = try await rpc(endpoint, "workflow/start", ["name": "wf.sequence", "workflowId": "dup", "conflictPolicy": "fail"])
            }
        }
    }

    @Test func parallelActivitiesGetDeterministicSequenceNumbers() async throws {
        try await withWorkflows { endpoint, _ in
            _ = try await start(endpoint, "wf.parallel", [:], id: "par")
            #expect(try await result(endpoint, "par")["output"] == ["a": ["i": 1], "b": ["i": 2]])
            let h = try await rpc(endpoint, "workflow/history", ["workflowId": "par"])
            let bySeq = (h["entries"]?.arrayValue ?? []).map { [$0["seq"]!, $0["input"]!] }
            #expect(bySeq == [[1, ["i": 1]], [2, ["i": 2]]])
        }
    }

    @Test func aThirtyDaySleepSuspendsAndFiresWhenTheClockGetsThere() async throws {
        let clock = ManualClock()
        try await withWorkflows(clock: clock) { endpoint, counter in
            _ = try await start(endpoint, "wf.longSleep", [:], id: "sleeper")
            #expect(try await eventually { try await rpc(endpoint, "workflow/describe", ["workflowId": "sleeper"])["status"] == "suspended" })
            #expect(counter.get("slept") == 0)
            clock.advance(byMs: 30 * 86_400_000 + 1_000)
            let r = try await result(endpoint, "sleeper")
            #expect(r["status"] == "completed")
            #expect((r["output"]?["sleptMs"]?.int64Value ?? 0) >= 30 * 86_400_000)
        }
    }

    @Test func signalsSentBeforeTheWaitAreBufferedInOrder() async throws {
        try await withWorkflows { endpoint, _ in
            // Signals may only go to an existing workflow; send two right after start.
            _ = try await start(endpoint, "wf.approval", [:], id: "appr")
            _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "appr", "name": "approve", "payload": ["approved": true]])
            _ = try await rpc(endpoint, "workflow/signal", ["workflowId": "appr", "name": "approve", "payload": ["approved": false]])
            #expect(try await result(endpoint, "appr")["output"] == ["first": true, "second": false])
        }
    }

    /// A signal that arrives after the run's signal step is stored but before the engine has seen
    /// that write come back completes the step; the run is not left waiting for good. Found by the
    /// Ruby client's live test (a few runs in 20 stuck `suspended` before the fix). A test hook
    /// widens the window to 1 s for this workflow, so the signal lands in it every time.
    @Test func aSignalRacingTheRunsSignalStepIsNotLost() async throws {
        _EngineTestHooks.delaySignalStep(ofWorkflow: "race-1", by: .seconds(1))
        defer { _EngineTestHooks.delaySignalStep(ofWorkflow: "race-1", by: nil) }
        try await withWorkflows { endpoint, _ in
            _ = try await start(endpoint, "wf.oneSignal", [:], id: "race-1")
            // The step is in the store (history reads it) while the engine is held back.
            #expect(try await eventually {
                let h = try await rpc(endpoint, "workflow/history", ["workflowId": "race-1"])
                return h["entries"]?.arrayValue?.contains { $0["kind"] == "signal" } ?? false
            })
            let sent = try await rpc(endpoint, "workflow/signal", ["workflowId": "race-1", "name": "go", "payload": 7])
            #expect(sent["consumed"] == true, "\(sent)")
            let r = try await rpc(endpoint, "workflow/result", ["workflowId": "race-1", "waitTimeoutMs": 30_000])
            #expect(r["status"] == "completed" && r["output"] == 7, "\(r)")
        }
    }

    /// A cancel that arrives while the run's signal step is being recorded finds no step to fail;
    /// once the step is in the journal the cancel is delivered to it, so a run that only waits on
    /// that signal still ends cancelled (before, it waited for a signal that never came).
    @Test func aCancelRacingTheRunsSignalStepIsNotLost() async throws {
        _EngineTestHooks.delaySignalStep(ofWorkflow: "race-cancel", by: .seconds(1))
        defer { _EngineTestHooks.delaySignalStep(ofWorkflow: "race-cancel", by: nil) }
        try await withWorkflows { endpoint, _ in
            _ = try await start(endpoint, "wf.oneSignal", [:], id: "race-cancel")
            // The step is in the store (history reads it) while the engine is held back.
            #expect(try await eventually {
                let h = try await rpc(endpoint, "workflow/history", ["workflowId": "race-cancel"])
                return h["entries"]?.arrayValue?.contains { $0["kind"] == "signal" } ?? false
            })
            _ = try await rpc(endpoint, "workflow/cancel", ["workflowId": "race-cancel"])
            let r = try await rpc(endpoint, "workflow/result", ["workflowId": "race-cancel", "waitTimeoutMs": 15_000])
            #expect(r["status"] == "cancelled", "\(r)")
        }
    }

    /// A client that sends a signal again (its connection dropped before the answer) with the same
    /// `requestId` does not deliver it twice (issue 17, "Deduplicated signals").
    @Test func aSignalSentAgainWithItsRequestIdIsDeliveredOnce() async throws {
        try await withWorkflows { endpoint, _ in
            _ = try await start(endpoint, "wf.approval", [:], id: "dedup")
            let yes: JSONValue = ["workflowId": "dedup", "name": "approve", "payload": ["approved": true], "requestId": "req-1"]
            let first = try await rpc(endpoint, "workflow/signal", yes)
            #expect(first["duplicate"] == false, "\(first)")
            let again = try await rpc(endpoint, "workflow/signal", yes)
            #expect(again == ["delivered": true, "duplicate": true])
            // Without dedup the workflow's second wait would take the resend (approved: true).
            _ = try await rpc(
                endpoint, "workflow/signal",
                ["workflowId": "dedup", "name": "approve", "payload": ["approved": false], "requestId": "req-2"])
            #expect(try await result(endpoint, "dedup")["output"] == ["first": true, "second": false])
            // The signal that ended it, sent again after its answer was lost: still a duplicate,
            // not an error. A new signal to the ended workflow is refused.
            let last: JSONValue = ["workflowId": "dedup", "name": "approve", "payload": ["approved": false], "requestId": "req-2"]
            #expect(try await rpc(endpoint, "workflow/signal", last) == ["delivered": true, "duplicate": true])
            let late = try await rpcError(
                endpoint, "workflow/signal", ["workflowId": "dedup", "name": "approve", "payload": 1, "requestId": "req-3"])
            #expect(late?.code == .workflowNotFound, "\(String(describing: late))")
            let history = try await rpc(endpoint, "workflow/history", ["workflowId": "dedup"])
            #expect(history["entries"]?.arrayValue?.filter { $0["kind"] == "signal" }.count == 2)
            let empty = try await rpcError(endpoint, "workflow/signal", ["workflowId": "dedup", "name": "approve", "requestId": ""])
            #expect(empty?.code == .invalidParams)
        }
    }

    @Test func aSignalWaitWithATimeoutTimesOut() async throws {
        try await withWorkflows { endpoint, _ in
            _ = try await start(endpoint, "wf.signalTimeout", [:], id: "to")
            #expect(try await result(endpoint, "to")["output"] == "timed out")
        }
    }

    @Test func aChildWorkflowRunsAndItsOutputReturnsToTheParent() async throws {
        try await withWorkflows { endpoint, _ in
            _ = try await start(endpoint, "wf.parent", ["n": 10], id: "parent")
            #expect(try await result(endpoint, "parent")["output"] == ["child": 11])
            let child = try await rpc(endpoint, "workflow/describe", ["workflowId": "parent/1"])
            #expect(child["status"] == "completed")
            #expect(child["parentId"] == "parent")
        }
    }

    @Test func cancellationReachesTheRunningActivityAndTheWorkflowCompensates() async throws {
        try await withWorkflows { endpoint, counter in
            _ = try await start(endpoint, "wf.saga", [:], id: "saga")
            #expect(try await eventually { counter.get("ticks") > 1 })
            _ = try await rpc(endpoint, "workflow/cancel", ["workflowId": "saga"])
            let r = try await result(endpoint, "saga")
            #expect(r["status"] == "cancelled")
            #expect(counter.get("compensated") == 1)
            #expect(try await eventually { counter.get("slow-cancelled") == 1 })
            let h = try await rpc(endpoint, "workflow/history", ["workflowId": "saga"])
            #expect(h["entries"]?.arrayValue?.last?["input"] == ["step": "compensate"])
        }
    }

    @Test func continueAsNewKeepsTheJournalBounded() async throws {
        try await withWorkflows { endpoint, _ in
            _ = try await start(endpoint, "wf.loop", ["i": 0], id: "loop")
            #expect(try await result(endpoint, "loop")["output"] == ["done": 3])
            let h = try await rpc(endpoint, "workflow/history", ["workflowId": "loop"])
            #expect(h["generation"] == 3)
            #expect(h["entries"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func sideEffectsAreRecordedOnce() async throws {
        try await withWorkflows { endpoint, _ in
            _ = try await start(endpoint, "wf.sideEffects", [:], id: "fx")
            let out = try await result(endpoint, "fx")["output"]
            let h = try await rpc(endpoint, "workflow/history", ["workflowId": "fx"])
            #expect(h["entries"]?.arrayValue?.map { $0["result"] } == [out?["t"], out?["r"], out?["u"]])
        }
    }

    @Test func codeThatDriftsFromTheJournalParksTheExecutionUntilResumed() async throws {
        let clock = ManualClock()
        try await withWorkflows(clock: clock) { endpoint, counter in
            // Version 0 sleeps at step 1; version 1 (a bad deploy) calls an activity there; version 2 is the fix.
            _ = try await start(endpoint, "wf.drift", [:], id: "drift")
            #expect(try await eventually { try await rpc(endpoint, "workflow/describe", ["workflowId": "drift"])["status"] == "suspended" })
            counter.bump("version")
            clock.advance(byMs: 61_000)
            #expect(try await eventually { try await rpc(endpoint, "workflow/describe", ["workflowId": "drift"])["status"] == "parked" })
            let parked = try await rpc(endpoint, "workflow/describe", ["workflowId": "drift"])
            #expect(parked["lastError"]?["type"] == "NonDeterminism")
            #expect(parked["lastError"]?["message"]?.stringValue?.contains("sleep") == true)
            counter.bump("version")
            _ = try await rpc(endpoint, "workflow/resume", ["workflowId": "drift"])
            #expect(try await result(endpoint, "drift")["output"] == "fixed")
        }
    }

    @Test func listFiltersAndPages() async throws {
        try await withWorkflows { endpoint, _ in
            for i in 0..<5 { _ = try await start(endpoint, "wf.sequence", ["n": JSONValue(i)], id: "l\(i)") }
            for i in 0..<5 { _ = try await result(endpoint, "l\(i)") }
            let page1 = try await rpc(endpoint, "workflow/list", ["name": "wf.sequence", "limit": 3])
            #expect(page1["workflows"]?.arrayValue?.count == 3)
            let page2 = try await rpc(endpoint, "workflow/list", ["name": "wf.sequence", "limit": 3, "cursor": page1["nextCursor"]!])
            #expect(page2["workflows"]?.arrayValue?.count == 2)
            let completed = try await rpc(endpoint, "workflow/list", ["status": "completed"])
            #expect(completed["workflows"]?.arrayValue?.count == 5)
            await #expect(throws: KeelError.self) { _ = try await rpc(endpoint, "workflow/list", ["status": "bogus"]) }
        }
    }
}

@Suite("Workflow recovery", .timeLimit(.minutes(3)))
struct WorkflowRecoveryTests {
    @Test func aThirtyDayTimerFiresOnceAfterTheOrchestratorWasDownAcrossItsDueTime() async throws {
        try await TemporaryDirectory.with { dir in
            let clock = ManualClock()
            let counter = Counter()
            // First life: start the workflow; it sleeps (suspended); stop the orchestrator.
            try await LiveOrchestrator.with(in: dir, clock: clock) { endpoint, _ in
                try await LiveOrchestrator.withWorker(makeWorkflowWorker(endpoint, counter: counter)) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await start(endpoint, "wf.longSleep", [:], id: "downtime")
                    #expect(try await eventually { try await rpc(endpoint, "workflow/describe", ["workflowId": "downtime"])["status"] == "suspended" })
                }
            }
            // Down across the due time.
            clock.advance(byMs: 31 * 86_400_000)
            // Second life on the same file: the timer is due; it fires once and the workflow ends.
            try await LiveOrchestrator.with(in: dir, clock: clock) { endpoint, _ in
                try await LiveOrchestrator.withWorker(makeWorkflowWorker(endpoint, counter: counter)) {
                    let r = try await result(endpoint, "downtime")
                    #expect(r["status"] == "completed")
                    #expect(counter.get("slept") == 1)
                    let h = try await rpc(endpoint, "workflow/history", ["workflowId": "downtime"])
                    #expect(h["entries"]?.arrayValue?.map { $0["kind"] } == ["now", "sleep", "now"])
                }
            }
        }
    }
}

@Suite("Cancelling a workflow no worker has run", .timeLimit(.minutes(3)))
struct CancelNeverRanTests {
    /// `keel workflow start` with no worker says "`keel workflow cancel` to drop it": a pending
    /// execution that never ran ends cancelled at once, with the reason, on either engine path.
    @Test func aPendingWorkflowThatNeverRanEndsCancelledAtOnce() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                _ = try await start(endpoint, "nobody.serves", [:], id: "lonely")
                let cancelled = try await rpc(endpoint, "workflow/cancel", ["workflowId": "lonely", "reason": "changed my mind"])
                #expect(cancelled["status"] == "cancelled", "\(cancelled)")
                let r = try await result(endpoint, "lonely", timeoutMs: 5_000)
                #expect(r["status"] == "cancelled", "\(r)")
                #expect(r["failure"]?["type"] == "Cancelled", "\(r)")
                #expect(r["failure"]?["message"] == "changed my mind", "\(r)")
                let again = try await rpc(endpoint, "workflow/cancel", ["workflowId": "lonely"])
                #expect(again["status"] == "cancelled", "\(again)")
            }
        }
    }
}

@Suite("Cancellation races", .timeLimit(.minutes(3)))
struct CancellationRaceTests {
    @Test(arguments: 0..<8)
    func cancellingRightAfterStartEndsCancelledOrCompleted(_ i: Int) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let counter = Counter()
                let w = makeWorkflowWorker(endpoint, counter: counter)
                w.workflow("wf.cancellable") { (_: JSONValue, ctx) -> JSONValue in
                    do {
                        return try await ctx.activity("echo", ["step": "work"] as JSONValue, as: JSONValue.self)
                    } catch let f as ActivityFailure where f.isCancellation {
                        _ = try await ctx.activity("echo", ["step": "compensate"] as JSONValue, as: JSONValue.self)
                        throw f
                    }
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await start(endpoint, "wf.cancellable", [:], id: "c\(i)")
                    if i % 2 == 1 { try await Task.sleep(for: .milliseconds(i)) }
                    _ = try await rpc(endpoint, "workflow/cancel", ["workflowId": .string("c\(i)")])
                    let r = try await result(endpoint, "c\(i)", timeoutMs: 60_000)
                    let d = try await rpc(endpoint, "workflow/describe", ["workflowId": .string("c\(i)")])
                    let h = try await rpc(endpoint, "workflow/history", ["workflowId": .string("c\(i)")])
                    #expect(r["status"] == "cancelled" || r["status"] == "completed", "\(r) \(d) \(h)")
                }
            }
        }
    }
}

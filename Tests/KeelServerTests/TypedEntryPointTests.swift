import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelServer
import KeelTesting
import Logging
import Testing

/// Issue 15: the typed entry points, end to end through the Swift client's `call(_:)` with the
/// generated params and result types; every answer the engine builds from the types is one its
/// result schema accepts.
@Suite("Typed entry points", .timeLimit(.minutes(3)))
struct TypedEntryPointTests {
    /// The answer's JSON passes the method's result schema.
    static func expectValid<R: WireRequest>(_ request: R, _ answer: R.Response) {
        let error = ProtocolValidator.shared.checkResult(method: R.method, result: answer.json)
        #expect(error == nil, "\(R.method): \(error?.message ?? "") in \(answer.json)")
    }

    static func call<R: WireRequest>(_ client: KeelClient, _ request: R) async throws -> R.Response {
        let answer = try await client.call(request)
        expectValid(request, answer)
        return answer
    }

    @Test func workflowsSignalsActivitiesAndSchedulesAnswerTypedAndAsTheirSchemasSay() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let w = Worker(name: "typed", endpoint: endpoint)
                w.workflow("typed.approve") { (input: JSONValue, ctx) -> JSONValue in
                    let approved = try await ctx.signal("approve", as: JSONValue.self)
                    return ["input": input, "approved": approved]
                }
                w.activity("typed.echo") { (input: JSONValue, _) -> JSONValue in input }
                try await LiveOrchestrator.withWorker(w) {
                    try await waitForWorkers(endpoint, 1)
                    try await KeelClient.withClient(endpoint) { client in
                        let started = try await Self.call(
                            client, WorkflowStartParams(name: "typed.approve", input: ["n": 1], workflowId: "t-1", priority: 3))
                        #expect(started.workflowId == "t-1")
                        #expect(started.started)
                        let again = try await Self.call(client, WorkflowStartParams(name: "typed.approve", workflowId: "t-1"))
                        #expect(!again.started)

                        let signalled = try await Self.call(
                            client, WorkflowSignalParams(workflowId: "t-1", name: "approve", payload: true, requestId: "r-1"))
                        #expect(signalled.delivered)
                        let resent = try await Self.call(
                            client, WorkflowSignalParams(workflowId: "t-1", name: "approve", payload: true, requestId: "r-1"))
                        #expect(resent.duplicate == true)

                        let result = try await Self.call(client, WorkflowResultParams(workflowId: "t-1", waitTimeoutMs: 60_000))
                        #expect(result.status == .completed)
                        #expect(result.output == ["input": ["n": 1], "approved": true])

                        let described = try await Self.call(client, WorkflowDescribeParams(workflowId: "t-1"))
                        #expect(described.status == .completed)
                        #expect(described.priority == 3)
                        #expect(described.input == ["n": 1])
                        #expect(described.pendingSteps.isEmpty)

                        // Cancel and terminate of an ended execution answer how it ended.
                        #expect(try await Self.call(client, WorkflowCancelParams(workflowId: "t-1")).status == .completed)
                        #expect(try await Self.call(client, WorkflowTerminateParams(workflowId: "t-1")).status == .completed)

                        let echoed = try await Self.call(
                            client, ActivityCallParams(name: "typed.echo", input: "hi", idempotencyKey: "k-1"))
                        #expect(echoed.status == .completed)
                        #expect(echoed.output == "hi")
                        let found = try await Self.call(client, ActivityResultParams(idempotencyKey: "k-1", waitTimeoutMs: 0))
                        #expect(found.taskId == echoed.taskId)

                        let created = try await Self.call(
                            client,
                            ScheduleCreateParams(
                                scheduleId: "s-1", spec: Wire.ScheduleSpec(intervalMs: 3_600_000),
                                action: Wire.ScheduleAction(workflow: "typed.approve"), paused: true))
                        #expect(created.paused)
                        #expect(try await Self.call(client, ScheduleListParams()).schedules.map(\.scheduleId) == ["s-1"])
                        #expect(try await Self.call(client, ScheduleDeleteParams(scheduleId: "s-1")).deleted)
                    }
                }
            }
        }
    }

    @Test func listsQueriesUpdatesAndAdministrationAnswerTypedAndAsTheirSchemasSay() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let w = Worker(name: "typed", endpoint: endpoint)
                w.workflow("typed.counter") { (input: JSONValue, ctx) -> JSONValue in
                    try await ctx.setQueryValue("count", input)
                    let update = try await ctx.waitForUpdate("add")
                    try await ctx.respond(to: update, with: ["added": update.input])
                    return try await ctx.signal("approve", as: JSONValue.self)
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await waitForWorkers(endpoint, 1)
                    try await KeelClient.withClient(endpoint) { client in
                        #expect(try await Self.call(client, PingParams()) == PingResult())
                        _ = try await Self.call(client, WorkflowStartParams(name: "typed.counter", input: 1, workflowId: "c-1"))

                        let update = WorkflowUpdateParams(workflowId: "c-1", name: "add", input: 2, updateId: "u-1")
                        let updated = try await Self.call(client, update)
                        #expect(updated.status == .completed)
                        #expect(updated.result == ["added": 2])
                        #expect(try await Self.call(client, update) == updated)
                        let unanswered = try await Self.call(
                            client, WorkflowUpdateParams(workflowId: "c-1", name: "sub", updateId: "u-2", waitTimeoutMs: 0))
                        #expect(unanswered.status == .pending)

                        let queried = try await Self.call(client, WorkflowQueryParams(workflowId: "c-1", name: "count"))
                        #expect(queried.value == 1)
                        #expect(queried.seq == 1)

                        let listed = try await Self.call(client, WorkflowListParams(name: "typed.counter", limit: 1))
                        #expect(listed.workflows.map(\.workflowId) == ["c-1"])
                        #expect(listed.nextCursor != nil)
                        let typo = try await Self.call(client, WorkflowListParams(query: "custmer = \"acme\""))
                        #expect(typo.workflows.isEmpty)
                        #expect(typo.unknownAttributes?.map(\.key) == ["custmer"])

                        let counted = try await Self.call(
                            client, WorkflowBatchParams(operation: .terminate, query: "name=typed.counter", dryRun: true))
                        #expect(counted.matched == 1)
                        #expect(counted.sample == ["c-1"])
                        #expect(counted.applied == 0)

                        let resumed = try await Self.call(client, WorkflowResumeParams(workflowId: "c-1"))
                        #expect(resumed.workflowId == "c-1")

                        let queued = try await Self.call(
                            client, ActivityCallParams(name: "typed.nobody", input: 1, wait: false))
                        #expect(queued.status == .scheduled)
                        let cancelled = try await Self.call(client, ActivityCancelParams(taskId: queued.taskId))
                        #expect(cancelled.status == .cancelled)

                        #expect(try await Self.call(client, ContractReleaseParams(name: "typed.nobody")).released == false)

                        _ = try await Self.call(client, WorkflowSignalParams(workflowId: "c-1", name: "approve", payload: true))
                        let ended = try await Self.call(client, WorkflowResultParams(workflowId: "c-1", waitTimeoutMs: 60_000))
                        #expect(ended.status == .completed)
                        let reset = try await Self.call(client, WorkflowResetParams(workflowId: "c-1", toStep: 1, reason: "typed"))
                        #expect(reset.previousStatus == .completed)
                        #expect(reset.generation == reset.previousGeneration + 1)
                        #expect(reset.keptSteps == 1)
                    }
                }
            }
        }
    }

    /// The wire answer to `request`, and that reading it as the result type and writing it back
    /// keeps every member: nothing the engine sends is one the type cannot carry.
    static func expectTypedLosslessly<R: WireRequest>(_ client: KeelClient, _ request: R) async throws -> JSONValue {
        let raw = try await client.call(R.method, request.json)
        #expect(try R.Response(json: raw).json == raw, "\(R.method): \(raw)")
        return raw
    }

    @Test func historiesAndTaskListsAnswerTypedWithWhatTheyAddToTheirItems() async throws {
        struct Refused: Error {}
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let w = Worker(name: "typed", endpoint: endpoint)
                w.workflow("typed.refuse") { (_: JSONValue, _) -> JSONValue in throw Refused() }
                w.workflow("typed.parent") { (input: JSONValue, ctx) -> JSONValue in
                    do {
                        return try await ctx.child("typed.refuse", input, id: "kid-1", as: JSONValue.self)
                    } catch {
                        return "caught"
                    }
                }
                w.workflow("typed.waits") { (input: JSONValue, ctx) -> JSONValue in
                    try await ctx.activity("typed.unserved", input, as: JSONValue.self)
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await waitForWorkers(endpoint, 1)
                    try await KeelClient.withClient(endpoint) { client in
                        _ = try await Self.call(
                            client, WorkflowStartParams(name: "typed.parent", input: 1, workflowId: "p-1"))
                        let ended = try await Self.call(
                            client, WorkflowResultParams(workflowId: "p-1", waitTimeoutMs: 60_000))
                        #expect(ended.output == "caught")

                        // A failed child step's failure names the child (common.json stepFailure).
                        let history = try await Self.call(client, WorkflowHistoryParams(workflowId: "p-1"))
                        let child = try #require(history.entries.first)
                        #expect(child.kind == .child)
                        #expect(child.status == .failed)
                        #expect(child.childWorkflowId == "kid-1")
                        #expect(child.failure?.childWorkflowId == "kid-1")
                        #expect(history.status == .completed)
                        let raw = try await Self.expectTypedLosslessly(client, WorkflowHistoryParams(workflowId: "p-1"))
                        #expect(raw["entries"]?.arrayValue?.first?["failure"]?["childWorkflowId"] == "kid-1")
                        let error = try await #require(throws: KeelError.self) {
                            try await client.call(WorkflowHistoryParams(workflowId: "p-1", generation: 1))
                        }
                        #expect(error.message == "workflow/history: params.generation must be an integer from 0 to 0")

                        // A workflow's queued task, with the execution's priority and fairness key.
                        _ = try await Self.call(
                            client,
                            WorkflowStartParams(
                                name: "typed.waits", input: 2, workflowId: "q-1", priority: 5, fairnessKey: "acme"))
                        var listed = ActivityListResult(tasks: [], count: 0)
                        for _ in 0..<200 where listed.tasks.isEmpty {
                            listed = try await Self.call(client, ActivityListParams(name: "typed.unserved"))
                            if listed.tasks.isEmpty { try await Task.sleep(for: .milliseconds(25)) }
                        }
                        let task = try #require(listed.tasks.first)
                        #expect(listed.count == 1)
                        #expect(task.status == .scheduled)
                        #expect(task.workflowId == "q-1")
                        #expect(task.priority == 5)
                        #expect(task.fairnessKey == "acme")
                        #expect(task.waitingForWorker == true)
                        #expect(task.createdAtMs > 0)
                        let rawList = try await Self.expectTypedLosslessly(
                            client, ActivityListParams(status: .scheduled))
                        #expect(rawList["tasks"]?.arrayValue?.first?["fairnessKey"] == "acme")
                        _ = try await Self.call(client, WorkflowTerminateParams(workflowId: "q-1"))
                    }
                }
            }
        }
    }

    @Test func aTypedShutdownAnswersEmptyAndStopsTheServer() async throws {
        try await TemporaryDirectory.with { dir in
            let server = KeelServer(options: ServerServicesTests.options(dir), logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await server.run() }
                _ = try await server.ready()
                try await KeelClient.withClient(.unixSocket(path: dir.file("k.sock"))) { client in
                    let answer = try await Self.call(client, ShutdownParams())
                    #expect(answer == ShutdownResult())
                }
                try await tasks.waitForAll()
            }
            #expect(!FileManager.default.fileExists(atPath: dir.file("k.sock")))
        }
    }

    @Test func theOrchestratorsErrorsComeThroughATypedCallUnchanged() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    // The orchestrator's own errors still come through unchanged.
                    let error = try await #require(throws: KeelError.self) {
                        try await client.call(WorkflowSignalParams(workflowId: "nope", name: "go"))
                    }
                    #expect(error.code == .workflowNotFound)
                    #expect(error.message == "no workflow nope")
                }
            }
        }
    }
}

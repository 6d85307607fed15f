import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelTesting
import Testing

/// Issue 17, item 2 (second part): updates (docs/protocol.md, "Updates"). A real orchestrator on a
/// real SQLite file, a Swift worker on a real socket: an update is delivered once, answered or
/// rejected by the workflow's code, checked against its contract, and waited for.
@Suite("Updates", .serialized, .timeLimit(.minutes(3)))
struct UpdateTests {
    static let approveInput: JSONValue = [
        "type": "object", "required": ["amount"], "properties": ["amount": ["type": "integer"]],
    ]
    static let approveOutput: JSONValue = ["type": "object", "required": ["approved"]]

    /// `order.approval` answers `approve` updates until one with amount 0 closes it: over 100 is
    /// rejected, anything else adds to the total. An answer that breaks the contract is refused
    /// (`3002`) and the code answers again with one that keeps it.
    static func worker(_ endpoint: Endpoint) -> Worker {
        let w = Worker(name: "update-worker", endpoint: endpoint)
        w.updateContract("approve", input: approveInput, output: approveOutput)
        w.workflow("order.approval") { (_: JSONValue, ctx) -> JSONValue in
            var total: Int64 = 0
            while true {
                let update = try await ctx.waitForUpdate("approve")
                let amount = update.input["amount"]?.int64Value ?? 0
                if amount > 100 {
                    try await ctx.reject(update, message: "amount \(amount) is over 100", details: ["limit": 100])
                    continue
                }
                if amount == 13 {
                    do {
                        try await ctx.respond(to: update, with: ["unlucky": true])  // breaks the output contract
                    } catch let error as KeelError {
                        try await ctx.respond(to: update, with: ["approved": 0, "refusedWith": JSONValue(error.code.rpcCode)])
                        continue
                    }
                }
                total += amount
                try await ctx.respond(to: update, with: ["approved": JSONValue(amount), "total": JSONValue(total)])
                if amount == 0 { return ["total": JSONValue(total)] }
            }
        }
        w.workflow("order.gated") { (_: JSONValue, ctx) -> JSONValue in
            let _: JSONValue = try await ctx.signal("go")
            let update = try await ctx.waitForUpdate("approve")
            try await ctx.respond(to: update, with: ["approved": 1])
            return "answered"
        }
        w.workflow("order.deaf") { (_: JSONValue, ctx) -> JSONValue in
            let _: JSONValue = try await ctx.signal("stop")
            return "stopped"
        }
        return w
    }

    static func update(
        _ client: KeelClient, _ id: String, amount: JSONValue, updateId: String? = nil, waitMs: Int64? = nil
    ) async throws -> JSONValue {
        let answer = try await client.updateWorkflow(id, name: "approve", input: ["amount": amount], updateId: updateId, waitTimeoutMs: waitMs)
        #expect(ProtocolValidator.shared.checkResult(method: "workflow/update", result: answer) == nil, "\(answer)")
        return answer
    }

    @Test func anUpdateIsAnsweredOnceRejectedOrRefusedByItsContract() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(Self.worker(endpoint)) {
                    try await KeelClient.withClient(endpoint) { client in
                        _ = try await client.call("workflow/start", ["name": "order.approval", "workflowId": "ap-1"])
                        let first = try await Self.update(client, "ap-1", amount: 5, updateId: "u-1")
                        #expect(first["status"] == "completed" && first["result"] == ["approved": 5, "total": 5], "\(first)")
                        #expect(first["updateId"] == "u-1" && first["name"] == "approve")

                        // The same update sent again (a client's resend): the same answer, not delivered twice.
                        let resent = try await Self.update(client, "ap-1", amount: 5, updateId: "u-1")
                        #expect(resent == first, "\(resent)")
                        let second = try await Self.update(client, "ap-1", amount: 7)
                        #expect(second["result"] == ["approved": 7, "total": 12], "the resend added nothing: \(second)")

                        let rejected = try await Self.update(client, "ap-1", amount: 500)
                        #expect(rejected["status"] == "rejected", "\(rejected)")
                        #expect(rejected["failure"] == ["type": "Rejected", "message": "amount 500 is over 100", "details": ["limit": 100]])

                        // The input contract refuses before anything is recorded.
                        let badInput = await #expect(throws: KeelError.self) { _ = try await Self.update(client, "ap-1", amount: "lots") }
                        #expect(badInput?.code == .inputContractViolation && badInput?.message.contains("nothing was delivered") == true,
                            "\(String(describing: badInput))")
                        // The output contract refuses an answer; the code answers again.
                        let unlucky = try await Self.update(client, "ap-1", amount: 13)
                        #expect(unlucky["result"] == ["approved": 0, "refusedWith": 3002], "\(unlucky)")

                        // Only workflow/update sends update signals.
                        let forged = await #expect(throws: KeelError.self) {
                            _ = try await client.call("workflow/signal", ["workflowId": "ap-1", "name": "update:approve", "payload": ["updateId": "x"]])
                        }
                        #expect(forged?.code == .invalidParams && forged?.message.contains("reserved for updates") == true)

                        let closing = try await Self.update(client, "ap-1", amount: 0, updateId: "u-close")
                        #expect(closing["result"] == ["approved": 0, "total": 12], "\(closing)")
                        let r = try await client.call("workflow/result", ["workflowId": "ap-1", "waitTimeoutMs": 30_000])
                        #expect(r["output"] == ["total": 12], "\(r)")

                        // Ended: an answered update still answers; a new one is refused.
                        #expect(try await Self.update(client, "ap-1", amount: 0, updateId: "u-close") == closing)
                        let late = await #expect(throws: KeelError.self) { _ = try await Self.update(client, "ap-1", amount: 1) }
                        #expect(late?.code == .workflowNotFound && late?.message.contains("has ended") == true)
                        let nobody = await #expect(throws: KeelError.self) { _ = try await Self.update(client, "nope", amount: 1) }
                        #expect(nobody?.code == .workflowNotFound)

                        // The journal holds what happened: one receive and one answer per update, the
                        // refused input nowhere, the refused answer nowhere.
                        let history = try await client.call("workflow/history", ["workflowId": "ap-1"])
                        let steps = (history["entries"]?.arrayValue ?? []).map { "\($0["kind"]?.stringValue ?? "") \($0["name"]?.stringValue ?? "")" }
                        let receives = steps.filter { $0 == "signal update:approve" }.count
                        let answers = steps.filter { $0.hasPrefix("respond ") }.count
                        #expect(receives == 5 && answers == 5, "\(steps)")
                        #expect(steps.contains("respond u-1") && steps.filter { $0 == "respond u-1" }.count == 1)
                    }
                }
            }
        }
    }

    @Test func aCallerWaitsResendsAndLearnsOfAnEndWithoutAnAnswer() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await LiveOrchestrator.withWorker(Self.worker(endpoint)) {
                    try await KeelClient.withClient(endpoint) { client in
                        // Not answered within the wait: pending, and still delivered.
                        _ = try await client.call("workflow/start", ["name": "order.gated", "workflowId": "g-1"])
                        let pending = try await Self.update(client, "g-1", amount: 1, updateId: "g-u", waitMs: 200)
                        #expect(pending["status"] == "pending" && pending["result"] == nil, "\(pending)")
                        #expect(pending["waitingFor"] == nil, "the code does not wait for any update yet: \(pending)")
                        _ = try await client.signalWorkflow("g-1", name: "go")
                        let answered = try await Self.update(client, "g-1", amount: 1, updateId: "g-u", waitMs: 30_000)
                        #expect(answered["status"] == "completed" && answered["result"] == ["approved": 1], "\(answered)")
                        let r = try await client.call("workflow/result", ["workflowId": "g-1", "waitTimeoutMs": 30_000])
                        #expect(r["output"] == "answered")

                        // A misspelt name is delivered but never answered: the pending answer names what the code waits for.
                        _ = try await client.call("workflow/start", ["name": "order.approval", "workflowId": "typo-1"])
                        _ = try await eventually {
                            let d = try await client.call("workflow/describe", ["workflowId": "typo-1"])
                            return d["currentStep"]?["name"] == "update:approve" || "\(d)".contains("update:approve")
                        }
                        let typo = try await client.updateWorkflow("typo-1", name: "aprove", input: ["amount": 1], waitTimeoutMs: 200)
                        #expect(ProtocolValidator.shared.checkResult(method: "workflow/update", result: typo) == nil, "\(typo)")
                        #expect(typo["status"] == "pending" && typo["waitingFor"] == ["approve"], "\(typo)")

                        // The workflow ends without answering: the waiting caller gets 1031.
                        _ = try await client.call("workflow/start", ["name": "order.deaf", "workflowId": "d-1"])
                        let waiting = Task { try await Self.update(client, "d-1", amount: 1, updateId: "d-u", waitMs: 30_000) }
                        try await Task.sleep(for: .milliseconds(200))
                        _ = try await client.signalWorkflow("d-1", name: "stop")
                        let unanswered = await #expect(throws: KeelError.self) { _ = try await waiting.value }
                        #expect(unanswered?.code == .updateUnanswered && unanswered?.data?["updateId"] == "d-u", "\(String(describing: unanswered))")
                    }
                }
            }
        }
    }

    /// A reset to before an update's answer drops the answer with the step: the update is
    /// pending again for the new run, which answers it afresh (the answer is not refused as given).
    @Test func aResetBeforeTheAnswerLetsTheNewRunAnswerAgain() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let w = Worker(name: "reset-updates", endpoint: endpoint)
                w.workflow("order.once") { (_: JSONValue, ctx) -> JSONValue in
                    let update = try await ctx.waitForUpdate("approve")
                    let run = try await ctx.uuid()
                    try await ctx.respond(to: update, with: ["run": .string(run)])
                    try await ctx.setQueryValue("answeredBy", .string(run))
                    let _: JSONValue = try await ctx.signal("finish")
                    return .string(run)
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await KeelClient.withClient(endpoint) { client in
                        _ = try await client.call("workflow/start", ["name": "order.once", "workflowId": "once-1"])
                        let first = try await client.updateWorkflow("once-1", name: "approve", input: ["amount": 1], updateId: "r-1")
                        let firstRun = try #require(first["result"]?["run"]?.stringValue, "\(first)")
                        _ = try await eventually { (try? await client.call("workflow/query", ["workflowId": "once-1", "name": "answeredBy"])) != nil }
                        _ = try await client.call("workflow/reset", ["workflowId": "once-1", "toStep": 0, "reason": "test"])
                        // The dropped answer is gone: the same update waits for the new run's answer.
                        let again = try await client.updateWorkflow("once-1", name: "approve", input: ["amount": 1], updateId: "r-1")
                        let secondRun = try #require(again["result"]?["run"]?.stringValue, "\(again)")
                        #expect(again["status"] == "completed" && secondRun != firstRun, "\(again)")
                        _ = try await client.signalWorkflow("once-1", name: "finish")
                        let r = try await client.call("workflow/result", ["workflowId": "once-1", "waitTimeoutMs": 30_000])
                        #expect(r["status"] == "completed" && r["output"] == .string(secondRun), "\(r)")
                        let q = try await client.call("workflow/query", ["workflowId": "once-1", "name": "answeredBy"])
                        #expect(q["value"] == .string(secondRun), "the query value the dropped steps set is gone: \(q)")
                    }
                }
            }
        }
    }

    @Test func aBadRespondStepIsRefusedNamingTheField() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let w = Worker(name: "bad-respond", endpoint: endpoint)
                w.workflow("respond.bad") { (_: JSONValue, ctx) -> JSONValue in
                    var messages: [JSONValue] = []
                    for input: JSONValue in [["result": 1], "yes"] {
                        do {
                            _ = try await ctx.step("respond", name: "never-received", input: input)
                        } catch let error as KeelError {
                            messages.append(.string(error.message))
                        }
                    }
                    let update = try await ctx.waitForUpdate("approve")
                    do {
                        _ = try await ctx.step("respond", name: update.id, input: ["result": 1, "failure": ["message": "both"]])
                    } catch let error as KeelError {
                        messages.append(.string(error.message))
                    }
                    try await ctx.respond(to: update, with: .array(messages))
                    return "done"
                }
                try await LiveOrchestrator.withWorker(w) {
                    try await KeelClient.withClient(endpoint) { client in
                        _ = try await client.call("workflow/start", ["name": "respond.bad", "workflowId": "rb"])
                        let answer = try await client.updateWorkflow("rb", name: "approve", input: ["amount": 1])
                        let messages = answer["result"]?.arrayValue?.compactMap(\.stringValue) ?? []
                        #expect(messages.count == 3, "\(answer)")
                        #expect(messages.first?.contains("no update never-received was received") == true, "\(messages)")
                        #expect(messages.dropFirst().allSatisfy { $0.contains("input") }, "\(messages)")
                    }
                }
            }
        }
    }
}

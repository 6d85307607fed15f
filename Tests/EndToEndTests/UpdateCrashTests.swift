import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// Issue 17, item 2: an update is delivered and answered once across a kill -9 of the
    /// orchestrator while updates are in flight; callers that resend with the same update id get
    /// the one answer. A real `keel serve`, a real SQLite file, SIGKILL, a Swift worker that
    /// reconnects.
    @Suite("Updates across kill -9", .serialized, .timeLimit(.minutes(3)))
    struct UpdateCrashTests {
        static let count = 20

        static func worker(_ endpoint: Endpoint) -> Worker {
            let w = Worker(name: "e2e-updates", endpoint: endpoint, maxConcurrent: 64)
            w.activity("tally.check") { (input: JSONValue, _) -> JSONValue in
                try await Task.sleep(for: .milliseconds(600))
                return input
            }
            w.workflow("order.tally") { (_: JSONValue, ctx) -> JSONValue in
                var total: Int64 = 0
                for _ in 0..<2 {
                    let update = try await ctx.waitForUpdate("add")
                    // Work between receiving and answering: the kill lands in it.
                    let checked: JSONValue = try await ctx.activity("tally.check", update.input)
                    total += checked["amount"]?.int64Value ?? 0
                    try await ctx.respond(to: update, with: ["total": JSONValue(total)])
                }
                return ["total": JSONValue(total)]
            }
            return w
        }

        static func update(_ keel: KeelProcess, _ id: String, _ updateId: String, amount: Int64) async throws -> JSONValue {
            try await keel.call("workflow/update", [
                "workflowId": .string(id), "name": "add", "input": ["amount": JSONValue(amount)],
                "updateId": .string(updateId), "waitTimeoutMs": 60_000,
            ])
        }

        @Test func updatesAreAnsweredOnceAcrossKill9() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir)
                try await keel.start()
                let worker = Self.worker(keel.endpoint)
                let workerTask = Task { try await worker.run() }
                defer { workerTask.cancel() }
                try await keel.waitForWorkers(1)
                let ids = (0..<Self.count).map { "t\($0)" }
                for id in ids { _ = try await keel.call("workflow/start", ["name": "order.tally", "workflowId": .string(id)]) }
                // First updates in flight when the orchestrator is killed: some answered, some
                // delivered only, some not delivered; their callers see the connection drop.
                let inFlight = Task {
                    await withTaskGroup(of: Bool.self) { group in
                        for id in ids {
                            group.addTask {
                                do {
                                    _ = try await Self.update(keel, id, "\(id)-a", amount: 1)
                                    return true
                                } catch {
                                    return false  // the connection dropped with the kill
                                }
                            }
                        }
                        return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                    }
                }
                try await Task.sleep(for: .milliseconds(300))
                keel.kill9()
                #expect(await inFlight.value == 0, "every first update was in flight at the kill")
                try await keel.start()
                var received = 0
                for id in ids {
                    let h = try await keel.call("workflow/history", ["workflowId": .string(id)])
                    if (h["entries"]?.arrayValue ?? []).contains(where: { $0["name"] == "update:add" }) { received += 1 }
                }
                #expect(received > 0, "the kill landed after some updates were delivered and before any was answered")
                // Every caller resends with its update id: one answer each, counted once.
                for id in ids {
                    let first = try await Self.update(keel, id, "\(id)-a", amount: 1)
                    #expect(first["status"] == "completed" && first["result"] == ["total": 1], "\(id): \(first)")
                }
                let seconds = try await withThrowingTaskGroup(of: (String, JSONValue).self) { group in
                    for id in ids { group.addTask { (id, try await Self.update(keel, id, "\(id)-b", amount: 2)) } }
                    return try await group.reduce(into: [String: JSONValue]()) { $0[$1.0] = $1.1 }
                }
                for id in ids {
                    #expect(seconds[id]?["result"] == ["total": 3], "\(id): \(String(describing: seconds[id]))")
                    let r = try await keel.call("workflow/result", ["workflowId": .string(id), "waitTimeoutMs": 30_000])
                    #expect(r["status"] == "completed" && r["output"] == ["total": 3], "\(id): \(r)")
                    let h = try await keel.call("workflow/history", ["workflowId": .string(id)])
                    let answers = (h["entries"]?.arrayValue ?? []).filter { $0["kind"] == "respond" }.compactMap { $0["name"]?.stringValue }
                    #expect(answers == ["\(id)-a", "\(id)-b"], "\(id): each update answered once: \(answers)")
                }
                keel.stop()
            }
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// Issue 17, item 4: an upsert of search attributes takes effect once, with its step, across a
    /// kill -9 of the orchestrator; the query finds what the journal says. A real `keel serve`, a
    /// real SQLite file, SIGKILL, a Swift worker that reconnects.
    @Suite("Search attributes across kill -9", .serialized, .timeLimit(.minutes(3)))
    struct SearchAttributeCrashTests {
        static let count = 20

        static func worker(_ endpoint: Endpoint) -> Worker {
            let w = Worker(name: "e2e-search", endpoint: endpoint, maxConcurrent: 64)
            w.workflow("order.stage") { (_: JSONValue, ctx) -> JSONValue in
                try await ctx.upsertSearchAttributes(["stage": "packed"])
                let _: JSONValue = try await ctx.signal("go")
                try await ctx.upsertSearchAttributes(["stage": "shipped", "carrier": "dhl"])
                return try await ctx.upsertMemo(["done": true])
            }
            return w
        }

        static func ids(_ keel: KeelProcess, _ query: String) async throws -> [String] {
            let list = try await keel.call("workflow/list", ["query": .string(query), "limit": 1000])
            return (list["workflows"]?.arrayValue ?? []).compactMap { $0["workflowId"]?.stringValue }.sorted()
        }

        @Test func upsertsTakeEffectOnceAcrossKill9() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir)
                try await keel.start()
                let worker = Self.worker(keel.endpoint)
                let workerTask = Task { try await worker.run() }
                defer { workerTask.cancel() }
                try await keel.waitForWorkers(1)
                let all = (0..<Self.count).map { "o\($0)" }.sorted()
                for id in all {
                    _ = try await keel.call("workflow/start", [
                        "name": "order.stage", "workflowId": .string(id), "searchAttributes": ["customer": "acme"],
                    ])
                }
                _ = try await eventually { try await Self.ids(keel, #"stage = "packed""#) == all }
                keel.kill9()
                try await keel.start()
                #expect(try await Self.ids(keel, #"customer = "acme" AND stage = "packed""#) == all, "kept across the kill")
                for id in all { _ = try await keel.call("workflow/signal", ["workflowId": .string(id), "name": "go"]) }
                // Kill again while the second upserts are being recorded.
                try await Task.sleep(for: .milliseconds(150))
                keel.kill9()
                try await keel.start()
                for id in all {
                    let r = try await keel.call("workflow/result", ["workflowId": .string(id), "waitTimeoutMs": 60_000])
                    #expect(r["status"] == "completed" && r["output"] == ["done": true], "\(id): \(r)")
                }
                #expect(try await Self.ids(keel, #"stage = "shipped" AND carrier = "dhl" AND customer = "acme""#) == all)
                #expect(try await Self.ids(keel, #"stage = "packed""#) == [])
                for id in all {
                    let h = try await keel.call("workflow/history", ["workflowId": .string(id)])
                    let upserts = (h["entries"]?.arrayValue ?? []).filter { $0["kind"] == "upsert" }.map { $0["seq"]?.int64Value ?? 0 }
                    #expect(upserts == [1, 3, 4], "\(id): each upsert recorded once, in order: \(upserts)")
                    let d = try await keel.call("workflow/describe", ["workflowId": .string(id)])
                    #expect(d["searchAttributes"] == ["customer": "acme", "stage": "shipped", "carrier": "dhl"], "\(id): \(d)")
                }
                keel.stop()
            }
        }
    }
}

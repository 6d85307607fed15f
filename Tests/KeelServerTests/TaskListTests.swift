import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelTesting
import Testing

/// Issue 13: `activity/list` shows open tasks, queued and running, so a person can find and
/// cancel a call left behind.
@Suite("Listing open activity tasks", .timeLimit(.minutes(3)))
struct TaskListTests {
    @Test func openTasksAreListedFilteredAndLeaveTheListWhenCancelled() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    var ids: [JSONValue] = []
                    for name in ["a.first", "a.second", "b.third"] {
                        let r = try await client.call("activity/call", ["name": .string(name), "wait": false])
                        ids.append(r["taskId"]!)
                    }
                    let all = try await client.call("activity/list", [:])
                    #expect(ProtocolValidator.shared.checkResult(method: "activity/list", result: all) == nil)
                    #expect(all["count"] == 3)
                    #expect(all["tasks"]?.arrayValue?.map { $0["taskId"]! } == ids)
                    #expect(all["tasks"]?.arrayValue?.first?["waitingForWorker"] == true)
                    #expect(all["tasks"]?.arrayValue?.first?["createdAtMs"]?.int64Value != nil)
                    let named = try await client.call("activity/list", ["name": "b.third"])
                    #expect(named["tasks"]?.arrayValue?.map { $0["taskId"]! } == [ids[2]])
                    let page = try await client.call("activity/list", ["limit": 1])
                    #expect(page["tasks"]?.arrayValue?.count == 1)
                    #expect(page["count"] == 3)
                    let running = try await client.call("activity/list", ["status": "running"])
                    #expect(running["count"] == 0)
                    let cancelled = try await client.call("activity/cancel", ["taskId": ids[0]])
                    #expect(cancelled["status"] == "cancelled")
                    let after = try await client.call("activity/list", [:])
                    #expect(after["tasks"]?.arrayValue?.map { $0["taskId"]! } == Array(ids.dropFirst()))
                }
            }
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Issue 17, item 1 on several nodes: a schedule kept in the shared PostgreSQL store fires on
/// whichever nodes live, each slot started once (docs/protocol.md, "Schedules"). Real
/// `keel serve --store postgres://…` processes, kill -9, a real PostgreSQL started by the test run.
@Suite("Schedules across nodes on one PostgreSQL", .serialized, .timeLimit(.minutes(4)))
struct ClusterScheduleTests {
    /// The slot times (epoch seconds) of the workflows schedule `id` started, in order.
    static func slots(_ node: ClusterNodeProcess, _ id: String) async throws -> [Int64] {
        let list = try await node.call("workflow/list", ["query": .string("workflowId STARTS_WITH \"\(id)-\""), "limit": 1000])
        let formatter = ISO8601DateFormatter()
        return (list["workflows"]?.arrayValue ?? []).compactMap { w -> Int64? in
            guard let wid = w["workflowId"]?.stringValue, let date = formatter.date(from: String(wid.dropFirst(id.count + 1))) else {
                return nil
            }
            return Int64(date.timeIntervalSince1970)
        }.sorted()
    }

    @Test func everySlotStartsOnceWhileNodesDieAndAnyNodeChangesTheSchedule() async throws {
        try await withClusterNodes(["a", "b", "c"]) { nodes in
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let created = try await a.call("schedule/create", [
                "scheduleId": "tick", "spec": ["intervalMs": 1000], "action": ["workflow": "csch.none"], "overlap": "allowAll",
            ])
            #expect(created["scheduleId"] == "tick", "\(created)")
            // Every node serves it: describe it on C, which did not create it.
            #expect(try await eventually { try await Self.slots(c, "tick").count >= 3 })
            #expect(try await c.call("schedule/describe", ["scheduleId": "tick"])["paused"] == false)
            a.kill9()  // the node that created it
            let killedAt = Int64(Date().timeIntervalSince1970)
            #expect(try await eventually { try await Self.slots(b, "tick").last ?? 0 >= killedAt + 4 })
            // Paused on B: C sees it at once and no node starts more.
            _ = try await b.call("schedule/pause", ["scheduleId": "tick", "note": "maintenance"])
            let paused = try await c.call("schedule/describe", ["scheduleId": "tick"])
            #expect(paused["paused"] == true && paused["note"] == "maintenance", "\(paused)")
            let atPause = try await Self.slots(c, "tick").count
            try await Task.sleep(for: .milliseconds(2_500))
            let afterPause = try await Self.slots(c, "tick")
            // A slot being handled as the pause committed may still start; none after it.
            #expect(afterPause.count <= atPause + 1, "\(afterPause.count) after \(atPause)")
            let described = try await b.call("schedule/describe", ["scheduleId": "tick"])
            #expect(described["skipped"] == 0, "\(described)")
            // No slot missed while the nodes ran and one died: one unbroken run of seconds.
            let gaps = zip(afterPause, afterPause.dropFirst()).filter { $1 - $0 != 1 }
            #expect(gaps.isEmpty, "slots missing between \(gaps): \(afterPause)")
            #expect(afterPause.count >= 7, "\(afterPause)")
            // Unpaused on C: the slots go on from now; deleted on B: gone on C.
            _ = try await c.call("schedule/unpause", ["scheduleId": "tick"])
            #expect(try await eventually { try await Self.slots(b, "tick").count >= afterPause.count + 2 })
            _ = try await b.call("schedule/delete", ["scheduleId": "tick"])
            let gone = await #expect(throws: KeelError.self) { _ = try await c.call("schedule/describe", ["scheduleId": "tick"]) }
            #expect(gone?.code == .scheduleNotFound)
            let list = try await c.call("schedule/list", [:])
            #expect(list["schedules"] == [])
        }
    }

    @Test func aBufferedSlotStartsWhenTheRunningWorkflowEndsOnAnotherNode() async throws {
        try await withClusterNodes(["a", "b"]) { nodes in
            let (a, b) = (nodes[0], nodes[1])
            let worker = Worker(name: "sched-b", endpoints: [b.endpoint])
            worker.workflow("csch.wait") { (_: JSONValue, ctx) -> JSONValue in
                let _: JSONValue = try await ctx.signal("done")
                return ["done": true]
            }
            let running = Task { try await worker.run() }
            defer { running.cancel() }
            #expect(try await b.hasWorker("sched-b"))
            _ = try await a.call("schedule/create", [
                "scheduleId": "buf", "spec": ["intervalMs": 1000], "action": ["workflow": "csch.wait"], "overlap": "bufferOne",
            ])
            #expect(try await eventually { try await a.call("schedule/describe", ["scheduleId": "buf"])["skipped"]?.int64Value ?? 0 >= 2 })
            let first = try #require(try await Self.slots(a, "buf").first)
            #expect(try await Self.slots(a, "buf") == [first], "one runs, one waits buffered, the rest are skipped")
            let d = try await a.call("schedule/describe", ["scheduleId": "buf"])
            #expect(d["bufferedSlotMs"]?.int64Value == (first + 1) * 1000, "\(d)")
            // It ends on B (its worker's node); the buffered slot starts on whichever node sees it first.
            _ = try await a.call("workflow/signal", [
                "workflowId": .string("buf-\(Self.iso(first))"), "name": "done",
            ])
            let started = try await eventually { try await Self.slots(a, "buf").prefix(2) == [first, first + 1] }
            if !started {
                let wf = "buf-\(Self.iso(first))"
                let describe = try? await a.call("workflow/describe", ["workflowId": .string(wf)])
                let history = try? await a.call("workflow/history", ["workflowId": .string(wf)])
                let schedule = try? await a.call("schedule/describe", ["scheduleId": "buf"])
                Issue.record("""
                    the buffered slot did not start; slots \(try await Self.slots(a, "buf"))
                    \(wf): \(describe.map { "\($0)" } ?? "?")
                    history: \(history.map { "\($0)" } ?? "?")
                    schedule: \(schedule.map { "\($0)" } ?? "?")
                    node a:\n\(a.log.suffix(6000))
                    node b:\n\(b.log.suffix(6000))
                    """)
            }
            _ = try await a.call("schedule/pause", ["scheduleId": "buf"])
        }
    }

    static func iso(_ seconds: Int64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}

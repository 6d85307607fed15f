import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// Issue 17, item 1: each slot of a schedule starts exactly once across a kill -9 of the
    /// orchestrator, and the slots that fell while it was down are started on restart (within the
    /// catch-up window). A real `keel serve`, a real SQLite file, SIGKILL.
    @Suite("Schedules across kill -9", .serialized, .timeLimit(.minutes(3)))
    struct ScheduleCrashTests {
        /// The slot times (epoch seconds) of the workflows schedule `id` started, in order.
        static func slots(_ keel: KeelProcess, _ id: String) async throws -> [Int64] {
            let list = try await keel.call("workflow/list", ["name": "sched.crash", "limit": 1000])
            let formatter = ISO8601DateFormatter()
            return (list["workflows"]?.arrayValue ?? []).compactMap { w -> Int64? in
                guard let wid = w["workflowId"]?.stringValue, wid.hasPrefix("\(id)-"),
                    let date = formatter.date(from: String(wid.dropFirst(id.count + 1)))
                else { return nil }
                return Int64(date.timeIntervalSince1970)
            }.sorted()
        }

        @Test func everySlotStartsOnceAcrossKill9AndTheMissedOnesCatchUp() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir)
                try await keel.start()
                _ = try await keel.call("schedule/create", [
                    "scheduleId": "tick", "spec": ["intervalMs": 1000], "action": ["workflow": "sched.crash"],
                    "overlap": "allowAll",
                ])
                _ = try await eventually { try await Self.slots(keel, "tick").count >= 3 }
                keel.kill9()
                let killedAt = Int64(Date().timeIntervalSince1970)
                try await Task.sleep(for: .seconds(3))  // slots fall while nothing runs
                try await keel.start()
                _ = try await eventually { try await Self.slots(keel, "tick").last ?? 0 >= killedAt + 5 }
                let slots = try await Self.slots(keel, "tick")
                keel.stop()
                #expect(slots.count >= 8, "\(slots)")
                #expect(Set(slots).count == slots.count, "a slot started twice: \(slots)")
                let gaps = zip(slots, slots.dropFirst()).filter { $1 - $0 != 1 }
                #expect(gaps.isEmpty, "slots missing between \(gaps): \(slots)")
                let described = try? await KeelClient.withClient(keel.endpoint) { try await $0.call("ping") }
                #expect(described == nil, "stopped")
            }
        }
    }
}

import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Synchronization
import Testing

/// Appends side-effect lines from in-process activities, tagged with the orchestrator's life.
final class EffectLog: Sendable {
    let lines = Locked<[(key: String, life: Int)]>([])
    let life = Atomic<Int>(1)
    func record(_ key: String) { lines.withLock { $0.append((key, life.load(ordering: .relaxed))) } }
}

struct Order: Codable, Sendable { var id: Int }
struct Step: Codable, Sendable { var id: Int; var step: String }

extension EndToEnd {
@Suite("Workflows survive kill -9 of the orchestrator", .serialized, .timeLimit(.minutes(4)))
struct WorkflowCrashTests {
    static let count = 200

    func makeWorker(_ endpoint: Endpoint, log: EffectLog) -> Worker {
        let w = Worker(name: "e2e-swift", endpoint: endpoint, maxConcurrent: 64)
        w.activity("order.step") { (s: Step, ctx) -> Step in
            log.record(ctx.idempotencyKey)
            try await Task.sleep(for: .milliseconds(Int.random(in: 1...20)))
            return s
        }
        w.workflow("order.child") { (o: Order, ctx) -> Int in
            let s: Step = try await ctx.activity("order.step", Step(id: o.id, step: "child"))
            return s.id * 10
        }
        w.workflow("order.flow") { (o: Order, ctx) -> String in
            var parts: [String] = []
            for name in ["reserve", "charge", "ship"] {
                let s: Step = try await ctx.activity("order.step", Step(id: o.id, step: name))
                parts.append(s.step)
            }
            try await ctx.sleep(for: .milliseconds(300))
            let go: JSONValue = try await ctx.signal("go")
            let child: Int = try await ctx.child("order.child", o)
            return "\(o.id):\(parts.joined(separator: ",")):\(go["ok"]?.boolValue == true):\(child)"
        }
        return w
    }

    @Test func twoHundredWorkflowsCompleteExactlyOnceAcrossRepeatedKills() async throws {
        try await TemporaryDirectory.with { dir in
            let keel = KeelProcess(dir: dir)
            let log = EffectLog()
            try await keel.start()
            let worker = makeWorker(keel.endpoint, log: log)
            let workerTask = Task { try await worker.run() }
            defer { workerTask.cancel() }
            try await keel.waitForWorkers(1)
            for i in 0..<Self.count {
                _ = try await keel.call("workflow/start", ["name": "order.flow", "input": ["id": JSONValue(i)], "workflowId": .string("order-\(i)")])
                _ = try await keel.call("workflow/signal", ["workflowId": .string("order-\(i)"), "name": "go", "payload": ["ok": true]])
            }
            var completedKeys = Set<String>()
            for pause in [300, 700, 1200] {
                try await Task.sleep(for: .milliseconds(pause))
                // Keys recorded complete now must never run again.
                for i in 0..<Self.count {
                    for id in ["order-\(i)", "order-\(i)/6"] {
                        guard let h = try? await keel.call("workflow/history", ["workflowId": .string(id)]) else { continue }
                        for e in h["entries"]?.arrayValue ?? [] where e["kind"] == "activity" && e["status"] == "completed" {
                            completedKeys.insert("\(id)/0/\(e["seq"]?.int64Value ?? 0)")
                        }
                    }
                }
                let lifeAtKill = log.life.load(ordering: .relaxed)
                keel.kill9()
                log.life.store(lifeAtKill + 1, ordering: .relaxed)
                try await keel.start()
                let rerun = log.lines.withLock { $0.filter { $0.life > lifeAtKill }.map(\.key) }
                #expect(Set(rerun).isDisjoint(with: completedKeys))
            }
            for i in 0..<Self.count {
                let r = try await keel.call("workflow/result", ["workflowId": .string("order-\(i)"), "waitTimeoutMs": 60_000])
                #expect(r["status"] == "completed", "order-\(i): \(r)")
                #expect(r["output"] == .string("\(i):reserve,charge,ship:true:\(i * 10)"))
            }
            let completed = try await keel.call("workflow/list", ["status": "completed", "limit": 1000])
            #expect(completed["workflows"]?.arrayValue?.count == Self.count * 2)
            let rerun = log.lines.withLock { lines in
                Dictionary(grouping: lines, by: \.key).filter { $0.value.count > 1 && completedKeys.contains($0.key) }
            }
            #expect(rerun.isEmpty, "activities recorded complete ran again: \(rerun.keys.sorted().prefix(5))")
            keel.stop()
        }
    }
}
}

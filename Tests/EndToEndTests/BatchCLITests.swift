import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// `keel workflow cancel|signal --query` (issue 13): a dry-run count first, `--yes` to act,
    /// exactly the matching workflows changed, a bad query refused with exit 2.
    @Suite("Batch operations by query from the CLI", .serialized, .timeLimit(.minutes(4)))
    struct BatchCLITests {
        let holdWorker = "python3 \(repositoryRoot)/Tests/EndToEndTests/workers/py_hold.py"

        func statuses(_ keel: KeelProcess, name: String) async throws -> [String] {
            let l = try await keel.call("workflow/list", ["name": .string(name), "limit": 1000])
            return (l["workflows"]?.arrayValue ?? []).compactMap { $0["status"]?.stringValue }
        }

        @Test func aDryRunCountsTenOfTwentyAndYesCancelsExactlyThoseTen() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [holdWorker])
                try await keel.start()
                try await keel.waitForWorkers(1)
                let s = ["--socket", keel.socket]
                for i in 0..<10 {
                    _ = try await keel.call("workflow/start", ["name": "order.hold", "workflowId": .string("order-\(i)")])
                    _ = try await keel.call("workflow/start", ["name": "invoice.hold", "workflowId": .string("invoice-\(i)")])
                }
                let open: Set<String> = ["pending", "running", "suspended"]
                #expect(try await eventually(timeout: .seconds(60)) {
                    try await statuses(keel, name: "order.hold").allSatisfy { $0 == "suspended" || $0 == "running" }
                })

                let bad = try await keelCLI(["workflow", "cancel", "--query", "stauts=running AND name=order.*", "--yes"] + s)
                #expect(bad.0 == 2)
                #expect(bad.2.contains("unknown key `stauts` (did you mean status?)"), "\(bad.2)")
                #expect(bad.2.contains("1013"))
                let noOr = try await keelCLI(["workflow", "cancel", "--query", "name=order.* OR name=invoice.*", "--yes"] + s)
                #expect(noOr.0 == 2)
                #expect(noOr.2.contains("OR is not supported"))

                let dry = try await keelCLI(["workflow", "cancel", "--query", "name=order.* AND status=open", "--dry-run"] + s)
                #expect(dry.0 == 0, "\(dry.2)")
                #expect(dry.1.hasPrefix("10 workflows match name=order.* AND status=open"), "\(dry.1)")
                let unconfirmed = try await keelCLI(["workflow", "cancel", "--query", "name=order.*"] + s)
                #expect(unconfirmed.0 == 2)
                #expect(unconfirmed.2.contains("10 workflows match"))
                #expect(unconfirmed.2.contains("nothing done; add --yes"))
                #expect(try await statuses(keel, name: "order.hold").allSatisfy { open.contains($0) })

                let applied = try await keelCLI(["workflow", "cancel", "--query", "name=order.*", "--reason", "bad deploy", "--yes"] + s)
                #expect(applied.0 == 0, "\(applied.2)")
                #expect(applied.1.contains("cancel: 10 applied, 0 skipped (already ended), 0 failed of 10 matched"), "\(applied.1)")
                #expect(try await eventually(timeout: .seconds(60)) {
                    try await statuses(keel, name: "order.hold") == Array(repeating: "cancelled", count: 10)
                })
                #expect(try await statuses(keel, name: "invoice.hold").allSatisfy { open.contains($0) })
                let cancelled = try await keel.call("workflow/result", ["workflowId": "order-3", "waitTimeoutMs": 0])
                #expect(cancelled["failure"]?["message"] == "bad deploy")

                let signalled = try await keelCLI(["workflow", "signal", "go", #"{"ok":true}"#, "--query", "name=invoice.* AND status=open", "--yes", "--json"] + s)
                #expect(signalled.0 == 0, "\(signalled.2)")
                let answer = try JSONParser.parse(signalled.1)
                #expect(answer["matched"] == 10)
                #expect(answer["applied"] == 10)
                #expect(try await eventually(timeout: .seconds(60)) {
                    try await statuses(keel, name: "invoice.hold") == Array(repeating: "completed", count: 10)
                })
                let done = try await keel.call("workflow/result", ["workflowId": "invoice-7", "waitTimeoutMs": 0])
                #expect(done["output"] == ["go": ["ok": true]])
                // The cancelled ones have ended: nothing left to match.
                let none = try await keelCLI(["workflow", "cancel", "--query", "name=order.* AND status=open", "--yes"] + s)
                #expect(none.0 == 0)
                #expect(none.1.hasPrefix("0 workflows match"))
            }
        }
    }
}

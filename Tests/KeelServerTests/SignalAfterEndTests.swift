import KeelCore
import KeelStorage
import KeelTesting
import Testing

@testable import KeelEngine

/// A signal whose execution ends between the engine's read of it and the signal's write (its own
/// run, often, ending the moment it takes the signal): the store refuses the write
/// (`.alreadyFinished`), and the answer is the one a signal sent after the end gets. Seen once
/// under load: a resend with the same `requestId` was answered `duplicate: false` — "delivered"
/// — though nothing was stored. The race itself is not reproducible on demand; the ledger's
/// answer to the store's refusal is what is tested, on a real SQLite file.
@Suite("A signal to an execution that ended meanwhile")
struct SignalAfterEndTests {
    @Test func aResendIsADuplicateAndANewSignalIsRefused() async throws {
        try await TemporaryDirectory.with { dir in
            let node = try await SQLiteNode.open(path: dir.file("keel.db"))
            let ledger = WorkflowLedger(store: node.store)
            let now = try await node.store.now()
            #expect(try await node.store.apply([.startExecution(StoreConformance.execution("wf", now: now))]) == [.applied])
            let first = try await ledger.deliverSignal("wf", name: "approve", payload: true, key: "r-1", generation: 0)
            #expect(first.duplicate == false)
            let ended = try await node.store.apply([
                .terminateExecution(workflowId: "wf", status: .terminated, failure: ["type": "Terminated", "message": "test"])
            ])
            #expect(ended == [.applied])

            let resent = try await ledger.deliverSignal("wf", name: "approve", payload: true, key: "r-1", generation: 0)
            #expect(resent.duplicate, "a resend of a signal stored before the end")
            let refused = await #expect(throws: KeelError.self) {
                _ = try await ledger.deliverSignal("wf", name: "approve", payload: true, key: "r-2", generation: 0)
            }
            #expect(refused?.code == .workflowNotFound)
            let unkeyed = await #expect(throws: KeelError.self) {
                _ = try await ledger.deliverSignal("wf", name: "approve", payload: true, key: nil, generation: 0)
            }
            #expect(unkeyed?.code == .workflowNotFound)
            await node.close()
        }
    }
}

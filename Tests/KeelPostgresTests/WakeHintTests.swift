import KeelCore
import KeelPostgres
import KeelStorage
import KeelTesting
import Testing

/// Wake-up hints (LISTEN/NOTIFY) go out only when another node may have work: a finish that
/// wakes an execution its own node runs sends none, since that node continues the run in memory,
/// and the node that wrote an end skips the hint meant for the others (docs/scaling.md, "What a
/// round trip costs today").
@Suite struct WakeHintTests {
    @Test func aFinishHintsOnlyWhenAnotherNodeMayHaveWork() async throws {
        let store = try await PostgresStoreConformanceTests.freshStore()
        // What the other nodes hear: a store on the same database that runs no node.
        let other = try await PostgresStore(store.location, operationTimeout: .seconds(60))
        defer { Task { await store.close(); await other.close() } }
        let node = try await store.join(nodeId: "a", leaseMillis: 600_000)
        let now = try await store.now()
        let hints = HintCounter(other.readyHints())
        let ownHints = HintCounter(store.readyHints())

        // The listeners are ready once each has heard a hint of an unclaimed task (work for any
        // node, this one too).
        var (otherHeard, ownHeard) = (false, false)
        for round in 0..<50 where !(otherHeard && ownHeard) {
            _ = try await store.apply([.enqueueTask(StoreConformance.task("warm-\(round)", now: now))])
            if await hints.arrives(within: .milliseconds(200)) { otherHeard = true }
            if await ownHints.arrives(within: .milliseconds(50)) { ownHeard = true }
        }
        #expect(otherHeard, "the other node's listener never heard a hint")
        #expect(ownHeard, "this node's listener never heard a hint meant for every node")

        // A step of an execution this node owns, its task run here: its finish sends no hint.
        _ = try await store.apply([.startExecution(StoreConformance.execution("mine", now: now))])
        #expect(await hints.arrives(within: .seconds(5)), "a new unowned execution is work for any node")
        #expect(try await store.claimExecutions(limit: 1, node: node).map(\.record.id) == ["mine"])
        // A hint still on its way (a warm-up round's, on a loaded machine) is not the finish's.
        await hints.drain()
        try await finishStep(of: "mine", seq: 1, epoch: 1, node: node, store: store, now: now)
        #expect(!(await hints.arrives(within: .milliseconds(500))), "a finish that wakes only this node's run hinted")

        // The same finish for an execution no node owns wakes work for any node: a hint.
        #expect(try await store.apply([.releaseExecution(workflowId: "mine", epoch: 1)]) == [.applied])
        #expect(await hints.arrives(within: .seconds(5)), "a released execution is work for any node")
        try await finishStep(of: "mine", seq: 2, epoch: 1, node: node, store: store, now: now)
        #expect(await hints.arrives(within: .seconds(5)), "a finish that woke an unowned execution sent no hint")

        // A task outside any workflow: its caller may wait on another node.
        var call = StoreConformance.task("call", now: now)
        call.status = .running
        call.attempt = 1
        call.startedAt = now
        await hints.drain()
        #expect(try await store.apply([.enqueueClaimedTask(call, node: node.nodeId)]) == [.applied])
        #expect(!(await hints.arrives(within: .milliseconds(300))), "a task stored claimed is nobody else's work")
        _ = await ownHints.arrives(within: .milliseconds(100))
        #expect(
            try await store.apply([.finishTask(id: "call", attempt: 1, status: .completed, output: .null, failure: nil)])
                == [.applied])
        #expect(await hints.arrives(within: .seconds(5)), "the end of a call outside a workflow sent no hint")
        // Its caller here was told in memory: the node that wrote the end skips that hint.
        #expect(!(await ownHints.arrives(within: .milliseconds(300))), "a node heard its own hint meant for the others")

        // An execution's end: its result may be awaited on another node; its node skips the hint.
        #expect(try await store.apply([.startClaimedExecution(running("ends", now: now), node: node.nodeId)]) == [.applied])
        _ = await hints.arrives(within: .milliseconds(100))
        #expect(try await store.apply([.finishExecution(workflowId: "ends", epoch: 1, status: .completed, output: .null, failure: nil)]) == [.applied])
        #expect(await hints.arrives(within: .seconds(5)), "an execution's end sent no hint")
        #expect(!(await ownHints.arrives(within: .milliseconds(300))), "a node heard the hint of its own execution's end")

        // A child's end that wakes its parent is for every node, this one too.
        #expect(try await store.apply([.startClaimedExecution(running("parent", now: now), node: node.nodeId)]) == [.applied])
        #expect(try await store.apply([.appendStep(StoreConformance.step("parent", seq: 1, now: now), epoch: 1)]) == [.applied])
        var child = StoreConformance.childExecution("kid", parent: "parent", seq: 1, now: now)
        child.status = .running
        child.epoch = 1
        #expect(try await store.apply([.startClaimedExecution(child, node: node.nodeId)]) == [.applied])
        _ = await ownHints.arrives(within: .milliseconds(100))
        #expect(try await store.apply([.finishExecution(workflowId: "kid", epoch: 1, status: .completed, output: .null, failure: nil)]) == [.applied])
        #expect(await ownHints.arrives(within: .seconds(5)), "a child's end that woke its parent skipped this node")
    }

    /// A new execution stored running at epoch 1, as a node with a free worker stores it.
    private func running(_ id: String, now: EpochMillis) -> WorkflowRecord {
        var record = StoreConformance.execution(id, now: now)
        record.status = .running
        record.epoch = 1
        return record
    }

    /// Stores step `seq` of `workflowId` with its task claimed by `node`, then finishes the task.
    private func finishStep(
        of workflowId: String, seq: Int, epoch: Int, node: NodeLease, store: PostgresStore, now: EpochMillis
    ) async throws {
        let (entry, task0) = StoreConformance.activityStep(workflowId: workflowId, seq: seq, now: now)
        var task = task0
        task.status = .running
        task.attempt = 1
        task.startedAt = now
        #expect(
            try await store.apply([.appendStep(entry, epoch: epoch), .enqueueClaimedTask(task, node: node.nodeId)])
                == [.applied, .applied])
        #expect(
            try await store.apply([.finishTask(id: task.id, attempt: 1, status: .completed, output: .null, failure: nil)])
                == [.applied])
    }
}

/// Counts the hints of a stream, for waits with a bound.
private actor HintCounter {
    private var pending = 0

    init(_ stream: AsyncStream<Void>) {
        Task { await self.listen(stream) }
    }

    private func listen(_ stream: AsyncStream<Void>) async {
        for await _ in stream { pending += 1 }
    }

    /// True when a hint arrived (since the last call) or arrives within `limit`; takes them all.
    func arrives(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while pending == 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        defer { pending = 0 }
        return pending > 0
    }

    /// Takes every hint still on its way, until none came for `quiet`.
    func drain(quiet: Duration = .milliseconds(300)) async {
        while await arrives(within: quiet) {}
    }
}

import KeelCore
import KeelStorage

/// What a node on a shared store does beside running work: leaving the cluster knowingly, waking a
/// suspended execution nothing else will wake, and the figures its gauges read at scrape time.
extension StoreConformance {
    static func aNodeThatLeavesIsDeadAndItsWorkRescued(_ store: any Store) async throws {
        let leaving = try await store.join(nodeId: "leaving", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.enqueueTask(task("t", now: now)), .startExecution(execution("w", now: now))])
        try expect(try await store.claimTasks(TaskClaim(names: ["echo"], limit: 1), node: leaving).count, 1)
        try expect(try await store.claimExecutions(limit: 1, node: leaving).count, 1)
        try await store.leave(leaving)
        try expect(try await store.nodes().first { $0.nodeId == "leaving" }?.alive, false)
        try expect(try await store.renew(leaving), .lost)
        // Dead at once, not after its lease: the next rescue returns what it held.
        let report = try await store.rescue()
        try expect(report.tasksReturned, 1)
        try expect(report.executionsReturned, 1)
        try expect(try await store.task(id: "t")?.status, .scheduled)
        try expect(try await store.execution(id: "w")?.ownerNode, nil)
    }

    static func aSuspendedExecutionIsWokenOnceFencedByEpoch(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        try expect(try await store.apply([.wakeExecution(workflowId: "w", epoch: 0)]), [.duplicate])  // pending: awake
        try expect(try await store.claimExecutions(limit: 1, node: node).map(\.record.epoch), [1])
        try expect(try await store.apply([.suspend(workflowId: "w", epoch: 1, seenEvents: 0)]), [.applied])
        try expect(try await store.apply([.wakeExecution(workflowId: "w", epoch: 0)]), [.superseded(currentEpoch: 1)])
        try expect(
            try await store.apply([.wakeExecution(workflowId: "w", epoch: 1), .wakeExecution(workflowId: "w", epoch: 1)]),
            [.applied, .duplicate])
        let woken = try await store.execution(id: "w")
        try expect(woken?.record.status, .pending)
        try expect(woken?.ownerNode, nil)
        try expect(try await store.claimExecutions(limit: 1, node: node).map(\.record.epoch), [2])
        _ = try await store.apply([.finishExecution(workflowId: "w", epoch: 2, status: .completed, output: .null, failure: nil)])
        try expect(try await store.apply([.wakeExecution(workflowId: "w", epoch: 2)]), [.alreadyFinished])
        try expect(try await store.apply([.wakeExecution(workflowId: "nope", epoch: 0)]), [.notFound])
    }

    static func openExecutionsAreCountedPerStatus(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        try expect(try await store.openExecutionCounts(), [:])
        _ = try await store.apply((1...4).map { .startExecution(execution("w\($0)", now: now + Int64($0))) })
        let claimed = try await store.claimExecutions(limit: 3, node: node).map(\.record)
        try expect(claimed.count, 3)
        var parked = claimed[0]
        parked.status = .parked
        try expect(try await store.apply([.updateExecution(parked, expectedEpoch: parked.epoch)]), [.applied])
        try expect(
            try await store.apply([
                .suspend(workflowId: claimed[1].id, epoch: claimed[1].epoch, seenEvents: 0),
                .finishExecution(workflowId: claimed[2].id, epoch: claimed[2].epoch, status: .completed, output: .null, failure: nil),
            ]), [.applied, .applied])
        try expect(try await store.openExecutionCounts(), [.pending: 1, .suspended: 1, .parked: 1])
    }
}

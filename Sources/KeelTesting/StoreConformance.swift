import Foundation
import Synchronization
public import KeelCore
public import KeelStorage

/// The cases every ``Store`` must pass, one per fence and per outcome
/// (docs/decisions/0004-storage-intents.md, "How it is proved"). A test target runs each case on a
/// fresh store of its backend: a SQLite file in a temp dir, a database on a PostgreSQL the test
/// run started.
public struct StoreConformanceCase: Sendable, CustomStringConvertible {
    public let name: String
    public let run: @Sendable (any Store) async throws -> Void
    public var description: String { name }

    /// Runs the case on `store` and closes the store, whether the case passed or not.
    public func run(closing store: any Store) async throws {
        do {
            try await run(store)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }
}

/// A failed expectation inside a conformance case, with what was expected and what came.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let description: String
}

public enum StoreConformance {
    public static let cases: [StoreConformanceCase] = [
        .init(name: "enqueue is idempotent by id and by key", run: enqueueIsIdempotent),
        .init(name: "claims take ready tasks of the names served, raising the attempt", run: claimsTakeReadyTasks),
        .init(name: "a stale attempt's finish is refused", run: staleAttemptIsRefused),
        .init(name: "a claim released unrun by its owner costs the task no attempt", run: releasedClaimCostsNothing),
        .init(name: "two nodes claiming at once never share a task", run: concurrentClaimsNeverShare),
        .init(name: "a superseded owner's append is refused", run: supersededOwnerIsRefused),
        .init(name: "a suspend after an event answers changedMeanwhile", run: suspendSeesEvents),
        .init(name: "a signal key makes a resend a duplicate", run: signalKeysDeduplicate),
        .init(name: "a replayed batch applies nothing twice", run: replayedBatchIsIdempotent),
        .init(name: "a task's finish completes its step and wakes the execution", run: taskFinishWakesExecution),
        .init(name: "a child's end completes the parent's step", run: childEndCompletesParent),
        .init(name: "a due timer fires once across two nodes", run: timerFiresOnce),
        .init(name: "a dead node's work is rescued exactly once", run: rescueIsExactlyOnce),
        .init(name: "a node past its lease claims nothing and learns it lost", run: expiredLeaseClaimsNothing),
        .init(name: "the store's clock moves forward", run: clockMovesForward),
        .init(name: "a batch repeating a task answers each change on its own", run: batchesAnswerEachChange),
        .init(name: "a task is found by its idempotency key", run: taskByIdempotencyKey),
        .init(name: "contract pins change only from the version they saw", run: contractPinsAreVersioned),
        .init(name: "a node's published workers are listed with it", run: nodesPublishWorkers),
        .init(name: "a task enqueued claimed is owned, fenced and rescued like a claimed one", run: enqueueClaimed),
        .init(name: "open tasks are listed oldest first, by status and name, with a total", run: openTasksAreListed),
        .init(name: "executions are claimed only for the names asked", run: executionClaimsFilterByName),
        .init(name: "executions are claimed only for the builds asked, unpinned ones pinned on claim", run: executionClaimsFilterByBuild),
        .init(name: "an owner completes a step and updates its execution, fenced by epoch", run: ownerWritesAreFenced),
        .init(name: "a signal wait's timer fails the step with TimedOut", run: signalTimerTimesOut),
        .init(name: "executions are listed by filter and cursor, each with its owner", run: executionsAreListed),
        .init(name: "executions are found by their search attributes, each kind compared with its own", run: searchAttributesAreQueried),
        .init(name: "schedules are created once and written whole, fenced by version", run: schedulesAreFencedByVersion),
        .init(name: "a released execution is claimable by another node, fenced by epoch", run: releasedExecutionIsClaimable),
        .init(name: "a parked execution resumed from any node is claimable by any node", run: parkedExecutionResumes),
        .init(name: "unowned open executions past a deadline are overdue, nearest first", run: overdueExecutionsAreListed),
        .init(name: "tasks waiting past a schedule-to-close or -start deadline are overdue and time out once, fenced by attempt",
            run: waitingTasksTimeOut),
        .init(name: "the backlog counts scheduled tasks and pending executions per name", run: backlogCountsWaitingWork),
        .init(name: "a reset from any node moves the execution to its next generation, fenced by epoch", run: resetMovesToNextGeneration),
        .init(name: "concurrent calls each get their own outcomes, in order", run: concurrentCallsKeepTheirOutcomes),
        .init(name: "calls answered through a closure answer as awaited ones, each once", run: closureCallsAnswerAsAwaited),
        .init(name: "a terminate from any node ends the execution and fences its owner", run: terminateEndsAnExecution),
        .init(name: "each retried attempt's failure is kept beside the task", run: retriedAttemptsKeepTheirFailures),
        .init(name: "claims take the highest priority first, then one task of each fairness key in turn", run: claimsFollowPrecedence),
        .init(name: "an execution started claimed is owned, fenced and rescued like a claimed one", run: startClaimed),
        .init(name: "a step with its claimed task keeps each change's own fence", run: stepWithClaimedTask),
        .init(name: "a run of steps with their tasks keeps each change's own fence", run: stepsWithTasksInOneCall),
        .init(name: "a run of starts keeps each start's own outcome and every field", run: startsInOneCall),
        .init(name: "a run of execution ends keeps each end's fence and wakes each parent", run: endsInOneCall),
        .init(name: "a node's owned executions are listed until it lets them go", run: ownedExecutionsListed),
        .init(name: "a node that leaves is dead at once and its work is rescued", run: aNodeThatLeavesIsDeadAndItsWorkRescued),
        .init(name: "a suspended execution is woken once, fenced by epoch", run: aSuspendedExecutionIsWokenOnceFencedByEpoch),
        .init(name: "open executions are counted per status", run: openExecutionsAreCountedPerStatus),
        .init(name: "a delivered signal completes the oldest step waiting for it, in the same transaction",
            run: aDeliveredSignalCompletesTheWaitingStep),
        .init(name: "a signal is consumed only by the step it completed", run: aSignalIsConsumedOnlyByTheStepItCompleted),
        .init(name: "ended executions are found among many ids in one read", run: endedExecutionsAreFoundAmongIds),
        .init(name: "ended tasks are found among many ids in one read", run: endedTasksAreFoundAmongIds),
        .init(name: "a delivered signal's request key is known after the execution ends", run: aSignalsKeyIsKnownAfterTheEnd),
    ]

    // MARK: - Cases

    static func aDeliveredSignalCompletesTheWaitingStep(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        try expect(try await store.claimExecutions(limit: 1, node: node).map(\.record.epoch), [1])
        // No step waits: the signal is buffered.
        try expect(try await store.apply([.deliverSignal(workflowId: "w", name: "go", payload: .string("a"), key: nil)]),
            [.applied])
        // Steps 1 and 2 wait for "go", step 3 for another name. An older "go" is still buffered:
        // the next "go" is not handed over before it (the owner takes "a" for step 1 itself).
        try expect(
            try await store.apply([
                .appendStep(signalStep("w", seq: 1, name: "go", now: now), epoch: 1),
                .appendStep(signalStep("w", seq: 2, name: "go", now: now), epoch: 1),
                .appendStep(signalStep("w", seq: 3, name: "other", now: now), epoch: 1),
                .deliverSignal(workflowId: "w", name: "go", payload: .string("b"), key: nil),
            ]), [.applied, .applied, .applied, .applied])
        guard let a = try await store.pendingSignals(workflowId: "w").first else {
            throw ConformanceFailure(description: "signal a was not buffered")
        }
        try expect(
            try await store.apply([
                .completeStep(workflowId: "w", generation: 0, seq: 1, epoch: 1, status: .completed, result: .string("a"),
                    failure: nil),
                .consumeSignal(signalId: a.id, workflowId: "w", generation: 0, seq: 1, epoch: 1),
            ]), [.applied, .applied])
        try expect(try await store.pendingSignals(workflowId: "w").map(\.payload), [.string("b")])
        // With nothing older buffered, a new signal completes the oldest waiting step of its name.
        let before = try await store.execution(id: "w")?.eventSeq ?? -1
        try expect(
            try await store.apply([.deliverSignal(workflowId: "w", name: "other", payload: .string("c"), key: "k")]),
            [.signalTaken(seq: 3)])
        try expect(try await store.execution(id: "w")?.eventSeq, before + 1)
        let journal = try await store.journal(workflowId: "w", generation: 0)
        try expect(journal.map(\.status), [.completed, .scheduled, .completed])
        try expect(journal.last?.result, .string("c"))
        try expect(try await store.pendingSignals(workflowId: "w").map(\.payload), [.string("b")])
        // Its resend is a duplicate and completes nothing more.
        try expect(
            try await store.apply([.deliverSignal(workflowId: "w", name: "other", payload: .string("c"), key: "k")]),
            [.duplicate])
        // With no step waiting for its name, a signal is only buffered.
        try expect(
            try await store.apply([.deliverSignal(workflowId: "w", name: "other", payload: .string("d"), key: nil)]),
            [.applied])
    }

    static func endedExecutionsAreFoundAmongIds(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply((1...3).map { .startExecution(execution("w\($0)", now: now)) })
        try expect(try await store.claimExecutions(limit: 3, node: node).count, 3)
        try expect(
            try await store.apply([
                .finishExecution(workflowId: "w1", epoch: 1, status: .completed, output: .string("one"), failure: nil),
                .finishExecution(workflowId: "w3", epoch: 1, status: .failed, output: nil, failure: ["message": "no"]),
            ]), [.applied, .applied])
        let ended = try await store.endedExecutions(ids: ["w1", "w2", "w3", "nobody"])
        try expect(ended.map(\.id).sorted(), ["w1", "w3"])
        try expect(ended.first { $0.id == "w1" }?.output, .string("one"))
        try expect(try await store.endedExecutions(ids: []).count, 0)
    }

    static func endedTasksAreFoundAmongIds(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply((1...4).map { .enqueueTask(task("t\($0)", now: now)) })
        try expect(try await store.claimTasks(TaskClaim(names: ["echo"], limit: 4), node: node).count, 4)
        try expect(
            try await store.apply([
                .finishTask(id: "t1", attempt: 1, status: .completed, output: .string("one"), failure: nil),
                .finishTask(id: "t3", attempt: 1, status: .failed, output: nil, failure: ["message": "no"]),
                .cancelTask(id: "t4"),
            ]), [.applied, .applied, .applied])
        // t2 still runs; "nobody" does not exist.
        let ended = try await store.endedTasks(ids: ["t1", "t2", "t3", "t4", "nobody"])
        try expect(ended.map(\.id).sorted(), ["t1", "t3", "t4"])
        try expect(ended.first { $0.id == "t1" }?.output, .string("one"))
        try expect(ended.first { $0.id == "t4" }?.status, .cancelled)
        try expect(try await store.endedTasks(ids: []).count, 0)
    }

    static func aSignalsKeyIsKnownAfterTheEnd(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now)), .startExecution(execution("other", now: now))])
        try expect(try await store.claimExecutions(limit: 2, node: node).count, 2)
        try expect(
            try await store.apply([.deliverSignal(workflowId: "w", name: "go", payload: .string("a"), key: "r-1")]), [.applied])
        try expect(
            try await store.apply([.finishExecution(workflowId: "w", epoch: 1, status: .completed, output: nil, failure: nil)]),
            [.applied])
        try expect(try await store.signalDelivered(workflowId: "w", key: "r-1"), true)
        try expect(try await store.signalDelivered(workflowId: "w", key: "r-2"), false)
        try expect(try await store.signalDelivered(workflowId: "other", key: "r-1"), false)
    }

    static func aSignalIsConsumedOnlyByTheStepItCompleted(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        _ = try await store.claimExecutions(limit: 1, node: node)
        _ = try await store.apply([
            .deliverSignal(workflowId: "w", name: "go", payload: .string("late"), key: nil),
            .appendStep(signalStep("w", seq: 1, name: "go", now: now), epoch: 1),
        ])
        guard let late = try await store.pendingSignals(workflowId: "w").first else {
            throw ConformanceFailure(description: "the signal was not buffered")
        }
        // The step's timer ended it first: taking the signal for it changes nothing, and the
        // signal stays for the next step.
        let (status, failure) = TimerOutcome.of(kind: "signal", name: "go")
        try expect(
            try await store.apply([
                .completeStep(workflowId: "w", generation: 0, seq: 1, epoch: 1, status: status, result: nil, failure: failure),
                .completeStep(workflowId: "w", generation: 0, seq: 1, epoch: 1, status: .completed, result: .string("late"),
                    failure: nil),
                .consumeSignal(signalId: late.id, workflowId: "w", generation: 0, seq: 1, epoch: 1),
            ]), [.applied, .duplicate, .duplicate])
        try expect(try await store.pendingSignals(workflowId: "w").map(\.payload), [.string("late")])
        // A step that already holds a signal takes no second one, even with the same payload.
        _ = try await store.apply([
            .appendStep(signalStep("w", seq: 2, name: "go", now: now, took: .string("late")), epoch: 1),
            .consumeSignal(signalId: late.id, workflowId: "w", generation: 0, seq: 2, epoch: 1),
            .deliverSignal(workflowId: "w", name: "go", payload: .string("late"), key: nil),
        ])
        try expect(try await store.pendingSignals(workflowId: "w").count, 1)
        guard let again = try await store.pendingSignals(workflowId: "w").first else { return }
        try expect(
            try await store.apply([.consumeSignal(signalId: again.id, workflowId: "w", generation: 0, seq: 2, epoch: 1)]),
            [.duplicate])
    }

    static func executionClaimsFilterByName(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        var other = execution("w2", now: now)
        other.name = "other"
        _ = try await store.apply([.startExecution(execution("w1", now: now)), .startExecution(other)])
        try expect(try await store.claimExecutions(names: [], limit: 5, node: node).count, 0)
        try expect(try await store.claimExecutions(names: ["other"], limit: 5, node: node).map(\.record.id), ["w2"])
        try expect(try await store.claimExecutions(names: ["other", "nothing"], limit: 5, node: node).count, 0)
        try expect(try await store.claimExecutions(names: ["flow"], limit: 5, node: node).map(\.record.id), ["w1"])
    }

    static func executionClaimsFilterByBuild(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        var v1 = execution("on-v1", now: now)
        v1.buildId = "v1"
        var v2 = execution("on-v2", now: now + 1)
        v2.buildId = "v2"
        let unpinned = execution("unpinned", now: now + 2)
        _ = try await store.apply([.startExecution(v1), .startExecution(v2), .startExecution(unpinned)])
        let none = BuildChoice(runnable: [], takesUnpinned: false, pinUnpinnedTo: nil)
        try expect(try await store.claimExecutions(names: nil, limit: 5, node: node, builds: none).count, 0)
        let v3Only = BuildChoice(runnable: ["v3"], takesUnpinned: false, pinUnpinnedTo: nil)
        try expect(try await store.claimExecutions(names: nil, limit: 5, node: node, builds: v3Only).count, 0)
        // A node running v2 (which also continues v1) takes both pinned ones, and no unpinned one.
        let v2Node = BuildChoice(runnable: ["v1", "v2"], takesUnpinned: false, pinUnpinnedTo: nil)
        let pinned = try await store.claimExecutions(names: nil, limit: 5, node: node, builds: v2Node)
        try expect(pinned.map(\.record.id), ["on-v1", "on-v2"])
        try expect(pinned.map(\.record.buildId), ["v1", "v2"])
        // An unpinned execution is pinned to the claimer's build as it is claimed, and stays so.
        let takesNew = BuildChoice(runnable: ["v3"], takesUnpinned: true, pinUnpinnedTo: "v3")
        let claimed = try await store.claimExecutions(names: nil, limit: 5, node: node, builds: takesNew)
        try expect(claimed.map(\.record.id), ["unpinned"])
        try expect(claimed.first?.record.buildId, "v3")
        try expect(try await store.execution(id: "unpinned")?.record.buildId, "v3")
    }

    static func ownerWritesAreFenced(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        guard var record = try await store.claimExecutions(limit: 1, node: node).first?.record else {
            throw ConformanceFailure(description: "the execution was not claimed")
        }
        var wait = step("w", seq: 1, now: now)
        wait.kind = "signal"
        wait.name = "go"
        try expect(try await store.apply([.appendStep(wait, epoch: 1)]), [.applied])
        let complete = Change.completeStep(
            workflowId: "w", generation: 0, seq: 1, epoch: 1, status: .completed, result: .string("x"), failure: nil)
        let lateComplete = Change.completeStep(
            workflowId: "w", generation: 0, seq: 1, epoch: 0, status: .completed, result: .string("y"), failure: nil)
        try expect(try await store.apply([lateComplete, complete, complete]), [.superseded(currentEpoch: 1), .applied, .duplicate])
        try expect(try await store.journal(workflowId: "w", generation: 0).first?.result, .string("x"))
        // The owner's own write raises no event: its suspend still sees the counter it claimed at.
        try expect(try await store.execution(id: "w")?.eventSeq, 0)
        // A new run: the owner raises the epoch; a write from the old epoch is refused.
        record.epoch = 2
        try expect(try await store.apply([.updateExecution(record, expectedEpoch: 1)]), [.applied])
        try expect(try await store.apply([.updateExecution(record, expectedEpoch: 1)]), [.superseded(currentEpoch: 2)])
        try expect(try await store.execution(id: "w")?.ownerNode, "n")
        // Parked: it keeps no owner and no node claims it.
        record.status = .parked
        record.failure = ["type": "NonDeterminism", "message": "m", "retryable": false]
        try expect(try await store.apply([.updateExecution(record, expectedEpoch: 2)]), [.applied])
        let parked = try await store.execution(id: "w")
        try expect(parked?.record.status, .parked)
        try expect(parked?.ownerNode, nil)
        try expect(try await store.claimExecutions(limit: 1, node: node).count, 0)
        _ = try await store.apply([.finishExecution(workflowId: "w", epoch: 2, status: .failed, output: nil, failure: nil)])
        try expect(try await store.apply([.updateExecution(record, expectedEpoch: 2)]), [.alreadyFinished])
    }

    static func releasedExecutionIsClaimable(_ store: any Store) async throws {
        let a = try await store.join(nodeId: "a", leaseMillis: liveLease)
        let b = try await store.join(nodeId: "b", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        try expect(try await store.claimExecutions(limit: 1, node: a).map(\.record.epoch), [1])
        try expect(try await store.claimExecutions(limit: 1, node: b).count, 0)
        try expect(
            try await store.apply([.releaseExecution(workflowId: "w", epoch: 0), .releaseExecution(workflowId: "w", epoch: 1)]),
            [.superseded(currentEpoch: 1), .applied])
        let released = try await store.execution(id: "w")
        try expect(released?.record.status, .pending)
        try expect(released?.ownerNode, nil)
        let taken = try await store.claimExecutions(limit: 1, node: b)
        try expect(taken.map(\.record.epoch), [2])
        try expect(taken.first?.ownerNode, "b")
        _ = try await store.apply([.finishExecution(workflowId: "w", epoch: 2, status: .completed, output: .null, failure: nil)])
        try expect(try await store.apply([.releaseExecution(workflowId: "w", epoch: 2)]), [.alreadyFinished])
    }

    static func overdueExecutionsAreListed(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        var late = execution("late", now: now)
        late.executionDeadline = now - 1_000
        var lateRun = execution("late-run", now: now)
        lateRun.runTimeoutMs = 1
        lateRun.runDeadline = now - 500
        var future = execution("future", now: now)
        future.executionDeadline = now + 3_600_000
        var owned = execution("owned", now: now)
        owned.name = "owned-flow"
        owned.executionDeadline = now - 2_000
        try expect(
            try await store.apply([
                .startExecution(late), .startExecution(lateRun), .startExecution(future), .startExecution(owned),
                .startExecution(execution("plain", now: now)),
            ]), [.applied, .applied, .applied, .applied, .applied])
        // Owned: its node's own timer ends it, so it is not listed.
        try expect(try await store.claimExecutions(names: ["owned-flow"], limit: 1, node: node).map(\.record.id), ["owned"])
        try expect(try await store.overdueExecutions(limit: 10).map(\.id), ["late", "late-run"])
        try expect(try await store.overdueExecutions(limit: 1).map(\.id), ["late"])
        let listed = try await store.overdueExecutions(limit: 10)
        try expect(listed.first?.executionDeadline, now - 1_000)
        try expect(listed.last?.runDeadline, now - 500)
        let failure: JSONValue = ["type": "WorkflowExecutionTimeout", "message": "m", "retryable": false]
        try expect(
            try await store.apply([.terminateExecution(workflowId: "late", status: .timedOut, failure: failure)]), [.applied])
        try expect(try await store.overdueExecutions(limit: 10).map(\.id), ["late-run"])
    }

    static func waitingTasksTimeOut(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        func waiting(_ id: String, name: String = "echo", age: EpochMillis, closeMs: Int64?, startMs: Int64? = nil) -> ActivityTaskRecord {
            var t = task(id, name: name, now: now - age)
            t.timeouts = ActivityTimeouts(scheduleToStartMs: startMs, scheduleToCloseMs: closeMs)
            return t
        }
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        _ = try await store.claimExecutions(limit: 1, node: node)
        var (entry, stepTask) = activityStep(workflowId: "w", seq: 1, now: now - 3_000)
        stepTask.timeouts = ActivityTimeouts(scheduleToCloseMs: 1_000)
        try expect(
            try await store.apply([
                .enqueueTask(waiting("late", age: 5_000, closeMs: 1_000)),  // due 4 s ago
                .enqueueTask(waiting("later", name: "later-name", age: 2_000, closeMs: 500)),  // due 1.5 s ago
                .enqueueTask(waiting("future", age: 5_000, closeMs: 3_600_000)),
                .enqueueTask(waiting("plain", age: 5_000, closeMs: nil)),
                .enqueueTask(waiting("slow-start", age: 6_000, closeMs: 3_600_000, startMs: 3_000)),  // due 3 s ago
                .enqueueTask(waiting("fresh-start", age: 6_000, closeMs: nil, startMs: 3_600_000)),
                .enqueueTask(waiting("running", name: "running-name", age: 5_000, closeMs: 1_000)),
                .appendStep(entry, epoch: 1), .enqueueTask(stepTask),  // due 2 s ago
                .suspend(workflowId: "w", epoch: 1, seenEvents: 0),
            ]), [.applied, .applied, .applied, .applied, .applied, .applied, .applied, .applied, .applied, .applied])
        // A claimed task's own node times it out; it is not listed.
        try expect(try await store.claimTasks(TaskClaim(names: ["running-name"], limit: 1), node: node).map(\.id), ["running"])
        let overdue = try await store.overdueTasks(limit: 10)
        try expect(overdue.map(\.id), ["late", "slow-start", "w-1", "later"])
        try expect(try await store.overdueTasks(limit: 1).map(\.id), ["late"])

        let failure: JSONValue = ["type": "ScheduleToCloseTimeout", "message": "m", "retryable": false]
        let attempts = Dictionary(uniqueKeysWithValues: overdue.map { ($0.id, $0.attempt) })
        // A node claims "later" first: the timeout, fenced by the attempt it read, is refused.
        try expect(try await store.claimTasks(TaskClaim(names: ["later-name"], limit: 1), node: node).map(\.id), ["later"])
        try expect(
            try await store.apply([
                .timeOutWaitingTask(id: "late", attempt: attempts["late"] ?? -1, failure: failure),
                .timeOutWaitingTask(id: "late", attempt: attempts["late"] ?? -1, failure: failure),
                .timeOutWaitingTask(id: "later", attempt: attempts["later"] ?? -1, failure: failure),
                .timeOutWaitingTask(id: "w-1", attempt: attempts["w-1"] ?? -1, failure: failure),
            ]), [.applied, .alreadyFinished, .stale(currentAttempt: (attempts["later"] ?? -1) + 1), .applied])
        let late = try await store.task(id: "late")
        try expect(late?.status, .timedOut)
        try expect(late?.failure, failure)
        try expect(try await store.task(id: "later")?.status, .running)
        // The step's task fails its journal step and wakes its execution.
        let journal = try await store.journal(workflowId: "w", generation: 0)
        try expect(journal.map(\.status), [.failed])
        try expect(journal.first?.failure, failure)
        try expect(try await store.execution(id: "w")?.record.status, .pending)
        try expect(try await store.overdueTasks(limit: 10).map(\.id), ["slow-start"])
    }

    static func backlogCountsWaitingWork(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        var later = task("later", now: now)
        later.visibleAt = now + 3_600_000  // waiting out a backoff: still backlog
        var flowB = execution("b1", now: now)
        flowB.name = "flow-b"
        _ = try await store.apply([
            .enqueueTask(task("e1", now: now)), .enqueueTask(task("e2", now: now)), .enqueueTask(later),
            .enqueueTask(task("o1", name: "other", now: now)), .enqueueTask(task("run", name: "running", now: now)),
            .startExecution(execution("f1", now: now)), .startExecution(execution("f2", now: now)), .startExecution(flowB),
        ])
        let waiting = try await store.backlog()
        try expect(waiting.activities, ["echo": 3, "other": 1, "running": 1])
        try expect(waiting.workflows, ["flow": 2, "flow-b": 1])
        // Per name, the oldest: the earliest runnable time of a task, the queueing of an execution.
        try expect(waiting.oldestActivities["echo"], now)
        try expect(Set(waiting.oldestActivities.keys), ["echo", "other", "running"])
        try expect(waiting.oldestWorkflows.keys.sorted(), ["flow", "flow-b"])
        try expect(waiting.oldestWorkflows.values.allSatisfy { $0 >= now }, "an execution queued before it started: \(waiting)")
        // Claimed work is no longer waiting.
        _ = try await store.claimTasks(TaskClaim(names: ["running"], limit: 1), node: node)
        _ = try await store.claimExecutions(names: ["flow-b"], limit: 1, node: node)
        let left = try await store.backlog()
        try expect(left.activities, ["echo": 3, "other": 1])
        try expect(left.workflows, ["flow": 2])
        try expect(Set(left.oldestActivities.keys), ["echo", "other"])
    }

    static func parkedExecutionResumes(_ store: any Store) async throws {
        let a = try await store.join(nodeId: "a", leaseMillis: liveLease)
        let b = try await store.join(nodeId: "b", leaseMillis: liveLease)
        let now = try await store.now()
        var record = execution("w", now: now)
        _ = try await store.apply([.startExecution(record)])
        try expect(try await store.apply([.resumeExecution(workflowId: "w")]), [.duplicate])  // pending: nothing to resume
        try expect(try await store.claimExecutions(limit: 1, node: a).map(\.record.epoch), [1])
        try expect(try await store.apply([.resumeExecution(workflowId: "w")]), [.duplicate])  // running on a
        record.epoch = 1
        record.status = .parked
        record.failure = ["type": "NonDeterminism", "message": "m", "retryable": false]
        try expect(try await store.apply([.updateExecution(record, expectedEpoch: 1)]), [.applied])
        try expect(try await store.claimExecutions(limit: 1, node: b).count, 0)
        // Resumed (from b, say): pending, unowned, its failure gone; a resend changes nothing.
        try expect(
            try await store.apply([.resumeExecution(workflowId: "w"), .resumeExecution(workflowId: "w")]), [.applied, .duplicate])
        let resumed = try await store.execution(id: "w")
        try expect(resumed?.record.status, .pending)
        try expect(resumed?.record.failure, nil)
        try expect(resumed?.ownerNode, nil)
        let taken = try await store.claimExecutions(limit: 1, node: b)
        try expect(taken.map(\.record.epoch), [2])
        try expect(taken.first?.ownerNode, "b")
        // a's run is over: its writes are refused.
        try expect(try await store.apply([.updateExecution(record, expectedEpoch: 1)]), [.superseded(currentEpoch: 2)])
        _ = try await store.apply([.finishExecution(workflowId: "w", epoch: 2, status: .completed, output: .null, failure: nil)])
        try expect(try await store.apply([.resumeExecution(workflowId: "w")]), [.alreadyFinished])
        try expect(try await store.apply([.resumeExecution(workflowId: "nope")]), [.notFound])
    }

    static func resetMovesToNextGeneration(_ store: any Store) async throws {
        let a = try await store.join(nodeId: "a", leaseMillis: liveLease)
        let b = try await store.join(nodeId: "b", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        try expect(try await store.claimExecutions(limit: 1, node: a).map(\.record.epoch), [1])
        // Step 1 ended; step 2 an open activity; step 3 a timer; step 4 took a signal.
        var first = step("w", seq: 1, now: now)
        first.status = .completed
        first.result = .string("one")
        let (second, secondTask) = activityStep(workflowId: "w", seq: 2, now: now)
        try expect(
            try await store.apply([
                .appendStep(first, epoch: 1), .appendStep(second, epoch: 1), .enqueueTask(secondTask),
                .scheduleTimer(workflowId: "w", generation: 0, seq: 3, fireAt: now + 3_600_000),
                .appendStep(signalStep("w", seq: 4, name: "go", now: now), epoch: 1),
                .deliverSignal(workflowId: "w", name: "go", payload: .string("s"), key: nil),
            ]), [.applied, .applied, .applied, .applied, .applied, .signalTaken(seq: 4)])
        try expect(try await store.pendingSignals(workflowId: "w").count, 0)
        let reset = WorkflowReset(
            workflowId: "w", fromGeneration: 0, toStep: 1, reason: "bad deploy", requestedBy: "test", previousStatus: .running,
            now: now)
        try expect(try await store.apply([.resetExecution(reset, expectedEpoch: 0)]), [.superseded(currentEpoch: 1)])
        // From b, which does not own it: fenced by the epoch b read.
        try expect(try await store.apply([.resetExecution(reset, expectedEpoch: 1)]), [.applied])
        let moved = try await store.execution(id: "w")
        try expect(moved?.record.status, .pending)
        try expect(moved?.record.generation, 1)
        try expect(moved?.record.epoch, 2)
        try expect(moved?.ownerNode, nil)
        let kept = try await store.journal(workflowId: "w", generation: 1)
        try expect(kept.map(\.seq), [1])
        try expect(kept.first?.result, .string("one"))
        try expect(try await store.task(id: secondTask.id)?.status, .cancelled)
        try expect(try await store.pendingSignals(workflowId: "w").map(\.payload), [.string("s")])
        let recorded = try await store.resets(workflowId: "w")
        try expect(recorded.map(\.toGeneration), [1])
        try expect(recorded.first?.reason, "bad deploy")
        // The old owner's writes are refused; the same reset again, or one from the old generation
        // at the new epoch, changes nothing.
        var late = step("w", seq: 5, now: now)
        late.status = .completed
        try expect(try await store.apply([.appendStep(late, epoch: 1)]), [.superseded(currentEpoch: 2)])
        try expect(try await store.apply([.resetExecution(reset, expectedEpoch: 1)]), [.superseded(currentEpoch: 2)])
        try expect(try await store.apply([.resetExecution(reset, expectedEpoch: 2)]), [.changedMeanwhile])
        let taken = try await store.claimExecutions(limit: 1, node: b)
        try expect(taken.map(\.record.epoch), [3])
        try expect(taken.first?.record.generation, 1)
        var unknown = reset
        unknown.workflowId = "nope"
        try expect(try await store.apply([.resetExecution(unknown, expectedEpoch: 0)]), [.notFound])
    }

    static func executionsAreListed(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        var records = (0..<5).map { i -> WorkflowRecord in
            var r = execution("w\(i)", now: now + Int64(i))
            if i == 4 { r.name = "other" }
            return r
        }
        records[1].createdAt = now + 1
        _ = try await store.apply(records.map { .startExecution($0) })
        _ = try await store.claimExecutions(names: ["other"], limit: 1, node: node)
        var filter = WorkflowFilter()
        filter.limit = 2
        let page1 = try await store.executions(filter)
        try expect(page1.map(\.record.id), ["w0", "w1"])
        filter.after = (page1[1].record.createdAt, page1[1].record.id)
        try expect(try await store.executions(filter).map(\.record.id), ["w2", "w3"])
        var newest = WorkflowFilter()
        newest.newestFirst = true
        newest.limit = 10
        let all = try await store.executions(newest)
        try expect(all.map(\.record.id), ["w4", "w3", "w2", "w1", "w0"])
        try expect(all.first?.ownerNode, "n")
        try expect(all.last?.ownerNode, nil)
        var named = WorkflowFilter()
        named.name = "other"
        named.status = .running
        try expect(try await store.executions(named).map(\.record.id), ["w4"])
        named.status = .pending
        try expect(try await store.executions(named).count, 0)
        var window = WorkflowFilter()
        window.createdAfter = now + 2
        window.createdBefore = now + 4
        try expect(try await store.executions(window).map(\.record.id), ["w2", "w3"])
    }

    static func signalTimerTimesOut(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        _ = try await store.claimExecutions(limit: 1, node: node)
        var wait = step("w", seq: 1, now: now)
        wait.kind = "signal"
        wait.name = "approve"
        _ = try await store.apply([
            .appendStep(wait, epoch: 1), .scheduleTimer(workflowId: "w", generation: 0, seq: 1, fireAt: now - 1),
        ])
        try expect(try await store.fireDueTimers(limit: 10, node: node).count, 1)
        let entry = try await store.journal(workflowId: "w", generation: 0).first
        try expect(entry?.status, .failed)
        try expect(entry?.failure?["type"], .string("TimedOut"))
        try expect(entry?.failure?["message"], .string("no signal approve arrived in time"))
        try expect(try await store.execution(id: "w")?.eventSeq, 1)
    }

    static func enqueueIsIdempotent(_ store: any Store) async throws {
        let now = try await store.now()
        let first = try await store.apply([.enqueueTask(task("t1", key: "k1", now: now))])
        try expect(first, [.applied])
        let again = try await store.apply([
            .enqueueTask(task("t1", now: now)), .enqueueTask(task("t2", key: "k1", now: now)),
        ])
        try expect(again, [.duplicate, .duplicate])
        try expect(try await store.task(id: "t2") == nil, "t2 must not exist after its key was refused")
    }

    static func claimsTakeReadyTasks(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n1", leaseMillis: liveLease)
        let now = try await store.now()
        var later = task("later", name: "a", now: now)
        later.visibleAt = now + 3_600_000
        _ = try await store.apply(
            [.enqueueTask(task("a1", name: "a", now: now)), .enqueueTask(task("a2", name: "a", now: now + 1)),
             .enqueueTask(task("a3", name: "a", now: now + 2)), .enqueueTask(task("b1", name: "b", now: now)),
             .enqueueTask(later)])
        let claimed = try await store.claimTasks(TaskClaim(names: ["a"], limit: 2), node: node)
        try expect(claimed.map(\.id), ["a1", "a2"])
        try expect(claimed.map(\.attempt), [1, 1])
        try expect(claimed.map(\.status), [.running, .running])
        let rest = try await store.claimTasks(TaskClaim(names: ["a", "c"], limit: 10), node: node)
        try expect(rest.map(\.id), ["a3"])
        try expect(try await store.task(id: "b1")?.status, .scheduled)
        try expect(try await store.task(id: "later")?.status, .scheduled)
        // What the node holds, as it would ask after a claim whose outcome it did not learn.
        try expect(try await store.ownedTasks(node: node).map(\.id), ["a1", "a2", "a3"])
        let other = try await store.join(nodeId: "n2", leaseMillis: liveLease)
        try expect(try await store.ownedTasks(node: other).count, 0)
    }

    static func releasedClaimCostsNothing(_ store: any Store) async throws {
        let a = try await store.join(nodeId: "a", leaseMillis: liveLease)
        let b = try await store.join(nodeId: "b", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.enqueueTask(task("t", now: now))])
        // Attempt 1 ran and failed; attempt 2 is claimed by a, which cannot run it.
        try expect(try await store.claimTasks(TaskClaim(names: ["echo"], limit: 1), node: a).map(\.attempt), [1])
        let failed: JSONValue = ["type": "Transient", "message": "attempt 1 failed", "retryable": true]
        try expect(try await store.apply([.retryTask(id: "t", attempt: 1, runAt: now, failure: failed)]), [.applied])
        try expect(try await store.claimTasks(TaskClaim(names: ["echo"], limit: 1), node: a).map(\.attempt), [2])
        try expect(try await store.apply([.releaseTask(id: "t", attempt: 1, node: a.nodeId)]), [.stale(currentAttempt: 2)])
        // Only the claim's owner releases it.
        try expect(try await store.apply([.releaseTask(id: "t", attempt: 2, node: b.nodeId)]), [.stale(currentAttempt: 2)])
        try expect(try await store.apply([.releaseTask(id: "t", attempt: 2, node: a.nodeId)]), [.applied])
        let released = try await store.task(id: "t")
        try expect(released?.status, .scheduled)
        try expect(released?.attempt, 1)
        try expect(try await store.openTasks(status: .running, name: nil, limit: 10).total, 0)
        // Only attempt 1's failure is kept; b's claim is attempt 2 again: a's claim cost nothing.
        try expect(try await store.attemptFailures(taskIds: ["t"])["t"]?.map(\.attempt), [1])
        try expect(try await store.attemptFailures(taskIds: ["t"])["t"]?.first?.failure["message"], "attempt 1 failed")
        try expect(try await store.claimTasks(TaskClaim(names: ["echo"], limit: 1), node: b).map(\.attempt), [2])
        // a's release re-sent late, after b's claim, is refused: the claim is b's now.
        try expect(try await store.apply([.releaseTask(id: "t", attempt: 2, node: a.nodeId)]), [.stale(currentAttempt: 2)])
        try expect(try await store.task(id: "t")?.status, .running)
        // Attempt 1's late end stays fenced.
        try expect(
            try await store.apply([.finishTask(id: "t", attempt: 1, status: .completed, output: .string("late"), failure: nil)]),
            [.stale(currentAttempt: 2)])
        try expect(try await store.apply([.releaseTask(id: "t", attempt: 2, node: b.nodeId), .releaseTask(id: "t", attempt: 2, node: b.nodeId)]),
            [.applied, .stale(currentAttempt: 1)])
    }

    static func staleAttemptIsRefused(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n1", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.enqueueTask(task("t", now: now))])
        _ = try await store.claimTasks(TaskClaim(names: ["echo"], limit: 1), node: node)
        try expect(try await store.apply([.retryTask(id: "t", attempt: 1, runAt: now, failure: nil)]), [.applied])
        let second = try await store.claimTasks(TaskClaim(names: ["echo"], limit: 1), node: node)
        try expect(second.map(\.attempt), [2])
        let late = try await store.apply([
            .finishTask(id: "t", attempt: 1, status: .completed, output: .string("late"), failure: nil),
            .recordHeartbeat(id: "t", attempt: 1, details: nil),
        ])
        try expect(late, [.stale(currentAttempt: 2), .stale(currentAttempt: 2)])
        let done = try await store.apply([
            .finishTask(id: "t", attempt: 2, status: .completed, output: .string("ok"), failure: nil)
        ])
        try expect(done, [.applied])
        let after = try await store.apply([
            .finishTask(id: "t", attempt: 2, status: .failed, output: nil, failure: nil), .cancelTask(id: "t"),
            .finishTask(id: "missing", attempt: 1, status: .completed, output: nil, failure: nil),
        ])
        try expect(after, [.alreadyFinished, .alreadyFinished, .notFound])
        let stored = try await store.task(id: "t")
        try expect(stored?.output, .string("ok"))
        try expect(stored?.status, .completed)
    }

    static func concurrentClaimsNeverShare(_ store: any Store) async throws {
        let a = try await store.join(nodeId: "a", leaseMillis: liveLease)
        let b = try await store.join(nodeId: "b", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply((0..<40).map { .enqueueTask(task("t\($0)", now: now)) })
        let ids = try await withThrowingTaskGroup(of: [String].self) { group in
            for node in [a, b, a, b] {
                group.addTask {
                    var mine: [String] = []
                    while true {
                        let got = try await store.claimTasks(TaskClaim(names: ["echo"], limit: 3), node: node)
                        if got.isEmpty { return mine }
                        mine += got.map(\.id)
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        try expect(ids.count, 40)
        try expect(Set(ids).count, 40)
    }

    static func supersededOwnerIsRefused(_ store: any Store) async throws {
        let a = try await store.join(nodeId: "a", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        let mine = try await store.claimExecutions(limit: 10, node: a)
        try expect(mine.map(\.record.epoch), [1])
        try expect(mine.first?.ownerNode, "a")
        try await expire(a, in: store)
        let b = try await store.join(nodeId: "b", leaseMillis: liveLease)
        let report = try await store.rescue()
        try expect(report, RescueReport(deadNodes: ["a"], tasksReturned: 0, executionsReturned: 1))
        let taken = try await store.claimExecutions(limit: 10, node: b)
        try expect(taken.map(\.record.epoch), [3])
        let now2 = try await store.now()
        let late = try await store.apply([
            .appendStep(step("w", seq: 1, now: now2), epoch: 1),
            .suspend(workflowId: "w", epoch: 1, seenEvents: 0),
            .finishExecution(workflowId: "w", epoch: 1, status: .completed, output: .null, failure: nil),
        ])
        try expect(late, [.superseded(currentEpoch: 3), .superseded(currentEpoch: 3), .superseded(currentEpoch: 3)])
        try expect(try await store.apply([.appendStep(step("w", seq: 1, now: now2), epoch: 3)]), [.applied])
        try expect(try await store.renew(a), .lost)
        try expect(try await store.renew(b), .held)
        try expect(try await store.journal(workflowId: "w", generation: 0).count, 1)
    }

    static func suspendSeesEvents(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        let run = try await store.claimExecutions(limit: 1, node: node)
        try expect(run.map(\.eventSeq), [0])
        try expect(
            try await store.apply([.deliverSignal(workflowId: "w", name: "go", payload: .string("1"), key: nil)]), [.applied])
        try expect(try await store.apply([.suspend(workflowId: "w", epoch: 1, seenEvents: 0)]), [.changedMeanwhile])
        try expect(try await store.apply([.suspend(workflowId: "w", epoch: 1, seenEvents: 1)]), [.applied])
        let parked = try await store.execution(id: "w")
        try expect(parked?.record.status, .suspended)
        try expect(parked?.ownerNode, nil)
        try expect(try await store.claimExecutions(limit: 1, node: node).count, 0)
        _ = try await store.apply([.deliverSignal(workflowId: "w", name: "go", payload: .string("2"), key: nil)])
        try expect(try await store.execution(id: "w")?.record.status, .pending)
        let again = try await store.claimExecutions(limit: 1, node: node)
        try expect(again.map(\.record.epoch), [2])
        try expect(again.map(\.eventSeq), [2])
        let signals = try await store.pendingSignals(workflowId: "w")
        try expect(signals.map(\.payload), [.string("1"), .string("2")])
        // The run's steps 1 and 2 received them (appended completed with each payload).
        try expect(
            try await store.apply([
                .appendStep(signalStep("w", seq: 1, name: "go", now: now, took: .string("1")), epoch: 2),
                .appendStep(signalStep("w", seq: 2, name: "go", now: now, took: .string("2")), epoch: 2),
            ]), [.applied, .applied])
        let consumed = try await store.apply([
            .consumeSignal(signalId: signals[0].id, workflowId: "w", generation: 0, seq: 1, epoch: 2),
            .consumeSignal(signalId: signals[0].id, workflowId: "w", generation: 0, seq: 1, epoch: 2),
            .consumeSignal(signalId: signals[1].id, workflowId: "w", generation: 0, seq: 2, epoch: 1),
        ])
        try expect(consumed, [.applied, .duplicate, .superseded(currentEpoch: 2)])
        try expect(try await store.pendingSignals(workflowId: "w").map(\.payload), [.string("2")])
    }

    static func signalKeysDeduplicate(_ store: any Store) async throws {
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        let sent = try await store.apply([
            .deliverSignal(workflowId: "w", name: "s", payload: .string("1"), key: "k"),
            .deliverSignal(workflowId: "w", name: "s", payload: .string("1"), key: "k"),
            .deliverSignal(workflowId: "nobody", name: "s", payload: .string("1"), key: "k"),
        ])
        try expect(sent, [.applied, .duplicate, .notFound])
        try expect(try await store.pendingSignals(workflowId: "w").count, 1)
        try expect(try await store.execution(id: "w")?.eventSeq, 1)
    }

    static func replayedBatchIsIdempotent(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        _ = try await store.claimExecutions(limit: 1, node: node)
        let (activity, stepTask) = activityStep(workflowId: "w", seq: 1, now: now)
        let batch: [Change] = [
            .appendStep(activity, epoch: 1), .enqueueTask(stepTask),
            .scheduleTimer(workflowId: "w", generation: 0, seq: 2, fireAt: now + 3_600_000),
            .deliverSignal(workflowId: "w", name: "s", payload: .null, key: "once"),
            .requestCancel(workflowId: "w", reason: "bad deploy"),
        ]
        try expect(try await store.apply(batch), [.applied, .applied, .applied, .applied, .applied])
        let before = try await store.execution(id: "w")
        let replay = try await store.apply(batch)
        try expect(replay, [.duplicate, .duplicate, .duplicate, .duplicate, .duplicate])
        let after = try await store.execution(id: "w")
        try expect(try await store.pendingSignals(workflowId: "w").count, 1)
        try expect(try await store.journal(workflowId: "w", generation: 0).count, 1)
        try expect(after?.record.cancelRequested, true)
        try expect(after?.record.cancelReason, "bad deploy")
        try expect(after?.eventSeq, before?.eventSeq)
        try expect(before?.eventSeq, 2)
    }

    static func taskFinishWakesExecution(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        _ = try await store.claimExecutions(limit: 1, node: node)
        let (activity, stepTask) = activityStep(workflowId: "w", seq: 1, now: now)
        _ = try await store.apply([.appendStep(activity, epoch: 1), .enqueueTask(stepTask)])
        try expect(try await store.apply([.suspend(workflowId: "w", epoch: 1, seenEvents: 0)]), [.applied])
        _ = try await store.claimTasks(TaskClaim(names: ["echo"], limit: 1), node: node)
        let done = try await store.apply([
            .finishTask(id: "w-1", attempt: 1, status: .completed, output: .string("out"), failure: nil)
        ])
        try expect(done, [.applied])
        let journal = try await store.journal(workflowId: "w", generation: 0)
        try expect(journal.map(\.status), [.completed])
        try expect(journal.first?.result, .string("out"))
        let woken = try await store.execution(id: "w")
        try expect(woken?.record.status, .pending)
        try expect(woken?.eventSeq, 1)
    }

    static func childEndCompletesParent(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        let child = childExecution("child", parent: "parent", seq: 1, now: now)
        var childStep = step("parent", seq: 1, now: now)
        childStep.kind = "child"
        _ = try await store.apply([.startExecution(execution("parent", now: now))])
        _ = try await store.claimExecutions(limit: 1, node: node)
        _ = try await store.apply([.appendStep(childStep, epoch: 1), .startExecution(child)])
        try expect(try await store.apply([.suspend(workflowId: "parent", epoch: 1, seenEvents: 0)]), [.applied])
        let claimed = try await store.claimExecutions(limit: 5, node: node)
        try expect(claimed.map(\.record.id), ["child"])
        let end = try await store.apply([
            .finishExecution(workflowId: "child", epoch: 1, status: .completed, output: .string("7"), failure: nil),
            .finishExecution(workflowId: "child", epoch: 1, status: .failed, output: nil, failure: nil),
        ])
        try expect(end, [.applied, .alreadyFinished])
        try expect(try await store.journal(workflowId: "parent", generation: 0).first?.result, .string("7"))
        try expect(try await store.execution(id: "parent")?.record.status, .pending)
        try expect(try await store.execution(id: "child")?.record.status, .completed)
    }

    static func timerFiresOnce(_ store: any Store) async throws {
        let a = try await store.join(nodeId: "a", leaseMillis: liveLease)
        let b = try await store.join(nodeId: "b", leaseMillis: liveLease)
        let now = try await store.now()
        var sleep = step("w", seq: 1, now: now)
        sleep.kind = "sleep"
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        _ = try await store.claimExecutions(limit: 1, node: a)
        let armed = try await store.apply([
            .appendStep(sleep, epoch: 1), .scheduleTimer(workflowId: "w", generation: 0, seq: 1, fireAt: now - 1),
            .scheduleTimer(workflowId: "w", generation: 0, seq: 9, fireAt: now + 3_600_000),
            .suspend(workflowId: "w", epoch: 1, seenEvents: 0),
        ])
        try expect(armed, [.applied, .applied, .applied, .applied])
        let fired = try await withThrowingTaskGroup(of: [FiredTimer].self) { group in
            for node in [a, b, a, b] { group.addTask { try await store.fireDueTimers(limit: 10, node: node) } }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        try expect(fired, [FiredTimer(workflowId: "w", generation: 0, seq: 1)])
        try expect(try await store.journal(workflowId: "w", generation: 0).map(\.status), [.completed])
        let woken = try await store.execution(id: "w")
        try expect(woken?.record.status, .pending)
        try expect(woken?.eventSeq, 1)
    }

    static func rescueIsExactlyOnce(_ store: any Store) async throws {
        let dying = try await store.join(nodeId: "dying", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply((0..<5).map { .enqueueTask(task("t\($0)", now: now)) })
        try expect(try await store.claimTasks(TaskClaim(names: ["echo"], limit: 3), node: dying).count, 3)
        try await expire(dying, in: store)
        let survivor = try await store.join(nodeId: "survivor", leaseMillis: liveLease)
        let reports = try await withThrowingTaskGroup(of: RescueReport.self) { group in
            for _ in 0..<3 { group.addTask { try await store.rescue() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try expect(reports.map(\.tasksReturned).reduce(0, +), 3)
        try expect(reports.flatMap(\.deadNodes), ["dying"])
        let late = try await store.apply([
            .finishTask(id: "t0", attempt: 1, status: .completed, output: .null, failure: nil)
        ])
        try expect(late, [.stale(currentAttempt: 1)])
        let retaken = try await store.claimTasks(TaskClaim(names: ["echo"], limit: 10), node: survivor)
        try expect(retaken.count, 5)
        try expect(retaken.filter { $0.attempt == 2 }.count, 3)
        try expect(try await store.rescue(), RescueReport())
    }

    static func expiredLeaseClaimsNothing(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.enqueueTask(task("t", now: now)), .startExecution(execution("w", now: now))])
        try await expire(node, in: store)
        try expect(try await store.claimTasks(TaskClaim(names: ["echo"], limit: 1), node: node).count, 0)
        try expect(try await store.claimExecutions(limit: 1, node: node).count, 0)
        try expect(try await store.renew(node), .lost)
        try expect(try await store.nodes().map(\.alive), [false])
        let fresh = try await store.join(nodeId: "n2", leaseMillis: liveLease)
        try expect(try await store.renew(fresh), .held)
        try expect(try await store.claimTasks(TaskClaim(names: ["echo"], limit: 1), node: fresh).count, 1)
    }

    static func clockMovesForward(_ store: any Store) async throws {
        let first = try await store.now()
        try await Task.sleep(for: .milliseconds(20))
        let second = try await store.now()
        try expect(second >= first + 10, "the store clock went from \(first) to \(second) in 20 ms")
    }

    static func batchesAnswerEachChange(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        let enqueued = try await store.apply([
            .enqueueTask(task("a", now: now)), .enqueueTask(task("b", key: "kb", now: now)),
            .enqueueTask(task("a", now: now)), .enqueueTask(task("c", key: "kb", now: now)),
            .enqueueTask(task("d", now: now)),
        ])
        try expect(enqueued, [.applied, .applied, .duplicate, .duplicate, .applied])
        let claimed = try await store.claimTasks(TaskClaim(names: ["echo"], limit: 10), node: node)
        try expect(claimed.map(\.id), ["a", "b", "d"])
        let finished = try await store.apply([
            .finishTask(id: "a", attempt: 1, status: .completed, output: .string("A"), failure: nil),
            .finishTask(id: "b", attempt: 2, status: .completed, output: nil, failure: nil),
            .finishTask(id: "a", attempt: 1, status: .failed, output: nil, failure: nil),
            .finishTask(id: "zz", attempt: 1, status: .completed, output: nil, failure: nil),
            .finishTask(id: "d", attempt: 1, status: .failed, output: nil, failure: .object(["message": "no"])),
            .enqueueTask(task("e", now: now)),
        ])
        try expect(finished, [.applied, .stale(currentAttempt: 1), .alreadyFinished, .notFound, .applied, .applied])
        try expect(try await store.task(id: "a")?.output, .string("A"))
        try expect(try await store.task(id: "d")?.status, .failed)
        try expect(try await store.task(id: "b")?.status, .running)
    }

    static func taskByIdempotencyKey(_ store: any Store) async throws {
        let now = try await store.now()
        try expect(try await store.apply([.enqueueTask(task("t", key: "the-key", now: now))]), [.applied])
        try expect(try await store.task(idempotencyKey: "the-key")?.id, "t")
        try expect(try await store.task(idempotencyKey: "another") == nil, "an unknown key must find nothing")
    }

    static func contractPinsAreVersioned(_ store: any Store) async throws {
        var pin = ContractPin(
            kind: "activity", name: "billing.charge", hash: "h1", input: .object(["type": "object"]), output: true,
            owner: "worker-token", ownerWorker: "w1", pinnedAt: 1, version: 1)
        try expect(try await store.apply([.pinContract(pin)]), [.applied])
        // A second node that also saw no pin loses: the name is pinned now.
        var rival = pin
        rival.hash = "h-rival"
        try expect(try await store.apply([.pinContract(rival)]), [.duplicate])
        pin.hash = "h2"
        pin.version = 2
        try expect(try await store.apply([.pinContract(pin)]), [.applied])
        // A change computed from version 1 again is refused: version 2 is there now.
        rival.version = 2
        try expect(try await store.apply([.pinContract(rival)]), [.duplicate])
        let pins = try await store.contractPins()
        try expect(pins.map(\.hash), ["h2"])
        try expect(pins.first?.input, .object(["type": "object"]))
        try expect(pins.first?.version, 2)
        try expect(
            try await store.apply([
                .releaseContract(kind: "activity", name: "billing.charge"),
                .releaseContract(kind: "activity", name: "billing.charge"),
            ]), [.applied, .notFound])
        try expect(try await store.contractPins().isEmpty, "a released pin must be gone")
    }

    static func nodesPublishWorkers(_ store: any Store) async throws {
        _ = try await store.join(nodeId: "n1", leaseMillis: liveLease)
        _ = try await store.join(nodeId: "n2", leaseMillis: liveLease)
        let workers: JSONValue = [["workerId": "w-1", "activities": ["echo"]]]
        try expect(try await store.apply([.publishWorkers(nodeId: "n1", workers: workers)]), [.applied])
        try expect(try await store.apply([.publishWorkers(nodeId: "ghost", workers: [])]), [.notFound])
        let nodes = try await store.nodes()
        try expect(nodes.map(\.nodeId), ["n1", "n2"])
        try expect(nodes[0].workers, workers)
        try expect(nodes[1].workers, nil)
    }

    static func enqueueClaimed(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n1", leaseMillis: liveLease)
        let now = try await store.now()
        var running = task("r", key: "kr", now: now)
        running.status = .running
        running.attempt = 1
        running.startedAt = now
        try expect(try await store.apply([.enqueueClaimedTask(running, node: node.nodeId)]), [.applied])
        try expect(try await store.ownedTasks(node: node).map(\.id), ["r"])
        var again = running
        again.id = "r2"
        try expect(try await store.apply([.enqueueClaimedTask(again, node: node.nodeId)]), [.duplicate])
        try expect(try await store.apply([.enqueueClaimedTask(task("x", now: now), node: "no-such-node")]), [.notFound])
        try expect(try await store.task(id: "x") == nil, "nothing may be stored for a node without a lease")
        // Its node dies: the rescue returns it, and the old attempt's end is refused.
        try await expire(node, in: store)
        _ = try await store.join(nodeId: "n2", leaseMillis: liveLease)
        try expect(try await store.rescue().tasksReturned, 1)
        try expect(
            try await store.apply([.finishTask(id: "r", attempt: 1, status: .completed, output: nil, failure: nil)]),
            [.stale(currentAttempt: 1)])
    }

    static func startClaimed(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let other = try await store.join(nodeId: "o", leaseMillis: liveLease)
        let now = try await store.now()
        var started = execution("w", now: now)
        started.status = .running
        started.epoch = 1
        try expect(try await store.apply([.startClaimedExecution(started, node: node.nodeId)]), [.applied])
        let stored = try await store.execution(id: "w")
        try expect(stored?.ownerNode, "n")
        try expect(stored?.record.status, .running)
        try expect(stored?.record.epoch, 1)
        try expect(try await store.claimExecutions(limit: 1, node: other).count, 0)
        try expect(try await store.apply([.startClaimedExecution(started, node: node.nodeId)]), [.duplicate])
        try expect(try await store.apply([.startExecution(started)]), [.duplicate])
        try expect(try await store.apply([.startClaimedExecution(execution("x", now: now), node: "no-such-node")]), [.notFound])
        try expect(try await store.execution(id: "x") == nil, "nothing may be stored for a node without a lease")
        // Its owner writes at its epoch; a write of an older epoch is refused.
        try expect(
            try await store.apply([.appendStep(step("w", seq: 1, now: now), epoch: 1), .appendStep(step("w", seq: 2, now: now), epoch: 0)]),
            [.applied, .superseded(currentEpoch: 1)])
        // Its node dies: the rescue returns it (raising the epoch), another node claims it (again).
        try await expire(node, in: store)
        try expect(try await store.rescue().executionsReturned, 1)
        let taken = try await store.claimExecutions(limit: 1, node: other)
        try expect(taken.map(\.record.epoch), [3])
        try expect(try await store.apply([.appendStep(step("w", seq: 2, now: now), epoch: 1)]), [.superseded(currentEpoch: 3)])
    }

    /// What a node holds, claimed or started owned, as it reconciles after an answer it lost.
    static func ownedExecutionsListed(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let other = try await store.join(nodeId: "o", leaseMillis: liveLease)
        let now = try await store.now()
        var started = execution("started", now: now)
        started.status = .running
        started.epoch = 1
        var theirs = execution("theirs", now: now)
        theirs.status = .running
        theirs.epoch = 1
        _ = try await store.apply([
            .startClaimedExecution(started, node: node.nodeId), .startExecution(execution("claimed", now: now)),
            .startClaimedExecution(theirs, node: other.nodeId), .startExecution(execution("waiting", now: now)),
        ])
        let claimed = try await store.claimExecutions(names: nil, limit: 1, node: node, builds: .any)
        try expect(claimed.map(\.record.id), ["claimed"])
        let owned = try await store.ownedExecutions(node: node)
        try expect(owned.map(\.workflowId), ["claimed", "started"])
        try expect(owned.map(\.epoch), [1, 1])
        try expect(owned.allSatisfy { $0.updatedAt >= now - 60_000 && $0.updatedAt <= now + 60_000 }, "updatedAt is the store's clock")
        try expect(try await store.ownedExecutions(node: other).map(\.workflowId), ["theirs"])
        // Given back, suspended or ended: no longer held.
        try expect(try await store.apply([.releaseExecution(workflowId: "started", epoch: 1)]), [.applied])
        try expect(try await store.apply([.suspend(workflowId: "claimed", epoch: 1, seenEvents: claimed[0].eventSeq)]), [.applied])
        try expect(try await store.ownedExecutions(node: node).count, 0)
    }

    /// The pair a node writes for each activity step it runs itself (PostgreSQL sends it as one
    /// statement): neither change depends on the other's outcome.
    static func stepWithClaimedTask(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        try expect(try await store.claimExecutions(limit: 1, node: node).map(\.record.epoch), [1])
        func claimed(_ seq: Int) -> (JournalEntry, ActivityTaskRecord) {
            var (entry, task) = activityStep(workflowId: "w", seq: seq, now: now)
            task.status = .running
            task.attempt = 1
            task.startedAt = now
            return (entry, task)
        }
        let (entry, task) = claimed(1)
        try expect(
            try await store.apply([.appendStep(entry, epoch: 1), .enqueueClaimedTask(task, node: node.nodeId)]),
            [.applied, .applied])
        try expect(try await store.ownedTasks(node: node).map(\.id), ["w-1"])
        try expect(try await store.journal(workflowId: "w", generation: 0).map(\.taskId), ["w-1"])
        try expect(
            try await store.apply([.appendStep(entry, epoch: 1), .enqueueClaimedTask(task, node: node.nodeId)]),
            [.duplicate, .duplicate])
        // A stale epoch and a node without a lease: each refused by its own fence.
        let (next, nextTask) = claimed(2)
        try expect(
            try await store.apply([.appendStep(next, epoch: 0), .enqueueClaimedTask(nextTask, node: "no-such-node")]),
            [.superseded(currentEpoch: 1), .notFound])
        try expect(try await store.task(id: "w-2") == nil, "nothing may be stored for a node without a lease")
        try expect(try await store.journal(workflowId: "w", generation: 0).count, 1)
        // The step stands when the task is refused, as two changes in one call do.
        try expect(
            try await store.apply([.appendStep(next, epoch: 1), .enqueueClaimedTask(nextTask, node: "no-such-node")]),
            [.applied, .notFound])
    }

    /// What a shared commit of many concurrent activity steps applies in one call (PostgreSQL
    /// sends the run as one statement): each change keeps its own fence and outcome, in order.
    static func stepsWithTasksInOneCall(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        for id in ["a", "b", "c"] { _ = try await store.apply([.startExecution(execution(id, now: now))]) }
        try expect(try await store.claimExecutions(limit: 3, node: node).count, 3)
        func claimed(_ workflowId: String, _ seq: Int) -> (JournalEntry, ActivityTaskRecord) {
            var (entry, task) = activityStep(workflowId: workflowId, seq: seq, now: now)
            task.status = .running
            task.attempt = 1
            task.startedAt = now
            return (entry, task)
        }
        let (a1, a1Task) = claimed("a", 1)
        let (a2, a2Task) = activityStep(workflowId: "a", seq: 2, now: now)
        let (b1, b1Task) = claimed("b", 1)
        let (c1, c1Task) = activityStep(workflowId: "c", seq: 1, now: now)
        let (c2, c2Task) = claimed("c", 2)
        try expect(
            try await store.apply([
                .appendStep(a1, epoch: 1), .enqueueClaimedTask(a1Task, node: node.nodeId),
                .appendStep(a2, epoch: 1), .enqueueTask(a2Task),  // unclaimed, for any node
                .appendStep(b1, epoch: 0), .enqueueClaimedTask(b1Task, node: node.nodeId),  // a stale epoch
                .appendStep(a1, epoch: 1), .enqueueClaimedTask(a1Task, node: node.nodeId),  // a repeat
                .appendStep(c1, epoch: 1), .enqueueTask(c1Task),
                .appendStep(c2, epoch: 1), .enqueueClaimedTask(c2Task, node: "no-such-node"),  // no lease
            ]),
            [.applied, .applied, .applied, .applied, .superseded(currentEpoch: 1), .applied, .duplicate, .duplicate,
             .applied, .applied, .applied, .notFound])
        try expect(try await store.journal(workflowId: "a", generation: 0).map(\.seq), [1, 2])
        try expect(try await store.journal(workflowId: "b", generation: 0).count, 0)
        try expect(try await store.journal(workflowId: "c", generation: 0).map(\.seq), [1, 2])
        try expect(try await store.ownedTasks(node: node).map(\.id).sorted(), ["a-1", "b-1"])
        try expect(try await store.task(id: "c-2") == nil, "nothing may be stored for a node without a lease")
        // The unclaimed ones wait for any node, in the order they were stored.
        try expect(
            try await store.claimTasks(TaskClaim(names: [a2Task.name], limit: 5), node: node).map(\.id), ["a-2", "c-1"])
    }

    /// What a shared commit of many concurrent starts applies in one call (PostgreSQL inserts the
    /// run at once): each start keeps its own outcome, and every field is stored as alone.
    static func startsInOneCall(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        var full = execution("full", now: now)
        full.parentId = "p"
        full.parentGeneration = 2
        full.parentSeq = 3
        full.contractHash = "hash"
        full.executionDeadline = now + 5_000
        full.runTimeoutMs = 700
        full.runDeadline = now + 700
        full.buildId = "build-1"
        full.precedence = Precedence(priority: 3, fairnessKey: "tenant")
        full.memo = ["note": "kept"]
        full.cancelReason = "why"
        _ = try await store.apply([.startExecution(execution("taken", now: now))])
        try expect(
            try await store.apply([
                .startExecution(full),
                .startClaimedExecution(execution("mine", now: now), node: node.nodeId),
                .startExecution(execution("taken", now: now)),  // stored already
                .startClaimedExecution(execution("orphan", now: now), node: "no-such-node"),  // no lease
                .startExecution(execution("full", now: now)),  // a repeat in the run
            ]),
            [.applied, .applied, .duplicate, .notFound, .duplicate])
        guard let stored = try await store.execution(id: "full")?.record else { throw ConformanceFailure(description: "full was not stored") }
        try expect(stored.input, full.input)
        try expect(stored.parentId, "p")
        try expect(stored.parentGeneration, 2)
        try expect(stored.parentSeq, 3)
        try expect(stored.contractHash, "hash")
        try expect(stored.executionDeadline, now + 5_000)
        try expect(stored.runTimeoutMs, 700)
        try expect(stored.runDeadline, now + 700)
        try expect(stored.buildId, "build-1")
        try expect(stored.precedence, Precedence(priority: 3, fairnessKey: "tenant"))
        try expect(stored.memo, ["note": "kept"])
        try expect(stored.cancelReason, "why")
        try expect(stored.status, .pending)
        try expect(try await store.execution(id: "orphan") == nil, "nothing may be stored for a node without a lease")
        try expect(try await store.ownedExecutions(node: node).map(\.workflowId), ["mine"])
    }

    /// What a shared commit of many concurrent execution ends applies in one call (PostgreSQL
    /// ends the run at once): each end is fenced by its epoch, each child's end completes its
    /// parent's step, and a parent still running is woken; one ended in the same call stays ended.
    static func endsInOneCall(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.startExecution(execution("p1", now: now)), .startExecution(execution("p2", now: now))])
        try expect(try await store.claimExecutions(limit: 2, node: node).map(\.record.id).sorted(), ["p1", "p2"])
        for parent in ["p1", "p2"] {
            var childStep = step(parent, seq: 1, now: now)
            childStep.kind = "child"
            _ = try await store.apply([
                .appendStep(childStep, epoch: 1), .startExecution(childExecution("\(parent)-child", parent: parent, seq: 1, now: now)),
            ])
        }
        try expect(try await store.apply([.suspend(workflowId: "p1", epoch: 1, seenEvents: 0)]), [.applied])
        _ = try await store.apply([.startExecution(execution("x", now: now))])
        try expect(try await store.claimExecutions(limit: 5, node: node).map(\.record.id).sorted(), ["p1-child", "p2-child", "x"])
        try expect(
            try await store.apply([
                .finishExecution(workflowId: "p1-child", epoch: 1, status: .completed, output: .string("one"), failure: nil),
                .finishExecution(workflowId: "p2", epoch: 1, status: .failed, output: nil, failure: ["type": "Gave up"]),
                .finishExecution(workflowId: "p2-child", epoch: 1, status: .completed, output: .string("two"), failure: nil),
                .finishExecution(workflowId: "x", epoch: 7, status: .completed, output: nil, failure: nil),  // a stale epoch
                .finishExecution(workflowId: "nobody", epoch: 1, status: .completed, output: nil, failure: nil),
                .finishExecution(workflowId: "p1-child", epoch: 1, status: .failed, output: nil, failure: nil),  // a repeat
            ]),
            [.applied, .applied, .applied, .superseded(currentEpoch: 1), .notFound, .alreadyFinished])
        try expect(try await store.journal(workflowId: "p1", generation: 0).first?.result, .string("one"))
        try expect(try await store.execution(id: "p1")?.record.status, .pending)
        try expect(try await store.journal(workflowId: "p2", generation: 0).first?.result, .string("two"))
        try expect(try await store.execution(id: "p2")?.record.status, .failed)
        try expect(try await store.execution(id: "p1-child")?.record.output, .string("one"))
        try expect(try await store.execution(id: "x")?.record.status, .running)
    }

    static func openTasksAreListed(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n1", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([
            .enqueueTask(task("a", now: now)), .enqueueTask(task("b", name: "other", now: now + 1)),
            .enqueueTask(task("c", now: now + 2)), .enqueueTask(task("d", now: now + 3)),
        ])
        let claimed = try await store.claimTasks(TaskClaim(names: ["echo"], limit: 1), node: node)
        try expect(claimed.map(\.id), ["a"])
        _ = try await store.apply([.cancelTask(id: "d")])
        let all = try await store.openTasks(status: nil, name: nil, limit: 10)
        try expect(all.tasks.map(\.id), ["a", "b", "c"])
        try expect(all.total, 3)
        let page = try await store.openTasks(status: nil, name: nil, limit: 2)
        try expect(page.tasks.map(\.id), ["a", "b"])
        try expect(page.total, 3)
        try expect(try await store.openTasks(status: .scheduled, name: "echo", limit: 10).tasks.map(\.id), ["c"])
        try expect(try await store.openTasks(status: .running, name: nil, limit: 10).tasks.map(\.id), ["a"])
    }

    /// 120 calls at once (a store may commit them together, GroupCommitStore does): each enqueues
    /// its own task twice, every tenth also one task all of them share. Each call must get its own
    /// outcomes in its own order, and exactly one call the shared task.
    static func concurrentCallsKeepTheirOutcomes(_ store: any Store) async throws {
        let now = try await store.now()
        let answers = try await withThrowingTaskGroup(of: (Int, [ChangeOutcome]).self) { group in
            for i in 0..<120 {
                group.addTask {
                    var changes: [Change] = [.enqueueTask(task("t\(i)", now: now)), .enqueueTask(task("t\(i)", now: now))]
                    if i % 10 == 0 { changes.append(.enqueueTask(task("shared", now: now))) }
                    return (i, try await store.apply(changes))
                }
            }
            var answers: [Int: [ChangeOutcome]] = [:]
            for try await (i, outcomes) in group { answers[i] = outcomes }
            return answers
        }
        var sharedApplied = 0
        for i in 0..<120 {
            let outcomes = answers[i] ?? []
            try expect(Array(outcomes.prefix(2)), [.applied, .duplicate])
            try expect(outcomes.count, i % 10 == 0 ? 3 : 2)
            if outcomes.count == 3, outcomes[2] == .applied { sharedApplied += 1 }
        }
        try expect(sharedApplied, 1)
        try expect(try await store.openTasks(status: .scheduled, name: nil, limit: 1).total, 121)
    }

    /// `apply(_:completion:)`, as a step or a start over a connection writes: a burst of calls,
    /// each answered once with its own outcomes, the same as `apply(_:)` would.
    static func closureCallsAnswerAsAwaited(_ store: any Store) async throws {
        /// What the closures answered, kept on the heap: they outlive every frame that starts them.
        final class Answers: Sendable {
            let byCall = Mutex<[Int: [Result<[ChangeOutcome], any Error>]]>([:])
            let left: Atomic<Int>
            init(_ count: Int) { left = Atomic(count) }
        }
        let now = try await store.now()
        let answers = Answers(60)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            for i in 0..<60 {
                let changes: [Change] = [.enqueueTask(task("c\(i)", now: now)), .enqueueTask(task(i % 2 == 0 ? "c\(i)" : "c-odd", now: now))]
                store.apply(changes) { result in
                    answers.byCall.withLock { $0[i, default: []].append(result) }
                    if answers.left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done.resume() }
                }
            }
        }
        var oddApplied = 0
        for i in 0..<60 {
            let calls = answers.byCall.withLock { $0[i] } ?? []
            try expect(calls.count, 1)
            let outcomes = try calls.first?.get() ?? []
            try expect(outcomes.count, 2)
            try expect(outcomes.first, .applied)
            if i % 2 == 0 { try expect(outcomes.last, .duplicate) } else if outcomes.last == .applied { oddApplied += 1 }
        }
        try expect(oddApplied, 1)
        try expect(try await store.openTasks(status: .scheduled, name: nil, limit: 1).total, 61)
        // The same changes again, awaited: nothing applies twice.
        try expect(try await store.apply([.enqueueTask(task("c0", now: now))]), [.duplicate])
    }

    static func terminateEndsAnExecution(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        let child = childExecution("w/2", parent: "w", seq: 2, now: now)
        _ = try await store.apply([.startExecution(execution("w", now: now))])
        try expect(try await store.claimExecutions(names: ["flow"], limit: 1, node: node).map(\.record.epoch), [1])
        let (activity, stepTask) = activityStep(workflowId: "w", seq: 1, now: now)
        let childStep = JournalEntry(workflowId: "w", generation: 0, seq: 2, kind: "child", name: "flow", input: .null, now: now)
        let sleep = JournalEntry(workflowId: "w", generation: 0, seq: 3, kind: "sleep", name: "sleep", input: .null, now: now)
        _ = try await store.apply([
            .appendStep(activity, epoch: 1), .enqueueTask(stepTask), .appendStep(childStep, epoch: 1), .startExecution(child),
            .appendStep(sleep, epoch: 1), .scheduleTimer(workflowId: "w", generation: 0, seq: 3, fireAt: now),
        ])
        let failure: JSONValue = ["type": "Terminated", "message": "by an operator"]
        // A child first: its parent's step fails and the parent is woken.
        let parentEvents = try await store.execution(id: "w")?.eventSeq ?? -1
        try expect(try await store.apply([.terminateExecution(workflowId: "w/2", status: .terminated, failure: failure)]), [.applied])
        try expect(try await store.journal(workflowId: "w", generation: 0).first { $0.seq == 2 }?.status, .failed)
        try expect(try await store.execution(id: "w")?.eventSeq, parentEvents + 1)
        // Then the parent, owned by node n at epoch 1.
        try expect(try await store.apply([.terminateExecution(workflowId: "w", status: .terminated, failure: failure)]), [.applied])
        let ended = try await store.execution(id: "w")
        try expect(ended?.record.status, .terminated)
        try expect(ended?.record.failure, failure)
        try expect(ended?.ownerNode == nil, "a terminated execution has no owner")
        try expect(
            try await store.apply([.appendStep(step("w", seq: 4, now: now), epoch: 1)]), [.superseded(currentEpoch: 2)])
        try expect(try await store.journal(workflowId: "w", generation: 0).map(\.status), [.failed, .failed, .failed])
        try expect(try await store.task(id: stepTask.id)?.status, .cancelled)
        try expect(try await store.fireDueTimers(limit: 10, node: node), [])
        try expect(try await store.apply([.terminateExecution(workflowId: "w", status: .timedOut, failure: failure)]), [.alreadyFinished])
        try expect(try await store.apply([.terminateExecution(workflowId: "nope", status: .terminated, failure: failure)]), [.notFound])
    }

    static func retriedAttemptsKeepTheirFailures(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now()
        _ = try await store.apply([.enqueueTask(task("t", now: now)), .enqueueTask(task("quiet", name: "other", now: now))])
        for attempt in 1...2 {
            try expect(try await store.claimTasks(TaskClaim(names: ["echo"], limit: 1), node: node).map(\.attempt), [attempt])
            let failure: JSONValue = ["type": "Flaky", "message": .string("attempt \(attempt)")]
            try expect(try await store.apply([.retryTask(id: "t", attempt: attempt, runAt: now, failure: failure)]), [.applied])
        }
        // A stale retry records nothing.
        try expect(
            try await store.apply([.retryTask(id: "t", attempt: 1, runAt: now, failure: ["type": "Late"])]),
            [.stale(currentAttempt: 2)])
        let kept = try await store.attemptFailures(taskIds: ["t", "quiet", "nope"])
        try expect(Array(kept.keys), ["t"])
        try expect(kept["t"]?.map(\.attempt), [1, 2])
        try expect(kept["t"]?.map { $0.failure["message"]?.stringValue ?? "" }, ["attempt 1", "attempt 2"])
        try expect(kept["t"]?.allSatisfy { $0.startedAt != nil && $0.failedAt >= ($0.startedAt ?? .max) } == true,
            "each kept failure has its attempt's start, before its end: \(kept)")
    }

    static func claimsFollowPrecedence(_ store: any Store) async throws {
        let node = try await store.join(nodeId: "n", leaseMillis: liveLease)
        let now = try await store.now() - 1_000
        func queued(_ id: String, at offset: EpochMillis, _ precedence: Precedence) -> Change {
            var t = task(id, name: "turns", now: now + offset)
            t.precedence = precedence
            return .enqueueTask(t)
        }
        _ = try await store.apply([
            queued("a1", at: 0, Precedence(fairnessKey: "a")), queued("a2", at: 1, Precedence(fairnessKey: "a")),
            queued("a3", at: 2, Precedence(fairnessKey: "a")), queued("b1", at: 3, Precedence(fairnessKey: "b")),
            queued("b2", at: 4, Precedence(fairnessKey: "b")), queued("n1", at: 5, .standard),
            queued("high", at: 6, Precedence(priority: 9)), queued("low", at: 7, Precedence(priority: -1, fairnessKey: "a")),
        ])
        try expect(try await store.task(id: "low")?.precedence, Precedence(priority: -1, fairnessKey: "a"))
        var order: [String] = []
        while let next = try await store.claimTasks(TaskClaim(names: ["turns"], limit: 1), node: node).first {
            try expect(order.count < 8, "claimed more tasks than were queued: \(order) then \(next.id)")
            order.append(next.id)
        }
        try expect(order, ["high", "a1", "b1", "n1", "a2", "b2", "a3", "low"])
        var urgent = execution("urgent", now: now + 10)
        urgent.precedence = Precedence(priority: 3, fairnessKey: "acme")
        _ = try await store.apply([.startExecution(execution("routine", now: now)), .startExecution(urgent)])
        try expect(try await store.execution(id: "urgent")?.record.precedence, Precedence(priority: 3, fairnessKey: "acme"))
        try expect(try await store.claimExecutions(names: nil, limit: 1, node: node).map(\.record.id), ["urgent"])
        try expect(try await store.claimExecutions(names: nil, limit: 1, node: node).map(\.record.id), ["routine"])
    }

    // MARK: - Fixtures

    public static func task(_ id: String, name: String = "echo", key: String? = nil, now: EpochMillis) -> ActivityTaskRecord {
        ActivityTaskRecord(
            id: id, name: name, input: .object(["id": .string(id)]), idempotencyKey: key, retryPolicy: RetryPolicy(),
            timeouts: ActivityTimeouts(), contractHash: nil, now: now)
    }

    public static func execution(_ id: String, now: EpochMillis) -> WorkflowRecord {
        WorkflowRecord(id: id, name: "flow", input: .object([:]), contractHash: nil, now: now)
    }

    /// An execution started by step `seq` of generation 0 of `parent`.
    public static func childExecution(_ id: String, parent: String, seq: Int, now: EpochMillis) -> WorkflowRecord {
        var child = execution(id, now: now)
        child.parentId = parent
        child.parentGeneration = 0
        child.parentSeq = seq
        return child
    }

    public static func step(_ workflowId: String, seq: Int, now: EpochMillis) -> JournalEntry {
        JournalEntry(workflowId: workflowId, generation: 0, seq: seq, kind: "activity", name: "echo", input: .null, now: now)
    }

    /// A step of generation 0 waiting for signal `name`, or, with `took`, one that received it.
    public static func signalStep(_ workflowId: String, seq: Int, name: String, now: EpochMillis, took: JSONValue? = nil)
        -> JournalEntry
    {
        var e = JournalEntry(workflowId: workflowId, generation: 0, seq: seq, kind: "signal", name: name, input: .null, now: now)
        if let took {
            e.status = .completed
            e.result = took
            e.completedAt = now
        }
        return e
    }

    /// A workflow's activity step and the task that runs it, linked both ways.
    public static func activityStep(workflowId: String, seq: Int, now: EpochMillis) -> (JournalEntry, ActivityTaskRecord) {
        var entry = step(workflowId, seq: seq, now: now)
        entry.taskId = "\(workflowId)-\(seq)"
        var stepTask = task("\(workflowId)-\(seq)", now: now)
        stepTask.workflowId = workflowId
        stepTask.generation = 0
        stepTask.stepSeq = seq
        return (entry, stepTask)
    }

    /// The lease of a node a case keeps alive: far longer than any case, also on a machine so
    /// loaded that the test process stalls for a minute (seen at a load average of 15).
    static let liveLease: Int64 = 600_000

    /// Makes `node` miss its lease without a tight timing: a renewal shortens the lease to 1 ms,
    /// then the store's clock moves past it (on a slow machine the wait is only ever longer).
    static func expire(_ node: NodeLease, in store: any Store) async throws {
        try expect(try await store.renew(NodeLease(nodeId: node.nodeId, leaseMillis: 1)), .held)
        let start = try await store.now()
        while try await store.now() < start + 50 {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func expect<T: Equatable>(_ actual: T, _ expected: T, line: Int = #line) throws {
        guard actual != expected else { return }
        throw ConformanceFailure(description: "StoreConformance.swift:\(line): expected \(expected), got \(actual)")
    }

    static func expect(_ condition: Bool, _ message: String, line: Int = #line) throws {
        guard !condition else { return }
        throw ConformanceFailure(description: "StoreConformance.swift:\(line): \(message)")
    }
}

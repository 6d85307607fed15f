import KeelCore
import KeelStorage
import Testing

@testable import KeelEngine

/// ``StepHold`` on its own: a 5 s hold, held on up to 60 s while the task queues.
@Suite struct StepHoldTests {
    /// A step recorded at t = 10,000 whose task is `status`.
    func task(_ status: TaskStatus, visibleAt: EpochMillis = 10_000, startedAt: EpochMillis? = nil) -> ActivityTaskRecord {
        var t = ActivityTaskRecord(
            id: "t1", name: "mail.send", input: [:], idempotencyKey: nil, retryPolicy: RetryPolicy(),
            timeouts: ActivityTimeouts(), contractHash: nil, now: 10_000)
        t.status = status
        t.visibleAt = visibleAt
        t.startedAt = startedAt
        return t
    }

    func until(_ task: ActivityTaskRecord, now: EpochMillis) -> EpochMillis? {
        StepHold.extendedUntil(recordedAt: 10_000, task: task, now: now, stepHoldMs: 5_000, queuedStepHoldMs: 60_000)
    }

    @Test func aStepWhoseTaskQueuesIsHeldOnUpToTheBound() {
        #expect(until(task(.scheduled), now: 15_000) == 20_000)
        #expect(until(task(.scheduled), now: 66_000) == 70_000, "the last extension stops at the bound")
        #expect(until(task(.scheduled), now: 70_000) == nil, "past the bound the run suspends")
    }

    @Test func aTaskWaitingOutABackoffDoesNotHoldItsStep() {
        #expect(until(task(.scheduled, visibleAt: 40_000), now: 15_000) == nil)
    }

    @Test func aTaskThatStartedAfterQueueingIsHeldFromItsStart() {
        // Started 3 s after the step (a tenth of the hold is 0.5 s): held until 5 s after the start.
        #expect(until(task(.running, startedAt: 13_000), now: 15_000) == 18_000)
        #expect(until(task(.running, startedAt: 13_000), now: 18_000) == nil, "its own hold ran out too")
        // Started at once: the hold that ran out was its own.
        #expect(until(task(.running, startedAt: 10_100), now: 15_000) == nil)
        #expect(until(task(.running, startedAt: nil), now: 15_000) == nil)
    }

    @Test func anEndedTaskEndsTheHold() {
        for status in [TaskStatus.completed, .failed, .timedOut, .cancelled] {
            #expect(until(task(status, startedAt: 13_000), now: 15_000) == nil, "\(status)")
        }
    }
}

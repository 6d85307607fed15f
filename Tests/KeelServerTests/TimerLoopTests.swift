import KeelCore
import KeelStorage
import KeelTesting
import Logging
import Testing

@testable import KeelEngine

/// The timer loop sleeps until a timer that still guards something (issue 15): a long workflow of
/// 1 ms steps left one hold timer per step behind it, each due 5 s later, and the loop woke for
/// every one of them — once a millisecond — to find nothing to do.
@Suite("The timer loop and timers whose purpose ended", .timeLimit(.minutes(1)))
struct TimerLoopTests {
    @Test func theQueueDropsFromTheFrontOnlyWhileTheEarliestIsVoid() {
        var queue = TimerQueue()
        for (i, deadline) in [30, 10, 20, 40, 50].enumerated() {
            queue.schedule(EpochMillis(deadline), taskID: "t\(i)", kind: .waiterTimeout(waiterID: UInt64(i)))
        }
        // t2 (20) is kept: the drop stops there although t3 (40) would be void too.
        let void: Set<String> = ["t1", "t0", "t3"]
        #expect(queue.dropLeading { void.contains($0.taskID) } == 1, "only t1 (10) is ahead of t2")
        #expect(queue.count == 4)
        #expect(queue.nextDeadline == 20)
        #expect(queue.popDue(now: 100).map(\.taskID) == ["t2", "t0", "t3", "t4"], "the rest in deadline order")
    }

    @Test func theQueueRemovesVoidEntriesAnywhereAndKeepsItsOrder() {
        var queue = TimerQueue()
        for (i, deadline) in [70, 10, 40, 90, 20, 60, 30, 80, 50].enumerated() {
            queue.schedule(EpochMillis(deadline), taskID: "t\(i)", kind: .waiterTimeout(waiterID: UInt64(i)))
        }
        // t1 (10), the earliest, stays; void ones behind it go.
        #expect(queue.removeAll { ["t2", "t4", "t7"].contains($0.taskID) } == 3)
        #expect(queue.popDue(now: 100).map(\.deadline) == [10, 30, 50, 60, 70, 90])
    }

    @Test func timersForWhatThisNodeDoesNotHoldAreVoidAndDeadlinesAreNot() async throws {
        try await TemporaryDirectory.with { dir in
            try await Self.withEngine(in: dir) { engine in
                let kinds: [(TimerKind, Bool)] = [
                    (.waiterTimeout(waiterID: 1), true), (.workflowWaiterTimeout(waiterID: 1), true),
                    (.streamWaiterTimeout(waiterID: 1), true), (.updateWaiterTimeout(waiterID: 1), true),
                    (.stepHold(epoch: 1, seq: 1), true), (.startToClose(attempt: 1), true), (.heartbeat(attempt: 1), true),
                    // Deadlines of their own: they fire and decide, as before.
                    (.scheduleToClose, false), (.workflowDeadline(generation: nil), false), (.scheduleSlot, false),
                ]
                for (kind, void) in kinds {
                    let entry = TimerEntry(deadline: 0, taskID: "nothing-held", kind: kind, sequence: 1)
                    #expect(await engine.timerIsVoid(entry) == void, "\(kind)")
                }
            }
        }
    }

    @Test func theLoopDoesNotWakeForTimersWhoseWaitersAreGone() async throws {
        try await TemporaryDirectory.with { dir in
            try await Self.withEngine(in: dir) { engine in
                // 500 timeouts of waits that were answered, due one per millisecond from now, and
                // one schedule slot a minute away.
                await engine.scheduleForTest(voidWaits: 500, slotInMs: 60_000)
                let loop = Task { await engine.timerLoop() }
                defer { loop.cancel() }
                try await Task.sleep(for: .milliseconds(700))
                let (rounds, pending) = await (engine.timerLoopRounds, engine.timers.count)
                #expect(pending == 1, "the answered waits' timers are dropped, the slot's is kept")
                // Before: a round per millisecond while they came due (~500).
                #expect(rounds <= 3, "the loop woke \(rounds) times in 0.7 s")
            }
        }
    }

    @Test func voidTimersBehindOneThatStillGuardsAreRemovedOnceTheQueueGrows() async throws {
        try await TemporaryDirectory.with { dir in
            try await Self.withEngine(in: dir) { engine in
                // A schedule slot in a minute (it always fires), then 5,000 answered waits due after it.
                await engine.scheduleForTest(voidWaits: 5_000, slotInMs: 60_000, waitsAfterMs: 61_000)
                await engine.compactTimersIfGrown()
                let (pending, next) = await (engine.timers.count, engine.timerCompactionAt)
                #expect(pending == 1, "the answered waits behind the slot are removed; \(pending) left")
                #expect(next == Engine.timerCompactionMinimum)
                // Below the threshold nothing is scanned.
                await engine.scheduleForTest(voidWaits: 100, slotInMs: 60_000, waitsAfterMs: 61_000)
                await engine.compactTimersIfGrown()
                #expect(await engine.timers.count == 102)
            }
        }
    }

    /// An engine on a SQLite file in `dir`, as `keel serve` makes one, its timer loop not running.
    static func withEngine(in dir: TemporaryDirectory, _ body: (Engine) async throws -> Void) async throws {
        let storage = try SQLiteStorage(path: dir.file("keel.db"))
        let store = SQLiteStore(storage: storage)
        let membership = NodeMembership(store: store)
        _ = try await membership.join()
        let engine = Engine(
            cluster: ClusterNode(store: store, membership: membership), clock: SystemClock(),
            checker: SchemaContractChecker(), logger: Logger(label: "keel-test"))
        do {
            try await body(engine)
        } catch {
            await storage.close()
            throw error
        }
        await storage.close()
    }
}

extension Engine {
    /// `voidWaits` timeouts of waits no one waits on, due one a millisecond from `waitsAfterMs`,
    /// and a schedule slot due in `slotInMs`.
    fileprivate func scheduleForTest(voidWaits: Int, slotInMs: Int64, waitsAfterMs: Int64 = 0) {
        let now = clock.now()
        for i in 1...voidWaits {
            timers.schedule(now + waitsAfterMs + Int64(i), taskID: "task-\(i)", kind: .waiterTimeout(waiterID: UInt64(i)))
        }
        timers.schedule(now + slotInMs, taskID: "schedule-1", kind: .scheduleSlot)
    }
}

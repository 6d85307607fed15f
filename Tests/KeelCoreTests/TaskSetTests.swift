import KeelCore
import Testing

@Suite("Task set")
struct TaskSetTests {
    @Test func runReturnsOnlyAfterEveryJobEnded() async {
        let ended = Locked(0)
        await TaskSet.run { set in
            for i in 0..<200 {
                set.start {
                    try? await Task.sleep(for: .milliseconds(i % 7))
                    ended.withLock { $0 += 1 }
                }
            }
        }
        #expect(ended.withLock { $0 } == 200)
    }

    @Test func anEndedJobLeavesTheSet() async {
        let set = TaskSet()
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        set.start { for await _ in gate {} }
        set.start {}
        await waitUntil { set.count == 1 }
        #expect(set.count == 1)
        open.finish()
        await set.waitForAll()
        #expect(set.count == 0)
    }

    @Test(.timeLimit(.minutes(1))) func cancellingTheCallerCancelsRunningJobsAndLaterOnes() async {
        let cancelled = Locked(0)
        let (started, startedOne) = AsyncStream.makeStream(of: Void.self)
        let runner = Task {
            await TaskSet.run { set in
                for _ in 0..<50 {
                    set.start {
                        startedOne.yield()
                        // Sleeps an hour unless cancelled.
                        if (try? await Task.sleep(for: .seconds(3600))) == nil { cancelled.withLock { $0 += 1 } }
                    }
                }
                var seen = 0
                for await _ in started {
                    seen += 1
                    if seen == 50 { break }
                }
                withUnsafeCurrentTask { $0?.cancel() }
                // Started after the cancel: it must start cancelled.
                set.start { if Task.isCancelled { cancelled.withLock { $0 += 1 } } }
            }
        }
        await runner.value
        #expect(cancelled.withLock { $0 } == 51)
    }

    @Test func waitForAllOnAnEmptySetReturnsAtOnce() async {
        await TaskSet().waitForAll()
    }

    private func waitUntil(_ condition: () -> Bool) async {
        for _ in 0..<2_000 where !condition() {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }
}

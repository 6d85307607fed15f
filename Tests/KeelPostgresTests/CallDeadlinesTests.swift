import Synchronization
import Testing

@testable import KeelPostgres

/// The deadlines of a PostgreSQL store's calls in flight, watched by one task
/// (`PostgresStore.perform`; a database that stops answering: `PostgresUnansweredTests`).
@Suite struct CallDeadlinesTests {
    @Test func aCallPastItsDeadlineExpiresOnceAndAnAnsweredOneNever() {
        let deadlines = CallDeadlines()
        let expired = Mutex<[String]>([])
        let start = ContinuousClock.now
        let late = deadlines.add(deadline: start + .seconds(1)) { expired.withLock { $0.append("late") } }
        let answered = deadlines.add(deadline: start + .seconds(1)) { expired.withLock { $0.append("answered") } }
        _ = deadlines.add(deadline: start + .seconds(5)) { expired.withLock { $0.append("later") } }
        #expect(late != answered)
        deadlines.remove(answered)

        deadlines.expireDue(now: start + .milliseconds(999))
        #expect(expired.withLock { $0 }.isEmpty)
        deadlines.expireDue(now: start + .seconds(1))
        deadlines.expireDue(now: start + .seconds(2))
        #expect(expired.withLock { $0 } == ["late"])
        #expect(deadlines.count == 1)
        deadlines.expireDue(now: start + .seconds(5))
        #expect(expired.withLock { $0 } == ["late", "later"])
        #expect(deadlines.count == 0)
    }

    @Test(.timeLimit(.minutes(1))) func theWatchExpiresOverrunCallsWithinItsInterval() async throws {
        let deadlines = CallDeadlines()
        let expired = Mutex(false)
        let watch = Task { await deadlines.watch() }
        defer { watch.cancel() }
        _ = deadlines.add(deadline: .now + .milliseconds(50)) { expired.withLock { $0 = true } }
        let deadline = ContinuousClock.now + .seconds(30)
        while !expired.withLock({ $0 }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(expired.withLock { $0 })
        #expect(deadlines.count == 0)
    }
}

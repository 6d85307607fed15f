import KeelCore

/// The deadlines of a store's calls in flight, watched by one task for the whole store
/// (``PostgresStore/perform(_:)``).
///
/// Why not a sleeping task per call: each call then made a second task, armed a timer to sleep on
/// it and disarmed it at the answer, two more wake-ups of other threads per round trip; on the
/// 2-core machine of docs/scaling.md ("One workflow at a time") that was a visible share of a
/// sequential workflow's wait. A call's deadline now costs an entry in a dictionary, and a call
/// that overruns fails at most ``checkInterval`` late.
final class CallDeadlines: Sendable {
    /// How often the watch looks for overrun calls: how late past its deadline one may fail.
    static let checkInterval: Duration = .milliseconds(100)

    private struct Pending {
        let deadline: ContinuousClock.Instant
        let expire: @Sendable () -> Void
    }

    private let state = Locked<(next: UInt64, pending: [UInt64: Pending])>((0, [:]))

    /// Watches a call: `expire` runs once `deadline` passes, unless ``remove(_:)`` came first.
    /// - Returns: the call's key for ``remove(_:)``.
    func add(deadline: ContinuousClock.Instant, expire: @escaping @Sendable () -> Void) -> UInt64 {
        state.withLock { s in
            s.next += 1
            s.pending[s.next] = Pending(deadline: deadline, expire: expire)
            return s.next
        }
    }

    /// Stops watching a call (it was answered).
    func remove(_ key: UInt64) {
        _ = state.withLock { $0.pending.removeValue(forKey: key) }
    }

    /// Calls watched now.
    var count: Int { state.withLock { $0.pending.count } }

    /// Expires every call whose deadline is not after `now`.
    func expireDue(now: ContinuousClock.Instant) {
        let due = state.withLock { s -> [Pending] in
            let keys = s.pending.filter { $0.value.deadline <= now }.map(\.key)
            return keys.compactMap { s.pending.removeValue(forKey: $0) }
        }
        for call in due { call.expire() }
    }

    /// Expires overrun calls every ``checkInterval`` until the task is cancelled.
    func watch() async {
        while true {
            do { try await Task.sleep(for: Self.checkInterval) } catch { return }
            expireDue(now: .now)
        }
    }
}

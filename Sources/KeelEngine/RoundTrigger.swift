import KeelCore

/// Wakes a cluster node's loop before its poll interval is over, when the store hints that work
/// may be ready (PostgreSQL's LISTEN/NOTIFY, docs/scaling.md). Fires while no one waits are
/// remembered as one: the next wait returns at once.
final class RoundTrigger: Sendable {
    private let state = Locked<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// Ends the current wait, or the next one at once.
    func fire() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let w = s.waiter else {
                s.pending = true
                return nil
            }
            s.waiter = nil
            return w
        }
        waiter?.resume()
    }

    /// Returns after `interval`, or sooner when ``fire()`` is called or the task is cancelled.
    func wait(upTo interval: Duration) async {
        let timer = Task {
            do { try await Task.sleep(for: interval) } catch { return }
            self.fire()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.pending || Task.isCancelled {
                        s.pending = false
                        return true
                    }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            self.fire()
        }
        timer.cancel()
    }
}

/// Jobs that outlive the loop that starts them, each started and ended in constant time, for the
/// loops that keep thousands alive at once: the requests a worker's connection holds (one held
/// `workflow/step` per open execution) and the dispatches the engine waits on.
///
/// A discarding task group would do the same, but the runtime takes an ended child out of its
/// group by walking the group's list of children, so each end costs as much as the jobs still
/// running. With 2,000 open executions that walk (`swift::TaskGroup::removeChildTask`) was 9.5 % of
/// a node's CPU in W1 2000 (docs/performance.md). Here each job is its own task, found again by
/// its number in a dictionary.
///
/// Structured in what matters: ``cancelAll()`` cancels every running job and any started after,
/// and ``waitForAll()`` returns once every started job has ended. A loop cancels the set when its
/// own task is cancelled (``run(_:)``), as a task group cancels its children.
public final class TaskSet: Sendable {
    private struct State {
        var next: UInt64 = 0
        var running: [UInt64: Task<Void, Never>] = [:]
        var cancelled = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Locked(State())

    public init() {}

    /// How many started jobs have not ended.
    public var count: Int { state.withLock { $0.running.count } }

    /// Starts `job` as a task of its own (it inherits the caller's task-local values and
    /// priority). After ``cancelAll()`` it starts cancelled.
    public func start(_ job: @escaping @Sendable () async -> Void) {
        let (task, cancelled) = state.withLock { s -> (Task<Void, Never>, Bool) in
            let id = s.next
            s.next &+= 1
            // Made under the lock, so its end (which takes the lock) finds it registered.
            let task = Task { [self] in
                await job()
                ended(id)
            }
            s.running[id] = task
            return (task, s.cancelled)
        }
        if cancelled { task.cancel() }
    }

    /// Cancels every running job, and every job started from now on.
    public func cancelAll() {
        // Cancelled outside the lock: a job's cancellation handler runs on this thread.
        let tasks = state.withLock { s -> [Task<Void, Never>] in
            s.cancelled = true
            return Array(s.running.values)
        }
        for task in tasks { task.cancel() }
    }

    /// Returns once no started job is running.
    public func waitForAll() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { s -> Bool in
                if s.running.isEmpty { return true }
                s.idleWaiters.append(waiter)
                return false
            }
            if idle { waiter.resume() }
        }
    }

    /// Runs `body` with a new set, cancels the set's jobs when the calling task is cancelled, and
    /// returns after `body` has and every job it started has ended.
    public static func run(isolation: isolated (any Actor)? = #isolation, _ body: (TaskSet) async -> Void) async {
        let set = TaskSet()
        await withTaskCancellationHandler {
            await body(set)
        } onCancel: {
            set.cancelAll()
        }
        await set.waitForAll()
    }

    private func ended(_ id: UInt64) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.running[id] = nil
            guard s.running.isEmpty else { return [] }
            defer { s.idleWaiters = [] }
            return s.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

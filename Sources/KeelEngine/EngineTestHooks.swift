import KeelCore
import Synchronization

/// Fault injection for tests, by workflow id. Not API (leading `_`, STYLE.md §2).
///
/// The engine asks for a hook on its hot paths (every task end, every signal step); while no test
/// has armed one, the question is one relaxed atomic load, not a lock.
public enum _EngineTestHooks {
    private static let signalStepDelays = Locked<[String: Duration]>([:])
    private static let signalStepDelaysArmed = Atomic<Bool>(false)

    /// Holds the engine back for `delay` between a signal step's write and its use of the answer,
    /// for workflow `id` only (nil: no delay): the window in which a signal sent meanwhile must
    /// still complete the step (WorkflowTests, "a signal racing the run's signal step").
    public static func delaySignalStep(ofWorkflow id: String, by delay: Duration?) {
        signalStepDelays.withLock {
            $0[id] = delay
            signalStepDelaysArmed.store(!$0.isEmpty, ordering: .releasing)
        }
    }

    static func signalStepDelay(_ id: String) -> Duration? {
        guard signalStepDelaysArmed.load(ordering: .acquiring) else { return nil }
        return signalStepDelays.withLock { $0[id] }
    }

    private static let taskEndDelays = Locked<[String: (delay: Duration, taken: Int)]>([:])
    private static let taskEndDelaysArmed = Atomic<Bool>(false)

    /// Holds back the commit of each attempt's end of activity `name` for `delay` (nil: none):
    /// the window in which a stopping node must not give the attempt's claim back
    /// (ShutdownDrainTests).
    public static func delayTaskEnds(ofActivity name: String, by delay: Duration?) {
        taskEndDelays.withLock {
            $0[name] = delay.map { ($0, 0) }
            taskEndDelaysArmed.store(!$0.isEmpty, ordering: .releasing)
        }
    }

    /// How many ends of activity `name` have been held back so far.
    public static func taskEndsDelayed(ofActivity name: String) -> Int { taskEndDelays.withLock { $0[name]?.taken ?? 0 } }

    static func takeTaskEndDelay(_ name: String) -> Duration? {
        guard taskEndDelaysArmed.load(ordering: .acquiring) else { return nil }
        return taskEndDelays.withLock { delays in
            guard let entry = delays[name] else { return nil }
            delays[name] = (entry.delay, entry.taken + 1)
            return entry.delay
        }
    }
}

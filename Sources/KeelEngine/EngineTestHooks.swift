import KeelCore

/// Fault injection for tests, by workflow id. Not API (leading `_`, STYLE.md §2).
public enum _EngineTestHooks {
    private static let signalStepDelays = Locked<[String: Duration]>([:])

    /// Holds the engine back for `delay` between a signal step's write and its use of the answer,
    /// for workflow `id` only (nil: no delay): the window in which a signal sent meanwhile must
    /// still complete the step (WorkflowTests, "a signal racing the run's signal step").
    public static func delaySignalStep(ofWorkflow id: String, by delay: Duration?) {
        signalStepDelays.withLock { $0[id] = delay }
    }

    static func signalStepDelay(_ id: String) -> Duration? { signalStepDelays.withLock { $0[id] } }
}

import KeelCore
import KeelStorage

/// How long a held activity step stays held (docs/execution-model.md, "Holding and suspending"):
/// a decision from the step's task alone, with no I/O and no clock (`StepHoldTests`). The engine
/// asks when a hold of `stepHoldMs` runs out; nil means the hold ends now and the run suspends.
enum StepHold {
    /// When the hold of an activity step recorded at `recordedAt` ends instead of now (`now`),
    /// given its task:
    /// - still waiting for a worker slot (runnable now, not waiting out a retry backoff): held
    ///   another `stepHoldMs`, but not past `queuedStepHoldMs` after the step was recorded;
    /// - started after such a wait (a tenth of the hold or more after the step): held until
    ///   `stepHoldMs` after the start, as if it had not queued;
    /// - anything else (started at once, waiting out a backoff, ended): nil.
    static func extendedUntil(
        recordedAt: EpochMillis, task: ActivityTaskRecord, now: EpochMillis, stepHoldMs: Int64, queuedStepHoldMs: Int64
    ) -> EpochMillis? {
        switch task.status {
        case .scheduled:
            let limit = recordedAt.addingSaturating(queuedStepHoldMs)
            guard task.visibleAt <= now, now < limit else { return nil }
            return min(now.addingSaturating(stepHoldMs), limit)
        case .running:
            guard let started = task.startedAt, started - recordedAt >= stepHoldMs / 10,
                started.addingSaturating(stepHoldMs) > now
            else { return nil }
            return started.addingSaturating(stepHoldMs)
        default:
            return nil
        }
    }
}

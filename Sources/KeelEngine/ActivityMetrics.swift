public import KeelStorage
import Metrics

/// Activity task and attempt metrics by activity name (docs/metrics.md). The engine calls these
/// where the event already happens; the metric objects are made once per name and reused.
public enum ActivityMetrics {
    /// Counter: tasks stored (by `activity/call` or a workflow step).
    public static let scheduled = "keel_activity_tasks_scheduled_total"
    /// Counter: attempts handed to a worker.
    public static let started = "keel_activity_attempts_started_total"
    /// Counter: tasks that ended completed.
    public static let completed = "keel_activity_tasks_completed_total"
    /// Counter: tasks that ended failed (retries exhausted or not retryable).
    public static let failed = "keel_activity_tasks_failed_total"
    /// Counter: tasks that ended timed out.
    public static let timedOut = "keel_activity_tasks_timed_out_total"
    /// Counter: tasks cancelled by a client or with their workflow.
    public static let cancelled = "keel_activity_tasks_cancelled_total"
    /// Counter: failed attempts that will be tried again (after the retry committed).
    public static let retried = "keel_activity_attempts_retried_total"
    /// Counter: timeouts that fired, with label `timeout` (start_to_close, heartbeat, schedule_to_start, schedule_to_close).
    public static let timeouts = "keel_activity_timeouts_total"
    /// Histogram: time from an attempt becoming runnable to a worker getting it (seconds).
    public static let scheduleToStart = "keel_activity_schedule_to_start_seconds"
    /// Histogram: time from an attempt's start to its end (answer, timeout, cancel), seconds.
    public static let startToClose = "keel_activity_start_to_close_seconds"

    /// Counter: failed attempts (retried or not), with labels `activity` and `type` (the failure's
    /// `type`, e.g. `Timeout`, `HTTPError`; past 100 distinct types, `other`).
    public static let attemptsFailed = "keel_activity_attempts_failed_total"

    /// The cap on distinct activity names (shared by every activity metric and gauge).
    public static let names = MetricLabelBound()
    /// The cap on distinct failure types: they come from workers, so they are bounded too.
    public static let failureTypes = MetricLabelBound(limit: 100)
    private static let failedByType = MetricHandles { key -> Counter in
        let parts = key.split(separator: "\u{1F}", maxSplits: 1).map(String.init)
        return Counter(label: attemptsFailed, dimensions: [("activity", parts[0]), ("type", parts.count > 1 ? parts[1] : "")])
    }

    /// Records a failed attempt of activity `name` whose failure has type `type`.
    static func attemptFailed(_ name: String, type: String) {
        failedByType("\(names.label(name))\u{1F}\(failureTypes.label(type))").increment()
    }

    /// A timeout kind, as the `timeout` label value.
    enum Timeout: String, CaseIterable {
        case startToClose = "start_to_close", heartbeat, scheduleToStart = "schedule_to_start"
        case scheduleToClose = "schedule_to_close"
    }

    struct Handles: Sendable {
        let scheduled, started, completed, failed, timedOut, cancelled, retried: Counter
        let timeouts: [Timeout: Counter]
        let scheduleToStart, startToClose: Timer

        init(_ activity: String) {
            let d = [("activity", activity)]
            scheduled = Counter(label: ActivityMetrics.scheduled, dimensions: d)
            started = Counter(label: ActivityMetrics.started, dimensions: d)
            completed = Counter(label: ActivityMetrics.completed, dimensions: d)
            failed = Counter(label: ActivityMetrics.failed, dimensions: d)
            timedOut = Counter(label: ActivityMetrics.timedOut, dimensions: d)
            cancelled = Counter(label: ActivityMetrics.cancelled, dimensions: d)
            retried = Counter(label: ActivityMetrics.retried, dimensions: d)
            var t: [Timeout: Counter] = [:]
            for kind in Timeout.allCases {
                t[kind] = Counter(label: ActivityMetrics.timeouts, dimensions: d + [("timeout", kind.rawValue)])
            }
            timeouts = t
            scheduleToStart = Timer(label: ActivityMetrics.scheduleToStart, dimensions: d)
            startToClose = Timer(label: ActivityMetrics.startToClose, dimensions: d)
        }
    }

    private static let handles = MetricHandles { Handles($0) }

    /// The metric objects for activity `name` (bounded: past the cap, those of "other").
    static func of(_ name: String) -> Handles { handles(names.label(name)) }

    /// Records a newly stored task.
    static func taskScheduled(_ name: String) { of(name).scheduled.increment() }

    /// Records a failed attempt whose retry is committed.
    static func attemptRetried(_ name: String) { of(name).retried.increment() }

    /// Records an attempt handed to a worker `waitedMs` after it became runnable.
    static func attemptStarted(_ name: String, waitedMs: Int64) {
        let h = of(name)
        h.started.increment()
        h.scheduleToStart.recordMilliseconds(max(0, waitedMs))
    }

    /// Records an attempt that ended (any way) `ranMs` after it started.
    static func attemptEnded(_ name: String, ranMs: Int64) {
        of(name).startToClose.recordMilliseconds(max(0, ranMs))
    }

    /// Records a committed terminal status of a task.
    static func taskEnded(_ name: String, status: TaskStatus) {
        let h = of(name)
        switch status {
        case .completed: h.completed.increment()
        case .failed: h.failed.increment()
        case .timedOut: h.timedOut.increment()
        case .cancelled: h.cancelled.increment()
        default: break
        }
    }

    /// Records a timeout of `kind` that fired for a task of activity `name`.
    static func timedOut(_ name: String, _ kind: Timeout) { of(name).timeouts[kind]?.increment() }
}

public import KeelStorage
import Metrics

/// Workflow execution metrics by workflow name (docs/metrics.md): starts, closes by status, and how
/// long closed executions lived. Made once per name and reused.
public enum WorkflowMetrics {
    /// Counter: executions stored (by `workflow/start` or as a child).
    public static let started = "keel_workflows_started_total"
    /// Counter: executions that closed, with label `status` (completed, failed, cancelled, terminated, timed_out).
    public static let closed = "keel_workflows_closed_total"
    /// Histogram: time from an execution's start to its close, seconds.
    public static let duration = "keel_workflow_duration_seconds"
    /// Counter: runs handed to a worker (the first, and each re-run after a wake-up or a restart).
    public static let runsStarted = "keel_workflow_runs_started_total"
    /// Histogram: time from a run being queued to a worker getting it, seconds.
    public static let scheduleToStart = "keel_workflow_schedule_to_start_seconds"
    /// Counter: executions parked by a non-determinism error (each park, once committed).
    public static let parkedTotal = "keel_workflows_parked_total"

    /// The cap on distinct workflow names.
    public static let names = MetricLabelBound()

    /// The terminal statuses, as the `status` label value.
    static let closedStatuses: [WorkflowStatus: String] = [
        .completed: "completed", .failed: "failed", .cancelled: "cancelled", .terminated: "terminated",
        .timedOut: "timed_out",
    ]

    struct Handles: Sendable {
        let started, runsStarted, parked: Counter
        let closed: [WorkflowStatus: Counter]
        let duration, scheduleToStart: Timer

        init(_ workflow: String) {
            let d = [("workflow", workflow)]
            started = Counter(label: WorkflowMetrics.started, dimensions: d)
            closed = WorkflowMetrics.closedStatuses.mapValues {
                Counter(label: WorkflowMetrics.closed, dimensions: d + [("status", $0)])
            }
            duration = Timer(label: WorkflowMetrics.duration, dimensions: d)
            runsStarted = Counter(label: WorkflowMetrics.runsStarted, dimensions: d)
            scheduleToStart = Timer(label: WorkflowMetrics.scheduleToStart, dimensions: d)
            parked = Counter(label: WorkflowMetrics.parkedTotal, dimensions: d)
        }
    }

    private static let handles = MetricHandles { Handles($0) }

    static func of(_ name: String) -> Handles { handles(names.label(name)) }

    /// Records a newly stored execution of workflow `name`.
    static func started(_ name: String) { of(name).started.increment() }

    /// Records a run sent to a worker `waitedMs` after it was queued.
    static func runStarted(_ name: String, waitedMs: Int64) {
        let h = of(name)
        h.runsStarted.increment()
        h.scheduleToStart.recordMilliseconds(max(0, waitedMs))
    }

    /// Records a committed park (non-determinism) of an execution of `name`.
    static func parked(_ name: String) { of(name).parked.increment() }

    /// Records a committed close of an execution of `name` that lived `livedMs`.
    static func closed(_ name: String, status: WorkflowStatus, livedMs: Int64) {
        let h = of(name)
        h.closed[status]?.increment()
        h.duration.recordMilliseconds(max(0, livedMs))
    }
}

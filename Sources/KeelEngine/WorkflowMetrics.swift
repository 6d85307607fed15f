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

    /// The cap on distinct workflow names.
    public static let names = MetricLabelBound()

    /// The terminal statuses, as the `status` label value.
    static let closedStatuses: [WorkflowStatus: String] = [
        .completed: "completed", .failed: "failed", .cancelled: "cancelled", .terminated: "terminated",
        .timedOut: "timed_out",
    ]

    struct Handles: Sendable {
        let started: Counter
        let closed: [WorkflowStatus: Counter]
        let duration: Timer

        init(_ workflow: String) {
            let d = [("workflow", workflow)]
            started = Counter(label: WorkflowMetrics.started, dimensions: d)
            closed = WorkflowMetrics.closedStatuses.mapValues {
                Counter(label: WorkflowMetrics.closed, dimensions: d + [("status", $0)])
            }
            duration = Timer(label: WorkflowMetrics.duration, dimensions: d)
        }
    }

    private static let handles = MetricHandles { Handles($0) }

    static func of(_ name: String) -> Handles { handles(names.label(name)) }

    /// Records a newly stored execution of workflow `name`.
    static func started(_ name: String) { of(name).started.increment() }

    /// Records a committed close of an execution of `name` that lived `livedMs`.
    static func closed(_ name: String, status: WorkflowStatus, livedMs: Int64) {
        let h = of(name)
        h.closed[status]?.increment()
        h.duration.recordMilliseconds(max(0, livedMs))
    }
}

import KeelTracing
import Tracing

/// The engine's open spans and the trace context callers gave, all in memory: a restart
/// starts new traces for the work it recovers (docs/traces.md, "Limits").
struct TraceBook {
    /// The running attempt's span per task id.
    var attempts: [String: (attempt: Int, span: any Span)] = [:]
    /// The open execution's span per workflow id.
    var workflows: [String: any Span] = [:]
    /// The `traceparent` a caller gave with `activity/call` or `workflow/start`, per task or workflow id.
    var callers: [String: TraceParent] = [:]
}

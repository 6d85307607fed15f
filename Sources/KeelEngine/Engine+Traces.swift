import KeelCore
import KeelStorage
import KeelTracing
import Tracing

/// Spans of workflow executions and activity attempts (docs/traces.md). Every span ends only
/// after the outcome it reports is committed, so a replay or a retried commit emits nothing twice.
/// The engine talks to the `Tracer` API alone; `Options.tracer` chooses the backend.
extension Engine {
    /// The caller's optional `traceparent` param, validated; -32602 when malformed.
    static func callerTraceParent(_ p: Params) throws -> TraceParent? {
        guard let text = try p.optionalString(TraceParent.headerName) else { return nil }
        switch TraceParent.parse(text) {
        case .success(let header): return header
        case .failure(let error): throw p.fail(TraceParent.headerName, "is not a W3C traceparent: \(error.reason)")
        }
    }

    /// ``callerTraceParent(_:)`` for a typed request of `method`.
    static func callerTraceParent(_ text: String?, method: String) throws -> TraceParent? {
        guard let text else { return nil }
        switch TraceParent.parse(text) {
        case .success(let header): return header
        case .failure(let error):
            throw Params.fail(method: method, TraceParent.headerName, "is not a W3C traceparent: \(error.reason)")
        }
    }

    /// Remembers the caller's trace context of task or workflow `id` until it ends.
    func rememberCaller(_ header: TraceParent?, for id: String) {
        if let header { traces.callers[id] = header }
    }

    /// Starts the span of attempt `attempt` of task `id`; returns the `traceparent` for `activity/execute`.
    func attemptTraceParent(_ id: String, attempt: Int) -> String? {
        guard let task = tasks[id]?.record else { return nil }
        guard let tracer = options.tracer else {
            return (traces.callers[id] ?? task.workflowId.flatMap { traces.callers[$0] })?.description
        }
        let parent = task.workflowId.flatMap { traces.workflows[$0]?.context } ?? callerContext(id, tracer: tracer)
        let span = tracer.startSpan("activity \(task.name)", context: parent, ofKind: .internal)
        span.attributes["keel.task_id"] = id
        span.attributes["keel.attempt"] = attempt
        if let wf = task.workflowId { span.attributes["keel.workflow_id"] = wf }
        traces.attempts[id]?.span.end()  // a superseded attempt that never reported (not expected)
        traces.attempts[id] = (attempt, span)
        return Self.inject(span.context, tracer: tracer)
    }

    /// The claim of an attempt did not commit: nothing ran, so its span is dropped unexported.
    func attemptTraceDropped(_ id: String, attempt: Int) {
        if traces.attempts[id]?.attempt == attempt { traces.attempts[id] = nil }
    }

    /// The outcome of attempt `attempt` is committed: its span ends. `outcome` is `retried` or
    /// the task's terminal status (completed, failed, timedOut, cancelled).
    func attemptTraceEnded(_ id: String, attempt: Int?, outcome: String, failure: JSONValue?, terminal: Bool) {
        if terminal { traces.callers[id] = nil }
        guard let open = traces.attempts[id], attempt == nil || open.attempt == attempt else { return }
        traces.attempts[id] = nil
        open.span.attributes["keel.outcome"] = outcome
        if let type = failure?["type"]?.stringValue, outcome != "completed" {
            open.span.attributes["keel.failure_type"] = type
            open.span.setStatus(SpanStatus(code: .error, message: failure?["message"]?.stringValue))
        } else if outcome == "completed" {
            open.span.setStatus(SpanStatus(code: .ok))
        }
        open.span.end()
    }

    /// Task `id` was cancelled (by a client, or with its workflow) and the cancel is committed.
    func attemptTraceCancelled(_ id: String) {
        attemptTraceEnded(id, attempt: nil, outcome: "cancelled", failure: nil, terminal: true)
    }

    /// The execution span of workflow `id`, started at its first run in this process; returns
    /// the `traceparent` for `workflow/run`.
    func workflowTraceParent(_ id: String) -> String? {
        guard let record = workflows[id]?.record else { return nil }
        guard let tracer = options.tracer else { return traces.callers[id]?.description }
        if let open = traces.workflows[id] { return Self.inject(open.context, tracer: tracer) }
        let parent = record.parentId.flatMap { traces.workflows[$0]?.context } ?? callerContext(id, tracer: tracer)
        let span = tracer.startSpan("workflow \(record.name)", context: parent, ofKind: .internal)
        span.attributes["keel.workflow_id"] = id
        if let parentId = record.parentId { span.attributes["keel.parent_workflow_id"] = parentId }
        traces.workflows[id] = span
        return Self.inject(span.context, tracer: tracer)
    }

    /// The end of workflow `id` is committed: its span ends with the final status.
    func workflowTraceEnded(_ id: String, status: WorkflowStatus, failure: JSONValue?) {
        traces.callers[id] = nil
        guard let span = traces.workflows.removeValue(forKey: id) else { return }
        span.attributes["keel.status"] = status.rawValue
        if status == .completed {
            span.setStatus(SpanStatus(code: .ok))
        } else {
            span.setStatus(SpanStatus(code: .error, message: failure?["message"]?.stringValue ?? status.rawValue))
        }
        span.end()
    }

    /// `params` (an object) with `traceparent` added when there is one.
    static func adding(traceparent: String?, to params: JSONValue) -> JSONValue {
        guard let traceparent, case .object(var o) = params else { return params }
        o[TraceParent.headerName] = .string(traceparent)
        return .object(o)
    }

    private func callerContext(_ id: String, tracer: any Tracer) -> ServiceContext {
        var context = ServiceContext.topLevel
        if let header = traces.callers[id] {
            tracer.extract([TraceParent.headerName: header.description], into: &context, using: DictionaryExtractor())
        }
        return context
    }

    private static func inject(_ context: ServiceContext, tracer: any Tracer) -> String? {
        var carrier: [String: String] = [:]
        tracer.inject(context, into: &carrier, using: DictionaryInjector())
        return carrier[TraceParent.headerName]
    }
}

public import KeelCore

/// One event on an execution's stream (docs/protocol.md, "Streams"): progress or a partial result
/// a workflow or one of its activities published, numbered 1, 2, 3… per execution.
public struct StreamEvent: Sendable, Equatable {
    public var workflowId: String
    /// The event's place in the execution's stream: one more than the event before it.
    public var offset: Int64
    /// Who published it.
    public var source: Source
    /// A label the publisher gave (`"token"`, `"progress"`); `"event"` when none.
    public var name: String
    public var event: JSONValue
    public var createdAt: EpochMillis

    public enum Source: Sendable, Equatable {
        /// A `publish` step of the workflow's code: recorded once, with the step.
        case step(generation: Int, seq: Int)
        /// An attempt of one of the workflow's activities: a retried attempt publishes again.
        case activity(taskId: String, attempt: Int)
    }

    public init(workflowId: String, offset: Int64, source: Source, name: String, event: JSONValue, createdAt: EpochMillis) {
        self.workflowId = workflowId
        self.offset = offset
        self.source = source
        self.name = name
        self.event = event
        self.createdAt = createdAt
    }

    /// The event as `workflow/follow` answers it.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "offset": JSONValue(offset), "name": .string(name), "event": event, "atMs": JSONValue(createdAt),
        ]
        switch source {
        case .step(_, let seq):
            o["source"] = "workflow"
            o["seq"] = JSONValue(seq)
        case .activity(let taskId, let attempt):
            o["source"] = "activity"
            o["taskId"] = .string(taskId)
            o["attempt"] = JSONValue(attempt)
        }
        return .object(o)
    }

    /// Stored columns of `source`: (kind, step generation, step seq, task id, attempt).
    public var sourceColumns: (kind: String, generation: Int?, seq: Int?, taskId: String?, attempt: Int?) {
        switch source {
        case .step(let generation, let seq): ("workflow", generation, seq, nil, nil)
        case .activity(let taskId, let attempt): ("activity", nil, nil, taskId, attempt)
        }
    }

    /// Rebuilds `source` from its stored columns.
    public static func source(kind: String, generation: Int?, seq: Int?, taskId: String?, attempt: Int?) -> Source {
        if kind == "activity" { return .activity(taskId: taskId ?? "", attempt: attempt ?? 0) }
        return .step(generation: generation ?? 0, seq: seq ?? 0)
    }
}

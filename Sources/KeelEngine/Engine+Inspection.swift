import Foundation
import KeelCore
import KeelProtocol
import KeelStorage

/// What operators read beside the wire's core fields (issue 13, "the CLI as people use it"):
/// queued work per name, this orchestrator's node name, a retrying step's next attempt and a
/// child step's workflow id. Kept apart so `keel workers`, `describe` and `history` can show
/// everything their JSON has.
extension Engine {
    /// The node a worker is connected to. Until Keel runs as a cluster it is this orchestrator's
    /// host name; the field is on the wire now so tools need no change later.
    static let nodeName: String = ProcessInfo.processInfo.hostName

    /// Work waiting for a worker, per name: `{"activities": {name: n}, "workflows": {name: n}}`.
    /// An activity counts while it is scheduled (queued, or waiting out a retry backoff); a
    /// workflow while it is pending (no run has taken it yet).
    /// The whole cluster's, from the store (this node's memory holds only what it runs).
    func backlogJSON() async throws -> JSONValue {
        let backlog = try await cluster.store.backlog()
        func counts(_ d: [String: Int]) -> JSONValue { .object(JSONObject(d.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) })) }
        return ["activities": counts(backlog.activities), "workflows": counts(backlog.workflows)]
    }

    /// The `worker/list` answer: each worker (with its node) and the backlog per name.
    func workerListJSON(_ workers: [JSONValue]) async throws -> JSONValue {
        let withNode: [JSONValue] = workers.map {
            guard case .object(var o) = $0 else { return $0 }
            if o["node"] == nil { o["node"] = .string(Self.nodeName) }
            return .object(o)
        }
        return ["workers": .array(withNode), "backlog": try await backlogJSON()]
    }

    /// Adds to a `describe` answer's `currentStep` what a person waits for: a retrying
    /// activity's next attempt time (`nextAttemptAtMs`) and a sleep's or signal timeout's wake
    /// time (`wakeAtMs`). `task` is the step's activity task, live or as stored.
    func currentStepTimes(_ step: inout WorkflowDescribeResult.CurrentStep, entry: JournalEntry, task: ActivityTaskRecord?) {
        if let wakeAt = entry.wakeAt, entry.status == .scheduled { step.wakeAtMs = wakeAt }
        guard entry.status == .scheduled, let task else { return }
        if task.status == .scheduled, task.attempt > 0 {
            step.nextAttemptAtMs = task.visibleAt
        }
    }
}

extension JournalEntry {
    /// The entry as `workflow/history` shows it: the journal fields, its attempts (the task's, else
    /// 1 once it ended) and its latest attempt's start, the failures of the attempts that were
    /// retried, and for a child step the child's workflow id (`PARENT/SEQ` unless the step named
    /// one). The failure is the recorded one, a failed child step's with its `childWorkflowId`.
    /// - Parameters:
    ///   - task: the step's activity task, live or as stored.
    ///   - attemptFailures: the task's retried attempts' failures, by attempt.
    func historyEntry(task: ActivityTaskRecord?, attemptFailures: [AttemptFailure]?) -> Wire.HistoryEntry {
        Wire.HistoryEntry(
            seq: Int64(seq), kind: Wire.StepKind(rawValue: kind), name: name,
            status: Wire.HistoryEntry.Status(rawValue: status.rawValue), result: result,
            failure: failure.flatMap(Engine.stepFailure), input: input,
            attempts: Int64(task?.attempt ?? (status == .scheduled ? 0 : 1)), contractHash: contractHash,
            createdAtMs: createdAt, completedAtMs: completedAt, taskId: taskId, startedAtMs: task?.startedAt,
            wakeAtMs: wakeAt,
            childWorkflowId: kind == "child" ? input["workflowId"]?.stringValue ?? "\(workflowId)/\(seq)" : nil,
            attemptFailures: attemptFailures.flatMap { $0.isEmpty ? nil : $0.map(\.historyItem) })
    }
}

extension AttemptFailure {
    /// One item of a history entry's `attemptFailures` (docs/protocol.md); `startedAtMs` only
    /// where the store recorded it (rows from before migration 9 have none).
    var historyItem: Wire.HistoryEntry.AttemptFailure {
        Wire.HistoryEntry.AttemptFailure(
            attempt: Int64(attempt), failure: Engine.keelFailure(failure), failedAtMs: failedAt, startedAtMs: startedAt)
    }
}

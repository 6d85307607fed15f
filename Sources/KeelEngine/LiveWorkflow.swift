import KeelCore
import KeelProtocol
import KeelStorage

/// The engine's in-memory view of one open workflow execution.
struct LiveWorkflow {
    var record: WorkflowRecord
    /// The current generation's journal, by seq. A suspended execution leaves memory (the store
    /// holds it), so only executions with a run under way or queued keep one here.
    var journal: [Int: JournalEntry]
    var phase: RunPhase
    /// Step requests of the current run waiting for their entry's outcome, by seq.
    var held: [Int: [HeldStep]] = [:]
    /// Something the run waits for happened while no step was held for it: re-run after it suspends.
    var wakePending = false
    /// A cancel request found no step to fail yet: the next new step gets `Cancelled`.
    var cancelUndelivered = false
    /// The current run's token (``AttemptToken``), sent in `workflow/run`.
    var runToken = ""
    /// When the execution last joined the run queue (for the run's schedule-to-start metric).
    var queuedAt: EpochMillis = 0
    /// A step of the current run was answered with a store failure (4001) instead of being
    /// recorded: the run's answer may be that error's consequence (client libraries fail the
    /// workflow on an unexpected step error), so it is not trusted and the run is replayed.
    var stepNotRecorded = false
    /// The claim raised the stored epoch already, so the next run starts
    /// without a write of its own.
    var claimed = false
    /// The execution's event counter as this node last read it; a suspend is
    /// fenced by it (an event since then means run again).
    var seenEvents: Int?

    var isRunning: Bool { phase.isRunning }

    var runningOn: UInt64? { phase.runningOn?.connectionID }

    /// The wire form of the journal sent in `workflow/run`.
    var journalJSON: JSONValue {
        .array(journal.keys.sorted().map { seq in
            let e = journal[seq]!
            var o: [String: JSONValue] = [
                "seq": JSONValue(e.seq), "kind": .string(e.kind), "name": .string(e.name), "status": .string(e.status.rawValue),
            ]
            if let r = e.result { o["result"] = r } else if e.status == .completed { o["result"] = .null }
            if let f = e.failure { o["failure"] = f }
            return .object(o)
        })
    }
}

extension JournalEntry {
    /// The answer to a `workflow/step` for this entry once it has ended.
    var stepAnswer: JSONValue {
        switch status {
        case .completed: ["status": "completed", "result": result ?? .null]
        case .failed: ["status": "failed", "failure": failure ?? ["type": "Error", "message": "step failed", "retryable": false]]
        case .scheduled: ["status": "suspend"]
        }
    }

    var json: JSONValue {
        var o: [String: JSONValue] = [
            "seq": JSONValue(seq), "kind": .string(kind), "name": .string(name), "input": input,
            "status": .string(status.rawValue), "createdAtMs": JSONValue(createdAt),
        ]
        if let result { o["result"] = result }
        if let failure { o["failure"] = failure }
        if let completedAt { o["completedAtMs"] = JSONValue(completedAt) }
        if let contractHash { o["contractHash"] = .string(contractHash) }
        if let taskId { o["taskId"] = .string(taskId) }
        if let wakeAt { o["wakeAtMs"] = JSONValue(wakeAt) }
        return .object(o)
    }
}

import KeelCore
import KeelStorage
import Logging

/// The open-execution invariant (docs/execution-model.md, "No execution waits for nothing"):
/// every open execution has a pending step with a wake condition (a timer, a signal wait, an
/// activity scheduled or in flight, an open child), a queued run, or a live run. Checked when a
/// run answers `suspended`, over the store's suspended executions at start and at a
/// `workflow/resume` (Engine+StoredInvariant.swift), and over memory every
/// `invariantCheckIntervalMs`; a violation is logged (one line naming the workflow and what was
/// missing), counted (`keel_invariant_repairs_total{kind}`) and repaired by queueing a run.
extension Engine {
    /// What a check found missing; the raw value is the metric's `kind`.
    enum InvariantViolation: String {
        /// A run answered `suspended` while nothing could wake it (a worker's drain timed out, say).
        case suspendAnswerWithoutWake
        /// An execution stored suspended with nothing to wake it.
        case suspendedWithoutWake
        /// A pending execution missing from its name's run queue.
        case pendingNotQueued
    }

    /// Where a check ran, for the log line.
    enum InvariantCheck: String {
        case runAnswer, periodic
        /// The node's start: what the store holds suspended.
        case recovery
        /// An operator's `workflow/resume` of an execution that is not parked.
        case resume
    }

    /// What will wake `live` once its run ends, or nil when nothing will: a scheduled step with a
    /// wake condition, or a wake-up that arrived during the run.
    func wakeCondition(of live: LiveWorkflow) -> String? {
        if live.wakePending { return "a wake-up that arrived during the run" }
        // A cancel that found no step to fail needs a run to deliver it.
        if live.cancelUndelivered { return nil }
        return Self.wakeCondition(ofJournal: live.journal.values)
    }

    /// What in `journal` can wake its suspended execution: its first scheduled step that has a
    /// wake condition; nil when none has.
    static func wakeCondition(ofJournal journal: some Collection<JournalEntry>) -> String? {
        for e in journal.sorted(by: { $0.seq < $1.seq }) where e.status == .scheduled {
            switch e.kind {
            // The task or the child may run on another node: its end wakes the execution through
            // the store's event counter.
            case "activity": if e.taskId != nil { return "activity \(e.name) (step \(e.seq))" }
            case "sleep": if let at = e.wakeAt { return "a timer at \(at) ms (step \(e.seq))" }
            case "signal": return "signal \(e.name) (step \(e.seq))"
            case "child": return "child \(e.name) (step \(e.seq))"
            default: break
            }
        }
        return nil
    }

    /// The id of the child a `child` entry started.
    static func childID(_ e: JournalEntry, parent: String) -> String {
        e.input["workflowId"]?.stringValue ?? "\(parent)/\(e.seq)"
    }

    /// A run answered `suspended`: true when something will wake the execution (the caller then
    /// records the suspension); false when nothing will, in which case the violation is logged,
    /// counted and repaired here by running it again after a short backoff.
    func acceptSuspension(_ id: String) -> Bool {
        guard let live = workflows[id] else { return true }
        if wakeCondition(of: live) != nil {
            emptySuspensions[id] = nil
            return true
        }
        report(.suspendAnswerWithoutWake, id, check: .runAnswer,
            missing: "its run answered suspended with no pending step that can wake it")
        let count = emptySuspensions[id, default: 0] + 1
        emptySuspensions[id] = count
        // A worker that keeps answering suspended gets a growing pause, not a busy loop.
        let delay = min(Self.storeRetryFirstDelayMs << min(count - 1, 10), Self.storeRetryMaxDelayMs)
        enqueue { [self] in
            do { try await Task.sleep(for: .milliseconds(delay)) } catch { return }
            await self.requeueIfStillEnding(id)
        }
        return false
    }

    private func requeueIfStillEnding(_ id: String) {
        guard let live = workflows[id] else {
            emptySuspensions[id] = nil
            return
        }
        guard live.phase.isEnding else { return }
        requeue(id)
    }

    /// Checks every execution this node holds in memory; repairs what it finds.
    func checkInvariant(_ check: InvariantCheck) {
        // One pass over the run queues, so the check stays linear in the open executions.
        var queued: Set<String> = []
        for queue in workflowQueue.values { queued.formUnion(queue.ids) }
        for id in workflows.keys.sorted() {
            guard let live = workflows[id] else { continue }
            switch live.phase.state {
            case .pending:
                if !queued.contains(id) {
                    report(.pendingNotQueued, id, check: check, missing: "it is pending but not in the run queue of \(live.record.name)")
                    requeue(id)
                }
            case .running, .ending, .parked:
                // A suspended or parked execution leaves memory as it is stored
                // (``checkStoredSuspensions()`` checks the store's).
                continue
            }
        }
    }

    /// Runs ``checkInvariant(_:)`` every `invariantCheckIntervalMs` (0: never) until cancelled.
    func invariantLoop() async {
        let interval = options.invariantCheckIntervalMs
        guard interval > 0 else { return }
        while !Task.isCancelled {
            do { try await Task.sleep(for: .milliseconds(interval)) } catch { return }
            guard !shuttingDown else { return }
            checkInvariant(.periodic)
        }
    }

    /// One log line naming the workflow and what was missing, and one count.
    func report(_ kind: InvariantViolation, _ id: String, check: InvariantCheck, missing: String) {
        InvariantMetrics.record(kind.rawValue)
        logger.warning(
            "invariant violated: workflow \(id): \(missing); a run was queued",
            metadata: ["workflow": "\(id)", "kind": "\(kind.rawValue)", "check": "\(check.rawValue)"])
    }
}

extension TaskQueue {
    /// The ids still waiting in the queue, in order.
    var ids: [String] {
        var copy = self
        var out: [String] = []
        while let next = copy.popFirst() { out.append(next) }
        return out
    }
}

import KeelCore
import KeelStorage
import Logging

/// The open-execution invariant (docs/execution-model.md, "No execution waits for nothing"):
/// every open execution has a pending step with a wake condition (a timer, a signal wait, an
/// activity scheduled or in flight, an open child), a queued run, or a live run. Checked when a
/// run answers `suspended`, after recovery, and every `invariantCheckIntervalMs`; a violation is
/// logged (one line naming the workflow and what was missing), counted
/// (`keel_invariant_repairs_total{kind}`) and repaired by queueing a run.
extension Engine {
    /// What a check found missing; the raw value is the metric's `kind`.
    enum InvariantViolation: String {
        /// A run answered `suspended` while nothing could wake it (a worker's drain timed out, say).
        case suspendAnswerWithoutWake
        /// A suspended execution (in memory, or as stored at recovery) with nothing to wake it.
        case suspendedWithoutWake
        /// A pending execution missing from its name's run queue.
        case pendingNotQueued
        /// A child ended but its parent's step was never told.
        case childEndNotDelivered
    }

    /// Where a check ran, for the log line.
    enum InvariantCheck: String {
        case runAnswer, recovery, periodic
        /// An operator's `workflow/resume` of an execution that is not parked.
        case resume
    }

    /// What will wake `live` once its run ends, or nil when nothing in memory will: a scheduled
    /// step with a wake condition, or a wake-up that arrived during the run. A child that is not
    /// in memory (parked, or ended unnoticed) counts as nothing here; ``childWaits`` asks the store.
    func wakeCondition(of live: LiveWorkflow) -> String? {
        if live.wakePending { return "a wake-up that arrived during the run" }
        // A cancel that found no step to fail needs a run to deliver it.
        if live.cancelUndelivered { return nil }
        for e in live.journal.values.sorted(by: { $0.seq < $1.seq }) where e.status == .scheduled {
            switch e.kind {
            // On a shared store the task or the child may run on another node: its end wakes the
            // execution through the store's event counter.
            case "activity": if let t = e.taskId, tasks[t] != nil || cluster != nil { return "activity \(e.name) (step \(e.seq))" }
            case "sleep": if let at = e.wakeAt { return "a timer at \(at) ms (step \(e.seq))" }
            case "signal": return "signal \(e.name) (step \(e.seq))"
            case "child":
                if workflows[Self.childID(e, parent: live.record.id)] != nil || cluster != nil { return "child \(e.name) (step \(e.seq))" }
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
    func acceptSuspension(_ id: String) async -> Bool {
        guard let live = workflows[id] else { return true }
        var wakes = wakeCondition(of: live) != nil
        if !wakes { wakes = await childWaits(live, check: .runAnswer) }
        if wakes {
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
        guard case .ending = live.phase else { return }
        requeue(id)
    }

    /// True when a scheduled child of `live` that is not in memory is still open in the store
    /// (parked: an operator's `workflow resume` is its way out). A child that ended without its
    /// parent's step being told is settled now (and counted).
    func childWaits(_ live: LiveWorkflow, check: InvariantCheck = .periodic) async -> Bool {
        var waits = false
        for e in live.journal.values where e.status == .scheduled && e.kind == "child" {
            let childId = Self.childID(e, parent: live.record.id)
            guard workflows[childId] == nil else { return true }
            let stored: WorkflowRecord?
            do {
                stored = try await ledger.execution(childId)
            } catch {
                // Cannot tell: assume the child still runs and repair nothing on a guess; the failure
                // is logged with an incident and counted, and the next check looks again.
                _ = storeFailed(error, while: "reading child \(childId) of workflow \(live.record.id) for the invariant check",
                    background: true)
                waits = true
                continue
            }
            guard let child = stored else { continue }
            if child.status.isTerminal {
                report(.childEndNotDelivered, live.record.id, check: check,
                    missing: "child \(childId) ended (\(child.status.rawValue)) but step \(e.seq) was never told")
                await childEnded(child)
                waits = true
            } else {
                waits = true
            }
        }
        return waits
    }

    /// Checks every open execution in memory; repairs what it finds. `check`: recovery reports
    /// executions stored as suspended with nothing to wake them (recovery has queued them already).
    func checkInvariant(_ check: InvariantCheck) async {
        // One pass over the run queues, so the check stays linear in the open executions.
        var queued: Set<String> = []
        for queue in workflowQueue.values { queued.formUnion(queue.ids) }
        for id in workflows.keys.sorted() {
            guard let live = workflows[id] else { continue }
            switch live.phase {
            case .suspended:
                guard wakeCondition(of: live) == nil else { continue }
                guard !(await childWaits(live, check: check)) else { continue }
                guard let current = workflows[id], case .suspended = current.phase else { continue }
                report(.suspendedWithoutWake, id, check: check,
                    missing: "it is suspended with no pending step that can wake it, no queued run and no live run")
                requeue(id)
            case .pending where check == .recovery && live.record.status == .suspended:
                guard wakeCondition(of: live) == nil else { continue }
                guard !(await childWaits(live, check: check)) else { continue }
                report(.suspendedWithoutWake, id, check: check,
                    missing: "it was stored suspended with no pending step that can wake it")
            case .pending:
                // `queued` was taken before this loop's awaits: look again before calling it lost.
                if !queued.contains(id), workflowQueue[live.record.name]?.ids.contains(id) != true {
                    report(.pendingNotQueued, id, check: check, missing: "it is pending but not in the run queue of \(live.record.name)")
                    requeue(id)
                }
            case .running, .ending, .parked:
                continue
            }
        }
    }

    /// `workflow/resume` of a suspended execution: if nothing can wake it, the violation is
    /// reported and a run queued now (true), so an operator need not wait for the periodic check.
    func repairIfStuck(_ id: String) async -> Bool {
        guard let live = workflows[id], case .suspended = live.phase, wakeCondition(of: live) == nil else { return false }
        guard !(await childWaits(live, check: .resume)) else { return false }
        guard let current = workflows[id], case .suspended = current.phase else { return false }
        report(.suspendedWithoutWake, id, check: .resume,
            missing: "it is suspended with no pending step that can wake it, no queued run and no live run")
        requeue(id)
        return true
    }

    /// Runs ``checkInvariant(_:)`` every `invariantCheckIntervalMs` (0: never) until cancelled.
    func invariantLoop() async {
        let interval = options.invariantCheckIntervalMs
        guard interval > 0 else { return }
        while !Task.isCancelled {
            do { try await Task.sleep(for: .milliseconds(interval)) } catch { return }
            guard !shuttingDown else { return }
            await checkInvariant(.periodic)
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

public import KeelCore

/// What a timer is for. Each carries the attempt it guards, so a timer for an attempt that
/// already ended does nothing when it fires.
enum TimerKind: Sendable, Equatable {
    case startToClose(attempt: Int)
    case heartbeat(attempt: Int)
    case scheduleToClose
    /// A caller's wait for a task's end ran out (taskID names the task waited on).
    case waiterTimeout(waiterID: UInt64)
    /// A held step has waited `stepHoldMs`: answer it with suspend.
    case stepHold(epoch: Int, seq: Int)
    /// A caller's wait for a workflow's end ran out.
    case workflowWaiterTimeout(waiterID: UInt64)
    /// A follower's wait for more of a stream ran out (`workflow/follow`).
    case streamWaiterTimeout(waiterID: UInt64)
    /// A `workflow/update` caller's wait ran out, or its look at the shared store is due.
    case updateWaiterTimeout(waiterID: UInt64)
    /// A workflow's execution timeout (`generation` nil) or the run timeout of `generation` passes.
    case workflowDeadline(generation: Int?)
    /// A schedule's next slot is due (taskID names the schedule).
    case scheduleSlot
}

struct TimerEntry: Sendable {
    var deadline: EpochMillis
    var taskID: String
    var kind: TimerKind
    var sequence: UInt64
}

/// A binary min-heap of deadlines: one queue for every timer in the engine (no per-task loops).
struct TimerQueue {
    private var heap: [TimerEntry] = []
    private var counter: UInt64 = 0
    /// Called when a new entry becomes the earliest: whoever sleeps until ``nextDeadline`` must wake.
    var onNewEarliest: (@Sendable () -> Void)?

    var count: Int { heap.count }
    var nextDeadline: EpochMillis? { heap.first?.deadline }

    mutating func schedule(_ deadline: EpochMillis, taskID: String, kind: TimerKind) {
        counter += 1
        heap.append(TimerEntry(deadline: deadline, taskID: taskID, kind: kind, sequence: counter))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
        if i == 0 { onNewEarliest?() }
    }

    /// Removes and returns every entry due at `now`, earliest first.
    mutating func popDue(now: EpochMillis) -> [TimerEntry] {
        var due: [TimerEntry] = []
        while let first = heap.first, first.deadline <= now { due.append(popFirst()) }
        return due
    }

    /// Removes entries from the front, due or not, while `isVoid` says so of the earliest one, and
    /// returns how many it removed. Whoever sleeps until ``nextDeadline`` calls it first, so it
    /// sleeps until a timer that still guards something rather than waking for one that does not.
    @discardableResult
    mutating func dropLeading(while isVoid: (TimerEntry) -> Bool) -> Int {
        var dropped = 0
        while let first = heap.first, isVoid(first) {
            _ = popFirst()
            dropped += 1
        }
        return dropped
    }

    /// Removes every entry `isVoid` says so of, wherever it is in the queue, and returns how many:
    /// one pass over the queue and a rebuild of its order. For entries that ``dropLeading(while:)``
    /// cannot reach because an earlier one still guards something.
    @discardableResult
    mutating func removeAll(where isVoid: (TimerEntry) -> Bool) -> Int {
        let before = heap.count
        heap.removeAll(where: isVoid)
        var i = heap.count / 2 - 1
        while i >= 0 {
            siftDown(from: i)
            i -= 1
        }
        return before - heap.count
    }

    private mutating func popFirst() -> TimerEntry {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(from: 0)
        }
        return top
    }

    /// Moves the entry at `start` down until neither child is earlier.
    private mutating func siftDown(from start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && less(heap[l], heap[m]) { m = l }
            if r < heap.count && less(heap[r], heap[m]) { m = r }
            if m == i { return }
            heap.swapAt(i, m)
            i = m
        }
    }

    private func less(_ a: TimerEntry, _ b: TimerEntry) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.sequence < b.sequence
    }
}

import HeapModule
import KeelStorage

/// The ready ids of one name, in dispatch order (docs/protocol.md, "Priorities and fairness"):
/// the highest priority first; within one priority, by fairness turn, then first in, first out.
///
/// An id's turn is one more than the last turn its fairness key holds in the queue, but never
/// behind the turn now at the head: so each key waiting has one id per turn, a key arriving late
/// joins the current turn instead of waiting behind another key's backlog, and one key's 10,000
/// queued tasks delay another key's 10 by at most 10 turns. The stores number claims by the same
/// rule (`turn` column), so one node and several order work alike.
///
/// Appends and pops are O(log n), plus O(p) to open a priority level when p levels wait.
struct TaskQueue {
    /// Levels with ids waiting, highest priority first.
    private var levels: [(priority: Int, line: TurnLine)] = []
    /// Ids queued (some may be stale: a cancelled task is skipped when popped).
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ id: String, precedence: Precedence) {
        let index = levels.firstIndex { $0.priority <= precedence.priority } ?? levels.count
        if index == levels.count || levels[index].priority != precedence.priority {
            levels.insert((precedence.priority, TurnLine()), at: index)
        }
        levels[index].line.append(id, key: precedence.fairnessKey ?? "")
        count += 1
    }

    mutating func popFirst() -> String? {
        guard !levels.isEmpty else { return nil }
        let id = levels[0].line.popFirst()
        if levels[0].line.isEmpty { levels.removeFirst() }
        count -= 1
        return id
    }
}

/// One priority's ids, ordered by (turn, arrival).
private struct TurnLine {
    private struct Entry: Comparable {
        let turn: Int
        let arrival: Int
        let id: String
        let key: String

        static func < (a: Entry, b: Entry) -> Bool { (a.turn, a.arrival) < (b.turn, b.arrival) }
        static func == (a: Entry, b: Entry) -> Bool { a.turn == b.turn && a.arrival == b.arrival }
    }

    private var entries = Heap<Entry>()
    /// Per key with ids waiting: the last turn it holds, and how many ids it has in line.
    private var keys: [String: (lastTurn: Int, waiting: Int)] = [:]
    private var arrivals = 0

    var isEmpty: Bool { entries.isEmpty }

    mutating func append(_ id: String, key: String) {
        let head = entries.min?.turn ?? 0
        let held = keys[key]
        let turn = max(head, held.map { $0.lastTurn + 1 } ?? 0)
        keys[key] = (turn, (held?.waiting ?? 0) + 1)
        entries.insert(Entry(turn: turn, arrival: arrivals, id: id, key: key))
        arrivals += 1
    }

    mutating func popFirst() -> String {
        let entry = entries.removeMin()
        if let held = keys[entry.key] {
            keys[entry.key] = held.waiting > 1 ? (held.lastTurn, held.waiting - 1) : nil
        }
        return entry.id
    }
}

@testable import KeelEngine
import KeelStorage
import Testing

/// The ready queue's order without any I/O (docs/protocol.md, "Priorities and fairness").
@Suite("The ready queue")
struct TaskQueueTests {
    private func drain(_ queue: inout TaskQueue) -> [String] {
        var out: [String] = []
        while let id = queue.popFirst() { out.append(id) }
        return out
    }

    @Test func withoutPrioritiesOrKeysItIsFirstInFirstOut() {
        var queue = TaskQueue()
        for i in 1...3000 { queue.append("t\(i)", precedence: .standard) }
        #expect(queue.count == 3000)
        #expect(drain(&queue) == (1...3000).map { "t\($0)" })
        #expect(queue.isEmpty && queue.count == 0)
    }

    @Test func higherPrioritiesGoFirstAndKeysTakeTurnsInTheOrderTheyArrived() {
        var queue = TaskQueue()
        queue.append("c1", precedence: Precedence(fairnessKey: "c"))
        queue.append("lo", precedence: Precedence(priority: -3))
        queue.append("a1", precedence: Precedence(fairnessKey: "a"))
        queue.append("c2", precedence: Precedence(fairnessKey: "c"))
        queue.append("hi", precedence: Precedence(priority: 50, fairnessKey: "a"))
        queue.append("n1", precedence: .standard)
        queue.append("mid", precedence: Precedence(priority: 7))
        queue.append("c3", precedence: Precedence(fairnessKey: "c"))
        #expect(drain(&queue) == ["hi", "mid", "c1", "a1", "n1", "c2", "c3", "lo"])
    }

    @Test func aKeyThatEmptiedAndReturnsWaitsForTheKeysAlreadyInLine() {
        var queue = TaskQueue()
        queue.append("a1", precedence: Precedence(fairnessKey: "a"))
        queue.append("b1", precedence: Precedence(fairnessKey: "b"))
        queue.append("b2", precedence: Precedence(fairnessKey: "b"))
        #expect(queue.popFirst() == "a1")
        queue.append("a2", precedence: Precedence(fairnessKey: "a"))
        #expect(drain(&queue) == ["b1", "a2", "b2"])
    }
}

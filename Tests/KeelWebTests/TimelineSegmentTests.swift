import KeelCore
import Testing

@testable import KeelWeb

/// How a history entry becomes timeline segments when some times are missing or still open
/// (the page-level order is checked against a real orchestrator in WebUIDetailTests).
@Suite("Timeline segments")
struct TimelineSegmentTests {
    private func kinds(_ e: JSONValue) -> [String] {
        TimelineSegment.of(e, end: 5000).map { ([$0.kind.rawValue] + $0.extra).joined(separator: " ") }
    }

    @Test("an attempt retried before its start was kept is one failed stretch, then backoff and the run")
    func oldRowWithoutStart() {
        let e: JSONValue = [
            "kind": "activity", "status": "completed", "createdAtMs": 1000, "startedAtMs": 1700, "completedAtMs": 2000,
            "attemptFailures": [["attempt": 1, "failure": ["type": "Old"], "failedAtMs": 1500]],
        ]
        #expect(kinds(e) == ["step failed", "backoff", "run"])
    }

    @Test("a step backing off now ends in an open backoff; a signal still awaited is an open wait")
    func openSegments() {
        let backingOff: JSONValue = [
            "kind": "activity", "status": "scheduled", "createdAtMs": 1000, "startedAtMs": 1100,
            "attemptFailures": [["attempt": 1, "failure": ["type": "Busy"], "failedAtMs": 1500, "startedAtMs": 1100]],
        ]
        #expect(kinds(backingOff) == ["queue", "run failed", "backoff open"])
        let waiting: JSONValue = ["kind": "signal", "name": "approve", "status": "scheduled", "createdAtMs": 3000]
        #expect(kinds(waiting) == ["wait open"])
        #expect(TimelineSegment.of(waiting, end: 5000).first?.to == 5000)
    }
}

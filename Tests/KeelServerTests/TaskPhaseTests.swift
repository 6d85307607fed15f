import KeelCore
import KeelProtocol
import Testing

@testable import KeelEngine

/// ``TaskPhase`` on its own: every transition it grants, and every one it refuses.
@Suite struct TaskPhaseTests {
    static let request = RPCID.string("r1")

    /// One event of the machine: a name for the failure message and what it does to a phase.
    struct Event: Sendable {
        let name: String
        let apply: @Sendable (inout TaskPhase) -> Bool

        static let start = Event(name: "start") { $0.start(on: 7, request: TaskPhaseTests.request) }
        static let answeredHere = Event(name: "answered on 7") { $0.answered(on: 7) }
        static let answeredElsewhere = Event(name: "answered on 8") { $0.answered(on: 8) }
        static let stop = Event(name: "stop") { $0.stop() != nil }
        static let abandon = Event(name: "abandon") { $0.abandon() }

        static let all = [start, answeredHere, answeredElsewhere, stop, abandon]
    }

    /// Applies `events` in turn, expecting each to be granted; answers the phase reached.
    func run(_ events: [Event], from start: TaskPhase = .ready) -> TaskPhase {
        var phase = start
        for event in events {
            let granted = event.apply(&phase)
            #expect(granted, "\(event.name) refused in \(phase.state)")
        }
        return phase
    }

    @Test func anAttemptRunsAndEnds() {
        let running = run([.start])
        #expect(running.isRunning)
        #expect(running.runningOn?.connectionID == 7 && running.runningOn?.requestID == Self.request)
        #expect(run([.start, .answeredHere]).state == .ending)
        #expect(run([.start, .stop]).state == .ending)
    }

    @Test func anAttemptWhoseWorkerLeftBeforeItStartedEnds() {
        #expect(run([.abandon]).state == .ending)
    }

    @Test func aStoppedAttemptTellsWhereItRan() {
        var phase = run([.start])
        let stopped = phase.stop()
        #expect(stopped?.connectionID == 7 && stopped?.requestID == Self.request)
        #expect(phase.state == .ending)
    }

    /// In each state, the events the machine grants; every other event is refused and leaves the
    /// state as it was (an answer from another connection, a second end, a second start).
    @Test(arguments: [
        ("ready", [Event](), ["start", "abandon"]),
        ("running", [.start], ["answered on 7", "stop"]),
        ("ending", [.start, .answeredHere], []),
    ])
    func onlyTheseEventsAreGranted(state: String, path: [Event], granted: [String]) {
        let reached = run(path)
        for event in Event.all {
            var phase = reached
            let answer = event.apply(&phase)
            #expect(answer == granted.contains(event.name), "\(event.name) in \(state)")
            if !answer { #expect(phase == reached, "\(event.name) was refused in \(state) but changed it") }
        }
    }
}

import KeelCore
import KeelProtocol
import Testing

@testable import KeelEngine

/// ``RunPhase`` on its own: every transition it grants, and every one it refuses.
@Suite struct RunPhaseTests {
    static let request = RPCID.string("run-1")

    /// One event of the machine: a name for the failure message and what it does to a phase
    /// (true when granted; the unconditional ones always are).
    struct Event: Sendable {
        let name: String
        let apply: @Sendable (inout RunPhase) -> Bool

        static let start = Event(name: "start") { $0.start(on: 7, request: RunPhaseTests.request) }
        static let returnedHere = Event(name: "returned on 7") { $0.returned(on: 7) }
        static let returnedElsewhere = Event(name: "returned on 8") { $0.returned(on: 8) }
        static let stop = Event(name: "stop") { $0.stop() != nil }
        static let close = Event(name: "close") { _ = $0.close(); return true }
        static let requeue = Event(name: "requeue") { $0.requeue(); return true }
        static let park = Event(name: "park") { $0.park(); return true }

        static let conditional = [start, returnedHere, returnedElsewhere, stop]
    }

    /// Applies `events` in turn, expecting each to be granted; answers the phase reached.
    func run(_ events: [Event], from start: RunPhase = .pending) -> RunPhase {
        var phase = start
        for event in events {
            let granted = event.apply(&phase)
            #expect(granted, "\(event.name) refused in \(phase.state)")
        }
        return phase
    }

    @Test func aRunStartsReturnsAndIsQueuedAgain() {
        let running = run([.start])
        #expect(running.isRunning && !running.isPending)
        #expect(running.runningOn?.connectionID == 7 && running.runningOn?.requestID == Self.request)
        #expect(run([.start, .returnedHere]).isEnding)
        #expect(run([.start, .returnedHere, .requeue]).isPending)
        #expect(run([.start, .returnedHere, .requeue, .start]).isRunning)
    }

    @Test func aStoppedRunTellsWhereItRan() {
        var phase = run([.start])
        let stopped = phase.stop()
        #expect(stopped?.connectionID == 7 && stopped?.requestID == Self.request)
        #expect(phase.isEnding)
    }

    /// An end or a reset closes the execution whatever its phase, and says which run it detached.
    @Test func closingDetachesTheRunUnderWayIfAny() {
        var running = run([.start])
        let detached = running.close()
        #expect(detached?.connectionID == 7 && detached?.requestID == Self.request)
        #expect(running.isEnding)
        var pending = RunPhase.pending
        let nothingUnderWay = pending.close()
        #expect(nothingUnderWay == nil)
        #expect(pending.isEnding)
        // A run that ended already is not detached again.
        var ending = run([.start, .returnedHere])
        let endedAlready = ending.close()
        #expect(endedAlready == nil)
    }

    @Test func aParkedExecutionTakesNoRun() {
        var parked = run([.start, .returnedHere, .park])
        #expect(parked.isParked)
        let started = parked.start(on: 7, request: Self.request)
        #expect(!started)
        #expect(parked.isParked)
    }

    /// In each state, the conditional events the machine grants; every other one is refused and
    /// leaves the state as it was (a second start, an answer from another connection or after a
    /// stop, a stop with no run).
    @Test(arguments: [
        ("pending", [Event](), ["start"]),
        ("running", [.start], ["returned on 7", "stop"]),
        ("ending", [.start, .returnedHere], []),
        ("parked", [.park], []),
    ])
    func onlyTheseEventsAreGranted(state: String, path: [Event], granted: [String]) {
        let reached = run(path)
        for event in Event.conditional {
            var phase = reached
            let answer = event.apply(&phase)
            #expect(answer == granted.contains(event.name), "\(event.name) in \(state)")
            if !answer { #expect(phase == reached, "\(event.name) was refused in \(state) but changed it") }
        }
    }
}

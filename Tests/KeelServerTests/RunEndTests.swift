import KeelCore
import KeelStorage
import Testing

@testable import KeelEngine

/// ``RunEnd`` on its own: events in, actions out, no engine, store or worker.
@Suite struct RunEndTests {
    func run(cancelRequested: Bool = false, stepNotRecorded: Bool = false, contract: Bool = false) -> RunEnd {
        var record = WorkflowRecord(id: "w1", name: "orders.ship", input: [:], contractHash: nil, now: 1_000)
        record.cancelRequested = cancelRequested
        return RunEnd(of: record, stepNotRecorded: stepNotRecorded, hasOutputContract: contract)
    }

    @Test func aCompletedRunEndsTheExecutionAtOnceWithoutAContract() {
        var end = run()
        #expect(end.answered(.success(["status": "completed", "output": 42])) == .end(.completed, output: 42, failure: nil))
        #expect(end.answered(.success(["status": "completed"])) == .ignore)
        var noOutput = run()
        #expect(noOutput.answered(.success(["status": "completed"])) == .end(.completed, output: .null, failure: nil))
    }

    @Test func aCompletedRunsOutputIsCheckedAgainstItsContract() {
        var kept = run(contract: true)
        #expect(kept.answered(.success(["status": "completed", "output": ["ok": true]])) == .checkOutput(["ok": true]))
        #expect(kept.outputChecked(errors: []) == .end(.completed, output: ["ok": true], failure: nil))
        #expect(kept.outputChecked(errors: []) == .ignore)

        var broken = run(contract: true)
        _ = broken.answered(.success(["status": "completed", "output": 1]))
        let errors: [JSONValue] = [["instanceLocation": "/ok", "message": "required"]]
        guard case .end(.failed, nil, let failure?) = broken.outputChecked(errors: errors) else {
            Issue.record("expected the execution to fail: \(broken.state)")
            return
        }
        #expect(failure["type"] == "OutputContractViolation")
        #expect(failure["message"] == "the output breaks the contract of orders.ship: at /ok: required")
        #expect(failure["retryable"] == false)
    }

    @Test func aVerdictNobodyAskedForIsIgnored() {
        var end = run(contract: true)
        #expect(end.outputChecked(errors: []) == .ignore)
        #expect(end.state == .running)
    }

    @Test func aFailedRunEndsFailedCancelledOrParked() {
        var failed = run()
        #expect(failed.answered(.success(["status": "failed", "failure": ["type": "Boom", "message": "no"]]))
            == .end(.failed, output: nil, failure: Engine.normalizedFailure(["type": "Boom", "message": "no"])))
        // `Cancelled` ends it cancelled only when a cancel was asked for; else it is a failure like any.
        let cancelled: JSONValue = ["type": "Cancelled"]
        var asked = run(cancelRequested: true)
        #expect(asked.answered(.success(["status": "failed", "failure": cancelled]))
            == .end(.cancelled, output: nil, failure: Engine.normalizedFailure(cancelled)))
        var unasked = run()
        #expect(unasked.answered(.success(["status": "failed", "failure": cancelled]))
            == .end(.failed, output: nil, failure: Engine.normalizedFailure(cancelled)))
        var nondeterministic = run()
        let nd: JSONValue = ["type": "NonDeterminism", "message": "step 3 changed"]
        #expect(nondeterministic.answered(.success(["status": "failed", "failure": nd])) == .park(.nonDeterminism, failure: Engine.normalizedFailure(nd)))
    }

    @Test func suspensionAndContinueAsNewAreTheWorkersToAskFor() {
        var suspended = run()
        #expect(suspended.answered(.success(["status": "suspended"])) == .suspend)
        var again = run()
        #expect(again.answered(.success(["status": "continueAsNew", "input": ["page": 2]])) == .continueAsNew(["page": 2]))
    }

    @Test func aMalformedAnswerParksTheExecutionWithTheReason() {
        for answer: JSONValue in [["status": "done"], ["status": 3], [:], "completed"] {
            var end = run()
            let action = end.answered(.success(answer))
            guard case .park(.malformedAnswer, let failure) = action else {
                Issue.record("expected \(answer) to park the execution, got \(action)")
                continue
            }
            #expect(failure["type"] == "ProtocolError")
            #expect(failure["message"]?.stringValue == Engine.malformedRunAnswer(answer))
            #expect(failure["retryable"] == false)
        }
    }

    @Test func aRunThatDidNotEndRunsAgain() {
        var lost = run()
        #expect(lost.answered(.failure(KeelError(.connectionClosed, "closed")))
            == .runAgain(.interrupted("connectionClosed (-32006): closed", draining: false)))
        var draining = run()
        guard case .runAgain(.interrupted(_, draining: true)) = draining.answered(.failure(KeelError(.shuttingDown, "draining")))
        else {
            Issue.record("a worker that is shutting down must be marked draining: \(draining.state)")
            return
        }
        // A step the store did not record: run again whatever the answer, even a completion.
        var unrecorded = run(stepNotRecorded: true, contract: true)
        #expect(unrecorded.answered(.success(["status": "completed", "output": 1])) == .runAgain(.stepNotRecorded(answer: "completed")))
    }
}

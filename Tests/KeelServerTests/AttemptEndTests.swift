import KeelCore
import KeelStorage
import Testing

@testable import KeelEngine

/// ``AttemptEnd`` on its own: events in, actions out, no engine, store or worker.
@Suite struct AttemptEndTests {
    /// A task created at t = 1,000 on its attempt `attempt`, with the default policy (1 s initial
    /// backoff, ×2, unlimited attempts) unless told.
    func task(attempt: Int = 1, policy: RetryPolicy = RetryPolicy(), scheduleToCloseMs: Int64? = nil) -> ActivityTaskRecord {
        var timeouts = ActivityTimeouts()
        timeouts.scheduleToCloseMs = scheduleToCloseMs
        var t = ActivityTaskRecord(
            id: "t1", name: "mail.send", input: [:], idempotencyKey: nil, retryPolicy: policy, timeouts: timeouts,
            contractHash: nil, now: 1_000)
        t.attempt = attempt
        return t
    }

    @Test func anOutputIsCheckedThenCompletesTheTask() {
        var end = AttemptEnd(of: task())
        #expect(end.answered(.success(["output": ["sent": true]]), now: 2_000) == .checkOutput(["sent": true]))
        #expect(end.state == .checkingOutput(["sent": true]))
        #expect(end.outputChecked(errors: [], now: 2_001) == .finish(.completed, output: ["sent": true], failure: nil))
        // Decided: a second answer (or verdict) changes nothing.
        #expect(end.answered(.success(["output": 1]), now: 2_002) == .ignore)
        #expect(end.outputChecked(errors: [], now: 2_002) == .ignore)
        #expect(end.failed(Engine.failure(type: "X", message: "", retryable: true), timedOut: true, now: 2_003) == .ignore)
    }

    @Test func anOutputThatBreaksTheContractFailsTheTaskWithoutRetry() {
        var end = AttemptEnd(of: task())
        _ = end.answered(.success(["output": 7]), now: 2_000)
        let errors: [JSONValue] = [["instanceLocation": "", "message": "7 is not of type \"object\""]]
        let action = end.outputChecked(errors: errors, now: 2_001)
        guard case .finish(.failed, nil, let failure?) = action else {
            Issue.record("expected the task to fail, got \(action)")
            return
        }
        #expect(failure["type"] == "OutputContractViolation")
        #expect(failure["retryable"] == false)
        #expect(failure["message"]?.stringValue?.contains("at /: 7 is not of type") == true, "\(failure)")
        #expect(failure["details"]?["errors"] == .array(errors))
        #expect(action.failure == failure)
    }

    @Test func aVerdictNobodyAskedForIsIgnored() {
        var end = AttemptEnd(of: task())
        #expect(end.outputChecked(errors: [], now: 2_000) == .ignore)
        #expect(end.state == .running)
    }

    @Test func aRetryableFailureIsRetriedAfterThePolicysBackoff() {
        var first = AttemptEnd(of: task(attempt: 1))
        let failure: JSONValue = ["type": "Busy", "message": "try later"]
        let normalized = Engine.normalizedFailure(failure)
        #expect(first.answered(.success(["failure": failure]), now: 5_000)
            == .retry(runAt: 6_000, delayMs: 1_000, failure: normalized))
        // The third attempt's backoff is 1 s × 2².
        var third = AttemptEnd(of: task(attempt: 3))
        #expect(third.answered(.success(["failure": failure]), now: 5_000)
            == .retry(runAt: 9_000, delayMs: 4_000, failure: normalized))
    }

    @Test func aWorkersRetryAfterLongerThanTheBackoffWinsUpToADay() {
        var end = AttemptEnd(of: task())
        let later: JSONValue = ["type": "RateLimited", "retryAfterMs": 30_000]
        #expect(end.answered(.success(["failure": later]), now: 5_000)
            == .retry(runAt: 35_000, delayMs: 30_000, failure: Engine.normalizedFailure(later)))
        var shorter = AttemptEnd(of: task())
        let sooner: JSONValue = ["type": "RateLimited", "retryAfterMs": 10]
        #expect(shorter.answered(.success(["failure": sooner]), now: 5_000)
            == .retry(runAt: 6_000, delayMs: 1_000, failure: Engine.normalizedFailure(sooner)))
        var huge = AttemptEnd(of: task())
        let week: JSONValue = ["type": "RateLimited", "retryAfterMs": 604_800_000]
        let action = huge.answered(.success(["failure": week]), now: 5_000)
        #expect(action == .retry(runAt: 5_000 + AttemptEnd.maximumRetryAfterMs, delayMs: AttemptEnd.maximumRetryAfterMs,
            failure: Engine.normalizedFailure(week)))
    }

    @Test func aFailureThePolicyOrTheWorkerRulesOutEndsTheTask() {
        let notRetryable: JSONValue = ["type": "BadAddress", "message": "no such mailbox", "retryable": false]
        var worker = AttemptEnd(of: task())
        #expect(worker.answered(.success(["failure": notRetryable]), now: 5_000)
            == .finish(.failed, output: nil, failure: Engine.normalizedFailure(notRetryable)))

        var policy = RetryPolicy()
        policy.nonRetryableErrorTypes = ["BadAddress"]
        let typed: JSONValue = ["type": "BadAddress"]
        var excluded = AttemptEnd(of: task(policy: policy))
        #expect(excluded.answered(.success(["failure": typed]), now: 5_000)
            == .finish(.failed, output: nil, failure: Engine.normalizedFailure(typed)))

        policy = RetryPolicy()
        policy.maximumAttempts = 3
        var last = AttemptEnd(of: task(attempt: 3, policy: policy))
        #expect(last.answered(.success(["failure": typed]), now: 5_000)
            == .finish(.failed, output: nil, failure: Engine.normalizedFailure(typed)))
        var notLast = AttemptEnd(of: task(attempt: 2, policy: policy))
        #expect(notLast.answered(.success(["failure": typed]), now: 5_000)
            == .retry(runAt: 7_000, delayMs: 2_000, failure: Engine.normalizedFailure(typed)))
    }

    @Test func noRetryStartsAfterTheScheduleToCloseDeadline() {
        // Created at 1,000 with 10 s to close: a retry at 11,000 or later could not finish in time.
        let failure = Engine.failure(type: "StartToCloseTimeout", message: "ran too long", retryable: true)
        var late = AttemptEnd(of: task(scheduleToCloseMs: 10_000))
        #expect(late.failed(failure, timedOut: true, now: 10_000) == .finish(.timedOut, output: nil, failure: failure))
        var lateAnswer = AttemptEnd(of: task(scheduleToCloseMs: 10_000))
        #expect(lateAnswer.failed(failure, timedOut: false, now: 10_000) == .finish(.failed, output: nil, failure: failure))
        var early = AttemptEnd(of: task(scheduleToCloseMs: 10_000))
        #expect(early.failed(failure, timedOut: true, now: 9_999) == .retry(runAt: 10_999, delayMs: 1_000, failure: failure))
    }

    @Test func errorsFromTheConnectionAreNamedAndRetried() {
        func failure(_ error: any Error) -> JSONValue? {
            var end = AttemptEnd(of: task())
            guard case .retry(_, _, let f) = end.answered(.failure(error), now: 5_000) else { return nil }
            return f
        }
        let lost = failure(KeelError(.connectionClosed, "closed"))
        #expect(lost?["type"] == "WorkerLost" && lost?["retryable"] == true, "\(String(describing: lost))")
        let malformed = failure(KeelError(.invalidRequest, "result is a string", data: ["malformedAnswer": true]))
        #expect(malformed?["type"] == "ProtocolError", "\(String(describing: malformed))")
        #expect(malformed?["message"]?.stringValue?.hasSuffix("malformed: result is a string") == true)
        let answered = failure(KeelError(.internalError, "boom"))
        #expect(answered?["type"] == "WorkerError")
        #expect(answered?["message"] == "the worker answered with an error: boom")
        struct Odd: Error {}
        #expect(failure(Odd())?["type"] == "WorkerError")
    }

    @Test func anAnswerWithNeitherOutputNorFailureIsAProtocolError() {
        for answer: JSONValue in [["result": 1], ["failure": "broken"], "just a string"] {
            var end = AttemptEnd(of: task())
            let action = end.answered(.success(answer), now: 5_000)
            guard case .retry(6_000, 1_000, let f) = action else {
                Issue.record("expected a retry for \(answer), got \(action)")
                continue
            }
            #expect(f["type"] == "ProtocolError")
            #expect(f["message"]?.stringValue == Engine.malformedExecuteAnswer(answer))
        }
    }
}

import KeelCore
import KeelStorage

/// The end of one attempt of an activity task, as a state machine (docs/architecture.md,
/// "Decisions as state machines"): the events of the end go in — the worker's answer, the output
/// contract's verdict, a timeout or a lost worker — and the action the engine must take comes out:
/// check the output, commit the task's end, or commit a retry. No I/O, no clock, no engine state;
/// the engine feeds it what it learns and does what it answers, and `AttemptEndTests` drive it on
/// its own.
///
/// ```
/// running ──answered(output)──▶ checkingOutput ──outputChecked──▶ decided(finish | retry)
///    │  └──answered(failure / error / malformed)──────────────────▶ decided(finish | retry)
///    └──failed(timeout, worker lost)──────────────────────────────▶ decided(finish | retry)
/// ```
///
/// An event that does not fit the state (a second answer, a verdict nobody asked for) is answered
/// with ``Action/ignore`` and changes nothing.
struct AttemptEnd {
    /// What the engine must do next.
    enum Action: Equatable {
        /// Check `output` against the activity's output contract, then send ``outputChecked(errors:now:)``.
        case checkOutput(JSONValue)
        /// Commit the task's end with this status (`completed`, `failed` or `timedOut`).
        case finish(TaskStatus, output: JSONValue?, failure: JSONValue?)
        /// Commit a retry: the next attempt becomes runnable at `runAt`, `delayMs` from now.
        case retry(runAt: EpochMillis, delayMs: Int64, failure: JSONValue)
        /// The event does not fit the state: nothing to do.
        case ignore

        /// The failure this action records, if any (for the failed-attempt metric).
        var failure: JSONValue? {
            switch self {
            case .finish(_, _, let failure): failure
            case .retry(_, _, let failure): failure
            case .checkOutput, .ignore: nil
            }
        }
    }

    enum State: Equatable {
        case running
        case checkingOutput(JSONValue)
        case decided(Action)
    }

    /// The longest a worker's `retryAfterMs` may push a retry out: a day.
    static let maximumRetryAfterMs: Int64 = 24 * 3_600_000

    let task: ActivityTaskRecord
    private(set) var state: State = .running

    /// The end of the current attempt (`task.attempt`) of `task`.
    init(of task: ActivityTaskRecord) { self.task = task }

    /// The worker answered `activity/execute` (a result, or an error from the connection).
    mutating func answered(_ reply: Result<JSONValue, any Error>, now: EpochMillis) -> Action {
        guard case .running = state else { return .ignore }
        switch reply {
        case .success(let result):
            if let problem = PayloadDepth.answerProblem(result, method: "activity/execute") {
                return decideFailure(Engine.failure(type: "ProtocolError", message: problem, retryable: true), timedOut: false, now: now)
            }
            if let output = result["output"] {
                state = .checkingOutput(output)
                return .checkOutput(output)
            }
            if let f = result["failure"], case .object = f {
                return decideFailure(Engine.normalizedFailure(f), timedOut: false, now: now)
            }
            return decideFailure(
                Engine.failure(type: "ProtocolError", message: Engine.malformedExecuteAnswer(result), retryable: true),
                timedOut: false, now: now)
        case .failure(let error):
            return decideFailure(Self.failure(of: error), timedOut: false, now: now)
        }
    }

    /// The output contract's verdict on the output of ``Action/checkOutput(_:)``: no errors, the
    /// task completes; otherwise it fails, not retried (the same code would break it again).
    mutating func outputChecked(errors: [JSONValue], now: EpochMillis) -> Action {
        guard case .checkingOutput(let output) = state else { return .ignore }
        guard !errors.isEmpty else { return decide(.finish(.completed, output: output, failure: nil)) }
        return decideFailure(Engine.outputContractViolation(task.name, errors: errors), timedOut: false, now: now)
    }

    /// The attempt failed without an answer: it timed out (`timedOut`: a task that is not retried
    /// ends `timedOut`), or its worker left before it started.
    mutating func failed(_ failure: JSONValue, timedOut: Bool, now: EpochMillis) -> Action {
        guard case .running = state else { return .ignore }
        return decideFailure(failure, timedOut: timedOut, now: now)
    }

    /// Retry per the task's policy, or end it: a retry needs a retryable failure of a type the
    /// policy does not exclude, an attempt left, and a start before the schedule-to-close deadline.
    /// The backoff is the policy's, or the worker's `retryAfterMs` when longer (at most a day).
    private mutating func decideFailure(_ failure: JSONValue, timedOut: Bool, now: EpochMillis) -> Action {
        let policy = task.retryPolicy
        let type = failure["type"]?.stringValue ?? "Error"
        let retryable = failure["retryable"]?.boolValue ?? true
        var delay = policy.delay(afterAttempt: task.attempt)
        if let after = failure["retryAfterMs"]?.int64Value, after > delay { delay = min(after, Self.maximumRetryAfterMs) }
        let closeDeadline = task.timeouts.scheduleToCloseMs.map { task.createdAt.addingSaturating($0) }
        let canRetry = retryable && !policy.nonRetryableErrorTypes.contains(type)
            && policy.allowsAttempt(after: task.attempt) && closeDeadline.map { now.addingSaturating(delay) < $0 } ?? true
        guard canRetry else { return decide(.finish(timedOut ? .timedOut : .failed, output: nil, failure: failure)) }
        return decide(.retry(runAt: now.addingSaturating(delay), delayMs: delay, failure: failure))
    }

    private mutating func decide(_ action: Action) -> Action {
        state = .decided(action)
        return action
    }

    /// The failure an attempt ends with when the worker answered with an error, or its connection
    /// failed: all retryable.
    static func failure(of error: any Error) -> JSONValue {
        guard let error = error as? KeelError else {
            return Engine.failure(type: "WorkerError", message: "\(error)", retryable: true)
        }
        if error.data?["malformedAnswer"] == true {
            return Engine.failure(
                type: "ProtocolError", message: "the worker's answer to activity/execute is malformed: \(error.message)",
                retryable: true)
        }
        if error.code == .connectionClosed {
            return Engine.failure(type: "WorkerLost", message: "the worker disconnected during the attempt", retryable: true)
        }
        return Engine.failure(type: "WorkerError", message: "the worker answered with an error: \(error.message)", retryable: true)
    }
}

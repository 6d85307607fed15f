public import KeelCore

/// What a fired timer does to its step, the same on every store and in the engine: a `sleep`
/// completes; a `signal` wait whose timeout came fails with `TimedOut`.
public enum TimerOutcome {
    public static func of(kind: String, name: String) -> (status: StepStatus, failure: JSONValue?) {
        guard kind == "signal" else { return (.completed, nil) }
        let failure: JSONValue = [
            "type": "TimedOut", "message": .string("no signal \(name) arrived in time"), "retryable": false,
        ]
        return (.failed, failure)
    }
}

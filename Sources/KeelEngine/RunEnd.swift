import KeelCore
import KeelStorage

/// The end of one run of a workflow, as a state machine (docs/architecture.md, "Decisions as
/// state machines"): the worker's answer to `workflow/run` and the output contract's verdict go
/// in; the action the engine must take comes out — run it again, end the execution, park it,
/// suspend it, or continue it as new. No I/O, no engine state; `RunEndTests` drive it on its own.
///
/// ```
/// running ──answered(completed, contract)──▶ checkingOutput ──outputChecked──▶ decided(end)
///    └──answered(anything else)─────────────────────────────────────────────▶ decided(…)
/// ```
///
/// An event that does not fit the state is answered with ``Action/ignore``.
struct RunEnd {
    /// What the engine must do next.
    enum Action: Equatable {
        /// Check `output` against the workflow's output contract, then send ``outputChecked(errors:)``.
        case checkOutput(JSONValue)
        /// Commit the execution's end.
        case end(WorkflowStatus, output: JSONValue?, failure: JSONValue?)
        /// Keep the execution open but stop running it until an operator resumes it (`failure`
        /// says why to the operator). Running it again would fail the same way.
        case park(ParkReason, failure: JSONValue)
        /// Commit the suspension, if nothing arrived for the run meanwhile.
        case suspend
        /// Start the next generation with `input`.
        case continueAsNew(JSONValue)
        /// The run did not end: run it again. `why` says what the engine should log and do first.
        case runAgain(Interruption)
        /// The event does not fit the state: nothing to do.
        case ignore
    }

    /// Why a run parks its execution.
    enum ParkReason: Equatable {
        /// The workflow's code took another path than its journal (the worker said so).
        case nonDeterminism
        /// The worker's answer to `workflow/run` is not one the protocol allows.
        case malformedAnswer
    }

    /// Why a run is run again.
    enum Interruption: Equatable {
        /// The worker's connection failed (`draining`: the worker is shutting down and refuses
        /// new runs, so it should be sent nothing more).
        case interrupted(String, draining: Bool)
        /// A step of the run was not recorded (the store failed): whatever it answered, it went
        /// on from a step the store does not have.
        case stepNotRecorded(answer: String)
    }

    enum State: Equatable {
        case running
        case checkingOutput(JSONValue)
        case decided(Action)
    }

    /// The execution whose run ends (its name, and whether a cancel was requested).
    let record: WorkflowRecord
    /// Whether the run wrote a step the store did not record.
    let stepNotRecorded: Bool
    /// Whether the workflow has an output contract to check a completed run's output against.
    let hasOutputContract: Bool
    private(set) var state: State = .running

    init(of record: WorkflowRecord, stepNotRecorded: Bool, hasOutputContract: Bool) {
        self.record = record
        self.stepNotRecorded = stepNotRecorded
        self.hasOutputContract = hasOutputContract
    }

    /// The worker answered `workflow/run` (a result, or an error from the connection).
    mutating func answered(_ reply: Result<JSONValue, any Error>) -> Action {
        guard case .running = state else { return .ignore }
        let result: JSONValue
        switch reply {
        case .failure(let error):
            return decide(.runAgain(.interrupted("\(error)", draining: (error as? KeelError)?.code == .shuttingDown)))
        case .success(let r):
            result = r
        }
        if stepNotRecorded {
            return decide(.runAgain(.stepNotRecorded(answer: result["status"]?.stringValue ?? "?")))
        }
        if let problem = PayloadDepth.answerProblem(result, method: "workflow/run") {
            return decide(.park(.malformedAnswer, failure: Engine.failure(type: "ProtocolError", message: problem, retryable: false)))
        }
        switch result["status"]?.stringValue {
        case "completed":
            let output = result["output"] ?? .null
            guard hasOutputContract else { return decide(.end(.completed, output: output, failure: nil)) }
            state = .checkingOutput(output)
            return .checkOutput(output)
        case "failed":
            let failure = Engine.normalizedFailure(result["failure"] ?? [:])
            switch failure["type"]?.stringValue {
            case "NonDeterminism": return decide(.park(.nonDeterminism, failure: failure))
            case "Cancelled" where record.cancelRequested: return decide(.end(.cancelled, output: nil, failure: failure))
            default: return decide(.end(.failed, output: nil, failure: failure))
            }
        case "suspended":
            return decide(.suspend)
        case "continueAsNew":
            return decide(.continueAsNew(result["input"] ?? .null))
        default:
            return decide(
                .park(.malformedAnswer, failure: Engine.failure(type: "ProtocolError", message: Engine.malformedRunAnswer(result), retryable: false)))
        }
    }

    /// The output contract's verdict on the output of ``Action/checkOutput(_:)``: no errors, the
    /// execution completes; otherwise it fails.
    mutating func outputChecked(errors: [JSONValue]) -> Action {
        guard case .checkingOutput(let output) = state else { return .ignore }
        guard !errors.isEmpty else { return decide(.end(.completed, output: output, failure: nil)) }
        return decide(.end(.failed, output: nil, failure: Engine.outputContractViolation(record.name, errors: errors)))
    }

    private mutating func decide(_ action: Action) -> Action {
        state = .decided(action)
        return action
    }
}

import KeelCore
import KeelProtocol

/// The answer to one held `workflow/step` request: given once, by whoever ends its entry, by the
/// end of the hold (`suspend`) or by the end of the run; awaited by the request's task, or, over a
/// connection, sent as the request's deferred answer so that no task waits at all
/// (docs/performance.md, "Waiting requests").
///
/// Over a connection the request's task ends once the step is recorded and its answer is deferred.
/// A request that cannot defer (a batch item, an in-process caller) records the step in a
/// short-lived child task (``Engine/step(_:session:)``) and only waits here: a Swift task keeps
/// every stack slab its async frames grew into until it ends, and recording a step takes ~40 KB of
/// frames, so a request held for seconds used to keep them all that time (issue 15: ~55 KiB per
/// open execution).
final class HeldStep: Sendable {
    private enum State {
        case waiting(CheckedContinuation<JSONValue, Never>?)
        case deferred(DeferredAnswer)
        case answered(JSONValue)
    }

    private let state = Locked(State.waiting(nil))

    /// Gives the answer; the first one wins, later ones are dropped.
    func resume(returning answer: JSONValue) {
        let waiter = state.withLock { s -> State? in
            switch s {
            case .answered: return nil
            case .waiting, .deferred:
                defer { s = .answered(answer) }
                return s
            }
        }
        switch waiter {
        case .waiting(let c)?: c?.resume(returning: answer)
        case .deferred(let deferred)?: deferred.send(answer)
        case .answered?, nil: break
        }
    }

    /// Sends the answer, once given, as `deferred` instead of to a waiting task. Call once,
    /// instead of ``answer``.
    func send(to deferred: DeferredAnswer) {
        let now = state.withLock { s -> JSONValue? in
            if case .answered(let a) = s { return a }
            s = .deferred(deferred)
            return nil
        }
        if let now { deferred.send(now) }
    }

    /// The answer, once given. Call once.
    var answer: JSONValue {
        get async {
            await withCheckedContinuation { c in
                let now = state.withLock { s -> JSONValue? in
                    if case .answered(let a) = s { return a }
                    s = .waiting(c)
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        }
    }
}

/// What recording a `workflow/step` came to: its answer now, a hold on its entry's outcome, or
/// (over a connection) a deferred answer sent once the store has the step.
enum StepReply: Sendable {
    case answer(JSONValue)
    case held(HeldStep)
    case deferred
}

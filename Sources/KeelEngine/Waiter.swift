import KeelStorage

/// A caller waiting here for an execution's or a task's end: a task suspended until it is
/// resumed, or a deferred answer sent by a closure (`workflow/result`, `activity/call` and
/// `activity/result` over a connection, which keep no task while they wait). Either is given the
/// final record, or nil when its wait timed out, the end could not be stored, or the execution
/// left this node.
enum Waiter<Record: Sendable> {
    case task(CheckedContinuation<Record?, Never>)
    case answer(@Sendable (Record?) -> Void)

    /// Hands the waiter `record`; call once.
    func resume(returning record: Record?) {
        switch self {
        case .task(let continuation): continuation.resume(returning: record)
        case .answer(let send): send(record)
        }
    }
}

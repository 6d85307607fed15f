import KeelStorage

/// A caller waiting here for an execution's end: a task suspended until it is resumed, or a
/// deferred answer sent by a closure (`workflow/result` over a connection, which keeps no task
/// while it waits). Either is given the final record, or nil when its wait timed out or the
/// execution left this node.
enum WorkflowWaiter {
    case task(CheckedContinuation<WorkflowRecord?, Never>)
    case answer(@Sendable (WorkflowRecord?) -> Void)

    /// Hands the waiter `record`; call once.
    func resume(returning record: WorkflowRecord?) {
        switch self {
        case .task(let continuation): continuation.resume(returning: record)
        case .answer(let send): send(record)
        }
    }
}

import KeelCore
import Synchronization

/// The workflow runs live on one connection, so the `workflow/cancel` notification reaches them.
///
/// Keel sends `workflow/cancel` when it terminated or timed out an execution whose run is live
/// here (docs/protocol.md). ``stop(workflowId:runId:reason:)`` then answers the run at once with
/// 2006 (Keel ignores that answer, as it does the Python client's), cancels the task running the
/// workflow code, and makes its later steps throw without reaching the wire.
final class LiveRuns: Sendable {
    private struct Run: Sendable {
        let context: WorkflowContext
        let task: Task<Void, Never>
        let outcome: RunOutcome
    }

    private let runs = Locked<[String: Run]>([:])

    private static func key(_ workflowId: String, _ runId: Int) -> String { "\(runId)/\(workflowId)" }

    /// Runs `answer` (the workflow code and the making of its `workflow/run` answer) in its own
    /// task; returns its answer, or throws the stop's 2006 once the run was stopped.
    func run(_ context: WorkflowContext, _ answer: @escaping @Sendable () async -> JSONValue) async throws -> JSONValue {
        let key = Self.key(context.workflowId, context.runId)
        let outcome = RunOutcome()
        let task = Task { outcome.finish(.success(await answer())) }
        runs.withLock { $0[key] = Run(context: context, task: task, outcome: outcome) }
        defer { runs.withLock { if $0[key]?.outcome === outcome { $0[key] = nil } } }
        return try await withTaskCancellationHandler {
            try await outcome.value()
        } onCancel: {
            task.cancel()
        }
    }

    /// Stops run `runId` of `workflowId` if it is live here; otherwise does nothing.
    func stop(workflowId: String, runId: Int, reason: String) {
        guard let run = runs.withLock({ $0.removeValue(forKey: Self.key(workflowId, runId)) }) else { return }
        run.context.stop()
        run.task.cancel()
        run.outcome.finish(.failure(KeelError(.attemptSuperseded, "workflow \(workflowId) ended: \(reason)")))
    }
}

/// The first outcome of a run (its answer, or its stop); later ones are dropped.
final class RunOutcome: Sendable {
    private let state = Locked<(result: Result<JSONValue, KeelError>?, waiters: [CheckedContinuation<Result<JSONValue, KeelError>, Never>])>(
        (nil, []))

    func finish(_ result: Result<JSONValue, KeelError>) {
        let waiters = state.withLock { s -> [CheckedContinuation<Result<JSONValue, KeelError>, Never>] in
            guard case .none = s.result else { return [] }
            s.result = result
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: result) }
    }

    /// Waits for the outcome.
    func value() async throws -> JSONValue {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<JSONValue, KeelError>, Never>) in
            let ready = state.withLock { s -> Result<JSONValue, KeelError>? in
                if let r = s.result { return r }
                s.waiters.append(c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
        return try result.get()
    }
}

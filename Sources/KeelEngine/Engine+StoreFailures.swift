import KeelCore
import KeelStorage
import Logging

/// What the engine does when a store write does not commit (docs/guarantees.md, "When the store
/// fails"): a request is answered with 4001 and an incident id; a background write is retried with
/// backoff; memory changes only after a commit, so nothing is acknowledged that is not durable.
extension Engine {
    /// Backoff of a background write that failed: first pause, doubling up to the cap. The cap keeps
    /// a full disk from being probed more than once every 5 s per pending write, and bounds how late a
    /// write lands once space returns.
    static let storeRetryFirstDelayMs = 50
    static let storeRetryMaxDelayMs = 5_000

    /// Logs a failed write in full under a new incident id, counts it, and returns the error the
    /// wire may carry: 4001 with `data: {incident, reason}`, no SQL, path or SQLite text.
    nonisolated func storeFailed(_ error: any Error, while what: String, background: Bool) -> KeelError {
        let reason = StorageFailureReason(error)
        let incident = Self.newIncidentID()
        StoreFailureMetrics.record(reason, path: background ? "background" : "request")
        logger.error(
            "store write failed",
            metadata: [
                "incident": "\(incident)", "while": "\(what)", "reason": "\(reason.rawValue)",
                "retry": "\(background ? "with backoff" : "by the caller")", "error": "\(error)",
            ])
        return KeelError(
            .storageFailure,
            "the store could not record \(what) (\(reason.summary)); nothing was acknowledged, retry later",
            data: ["incident": .string(incident), "reason": .string(reason.rawValue)], cause: error)
    }

    /// A store failure on the way to a caller, made safe for the wire (once: an error that already
    /// carries an incident id passes through).
    nonisolated func storeFailureForWire(_ error: KeelError, method: String) -> KeelError {
        if error.data?["incident"] != nil { return error }
        return storeFailed(error, while: "the \(method) request", background: false)
    }

    /// An error the engine did not expect (not a ``KeelError``), made safe for the wire: logged in
    /// full under a new incident id; the caller gets `-32603` with `data: {incident}` and nothing of
    /// the error's text.
    nonisolated func unexpectedErrorForWire(_ error: any Error, method: String) -> KeelError {
        let incident = Self.newIncidentID()
        logger.error(
            "unexpected error answering a request",
            metadata: ["incident": "\(incident)", "method": "\(method)", "error": "\(error)"])
        return KeelError(
            .internalError, "internal error while handling \(method); the orchestrator's log has incident \(incident)",
            data: ["incident": .string(incident)])
    }

    /// Any error on its way to a caller, made safe for the wire: a ``KeelError`` as it is (a store
    /// failure with an incident id), anything else as ``unexpectedErrorForWire(_:method:)``.
    nonisolated func errorForWire(_ error: any Error, method: String) -> KeelError {
        guard let error = error as? KeelError else { return unexpectedErrorForWire(error, method: method) }
        return error.code == .storageFailure ? storeFailureForWire(error, method: method) : error
    }

    /// Runs `commit` in a background job, retrying with backoff until it commits or the engine
    /// stops (then the store's state is what the next start recovers from), and hands the result to
    /// `committed` on the engine. Use for writes no caller is waiting on: timer outcomes, a worker's
    /// result, a run's end.
    func retryCommit<T: Sendable>(
        _ what: String, _ commit: @escaping @Sendable () async throws -> T,
        committed: @escaping @Sendable (T) async -> Void
    ) {
        enqueue { [self] in
            var delay = Self.storeRetryFirstDelayMs
            while true {
                do {
                    try await Task.sleep(for: .milliseconds(delay))
                } catch {
                    logger.warning("stopped retrying a store write; the next start resumes from the store", metadata: ["while": "\(what)"])
                    return
                }
                do {
                    let value = try await commit()
                    logger.info("a store write that had failed committed", metadata: ["while": "\(what)"])
                    await committed(value)
                    return
                } catch {
                    _ = storeFailed(error, while: what, background: true)
                    delay = min(delay * 2, Self.storeRetryMaxDelayMs)
                }
            }
        }
    }

    /// ``retryCommit(_:_:committed:)`` for a task change, fenced on the store.
    func retryTaskWrite(_ what: String, _ change: Change, committed: @escaping @Sendable (WriteOutcome) async -> Void) {
        let store = cluster.store
        retryCommit(what, { Self.writeOutcome(try await store.apply([change]).first ?? .notFound) }, committed: committed)
    }

    /// Runs the execution `id` again after a pause, when what its run ended with could not be
    /// committed: replay from the journal is always safe, and the pause keeps a full disk from
    /// turning into a busy loop of runs.
    func requeueAfterStoreFailure(_ id: String) {
        let failures = workflowStoreFailures[id, default: 0] + 1
        workflowStoreFailures[id] = failures
        let delay = min(Self.storeRetryFirstDelayMs << min(failures - 1, 10), Self.storeRetryMaxDelayMs)
        enqueue { [self] in
            do { try await Task.sleep(for: .milliseconds(delay)) } catch { return }
            await self.requeueIfEnding(id)
        }
    }

    private func requeueIfEnding(_ id: String) {
        guard let live = workflows[id], live.phase.isEnding else { return }
        requeue(id)
    }

    /// A short random id that ties a wire error to its log line.
    static func newIncidentID() -> String {
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
        return "inc-" + String((0..<12).map { _ in alphabet.randomElement()! })
    }
}

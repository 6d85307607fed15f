import NIOPosix

/// A task executor over NIO's blocking thread pool: where ``KeelCore/LongWork`` runs — the parse
/// of a large frame, the validation of a large payload, the compilation of a worker's contracts —
/// so that it holds up only the request it belongs to, whichever executor runs the rest of Keel
/// (the event loops by default, or Swift's pool with `--no-concurrency-on-event-loops`).
///
/// A job submitted after the pool stopped runs on the submitting thread: work is never dropped.
public final class ThreadPoolExecutor: TaskExecutor {
    private let pool: NIOThreadPool

    /// Runs jobs on NIO's shared blocking pool (one thread per core by default).
    public init() {
        pool = .singleton
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        pool.submit { _ in job.runSynchronously(on: executor) }
    }
}

import Metrics

/// The store's group-commit metrics (docs/metrics.md): how long each commit took, and how many
/// writes it carried. Recorded once per batch by the writer thread, never per write.
public enum StoreMetrics {
    /// Histogram of one group commit's wall time (BEGIN to COMMIT, fsync included), in seconds.
    public static let commitSeconds = "keel_store_commit_seconds"
    /// Histogram of how many writes one group commit carried.
    public static let commitBatchSize = "keel_store_commit_batch_size"

    /// Histogram of how many `apply` calls one shared PostgreSQL commit carried (GroupCommitStore).
    public static let commitCalls = "keel_store_commit_calls"
    /// Counter of shared commits the server refused, whose calls were then sent one by one.
    public static let splitCommits = "keel_store_split_commits_total"

    private static let groupHandles = MetricHandles { _ in
        (Recorder(label: commitCalls, aggregate: true), Counter(label: splitCommits))
    }

    /// Records one shared commit of `calls` calls; `split` when it was refused and sent call by call.
    static func recordGroupCommit(calls: Int, split: Bool) {
        let (sizes, splits) = groupHandles("")
        sizes.record(calls)
        if split { splits.increment() }
    }

    /// Counter of wake-up hints that could not be sent after their changes committed (the other
    /// nodes then see the work at their next poll).
    public static let hintsLost = "keel_store_hints_lost_total"

    private static let hintHandles = MetricHandles { _ in Counter(label: hintsLost) }

    /// Counter of a PostgreSQL node's write connections closed after a failed write or found
    /// closed by the server, each replaced by a new one.
    public static let writeConnectionsReplaced = "keel_store_write_connections_replaced_total"

    private static let replacedHandles = MetricHandles { _ in Counter(label: writeConnectionsReplaced) }

    /// Counts one write connection given up.
    public static func writeConnectionReplaced() { replacedHandles("").increment() }

    /// Counter of SQLite transactions a failure left open that a ROLLBACK could not end; the
    /// connection's next use tries again before it begins (SQLiteConnection.rollBackIfOpen).
    public static let transactionsLeftOpen = "keel_store_transactions_left_open_total"

    private static let leftOpenHandles = MetricHandles { _ in Counter(label: transactionsLeftOpen) }

    /// Counts one ROLLBACK that failed and left its transaction open.
    static func transactionLeftOpen() { leftOpenHandles("").increment() }

    /// Counter of WAL checkpoints that failed (SQLite's error, not "another was running"): the
    /// WAL grows until one succeeds; at 10,000 pages the writer checkpoints inline (WALCheckpointer).
    public static let checkpointFailures = "keel_store_checkpoint_failures_total"

    private static let checkpointHandles = MetricHandles { _ in Counter(label: checkpointFailures) }

    /// Counts one failed checkpoint.
    static func checkpointFailed() { checkpointHandles("").increment() }

    /// Counts one wake-up hint lost after its commit.
    public static func hintLost() { hintHandles("").increment() }

    private static let handles = MetricHandles { _ in
        (Timer(label: commitSeconds), Recorder(label: commitBatchSize, aggregate: true))
    }

    /// Records one group commit of `writes` writes that took `duration`.
    static func recordCommit(writes: Int, duration: Duration) {
        let (timer, sizes) = handles("")
        timer.recordNanoseconds(duration.nanoseconds)
        sizes.record(writes)
    }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating at `Int64.max`.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}

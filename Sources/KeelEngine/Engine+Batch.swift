import KeelCore
public import KeelProtocol
import KeelStorage

/// `workflow/batch`: cancel, signal or terminate every workflow a query matches, a page at a
/// time (docs/protocol.md, "workflow/batch"). Server-side, so one request does a page of work
/// without a round trip per workflow; paged, so no request holds the engine for long and a client
/// can show progress and stop between pages.
extension Engine {
    /// Matches per page when the request gives no `limit`.
    static let batchDefaultLimit = 500
    /// Rows read per store query while looking for matches.
    static let batchScanChunk = 500
    /// Rows scanned per request at most, so that a query matching few of many workflows still
    /// answers promptly (with a `nextCursor` to continue).
    static let batchScanBudget = 20_000
    /// Failures listed per page; `failedCount` has them all.
    static let batchFailureListLimit = 100
    /// Ids of matched workflows a dry run shows.
    static let batchSampleSize = 10

    enum BatchOperation: String, CaseIterable {
        case cancel, signal, terminate
    }

    /// `workflow/batch`: one page of cancel, signal or terminate over the workflows `query`
    /// matches (a dry run only counts them, with a sample), and `nextCursor` while more may match.
    /// A workflow the operation fails for is listed in `failed`, not thrown.
    /// - Throws: `KeelError(.invalidParams)` for a query it cannot parse, a signal operation
    ///   without a signal (or with a name reserved for updates), a cursor it did not return.
    public func workflowBatch(_ params: WorkflowBatchParams) async throws -> WorkflowBatchResult {
        let method = WorkflowBatchParams.method
        let opName = params.operation.rawValue
        guard let operation = BatchOperation(rawValue: opName) else {
            let names = BatchOperation.allCases.map(\.rawValue).joined(separator: ", ")
            throw Params.fail(method: method, "operation", "must be one of \(names)")
        }
        let dryRun = params.dryRun
        let query = try WorkflowQuery(parsing: params.query)
        let reason = params.reason ?? "\(opName) by batch"
        var signal: (name: String, payload: JSONValue)?
        if operation == .signal {
            guard let s = params.signal, !s.name.isEmpty else {
                throw Params.fail(method: method, "signal", "is required for operation signal: {name, payload}")
            }
            try Self.refuseUpdateSignalName(s.name, method: method, field: "signal.name")
            signal = (s.name, s.payload ?? .null)
        }
        let limit = Int(params.limit ?? Int64(Self.batchDefaultLimit))
        var filter = query.storeFilter
        if let cursor = params.cursor { filter.after = try Self.listCursor(cursor, method: method) }
        let page = try await batchPage(query, filter: filter, limit: limit)
        var applied = 0, skipped = 0
        var failed: [WorkflowBatchResult.FailedItem] = []
        var failedCount = 0
        if !dryRun {
            for id in page.matched {
                do {
                    if try await applyBatch(operation, to: id, reason: reason, signal: signal) { applied += 1 } else { skipped += 1 }
                } catch {
                    failedCount += 1
                    if failed.count < Self.batchFailureListLimit {
                        let e = wireError(error, context: "workflow/batch \(opName) of \(id)")
                        let wire = WorkflowBatchResult.FailedItem.Error(code: Int64(e.code.rpcCode), message: e.message)
                        failed.append(.init(workflowId: id, error: wire))
                    }
                }
            }
        }
        var result = WorkflowBatchResult(
            operation: .init(rawValue: opName), dryRun: dryRun, matched: Int64(page.matched.count),
            applied: Int64(applied), skipped: Int64(skipped), failed: failed, failedCount: Int64(failedCount),
            scanned: Int64(page.scanned))
        if dryRun { result.sample = Array(page.matched.prefix(Self.batchSampleSize)) }
        result.nextCursor = page.nextCursor
        return result
    }

    /// Up to `limit` matching ids from the filter's position on, oldest first, and the cursor
    /// after the last row looked at when more may follow.
    private func batchPage(_ query: WorkflowQuery, filter start: WorkflowFilter, limit: Int)
        async throws -> (matched: [String], scanned: Int, nextCursor: String?)
    {
        var filter = start
        var matched: [String] = []
        var scanned = 0
        while true {
            filter.limit = min(Self.batchScanChunk, Self.batchScanBudget - scanned)
            let f = filter
            let rows = try await ledger.executions(f).map(\.record)
            for w in rows {
                scanned += 1
                filter.after = (w.createdAt, w.id)
                // The live record is fresher than the stored one (a run that just suspended).
                if query.matches(workflows[w.id]?.record ?? w) { matched.append(w.id) }
                if matched.count == limit { return (matched, scanned, Self.cursor(filter)) }
            }
            if rows.count < f.limit { return (matched, scanned, nil) }
            if scanned >= Self.batchScanBudget { return (matched, scanned, Self.cursor(filter)) }
        }
    }

    /// One workflow's failure inside a batch, safe for the wire as a request's error would be.
    private func wireError(_ error: any Error, context: String) -> KeelError {
        guard let k = error as? KeelError else { return unexpectedErrorForWire(error, method: context) }
        return k.code == .storageFailure ? storeFailureForWire(k, method: context) : k
    }

    private static func cursor(_ f: WorkflowFilter) -> String? { f.after.map { "\($0.0):\($0.1)" } }

    /// Applies `operation` to one workflow: true when it acted, false when there was nothing to
    /// do (the workflow had ended meanwhile).
    private func applyBatch(_ operation: BatchOperation, to id: String, reason: String, signal: (name: String, payload: JSONValue)?)
        async throws -> Bool
    {
        guard let record = try await currentWorkflow(id), !record.status.isTerminal else { return false }
        switch operation {
        case .cancel:
            try await cancel(id, reason: reason)
        case .signal:
            guard let signal else { return false }
            _ = try await signalWorkflow(WorkflowSignalParams(workflowId: id, name: signal.name, payload: signal.payload))
        case .terminate:
            try await terminate(id, reason: reason)
        }
        return true
    }
}

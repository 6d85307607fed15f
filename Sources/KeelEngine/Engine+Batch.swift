import KeelCore
import KeelProtocol
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

    func workflowBatch(_ value: JSONValue) async throws -> JSONValue {
        let p = try Params(value, method: "workflow/batch")
        let opName = try p.string("operation")
        guard let operation = BatchOperation(rawValue: opName) else {
            throw p.fail("operation", "must be one of \(BatchOperation.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let dryRun = try p.optionalBool("dryRun") else {
            throw p.fail("dryRun", "is required: true counts the matches, false acts on them")
        }
        let query = try WorkflowQuery(parsing: try p.string("query"))
        let reason = try p.optionalString("reason") ?? "\(opName) by batch"
        var signal: (name: String, payload: JSONValue)?
        if operation == .signal {
            guard let s = p["signal"], let name = s["name"]?.stringValue, !name.isEmpty else {
                throw p.fail("signal", "is required for operation signal: {name, payload}")
            }
            try Self.refuseUpdateSignalName(name, p, field: "signal.name")
            signal = (name, s["payload"] ?? .null)
        }
        let limit = Int(try p.optionalInt("limit", range: 1...1000) ?? Int64(Self.batchDefaultLimit))
        var filter = query.storeFilter
        if let cursor = try p.optionalString("cursor") {
            let parts = cursor.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let t = Int64(parts[0]) else { throw p.fail("cursor", "is not a cursor this server returned") }
            filter.after = (t, String(parts[1]))
        }
        let page = try await batchPage(query, filter: filter, limit: limit)
        var applied = 0, skipped = 0
        var failed: [JSONValue] = []
        var failedCount = 0
        if !dryRun {
            for id in page.matched {
                do {
                    if try await applyBatch(operation, to: id, reason: reason, signal: signal) { applied += 1 } else { skipped += 1 }
                } catch {
                    failedCount += 1
                    if failed.count < Self.batchFailureListLimit {
                        let e = wireError(error, context: "workflow/batch \(opName) of \(id)")
                        failed.append(["workflowId": .string(id), "error": ["code": JSONValue(e.code.rpcCode), "message": .string(e.message)]])
                    }
                }
            }
        }
        var o: [String: JSONValue] = [
            "operation": .string(opName), "dryRun": .bool(dryRun), "matched": JSONValue(page.matched.count),
            "applied": JSONValue(applied), "skipped": JSONValue(skipped), "failed": .array(failed),
            "failedCount": JSONValue(failedCount), "scanned": JSONValue(page.scanned),
        ]
        if dryRun { o["sample"] = .array(page.matched.prefix(Self.batchSampleSize).map { .string($0) }) }
        if let next = page.nextCursor { o["nextCursor"] = .string(next) }
        return .object(o)
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

import KeelCore
public import KeelProtocol
import KeelStorage

/// `workflow/list`: executions by status, name, creation time and search query, a page at a time.
extension Engine {
    /// `workflow/list`: a page of executions matching the filters and the query (oldest first
    /// unless `order` is newest), with `nextCursor` when the page is full.
    /// - Throws: `KeelError(.invalidParams)` for a cursor this server did not return or a query it
    ///   cannot parse, and (from a typed caller; the schema refuses it on the wire) a status Keel
    ///   does not have.
    public func listWorkflows(_ params: WorkflowListParams) async throws -> WorkflowListResult {
        let filter = try Self.workflowFilter(params)
        let found = try await ledger.executions(filter)
        let summaries = found.map { row in
            var summary = Self.typedSummary(workflows[row.record.id]?.record ?? row.record)
            // The node that runs it now, if one does.
            summary.node = row.node
            return summary
        }
        var result = WorkflowListResult(workflows: summaries)
        if found.count == filter.limit, let last = found.last?.record {
            result.nextCursor = "\(last.createdAt):\(last.id)"
        }
        if found.isEmpty, filter.after == nil, let query = filter.query {
            let unknown = try await unknownAttributeKeys(query)
            if !unknown.isEmpty { result.unknownAttributes = unknown }
        }
        return result
    }

    /// The store filter a `workflow/list` request asks for (default limit 100).
    private static func workflowFilter(_ params: WorkflowListParams) throws -> WorkflowFilter {
        let method = WorkflowListParams.method
        var filter = WorkflowFilter()
        if let s = params.status {
            guard let status = WorkflowStatus(rawValue: s.rawValue) else {
                let names = WorkflowStatus.allCases.map(\.rawValue).joined(separator: ", ")
                throw Params.fail(method: method, "status", "must be one of \(names)")
            }
            filter.status = status
        }
        filter.name = params.name
        filter.createdAfter = params.createdAfterMs
        filter.createdBefore = params.createdBeforeMs
        filter.newestFirst = params.order == .newest
        filter.limit = Int(params.limit ?? 100)
        if let query = params.query { filter.query = try SearchQueryParser.parse(query) }
        if let cursor = params.cursor { filter.after = try listCursor(cursor, method: method) }
        return filter
    }

    /// The position a `nextCursor` (`CREATED_AT:ID`) of `workflow/list` or `workflow/batch` names.
    /// - Throws: `KeelError(.invalidParams)` naming `cursor` when it is not one this server made.
    static func listCursor(_ cursor: String, method: String) throws -> (Int64, String) {
        let parts = cursor.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let t = Int64(parts[0]) else {
            throw Params.fail(method: method, "cursor", "is not a cursor this server returned")
        }
        return (t, String(parts[1]))
    }

    /// For a query that found nothing: the attribute keys it compares that no execution has, each
    /// with the known keys closest to it (a typo such as `custmer` for `customer` finds nothing,
    /// which is not an error). Empty when every key exists, or when more keys exist than a hint reads.
    func unknownAttributeKeys(_ query: SearchQuery) async throws -> [WorkflowListResult.UnknownAttribute] {
        let asked = query.attributeKeys
        guard !asked.isEmpty else { return [] }
        let known = try await ledger.searchAttributeKeys()
        guard known.count < SearchAttributeKeys.limit else { return [] }
        return asked.filter { !known.contains($0) }.map { key in
            .init(key: key, suggestions: NameSuggestions.suggestions(for: key, among: known))
        }
    }
}

public import KeelCore
public import KeelStorage

extension Engine {
    /// Execution counts per status, optionally only those named `name`, created at or after
    /// `createdAfter`, or matching `query` (`workflow/list`'s language): the web UI's list counts
    /// (docs/ui.md). Statuses with none are absent.
    /// Exact unless more than `atMost` executions match: the store then stops counting after
    /// `atMost + 1` rows, the counts add up to more than `atMost` and each is a lower bound.
    /// - Throws: `invalidQuery` for a query that does not parse; the store's error.
    public func workflowCounts(name: String? = nil, createdAfter: EpochMillis? = nil, query: String? = nil, atMost: Int? = nil)
        async throws -> [WorkflowStatus: Int]
    {
        var filter = WorkflowFilter()
        filter.name = name
        filter.createdAfter = createdAfter
        filter.query = try query.map(SearchQueryParser.parse)
        return try await cluster.store.workflowCounts(filter, atMost: atMost)
    }
}

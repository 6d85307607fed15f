import KeelPostgres
import KeelStorage
import KeelTesting
import Testing

/// The storage conformance suite on PostgreSQL: a fresh database per case on a server this test
/// process started (PostgresCluster), the same cases SQLite passes. One case at a time: each makes
/// a database, and fifteen at once would load CI's two cores for every other suite.
@Suite(.serialized) struct PostgresStoreConformanceTests {
    @Test(arguments: StoreConformance.cases)
    func conformance(_ conformanceCase: StoreConformanceCase) async throws {
        let cluster = try await PostgresCluster.shared()
        let url = cluster.url(database: try await offCooperativePool { try cluster.createDatabase() })
        guard case .postgres(let location) = try StoreURL(parsing: url) else {
            Issue.record("not a PostgreSQL URL: \(url)")
            return
        }
        try await conformanceCase.run(closing: try await PostgresStore(location))
    }
}

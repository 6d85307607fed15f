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
        try await conformanceCase.run(closing: try await Self.freshStore())
    }

    /// The same cases through shared commits (`keel serve`'s PostgreSQL store): calls that arrive
    /// together commit together, and each still answers as it would alone.
    @Test(arguments: StoreConformance.cases)
    func conformanceThroughSharedCommits(_ conformanceCase: StoreConformanceCase) async throws {
        try await conformanceCase.run(closing: GroupCommitStore(try await Self.freshStore(), maximumInFlight: 2))
    }

    /// A store on a new database of the PostgreSQL this test run started.
    static func freshStore() async throws -> PostgresStore {
        let cluster = try await PostgresCluster.shared()
        let url = cluster.url(database: try await offCooperativePool { try cluster.createDatabase() })
        guard case .postgres(let location) = try StoreURL(parsing: url) else {
            throw PostgresCluster.ClusterError("not a PostgreSQL URL: \(url)")
        }
        // The cases check what is stored, not how fast: on a loaded CI machine a call here once
        // took more than the default 10 s, and the case failed on the deadline, not on a result.
        return try await PostgresStore(location, operationTimeout: .seconds(60))
    }
}

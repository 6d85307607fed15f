import KeelStorage
import KeelTesting
import Testing

/// The storage conformance suite on SQLite: a fresh file in a temp dir per case.
@Suite struct SQLiteStoreConformanceTests {
    @Test(arguments: StoreConformance.cases)
    func conformance(_ conformanceCase: StoreConformanceCase) async throws {
        try await TemporaryDirectory.with { dir in
            try await conformanceCase.run(closing: SQLiteStore(storage: try SQLiteStorage(path: dir.file("keel.db"))))
        }
    }
}

import Foundation
import KeelCore
import Testing

@testable import KeelStorage

/// Owned contracts' versions in the `contracts` table (migration 3).
@Suite("Contract pins in the store", .timeLimit(.minutes(2)))
struct ContractPinStorageTests {
    @Test func aPinStoredBeforeVersionsReadsAsVersionOneAndKeepsLaterVersions() async throws {
        let dir = NSTemporaryDirectory() + "keel-pins-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/keel.db"
        // A database as the release before versions left it: migrations 1 and 2, one pin.
        do {
            let old = try SQLiteConnection(path: path, readOnly: false)
            for sql in Migrations.all.prefix(2) { try old.execute(sql) }
            try old.execute(
                """
                INSERT INTO contracts (kind, name, contract_hash, input, output, owner, owner_worker, pinned_at)
                VALUES ('activity', 'greet.hello', 'sha256:old', 'true', 'true', 'worker-token', 'greeter', 1000);
                PRAGMA user_version=2;
                """)
        }
        let store = try SQLiteStorage(path: path)
        let pins = try await store.read { try $0.contractPins() }
        #expect(pins.map(\.version) == [1])
        var changed = try #require(pins.first)
        changed.hash = "sha256:new"
        changed.version = 2
        let pin = changed
        #expect(try await store.write { try $0.pinContract(pin, replacing: true) } == .applied)
        await store.close()
        let reopened = try SQLiteStorage(path: path)
        #expect(try await reopened.read { try $0.contractPins() } == [pin])
        await reopened.close()
    }
}

import Foundation
import KeelStorage
import Testing

@Suite("SQLite commit probe")
struct SQLiteCommitProbeTests {
    @Test(arguments: Durability.allCases)
    func theProbeTimesEachCommitAndLeavesNoFileBehind(durability: Durability) throws {
        let dir = NSTemporaryDirectory() + "keel-probe-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let latencies = try SQLiteCommitProbe.commitLatencies(directory: dir, durability: durability, count: 20)
        #expect(latencies.count == 20)
        #expect(latencies.allSatisfy { $0 > 0 && $0.isFinite })
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func aFolderThatDoesNotExistIsAStorageFailure() {
        #expect(throws: (any Error).self) {
            _ = try SQLiteCommitProbe.commitLatencies(directory: "/nonexistent-\(UUID())", durability: .full, count: 1)
        }
    }
}

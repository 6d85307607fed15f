@testable import KeelProtocol
import Testing

@Suite("Batch scan")
struct BatchScanTests {
    func count(_ text: String, upTo limit: Int = 100) -> Int {
        Array(text.utf8).withUnsafeBytes { BatchScan.itemCount($0, upTo: limit) }
    }

    @Test func countsTopLevelItemsOnly() {
        #expect(count("[]") == 0)
        #expect(count(" [ 1 ] ") == 1)
        #expect(count(#"[1,"a,b",{"x":[1,2,3]},[4,5]]"#) == 4)
        #expect(count(#"["\"],[", 2]"#) == 2)
    }

    @Test func stopsOnceOverTheLimit() {
        let big = "[" + Array(repeating: "1", count: 10_000).joined(separator: ",") + "]"
        #expect(count(big, upTo: 10) == 11)
    }

    @Test func recognizesABatchByItsFirstByte() {
        #expect(Array(" \t[1]".utf8).withUnsafeBytes { BatchScan.isBatch($0) })
        #expect(!Array(#"{"a":[1]}"#.utf8).withUnsafeBytes { BatchScan.isBatch($0) })
    }
}

import KeelCore
import Testing

/// `LongWork.isLong` estimates a value's written size without writing it: what is sent to a
/// thread of its own must be at least about the threshold, and what stays must be under it.
@Suite struct LongWorkTests {
    /// The value's size as JSONWriter writes it.
    func written(_ value: JSONValue) -> Int { JSONWriter.string(value).utf8.count }

    @Test func smallPayloadsStayWhereTheyAre() {
        let small: JSONValue = ["name": "ada", "n": 3, "tags": ["a", "b"], "ok": true, "none": .null]
        #expect(!LongWork.isLong(small))
        #expect(!LongWork.isLong(.string(String(repeating: "x", count: LongWork.thresholdBytes / 2))))
    }

    @Test func aLongStringOrManySmallItemsIsLong() {
        #expect(LongWork.isLong(.string(String(repeating: "x", count: LongWork.thresholdBytes))))
        let items = JSONValue.array(Array(repeating: ["s": "abcdefghijklmnopqrstuvwxyz"], count: 20_000))
        #expect(written(items) > LongWork.thresholdBytes)
        #expect(LongWork.isLong(items))
        let nested: JSONValue = ["outer": ["inner": items]]
        #expect(LongWork.isLong(nested))
    }

    /// The estimate stays within a factor of two of the written size on both sides of the line.
    @Test(arguments: [1_000, 4_000, 24_000, 40_000])
    func theEstimateFollowsTheWrittenSize(count: Int) throws {
        let value = JSONValue.array((0..<count).map { ["id": .init($0), "label": "item"] })
        let size = written(value)
        try #require(size < LongWork.thresholdBytes / 2 || size > LongWork.thresholdBytes * 2, "\(size) bytes")
        #expect(LongWork.isLong(value) == (size > LongWork.thresholdBytes), "\(size) bytes")
    }
}

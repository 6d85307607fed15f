import KeelCore
import Testing

/// Issue 10, item 7: object keys and strings are byte-exact, members keep their order.
@Suite("JSON objects with byte-exact keys")
struct JSONObjectTests {
    static let nfc = "\u{E9}"  // é as one code point
    static let nfd = "e\u{301}"  // e + combining acute accent: canonically equivalent, other bytes

    @Test func keysThatDifferOnlyByNormalizationStayTwoKeys() throws {
        let text = #"{"\#(Self.nfc)":1,"\#(Self.nfd)":2}"#
        let v = try JSONParser.parse(text)
        #expect(v.objectValue?.count == 2)
        #expect(v[Self.nfc] == 1)
        #expect(v[Self.nfd] == 2)
        #expect(JSONWriter.string(v) == text)
        #expect(JSONWriter.string(v, sortedKeys: true).utf8.count == text.utf8.count)
    }

    @Test func stringsCompareByBytes() {
        #expect(JSONValue.string(Self.nfc) != .string(Self.nfd))
        #expect(Set<JSONValue>([.string(Self.nfc), .string(Self.nfd)]).count == 2)
        #expect(JSONValue.object([Self.nfc: 1]) != .object([Self.nfd: 1]))
    }

    @Test func membersKeepTheirOrderAndARepeatedKeyKeepsItsLastValue() throws {
        let v = try JSONParser.parse(#"{"b":1,"a":2,"b":3}"#)
        #expect(JSONWriter.string(v) == #"{"b":3,"a":2}"#)
        #expect(try v == JSONParser.parse(#"{"a":2,"b":3}"#))
    }

    @Test func largeObjectsUseTheirIndexConsistently() throws {
        var o = JSONObject()
        for i in 0..<40 { o["k\(i)"] = JSONValue(i) }
        o["k3"] = "three"
        o.removeValue(forKey: "k5")
        #expect(o.count == 39 && o["k3"] == "three" && o["k5"] == nil && o["k39"] == 39)
        #expect(o.keys.first == "k0" && o.keys.last == "k39")
        let parsed = try JSONParser.parse(JSONWriter.string(.object(o)))
        #expect(parsed == .object(o) && parsed.hashValue == JSONValue.object(o).hashValue)
    }
}

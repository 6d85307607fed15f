import KeelCore
import Testing

/// Issue 10, item 1: hostile numbers neither trap nor compare wrongly, and the parser bounds them.
@Suite("JSON number limits and exactness")
struct JSONNumberLimitsTests {
    @Test func exponentsNearIntMaxNeitherTrapNorReadAsZero() {
        // Built by hand, beyond the parser's bound: the old code trapped (digits.count + exponent)
        // or read the exponent as 0.
        let huge = JSONNumber(literal: "1e9223372036854775807")
        let huger = JSONNumber(literal: "1e99999999999999999999")
        let tiny = JSONNumber(literal: "1e-99999999999999999999")
        #expect(huge.int64Value == nil)
        #expect(huger.int64Value == nil)
        #expect(JSONNumber(Int64(10)) < huger)
        #expect(huger != JSONNumber(Int64(1)))
        #expect(!tiny.isInteger)
        #expect(tiny > JSONNumber(Int64(0)) && tiny < JSONNumber(literal: "1e-999999999"))
        #expect(JSONNumber(literal: "-1e9223372036854775807") < JSONNumber(Int64.min))
        _ = huge.hashValue
    }

    @Test func numbersAtTheBoundsCompareExactly() throws {
        let a = try #require(JSONParser.parse("1e999999999").numberValue)
        let b = try #require(JSONParser.parse("10e999999998").numberValue)
        let c = try #require(JSONParser.parse("1.0000000000000000000000001e999999999").numberValue)
        #expect(a == b && a.hashValue == b.hashValue)
        #expect(a < c)
        #expect(try #require(JSONParser.parse("-1e-999999999").numberValue) < JSONNumber(Int64(0)))
        #expect(try JSONParser.parse("1e0000000000000000000000005") == JSONParser.parse("100000"))
        #expect(try JSONParser.parse("9.223372036854775807e18").int64Value == Int64.max)
        #expect(try JSONParser.parse("-9.223372036854775808e18").int64Value == Int64.min)
        #expect(try JSONParser.parse("9.223372036854775808e18").int64Value == nil)
    }

    @Test(arguments: [
        ("1e1000000000", "exponent"), ("-2.5E-1000000000", "exponent"), ("[1e99999999999999999999]", "exponent"),
        (String(repeating: "7", count: 4097), "digits"), ("0." + String(repeating: "1", count: 4096), "digits"),
    ])
    func numbersBeyondTheBoundAreRefusedWithAReason(_ text: String, _ word: String) {
        #expect {
            try JSONParser.parse(text)
        } throws: { error in
            (error as? JSONParser.SyntaxError)?.reason.contains(word) == true
        }
    }

    @Test func numbersAtTheBoundAreAccepted() throws {
        let long = String(repeating: "7", count: JSONNumber.maximumDigits)
        #expect(try JSONParser.parse(long).numberValue?.literal == long)
        #expect(try JSONParser.parse("-1E-999999999").numberValue?.literal == "-1E-999999999")
    }

    @Test func negativeZeroKeepsItsSignAndEqualsZero() throws {
        let v = try JSONParser.parse("[-0,0,-0.0]")
        #expect(JSONWriter.string(v) == "[-0,0,-0.0]")
        #expect(v.arrayValue?[0] == 0)
        #expect(JSONWriter.string(JSONValue(-0.0)) != "0")
    }
}

import KeelCore
import KeelSchema
import Testing

/// Issue 10, item 1: numeric keywords are exact for every number, whatever its exponent, and
/// `multipleOf` costs what the digits cost, not what the exponent says.
@Suite(.timeLimit(.minutes(3)))
struct NumberKeywordTests {
    func valid(_ schema: String, _ instance: JSONValue) throws -> Bool {
        try Validator(schema: try JSONParser.parse(schema)).isValid(instance)
    }

    func number(_ literal: String) -> JSONValue { .number(JSONNumber(literal: literal)) }

    @Test func exponentsBeyondIntAreNotReadAsZero() throws {
        // The old code read these exponents as 0: 1e99999999999999999999 was "1".
        #expect(try !valid(#"{"maximum":10}"#, number("1e99999999999999999999")))
        #expect(try !valid(#"{"const":1}"#, number("1e99999999999999999999")))
        #expect(try !valid(#"{"type":"integer"}"#, number("1e-99999999999999999999")))
        #expect(try valid(#"{"type":"integer"}"#, number("1e99999999999999999999")))
        #expect(try !valid(#"{"minimum":0}"#, number("-1e9223372036854775807")))
        #expect(try !valid(#"{"exclusiveMaximum":1e999999999}"#, try JSONParser.parse("1e999999999")))
        #expect(try valid(#"{"maximum":1e999999999}"#, try JSONParser.parse("9.99e999999998")))
    }

    @Test func multipleOfIsExactAtHugeExponents() throws {
        let huge = try JSONParser.parse("1e999999999")
        #expect(try valid(#"{"multipleOf":0.0000025}"#, huge))
        #expect(try valid(#"{"multipleOf":1208925819614629174706176}"#, huge))  // 2^80
        #expect(try !valid(#"{"multipleOf":1234567890123456789012347}"#, huge))
        #expect(try !valid(#"{"multipleOf":3}"#, huge))
        #expect(try valid(#"{"multipleOf":1e999999998}"#, huge))
        #expect(try !valid(#"{"multipleOf":1e999999999}"#, try JSONParser.parse("1e999999998")))
        #expect(try valid(#"{"multipleOf":0.1}"#, try JSONParser.parse("7e-1")))
        #expect(try !valid(#"{"multipleOf":0.1}"#, try JSONParser.parse("7e-999999999")))
    }

    @Test func multipleOfWithLongOperandsFinishesQuickly() throws {
        // 4,096-digit value (the parser's limit) against a 25-digit and a 2,000-digit divisor.
        let value = try JSONParser.parse(String(repeating: "9", count: JSONNumber.maximumDigits) + "e999999999")
        let start = ContinuousClock.now
        #expect(try !valid(#"{"multipleOf":1234567890123456789012347}"#, value))
        #expect(try valid(#"{"multipleOf":\#(String(repeating: "9", count: 2048))}"#, value))
        #expect(try !valid(#"{"multipleOf":\#(String(repeating: "7", count: 2000))}"#, value))
        #expect(start.duration(to: .now) < .seconds(20))
    }

    @Test func compactDecimalsCoverShortLiteralsOnly() {
        #expect(JSONNumber(literal: "12.5").compactDecimal! == (125, -1))
        #expect(JSONNumber(literal: "-3E+2").compactDecimal! == (-3, 2))
        #expect(JSONNumber(literal: "1.50e-3").compactDecimal! == (150, -5))
        #expect(JSONNumber(Int64.min).compactDecimal! == (Int64.min, 0))
        #expect(JSONNumber(literal: "1234567890.123456789").compactDecimal == nil)  // 19 digits
        #expect(JSONNumber(literal: "1e9999999999").compactDecimal == nil)  // beyond the parser's exponents
    }

    /// The allocation-free path (both operands compact, aligned within Int64) and the exact
    /// decimal path must agree; these pairs sit on either side of the switch between them.
    @Test(arguments: [
        (#"{"multipleOf":0.01}"#, "12.5", true), (#"{"multipleOf":0.01}"#, "12.555", false),
        (#"{"multipleOf":0.01}"#, "20.99", true), (#"{"multipleOf":3}"#, "-9", true),
        (#"{"multipleOf":0.0001}"#, "0.0075", true), (#"{"multipleOf":1e-18}"#, "9.2", true),
        (#"{"multipleOf":1e-19}"#, "9.2", true), (#"{"multipleOf":7}"#, "9223372036854775807", true),
        (#"{"multipleOf":0.5}"#, "9223372036854775807", true),
        (#"{"multipleOf":0.3}"#, "9223372036854775807", false), (#"{"multipleOf":0.5}"#, "1e308", true),
        (#"{"minimum":0}"#, "-0.0", true), (#"{"minimum":0.1}"#, "0.09999999999999999999", false),
        (#"{"maximum":100000000}"#, "100000000.0000001", false), (#"{"maximum":1e19}"#, "9.99e18", true),
        (#"{"exclusiveMaximum":10}"#, "10.0", false), (#"{"exclusiveMinimum":-1.5}"#, "-1.49", true),
        (#"{"minimum":-9223372036854775808}"#, "-9.223372036854775809e18", false),
    ])
    func numberKeywordsAgreeAcrossTheFastAndExactPaths(schema: String, literal: String, expected: Bool) throws {
        #expect(try valid(schema, number(literal)) == expected)
    }
}

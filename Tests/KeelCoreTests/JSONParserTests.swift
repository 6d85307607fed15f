import KeelCore
import Testing

@Suite("JSON parser and writer")
struct JSONParserTests {
    @Test(arguments: [
        "{}", "[]", "null", "true", "false", "0", "-0", "1.5", "-12e3", "\"a\\u00e9\\n\"",
        "{\"a\":[1,{\"b\":null}],\"c\":\"\\ud83d\\ude00\"}", "12345678910111213141516171819202122232425262728293031",
    ])
    func validDocumentsRoundTrip(_ text: String) throws {
        let value = try JSONParser.parse(text)
        let again = try JSONParser.parse(JSONWriter.string(value))
        #expect(value == again)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "\"\u{01}\"", "\"\\x\"", "nul", "[1] 2", "{'a':1}",
        "\"\\ud800\"", "\"\\udc00\"", "{\"a\" 1}", "[1 2]",
    ])
    func invalidDocumentsAreRejected(_ text: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(text) }
    }

    @Test func invalidUTF8InAStringIsRejected() {
        let bytes: [UInt8] = [0x22, 0xFF, 0xFE, 0x22]
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(bytes) }
    }

    @Test func deepNestingIsBoundedNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(deep) }
    }

    @Test func numbersKeepTheirExactValue() throws {
        let big = try JSONParser.parse("12345678910111213141516171819202122232425262728293031")
        #expect(JSONWriter.string(big) == "12345678910111213141516171819202122232425262728293031")
        #expect(try JSONParser.parse("1.0") == JSONParser.parse("1"))
        #expect(try JSONParser.parse("1e2") == JSONParser.parse("100"))
        #expect(try JSONParser.parse("0.1") != JSONParser.parse("0.10000000000000001"))
        #expect(try JSONParser.parse("1E+308").numberValue?.literal == "1E+308")
    }

    @Test func writerNeverEmitsARawNewline() throws {
        let value: JSONValue = ["text": "line1\nline2\r\u{1}", "k\n": 1]
        let text = JSONWriter.string(value)
        #expect(!text.contains("\n"))
        #expect(try JSONParser.parse(text) == value)
    }

    @Test func objectsCompareRegardlessOfKeyOrder() throws {
        #expect(try JSONParser.parse("{\"a\":1,\"b\":2}") == JSONParser.parse("{\"b\":2,\"a\":1.0}"))
    }
}

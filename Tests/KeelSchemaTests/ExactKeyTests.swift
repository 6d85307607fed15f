import KeelCore
import KeelSchema
import Testing

/// Object keys are byte-exact (issue 10, item 7), so the keywords that ask "was this property
/// declared or evaluated?" must answer by bytes too: an NFD twin of "é" is another property.
@Suite struct ExactKeyTests {
    func valid(_ schema: String, _ instance: JSONValue) throws -> Bool {
        try Validator(schema: try JSONParser.parse(schema)).isValid(instance)
    }

    @Test func anNFDTwinOfADeclaredPropertyIsStillCheckedAsAdditionalOrUnevaluated() throws {
        let nfd = try JSONParser.parse(#"{"e\u0301":"x"}"#)
        #expect(try !valid(#"{"properties":{"\u00e9":{"type":"integer"}},"additionalProperties":false}"#, nfd))
        #expect(try !valid(#"{"properties":{"\u00e9":{"type":"integer"}},"unevaluatedProperties":false}"#, nfd))
        #expect(try valid(#"{"properties":{"\u00e9":{"type":"integer"}},"additionalProperties":false}"#, try JSONParser.parse(#"{"\u00e9":1}"#)))
    }

    @Test func sameUTF8ComparesBytesForSmallLargeAndBridgedStrings() {
        let long = String(repeating: "k", count: 40)
        #expect("abc".hasSameUTF8(as: "abc"))
        #expect(!"abc".hasSameUTF8(as: "abd"))
        #expect(!"\u{E9}".hasSameUTF8(as: "e\u{301}"))  // canonically equal, other bytes
        #expect((long + "é").hasSameUTF8(as: long + "é"))
        #expect(!(long + "a").hasSameUTF8(as: long + "b"))
        #expect(!long.hasSameUTF8(as: long + "k"))
        // A substring's copy and a string built from a Character sequence take other storage paths.
        #expect(String(Substring(long)).hasSameUTF8(as: String(Array(long))))
    }
}

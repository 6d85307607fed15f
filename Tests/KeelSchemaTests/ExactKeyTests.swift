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
}

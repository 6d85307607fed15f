import KeelCore
import Testing

@testable import KeelSchema

/// The flat program behind `isValid` (issue 15) must answer exactly as the `Node` evaluator does.
@Suite struct FlatProgramTests {
    /// Compiles `schema`, checks it was lowered (or not, as `flat` says), and returns a checker
    /// that expects both evaluators to give `expected` for an instance.
    func check(_ schema: String, flat: Bool = true, _ cases: [(String, Bool)]) throws {
        let v = try Validator(schema: try JSONParser.parse(schema))
        #expect((v.flat != nil) == flat, "\(schema) lowered: \(v.flat != nil)")
        for (text, expected) in cases {
            let instance = try JSONParser.parse(text)
            #expect(v.isValid(instance) == expected, "\(schema) on \(text)")
            #expect(v.isValidByEvaluation(instance) == expected, "\(schema) on \(text) (evaluator)")
        }
    }

    @Test func objectKeywordsAreCheckedInOnePass() throws {
        let schema = #"""
            {"type":"object","required":["a","b","b"],"properties":{"a":{"type":"string"},"c":{"minimum":0}},
             "patternProperties":{"^x":{"type":"integer"},"y$":{"maximum":5}},
             "additionalProperties":{"type":"boolean"}}
            """#
        try check(
            schema,
            [
                (#"{"a":"s","b":true}"#, true),
                (#"{"a":"s"}"#, false),  // b is required
                (#"{"b":true}"#, false),  // a is required
                (#"{"a":1,"b":true}"#, false),  // properties
                (#"{"a":"s","b":1}"#, false),  // b is additional: boolean
                (#"{"a":"s","b":true,"x1":2,"xy":4}"#, true),  // patterns, not additional
                (#"{"a":"s","b":true,"xy":6}"#, false),  // both patterns apply
                (#"{"a":"s","b":true,"x":1.5}"#, false),
                (#"{"a":"s","b":false,"c":-1}"#, false),
                (#"{"a":"s","b":false,"e\u0301":true,"é":true}"#, true),
                (#"[1]"#, false),  // not an object
            ])
        // A declared "é" does not declare its NFD twin: that one is additional.
        try check(
            #"{"properties":{"é":{}},"additionalProperties":false}"#,
            [(#"{"é":1}"#, true), (#"{"e\u0301":1}"#, false)])
        try check(#"{"required":["é"]}"#, [(#"{"é":1}"#, true), (#"{"e\u0301":1}"#, false)])
        try check(#"{"required":[""]}"#, [(#"{"":1}"#, true), (#"{"a":1}"#, false)])
        // Names longer than the 8-byte prefix that tells most names apart.
        try check(
            #"""
            {"properties":{"identifier_1":{"type":"string"},"identifier_2":{"type":"integer"}},
             "enum":[{"identifier_1":"x"},{"identifier_2":2},{"identifier_3":true}]}
            """#,
            [
                (#"{"identifier_1":"x"}"#, true), (#"{"identifier_2":2}"#, true), (#"{"identifier_3":true}"#, true),
                (#"{"identifier_1":1}"#, false), (#"{"identifier_2":"x"}"#, false),
            ])
        try check(
            #"{"enum":["identifier_1","identifier_2","id"]}"#,
            [(#""identifier_2""#, true), (#""identifier_3""#, false), (#""id""#, true), (#""i""#, false)])
    }

    @Test func numbersAtTheEdges() throws {
        let big = "123456789012345678901234567890"
        try check(
            #"{"maximum":\#(big)}"#,
            [("\(big)", true), ("\(big)1", false), ("1\(big.dropFirst())", true), ("9223372036854775807", true)])
        try check(
            #"{"exclusiveMinimum":-9223372036854775808}"#,
            [("-9223372036854775808", false), ("-9223372036854775807", true), ("-9223372036854775809", false)])
        try check(
            #"{"multipleOf":0.01}"#,
            [("12.5", true), ("12.555", false), ("1e300", true), ("0.0100000000000000000001", false), ("-0", true)])
        try check(
            #"{"multipleOf":3}"#,
            [("9223372036854775806", true), ("9223372036854775807", false), ("\(big)", true), ("3.0", true)])
        try check(
            #"{"exclusiveMaximum":1.5,"minimum":-1e-3}"#,
            [("1.5", false), ("1.4999999999999999999", true), ("-0.001", true), ("-0.0010001", false)])
        try check(#"{"minimum":1e999999999}"#, [("1e999999999", true), ("9e999999998", false)])
        try check(#"{"type":"integer"}"#, [("1.0", true), ("1.5", false), ("\(big)", true), ("1e-5", false)])
    }

    @Test func stringLengthsCountCodePoints() throws {
        try check(
            #"{"minLength":2,"maxLength":3}"#,
            [
                (#""ab""#, true), (#""a""#, false), (#""abcd""#, false), (#""éé""#, true), (#""😀😀😀""#, true),
                (#""😀""#, false), (#""😀😀😀😀""#, false), ("1", true),
                // As many UTF-8 bytes as the minimum, fewer code points.
                (#""é""#, false), (#""éa""#, true),
            ])
    }

    @Test func enumAndConstCompareExactly() throws {
        try check(
            #"{"enum":[{"a":[1,2.0]},"é",null,1]}"#,
            [
                (#"{"a":[1,2]}"#, true), (#"{"a":[2,1]}"#, false), (#""é""#, true), (#""e\u0301""#, false),
                ("1.0", true), ("false", false),
            ])
        let long = (0..<20).map { #"{"k":\#($0)}"# }.joined(separator: ",")
        try check(#"{"enum":[\#(long)]}"#, [(#"{"k":19}"#, true), (#"{"k":20}"#, false)])
        try check(#"{"const":{"b":[true]}}"#, [(#"{"b":[true]}"#, true), (#"{"b":[1]}"#, false)])
    }

    @Test func arraysAndApplicators() throws {
        try check(
            #"""
            {"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[{"type":"string"}],
             "items":{"type":"integer"},"contains":{"const":3},"minContains":2,"maxContains":3,"uniqueItems":false,
             "anyOf":[{"minItems":3},{"maxItems":0}],"not":{"const":["x",3,3,3,3]}}
            """#,
            [
                (#"["x",3,3]"#, true), (#"["x",3]"#, false), (#"[1,3,3]"#, false), (#"["x",3,3,3,3]"#, false),
                (#"["x",3,3,1.5]"#, false), (#"["x",3,3,3]"#, true), ("{}", true),
            ])
        try check(
            #"""
            {"oneOf":[{"multipleOf":2},{"multipleOf":3}],
             "if":{"minimum":10},"then":{"maximum":20},"else":{"minimum":-1}}
            """#,
            [("4", true), ("6", false), ("7", false), ("12", false), ("14", true), ("22", false), ("-2", false)])
        try check(#"{"uniqueItems":true}"#, [("[1,1.0]", false), (#"["é","e\u0301"]"#, true), ("[{}, []]", true)])
        try check(#"{"propertyNames":{"maxLength":2}}"#, [(#"{"ab":1}"#, true), (#"{"abc":1}"#, false)])
        try check(
            ##"{"$defs":{"n":{"type":"number"}},"items":{"$ref":"#/$defs/n"}}"##,
            [("[1,2]", true), (#"[1,"2"]"#, false)])
    }

    @Test func unsupportedKeywordsAndCyclesKeepTheEvaluator() throws {
        try check(#"{"unevaluatedProperties":false}"#, flat: false, [(#"{}"#, true), (#"{"a":1}"#, false)])
        try check(
            #"{"dependentRequired":{"a":["b"]}}"#, flat: false, [(#"{"a":1,"b":2}"#, true), (#"{"a":1}"#, false)])
        try check(
            ##"{"$defs":{"t":{"type":"array","items":{"$ref":"#/$defs/t"}}},"$ref":"#/$defs/t"}"##, flat: false,
            [("[[],[[]]]", true), ("[[1]]", false)])
        try check(
            ##"{"$defs":{"a":{"$dynamicAnchor":"x","type":"number"}},"$dynamicRef":"#x"}"##, flat: false,
            [("1", true), (#""s""#, false)])
        // A chain of subschemas longer than FlatProgram.maximumPathLength.
        let deep = String(repeating: #"{"not":"#, count: 130) + "{}" + String(repeating: "}", count: 130)
        try check(deep, flat: false, [("1", true)])
        try check(#"true"#, [("1", true)])
        try check(#"false"#, [("1", false)])
    }

    /// Every case of the official suite (both drafts, optional tests included): the flat
    /// `isValid` answers as the evaluator does, whether or not either is right.
    @Test(
        .enabled(if: SuiteSupport.available, "the JSON Schema Test Suite is not at ../shared/jsonschema-suite"),
        arguments: [0, 1])
    func everySuiteCaseAgreesWithTheEvaluator(draftIndex: Int) throws {
        let (folder, dialect) = ConformanceTests.drafts[draftIndex]
        let registry = SuiteSupport.registry()
        var lowered = 0
        var total = 0
        for c in try SuiteSupport.cases(draft: folder) {
            let options = ValidatorOptions(defaultDialect: dialect, assertFormat: c.category == "format")
            // Schemas that do not compile are ConformanceTests' concern.
            guard
                case .success(let v) = Result(catching: {
                    try Validator(schema: c.schema, registry: registry, options: options)
                })
            else { continue }
            total += 1
            if v.flat != nil { lowered += 1 }
            for t in c.tests {
                #expect(
                    v.isValid(t.data) == v.isValidByEvaluation(t.data),
                    "\(c.file)#\(c.caseIndex)/\(t.index): \(c.description) / \(t.description)")
            }
        }
        print("\(folder): \(lowered) of \(total) schemas have a flat program")
        #expect(lowered > total / 2)
    }
}

import Foundation
import KeelCore
import KeelSchema
import Testing

@Suite struct ValidatorTests {
    func json(_ text: String) throws -> JSONValue { try JSONParser.parse(text) }

    @Test func errorsNameTheInstancePointerTheKeywordPathAndTheRule() throws {
        let schema = try json(
            ##"{"type":"object","properties":{"items":{"type":"array","items":{"type":"object","properties":{"price":{"type":"number","minimum":0}}}}}}"##
        )
        let v = try Validator(schema: schema)
        let instance = try json(##"{"items":[{"price":1},{"price":2},{"price":3},{"price":-5}]}"##)
        #expect(!v.isValid(instance))
        let errors = v.validate(instance)
        #expect(errors.count == 1)
        let e = try #require(errors.first)
        #expect(e.instanceLocation == "/items/3/price")
        #expect(e.keywordLocation == "/properties/items/items/properties/price/minimum")
        #expect(e.keyword == "minimum")
        #expect(e.message == "-5 is less than the minimum 0")
        #expect(e.description == "at /items/3/price: -5 is less than the minimum 0")
        #expect(e.json["instanceLocation"] == "/items/3/price")
    }

    @Test func keywordLocationGoesThroughRefAndPointerTokensAreEscaped() throws {
        let schema = try json(
            ##"{"$defs":{"pos":{"minimum":0}},"properties":{"a/b":{"$ref":"#/$defs/pos"}},"required":["c~d"]}"##)
        let errors = try Validator(schema: schema).validate(try json(##"{"a/b":-1}"##))
        #expect(errors.map(\.keywordLocation) == ["/required", "/properties/a~1b/$ref/minimum"])
        #expect(errors.map(\.instanceLocation) == ["", "/a~1b"])
        #expect(errors[0].message == ##"the required property "c~d" is missing"##)
    }

    @Test func additionalPropertiesFalseNamesTheProperty() throws {
        let v = try Validator(schema: try json(##"{"properties":{"a":true},"additionalProperties":false}"##))
        let errors = v.validate(try json(##"{"a":1,"zz":2}"##))
        #expect(errors.map(\.description) == [##"at /zz: the property "zz" is not allowed"##])
        #expect(errors[0].keywordLocation == "/additionalProperties")
    }

    @Test func validateStopsAtMaxErrors() throws {
        let v = try Validator(
            schema: try json(##"{"items":{"type":"string"}}"##), options: ValidatorOptions(maxErrors: 10))
        let instance = JSONValue.array((0..<1_000).map { JSONValue(Int64($0)) })
        #expect(v.validate(instance).count == 10)
        #expect(try Validator(schema: try json(##"{"items":{"type":"string"}}"##)).validate(instance).count == 100)
    }

    @Test func aSchemaThatIsNotJSONOrNotASchemaIsRejected() throws {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(##"{"type": "string",}"##) }
        let error = try #require(throws: KeelError.self) { try Validator(schema: 42) }
        #expect(error.code == .invalidSchema)
        #expect(throws: KeelError.self) { try Validator(schema: try json(##"{"minimum":"zero"}"##)) }
        #expect(throws: KeelError.self) { try Validator(schema: try json(##"{"pattern":"(unclosed"}"##)) }
        #expect(throws: KeelError.self) {
            try Validator(schema: try json(##"{"$schema":"https://example.com/nope"}"##))
        }
    }

    @Test func refCyclesThatNeverConsumeInputAreCompileErrors() throws {
        for text in [
            ##"{"$ref":"#"}"##,
            ##"{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}"##,
            ##"{"$defs":{"a":{"allOf":[{"$ref":"#"}]}},"$ref":"#/$defs/a"}"##,
        ] {
            let error = try #require(throws: KeelError.self) { try Validator(schema: try json(text)) }
            #expect(error.code == .invalidSchema)
            #expect(error.message.contains("cycle"))
        }
    }

    @Test func conditionalRefCyclesAreReportedAtValidationTime() throws {
        let v = try Validator(schema: try json(##"{"anyOf":[{"type":"string"},{"$ref":"#"}]}"##))
        #expect(v.isValid("text"))
        #expect(!v.isValid(5))
        let errors = v.validate(5)
        #expect(errors.contains { $0.message.contains("cycle") })
        // A recursive schema that consumes input is fine.
        let tree = try Validator(
            schema: try json(##"{"type":"object","properties":{"children":{"type":"array","items":{"$ref":"#"}}}}"##))
        #expect(tree.isValid(try json(##"{"children":[{"children":[{}]},{}]}"##)))
        #expect(!tree.isValid(try json(##"{"children":[{"children":[1]}]}"##)))
    }

    @Test func aRemoteRefOutsideTheRegistryIsACompileErrorNamingTheRef() throws {
        let error = try #require(throws: KeelError.self) {
            try Validator(schema: try json(##"{"$ref":"https://example.com/schemas/money.json#/$defs/amount"}"##))
        }
        #expect(error.code == .invalidSchema)
        #expect(error.message.contains("https://example.com/schemas/money.json#/$defs/amount"))
        var registry = SchemaRegistry()
        try registry.add(
            try json(##"{"$defs":{"amount":{"type":"integer"}}}"##), uri: "https://example.com/schemas/money.json")
        let v = try Validator(
            schema: try json(##"{"$ref":"https://example.com/schemas/money.json#/$defs/amount"}"##), registry: registry)
        #expect(v.isValid(5) && !v.isValid("5"))
    }

    @Test func theBundledMetaSchemasValidateSchemas() throws {
        let meta2020 = try Validator(schema: try json(##"{"$ref":"https://json-schema.org/draft/2020-12/schema"}"##))
        #expect(meta2020.isValid(try json(##"{"type":"object","properties":{"a":{"minimum":1}}}"##)))
        #expect(!meta2020.isValid(try json(##"{"type":"objekt"}"##)))
        #expect(!meta2020.isValid(try json(##"{"properties":{"a":{"minimum":"1"}}}"##)))
        let meta7 = try Validator(schema: try json(##"{"$ref":"http://json-schema.org/draft-07/schema#"}"##))
        #expect(!meta7.isValid(try json(##"{"required":"a"}"##)))
    }

    @Test func multipleOfIsExactOnDecimals() throws {
        func ok(_ value: String, _ divisor: String) throws -> Bool {
            try Validator(schema: try json(##"{"multipleOf":\##(divisor)}"##)).isValid(try json(value))
        }
        #expect(try ok("0.0075", "0.0001"))
        #expect(try !ok("0.00751", "0.0001"))
        #expect(try ok("0.3", "0.1"))
        #expect(try ok("1e308", "0.5"))
        #expect(try ok("12345678910111213141516171819202122232425262728293030", "3"))
        #expect(try !ok("12345678910111213141516171819202122232425262728293031", "3"))
        #expect(try ok("123456789012345678901234567890", "123456789012345678901234567890"))
        #expect(try !ok("4.5", "123456789012345678901234567890"))
    }

    @Test func stringEqualityIsByCodePoint() throws {
        let v = try Validator(schema: .object(["const": .string("\u{e9}")]))
        #expect(v.isValid(.string("\u{e9}")))
        #expect(!v.isValid(.string("e\u{301}")))
    }

    @Test func patternsFollowECMA262() throws {
        func ok(_ pattern: String, _ text: String) throws -> Bool {
            try Validator(schema: .object(["pattern": .string(pattern)])).isValid(.string(text))
        }
        #expect(try !ok("^\\d$", "\u{0663}"))  // Arabic-Indic 3: \d is ASCII only
        #expect(try ok("^\\p{Letter}+$", "Grüße"))
        #expect(try !ok("^abc$", "abc\n"))
        #expect(try ok("^\\s$", "\u{feff}"))
        #expect(try ok("^🐲*$", "🐲🐲"))
        #expect(try ok("b", "abc"))  // not anchored
    }

    @Test func contractHashIsSHA256OfSortedCompactJSON() throws {
        let a = try json(##"{ "b": [true, null], "a": 1 }"##)
        #expect(ContractHash.of(a) == "sha256:1cc69c7fa23616ca2ec3ee70d24390a6225c8832db8a4c814c7e0e7f942f8668")
        #expect(ContractHash.of(try json(##"{"a":1,"b":[true,null]}"##)) == ContractHash.of(a))
        #expect(ContractHash.of(try json(##"{"a":2}"##)) != ContractHash.of(try json(##"{"a":1}"##)))
    }

    @Test func theCacheCompilesEachSchemaOnce() throws {
        let cache = ValidatorCache()
        let first = try cache.validator(for: try json(##"{"type":"string","minLength":1}"##))
        let second = try cache.validator(for: try json(##"{"minLength":1,"type":"string"}"##))
        #expect(first === second)
        #expect(cache.count == 1)
        #expect(throws: KeelError.self) { try cache.validator(for: try json(##"{"$ref":"#/nowhere"}"##)) }
        #expect(cache.count == 1)
    }

    @Test func contractViolationsBecomeKeelErrorsWithEveryErrorInData() throws {
        let v = try Validator(schema: try json(##"{"required":["amount","currency"]}"##))
        let error = KeelError.contractViolation(v.validate(try json("{}")), input: true, name: "billing.charge")
        #expect(error.code == .inputContractViolation)
        #expect(
            error.message.hasPrefix(
                ##"The input of billing.charge does not match its contract: at /: the required property "amount" is missing (and 1 more)"##
            ))
        #expect(error.data?["errors"]?.arrayValue?.count == 2)
        #expect(KeelError.contractViolation(v.validate(.object([:])), input: false).code == .outputContractViolation)
    }

    @Test(.timeLimit(.minutes(3)))
    func oneValidatorIsSafeToShareAcrossTasks() async throws {
        let v = try Validator(schema: try json(##"{"type":"array","items":{"type":"integer","minimum":0}}"##))
        let good = JSONValue.array((0..<100).map { JSONValue(Int64($0)) })
        let bad = JSONValue.array([1, 2, -3])
        let results = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                group.addTask { (0..<200).allSatisfy { _ in v.isValid(i % 2 == 0 ? good : bad) == (i % 2 == 0) } }
            }
            return await group.reduce(true) { $0 && $1 }
        }
        #expect(results)
    }

    /// A 10 MB instance (the 100 MB case is the same loop; it is kept out of the unit run for time):
    /// validation is linear and iterative over the array, so it finishes in bounded time and stack.
    @Test(.timeLimit(.minutes(3)))
    func aLargeInstanceValidatesInBoundedTime() async throws {
        let item = ##"{"id":123456,"name":"a customer name","tags":["x","y"],"price":19.5}"##
        var text = "["
        let count = 10_000_000 / (item.utf8.count + 1)
        for i in 0..<count { text += (i == 0 ? "" : ",") + item }
        text += "]"
        let instance = try JSONParser.parse(text)
        let schema = try json(
            ##"{"type":"array","items":{"type":"object","required":["id","name"],"properties":{"id":{"type":"integer"},"name":{"type":"string","maxLength":100},"tags":{"type":"array","items":{"type":"string"}},"price":{"type":"number","minimum":0}},"additionalProperties":false}}"##
        )
        let v = try Validator(schema: schema)
        let clock = ContinuousClock()
        let elapsed = clock.measure { #expect(v.isValid(instance)) }
        #expect(v.validate(instance).isEmpty)
        print("10 MB array of \(count) objects: isValid in \(elapsed)")
        #expect(elapsed < .seconds(30))
    }

    @Test func deeplyNestedInstancesAreRejectedBeforeTheStackRunsOut() throws {
        let depth = Int(ProcessInfo.processInfo.environment["DEPTH"] ?? "") ?? 1_000
        var value: JSONValue = 1
        for _ in 0..<depth { value = .array([value]) }
        let v = try Validator(schema: try json(##"{"$defs":{"n":{"items":{"$ref":"#/$defs/n"}}},"$ref":"#/$defs/n"}"##))
        let valid = v.isValid(value)
        let keywords = v.validate(value).map(\.keyword)
        #expect(!valid)
        #expect(keywords == ["depth"])
    }
}

import KeelCore
import KeelSchema
import Testing

/// Reference chains and nesting: every bound ends in an error, never in a stack overflow.
@Suite(.timeLimit(.minutes(3)))
struct SchemaLimitsTests {
    /// `{"$defs": {"d0": {"$ref": "#/$defs/d1"}, …, "dN": {"type": "string"}}, "$ref": "#/$defs/d0"}`
    func chain(_ length: Int) -> JSONValue {
        var defs: [String: JSONValue] = [:]
        for i in 0..<length { defs["d\(i)"] = ["$ref": .string("#/$defs/d\(i + 1)")] }
        defs["d\(length)"] = ["type": "string"]
        return ["$defs": .object(defs), "$ref": "#/$defs/d0"]
    }

    func compileError(_ schema: JSONValue) -> KeelError? {
        do {
            _ = try Validator(schema: schema)
            return nil
        } catch let error as KeelError {
            return error
        } catch {
            return nil
        }
    }

    @Test(arguments: [3_000, 100_000])
    func aLongReferenceChainIsRefusedWhenCompiling(_ length: Int) throws {
        let error = try #require(compileError(chain(length)))
        #expect(error.code == .invalidSchema)
        #expect(error.message.contains("the limit is \(SchemaLimits.maximumReferenceDepth)"))
    }

    @Test func aChainWithinTheBoundCompilesAndValidates() throws {
        let v = try Validator(schema: chain(400))
        #expect(v.isValid("text"))
        #expect(v.validate(5).map(\.keyword) == ["type"])
    }

    @Test(arguments: ["not", "items", "allOf"])
    func aSchemaNestedTenThousandLevelsIsRefused(_ keyword: String) throws {
        var schema: JSONValue = ["type": "string"]
        for _ in 0..<10_000 { schema = .object([keyword: keyword == "allOf" ? .array([schema]) : schema]) }
        let error = try #require(compileError(schema))
        #expect(error.code == .invalidSchema)
        #expect(error.message.contains("nested deeper than \(SchemaLimits.maximumSchemaDepth) levels"))
    }

    @Test func aSchemaNestedWithinTheParserLimitCompilesAndValidates() throws {
        var schema: JSONValue = ["type": "string"]
        for _ in 0..<200 { schema = ["not": ["not": schema]] }
        let v = try Validator(schema: schema)
        #expect(v.isValid("a"))
        #expect(!v.isValid(1))
    }

    /// A recursive schema whose every level runs a 300-long `$ref` chain: the static chain is
    /// within the bound, but ten instance levels nest 3,000 evaluations.
    @Test func evaluationNestingIsBoundedAtRunTime() throws {
        var defs: [String: JSONValue] = ["n": ["items": ["$ref": "#/$defs/c0"]]]
        let chainLength = 300
        for i in 0..<chainLength { defs["c\(i)"] = ["$ref": .string(i == chainLength - 1 ? "#/$defs/n" : "#/$defs/c\(i + 1)")] }
        let v = try Validator(schema: ["$defs": .object(defs), "$ref": "#/$defs/n"])
        var instance: JSONValue = 1
        for _ in 0..<3 { instance = .array([instance]) }
        #expect(v.isValid(instance))
        for _ in 0..<10 { instance = .array([instance]) }
        #expect(!v.isValid(instance))
        #expect(v.validate(instance).map(\.keyword) == ["depth"])
    }

    @Test func aReferenceCycleThroughAllOfIsStillRefused() throws {
        let schema: JSONValue = ["$defs": ["a": ["allOf": [["$ref": "#/$defs/b"]]], "b": ["$ref": "#/$defs/a"]], "$ref": "#/$defs/a"]
        let error = try #require(compileError(schema))
        #expect(error.message.contains("cycle"))
    }
}

import KeelCore
import KeelSchema
import Testing

/// `ContractDiff` as the orchestrator uses it: whole contracts, and schemas a worker sent.
@Suite("Contract diff (public API)")
struct ContractDiffTests {
    @Test func aWholeContractIsComparedInputFirstWithPointersAndReasons() throws {
        let object: JSONValue = ["type": "object", "properties": ["to": ["type": "string"]]]
        let widened: JSONValue = ["type": "object", "properties": ["to": ["type": ["string", "null"]]]]
        let compatible = ContractDiff.compare(oldInput: object, oldOutput: true, newInput: widened, newOutput: true)
        #expect(compatible == [
            ContractDiff.Change(
                role: "input", pointer: "/properties/to/type", breaking: false,
                reason: "type changed from string to null, string")
        ])
        // A typed property added to an open input model rejects what it used to accept: a break, with proof.
        let typed: JSONValue = [
            "type": "object", "properties": ["to": ["type": "string"], "lang": ["type": "string"]],
        ]
        let added = ContractDiff.compare(role: .input, old: object, new: typed)
        #expect(added.map(\.verdict) == [.breaking])
        #expect(added.first?.pointer == "/properties/lang")
        let witness = try #require(added.first?.witness)
        #expect(try Validator(schema: object).isValid(witness) && !(try Validator(schema: typed).isValid(witness)))
        let breaking = ContractDiff.compare(
            oldInput: object, oldOutput: object, newInput: ["type": "object", "required": ["to"]], newOutput: true)
        #expect(breaking.filter(\.breaking).map { "\($0.role) \($0.pointer)" } == ["input /required", "output /type", "output /properties/to"])
        #expect(breaking.first { $0.breaking }?.json["reason"] == "property \"to\" is now required")
    }

    @Test func aChangeNestedTooDeeplyIsOneBreakingChangeNotACrash() {
        func nested(_ depth: Int, _ leaf: JSONValue) -> JSONValue {
            var schema = leaf
            for _ in 0..<depth { schema = ["type": "array", "items": schema] }
            return schema
        }
        let changes = ContractDiff.compare(
            role: .input, old: nested(400, ["type": "string"]), new: nested(400, ["type": "integer"]))
        #expect(changes.count == 1)
        #expect(changes.first?.breaking == true)
        #expect(changes.first?.reason.contains("too deep") == true)
        // Within the limit the change is classified as usual.
        let shallow = ContractDiff.compare(
            role: .output, old: nested(10, ["type": "string"]), new: nested(10, ["type": ["string", "null"]]))
        #expect(shallow.map(\.breaking) == [true])
        #expect(shallow.first?.reason == "type changed from string to null, string")
    }
}

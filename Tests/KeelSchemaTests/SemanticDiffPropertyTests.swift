import Foundation
import KeelCore
import Testing

@testable import KeelSchema

/// Random schema pairs and random instances against the contract diff by meaning (issue 16):
/// every witness separates its pair, and no pair that a random instance separates is called
/// compatible (or "no change in meaning"). Deterministic: a fixed seed.
@Suite("Contract diff by meaning: property test", .timeLimit(.minutes(3)))
struct SemanticDiffPropertyTests {
    /// SplitMix64: small, fast, the same sequence everywhere.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
        mutating func pick<T>(_ list: [T]) -> T { list[below(list.count)] }
    }

    static let numbers: [JSONValue] = [0, 1, 2, 3, -1, 5, 0.5, 1.5, 10]
    static let scalars: [JSONValue] = [1, 2, "a", "b", .null, true, 0.5]

    /// A small random schema from the keywords the diff reasons about.
    static func schema(_ r: inout Random, _ depth: Int) -> JSONValue {
        switch r.below(depth > 0 ? 14 : 7) {
        case 0:
            let types = ["null", "boolean", "integer", "number", "string"].filter { _ in r.chance(40) }
            return ["type": .array(types.map { .string($0) })]
        case 1:
            var o: JSONObject = ["type": r.chance(50) ? "integer" : "number"]
            if r.chance(50) { o[r.chance(50) ? "minimum" : "exclusiveMinimum"] = r.pick(numbers) }
            if r.chance(50) { o[r.chance(50) ? "maximum" : "exclusiveMaximum"] = r.pick(numbers) }
            if r.chance(30) { o["multipleOf"] = r.pick([1, 2, 3, 0.5] as [JSONValue]) }
            return .object(o)
        case 2:
            var o: JSONObject = ["type": "string"]
            if r.chance(60) { o["minLength"] = JSONValue(r.below(3)) }
            if r.chance(60) { o["maxLength"] = JSONValue(r.below(4)) }
            return .object(o)
        case 3: return ["enum": .array(scalars.filter { _ in r.chance(35) })]
        case 4: return r.chance(50) ? ["const": r.pick(scalars)] : .bool(r.chance(70))
        case 5: return r.chance(50) ? ["type": r.pick(["string", "integer", "boolean"] as [JSONValue])] : [:]
        case 6: return ["type": "string", "pattern": r.pick(["^a", "b$", "^[ab]+$", "^a+$"] as [JSONValue])]
        case 7, 8:
            var properties: JSONObject = [:]
            for name in ["a", "b"] where r.chance(60) { properties[name] = schema(&r, depth - 1) }
            var o: JSONObject = ["type": "object", "properties": .object(properties)]
            let required = ["a", "b"].filter { _ in r.chance(30) }
            if !required.isEmpty { o["required"] = .array(required.map { .string($0) }) }
            if r.chance(40) { o["additionalProperties"] = r.chance(50) ? false : schema(&r, 0) }
            return .object(o)
        case 9:
            var o: JSONObject = ["type": "array", "items": schema(&r, depth - 1)]
            if r.chance(40) { o["minItems"] = JSONValue(r.below(2)) }
            if r.chance(40) { o["maxItems"] = JSONValue(r.below(3) + 1) }
            return .object(o)
        case 10:
            var o: JSONObject = ["type": "array", "prefixItems": [schema(&r, depth - 1)]]
            if r.chance(50) { o["items"] = r.chance(50) ? false : schema(&r, 0) }
            if r.chance(30) { o["uniqueItems"] = true }
            return .object(o)
        case 11:
            // The same subschema behind a $ref, or an object whose property patterns decide.
            if r.chance(50) { return ["$defs": ["x": schema(&r, depth - 1)], "$ref": "#/$defs/x"] }
            var o: JSONObject = ["type": "object", "patternProperties": ["^a": schema(&r, 0)]]
            if r.chance(50) { o["additionalProperties"] = false }
            return .object(o)
        case 12:
            let k = r.pick(["anyOf", "oneOf", "allOf"])
            return [k: [schema(&r, depth - 1), schema(&r, depth - 1)]]
        default: return ["not": schema(&r, depth - 1)]
        }
    }

    /// `s` with one random subschema replaced or one keyword dropped.
    static func mutate(_ s: JSONValue, _ r: inout Random, _ depth: Int) -> JSONValue {
        guard case .object(var o) = s, !o.isEmpty, depth > 0 else { return schema(&r, 1) }
        let key = o.keys[r.below(o.count)]
        let roll = r.below(3)
        let value = o[key]!
        let nested = value.objectValue != nil || (value.arrayValue != nil && !["enum", "type", "required"].contains(key))
        switch (nested, roll) {
        case (true, _):
            if case .array(var list) = o[key]!, !list.isEmpty {
                let i = r.below(list.count)
                list[i] = mutate(list[i], &r, depth - 1)
                o[key] = .array(list)
            } else if key == "properties", case .object(var ps) = o[key]!, !ps.isEmpty {
                let name = ps.keys[r.below(ps.count)]
                ps[name] = mutate(ps[name]!, &r, depth - 1)
                o[key] = .object(ps)
            } else {
                o[key] = mutate(o[key]!, &r, depth - 1)
            }
        case (false, 0): _ = o.removeValue(forKey: key)
        default: return schema(&r, depth)
        }
        return .object(o)
    }

    /// A random instance.
    static func instance(_ r: inout Random, _ depth: Int) -> JSONValue {
        switch r.below(depth > 0 ? 8 : 6) {
        case 0: return .null
        case 1: return .bool(r.chance(50))
        case 2, 3: return r.pick(numbers + [4, -2, 6, 2.5])
        case 4, 5: return r.pick(["", "a", "ab", "abc", "abcd", "b"] as [JSONValue])
        case 6: return .array((0..<r.below(4)).map { _ in instance(&r, depth - 1) })
        default:
            var o: JSONObject = [:]
            for name in ["a", "b", "c"] where r.chance(45) { o[name] = instance(&r, depth - 1) }
            return .object(o)
        }
    }

    @Test func witnessesSeparateAndNoSeparatedPairIsCalledCompatible() throws {
        // KEEL_PROPERTY_SEED / KEEL_PROPERTY_PAIRS explore further by hand; CI uses the defaults.
        let env = ProcessInfo.processInfo.environment
        var r = Random(state: env["KEEL_PROPERTY_SEED"].flatMap { UInt64($0) } ?? 0x5EED_2026)
        let pairs = env["KEEL_PROPERTY_PAIRS"].flatMap { Int($0) } ?? 100
        var counts: [ContractDiff.Verdict: Int] = [:]
        var separatedByRandom = 0
        for _ in 0..<pairs {
            let old = Self.schema(&r, 2)
            let new = r.chance(70) ? Self.mutate(old, &r, 2) : Self.schema(&r, 2)
            guard let o = try? Validator(schema: old), let n = try? Validator(schema: new) else { continue }
            var pool = (0..<40).map { _ in Self.instance(&r, 2) }
            if let a = try? SchemaDocument(old, tag: "o"), let b = try? SchemaDocument(new, tag: "n") {
                var generator = InstanceGenerator(preferring: nil)
                generator.budget = 60
                pool += generator.values([a.top, b.top]).prefix(80)
            }
            for role in [ContractDiff.Role.input, .output] {
                let (keep, lose) = role == .input ? (o, n) : (n, o)
                let changes = ContractDiff.compare(role: role, old: old, new: new)
                let verdict = SemanticDiffCorpusTests.overall(changes)
                counts[verdict, default: 0] += 1
                for c in changes where c.verdict == .breaking {
                    let w = try #require(c.witness, "\(role) \(old) -> \(new): break without witness")
                    #expect(keep.isValid(w) && !lose.isValid(w), "\(role) \(old) -> \(new): \(w) does not separate")
                }
                if let x = pool.first(where: { keep.isValid($0) && !lose.isValid($0) }) {
                    separatedByRandom += 1
                    #expect(
                        verdict == .breaking || verdict == .possiblyBreaking,
                        "\(role) \(old) -> \(new): \(x) separates them, yet \(verdict)")
                }
                if verdict == .noChangeInMeaning {
                    let y = pool.first { lose.isValid($0) && !keep.isValid($0) }
                    #expect(y == nil, "\(role) \(old) -> \(new): \(y!) tells them apart, yet no change in meaning")
                }
            }
        }
        print("property test verdicts: \(counts.map { "\($0.key.rawValue)=\($0.value)" }.sorted()); separated by random instances: \(separatedByRandom)")
        #expect(counts[.breaking, default: 0] > 0 && counts[.compatible, default: 0] + counts[.noChangeInMeaning, default: 0] > 0)
    }
}

import KeelCore

/// Proves `A ⊆ B` (every instance subschemas A accept, schema B accepts) for the decidable part of
/// JSON Schema, or says where it cannot (issue 16).
///
/// The A side is read as a disjunction of clauses (each a conjunction of subschemas: `allOf`
/// and `$ref` flattened, `anyOf`/`oneOf` expanded), and what a clause says is reduced to
/// ``ClauseFacts``, which only over-approximate A. Each keyword of B is then shown to be implied
/// by the facts. Anything else (patterns against patterns, `if`/`then`/`else` that differ,
/// `$dynamicRef`, overlapping `oneOf` branches, …) yields ``Outcome/unknown(pointer:reason:)`` —
/// never a false "proven". The result is only ever used to call a change compatible; a break is
/// only ever claimed with a validated witness (``WitnessSearch``).
struct SchemaInclusion {
    typealias Located = SchemaDocument.Located

    enum Outcome: Equatable {
        case proven
        /// Not decided: the keyword of B (JSON Pointer into B's document) and why.
        case unknown(pointer: String, reason: String)

        var isProven: Bool { self == .proven }
    }

    /// `format` is an assertion (the contract says so), not an annotation.
    var assertFormat = false
    /// When the check gives up (as undecided).
    var deadline: Deadline = .never
    /// Work left before the check gives up (a hostile schema cannot make it run long).
    private var budget = 50_000
    private var assumed: Set<String> = []
    private var depth = 0
    /// Nesting of subschemas beyond which the check gives up.
    static let maximumDepth = 64
    /// The most clauses one disjunction is expanded into; a larger one is dropped (over-approximating A).
    static let maximumClauses = 64

    /// True when both documents have one dialect.
    let sameDialect: Bool
    /// True when both documents have equal `$defs`/`definitions`, so equal subschemas whose
    /// `$ref`s point there mean the same on both sides.
    let sameDefinitions: Bool

    init(a: SchemaDocument, b: SchemaDocument, assertFormat: Bool = false) {
        self.assertFormat = assertFormat
        sameDialect = a.draft7 == b.draft7
        let defs: [JSONValue] = [a.root["$defs"] ?? .null, a.root["definitions"] ?? .null]
        sameDefinitions = a.root["$defs"] == b.root["$defs"] && a.root["definitions"] == b.root["definitions"]
            && Self.references(in: defs).allSatisfy { $0.hasPrefix("#/$defs/") || $0.hasPrefix("#/definitions/") }
    }

    /// Whether everything all of `a` accept (their conjunction), `b` accepts.
    mutating func check(_ a: [Located], in b: Located) -> Outcome {
        if case .bool(true) = b.value { return .proven }
        depth += 1
        defer { depth -= 1 }
        budget -= 1
        guard depth <= Self.maximumDepth, budget > 0, !deadline.passed else {
            return .unknown(pointer: b.pointer, reason: "too deeply nested, too large or too slow to decide")
        }
        let key = a.map(\.pointer).joined(separator: "&") + "<=" + b.pointer
        if assumed.contains(key) { return .proven }  // a cycle through $ref: coinductive hypothesis
        assumed.insert(key)
        defer { assumed.remove(key) }
        for clause in clauses(a) {
            let facts = ClauseFacts(clause)
            if facts.empty { continue }
            let r = check(facts, in: b)
            if !r.isProven { return r }
        }
        return .proven
    }

    // MARK: The A side as clauses

    /// `values` (a conjunction) in disjunctive normal form: each clause a list of schema objects.
    func clauses(_ values: [Located]) -> [[Located]] {
        var out: [[Located]] = [[]]
        for v in values { out = cross(out, expand(v, 0)) }
        return out
    }

    private func expand(_ v: Located, _ level: Int) -> [[Located]] {
        switch v.value {
        case .bool(false): return []
        case .object(let o):
            let refOnly = v.document.draft7 && o["$ref"] != nil
            var result: [[Located]] = refOnly ? [[]] : [[v]]
            guard level < 16 else { return result }
            if o["$ref"] != nil, let target = v.document.resolve(v) { result = cross(result, expand(target, level + 1)) }
            if refOnly { return result }
            for m in v.elements("allOf") { result = cross(result, expand(m, level + 1)) }
            for k in ["anyOf", "oneOf"] where o[k] != nil {
                let alternatives = v.elements(k).flatMap { expand($0, level + 1) }
                let next = cross(result, alternatives)
                if next.count <= Self.maximumClauses { result = next }  // else dropped: A only grows
            }
            return result
        default: return [[]]
        }
    }

    private func cross(_ a: [[Located]], _ b: [[Located]]) -> [[Located]] {
        a.flatMap { x in b.map { x + $0 } }
    }

    // MARK: One clause against B

    mutating func check(_ facts: ClauseFacts, in b: Located) -> Outcome {
        budget -= 1
        guard budget > 0 else { return .unknown(pointer: b.pointer, reason: "too large to decide") }
        switch b.value {
        case .bool(true): return .proven
        case .bool(false): return .unknown(pointer: b.pointer, reason: "the schema is false and rejects everything")
        case .object: break
        default: return .proven
        }
        let o = b.object!
        if facts.atoms.contains(where: { $0.value == b.value }) && refsAgree([b.value]) { return .proven }
        if let finite = facts.finite, finite.allSatisfy({ b.document.accepts($0, at: b) == true }) { return .proven }
        if o["$ref"] != nil {
            guard let target = b.document.resolve(b) else {
                return .unknown(
                    pointer: b.pointer + "/$ref",
                    reason: "$ref \(o["$ref"]!) is not a local reference; it is not followed")
            }
            let r = guardedCheck(facts, in: target)
            if !r.isProven || b.document.draft7 { return r }
        }
        for k in ["$dynamicRef", "$recursiveRef"] where o[k] != nil {
            return .unknown(pointer: b.pointer + "/" + k, reason: "\(k) depends on the dynamic scope; not decided")
        }
        for m in b.elements("allOf") {
            let r = check(facts, in: m)
            if !r.isProven { return r }
        }
        if o["anyOf"] != nil, !anyBranch(facts, b.elements("anyOf"), exclusive: false) {
            return .unknown(
                pointer: b.pointer + "/anyOf", reason: "no anyOf branch is shown to accept everything the other side accepts")
        }
        if o["oneOf"] != nil, !anyBranch(facts, b.elements("oneOf"), exclusive: true) {
            return .unknown(
                pointer: b.pointer + "/oneOf",
                reason: "no oneOf branch is shown to accept everything the other side accepts while the others reject it")
        }
        if let not = b.child("not"), !disjoint(facts, not) {
            return .unknown(pointer: b.pointer + "/not", reason: "not: cannot show the excluded values are never accepted")
        }
        if let r = opaqueGroups(facts, b, o) { return r }
        var r = checkType(facts, b, o)
        if r.isProven { r = checkEnum(facts, b, o) }
        if r.isProven { r = checkNumbers(facts, b, o) }
        if r.isProven { r = checkStrings(facts, b, o) }
        if r.isProven { r = checkArrays(facts, b, o) }
        if r.isProven { r = checkObjects(facts, b, o) }
        return r
    }

    private mutating func guardedCheck(_ facts: ClauseFacts, in b: Located) -> Outcome {
        let key = facts.atoms.map(\.pointer).joined(separator: "&") + "<=" + b.pointer + "#facts\(facts.types.sorted())"
        if assumed.contains(key) { return .proven }
        assumed.insert(key)
        defer { assumed.remove(key) }
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else {
            return .unknown(pointer: b.pointer, reason: "too deeply nested to decide")
        }
        return check(facts, in: b)
    }

    /// Some branch accepts the clause (for `oneOf`: and every other branch rejects it), trying
    /// the whole clause first and then each of its types on its own.
    private mutating func anyBranch(_ facts: ClauseFacts, _ branches: [Located], exclusive: Bool) -> Bool {
        func fits(_ f: ClauseFacts) -> Bool {
            for (i, branch) in branches.enumerated() where check(f, in: branch).isProven {
                if !exclusive { return true }
                if branches.indices.allSatisfy({ $0 == i || disjoint(f, branches[$0]) }) { return true }
            }
            return false
        }
        if fits(facts) { return true }
        guard facts.types.count > 1 else { return false }
        return facts.types.allSatisfy { fits(facts.restricted(to: $0)) }
    }

    /// True when no value of the clause is accepted by `other` (shown by types, or value by value).
    private mutating func disjoint(_ facts: ClauseFacts, _ other: Located) -> Bool {
        if let finite = facts.finite { return finite.allSatisfy { other.document.accepts($0, at: other) == false } }
        guard let types = Self.types(of: other, 0) else { return false }
        return facts.types.isDisjoint(with: types)
    }

    /// The JSON types `schema` may accept (nil when unknown: it may accept any).
    static func types(of schema: Located, _ level: Int) -> Set<String>? {
        guard level < 16 else { return nil }
        switch schema.value {
        case .bool(let b): return b ? nil : []
        case .object(let o):
            var out: Set<String>?
            func meet(_ s: Set<String>?) {
                guard let s else { return }
                out = out.map { $0.intersection(s) } ?? s
            }
            if let t = o["type"] {
                var s = Set((t.arrayValue ?? [t]).compactMap(\.stringValue))
                if s.contains("number") { s.insert("integer") }
                meet(s)
            }
            if let c = o["const"] { meet([ClauseFacts.kind(of: c)]) }
            if let e = o["enum"]?.arrayValue { meet(Set(e.map(ClauseFacts.kind(of:)))) }
            if o["$ref"] != nil, let target = schema.document.resolve(schema) { meet(types(of: target, level + 1)) }
            for m in schema.elements("allOf") { meet(types(of: m, level + 1)) }
            for k in ["anyOf", "oneOf"] where o[k] != nil {
                var union: Set<String> = []
                var known = true
                for m in schema.elements(k) {
                    if let t = types(of: m, level + 1) { union.formUnion(t) } else { known = false }
                }
                if known { meet(union) }
            }
            return out
        default: return nil
        }
    }

    // MARK: Keyword groups decided only by equality

    /// Keywords whose meaning depends on each other or on evaluation; B's group must appear,
    /// equal, in the clause (then it cancels out of the conjunction).
    static let opaqueGroups: [[String]] = [
        ["if", "then", "else"], ["contains", "minContains", "maxContains"], ["dependentSchemas"], ["dependencies"],
        ["dependentRequired"],
    ]

    /// True when `group` (values of B) holds no `$ref`, or both documents define the same things.
    private func refsAgree(_ values: [JSONValue]) -> Bool {
        guard sameDialect else { return false }
        let refs = Self.references(in: values)
        return refs.isEmpty
            || (sameDefinitions && refs.allSatisfy { $0.hasPrefix("#/$defs/") || $0.hasPrefix("#/definitions/") })
    }

    /// Every `$ref`/`$dynamicRef`/`$recursiveRef` value inside `values` (`"?"` for a non-string),
    /// and `"$id"` for each embedded `$id` (which changes what relative references mean).
    static func references(in values: [JSONValue]) -> [String] {
        var refs: [String] = []
        func collect(_ v: JSONValue) {
            switch v {
            case .object(let o):
                for (k, x) in o {
                    if k == "$ref" || k == "$dynamicRef" || k == "$recursiveRef" { refs.append(x.stringValue ?? "?") }
                    if k == "$id" { refs.append("$id") }
                    collect(x)
                }
            case .array(let a): a.forEach(collect)
            default: break
            }
        }
        values.forEach(collect)
        return refs
    }

    /// B's `contains` (with `minContains`, no `maxContains`) is implied by an A atom whose
    /// `contains` schema is included in it with at least as many matches required.
    private mutating func containsImplied(_ facts: ClauseFacts, _ b: Located, _ o: JSONObject) -> Bool {
        guard let wanted = b.child("contains"), o["maxContains"] == nil, facts.types.contains("array") else {
            return false
        }
        let m = ClauseFacts.count(o["minContains"]) ?? 1
        if m == 0 { return true }
        return facts.atoms.contains { atom in
            guard let own = atom.child("contains"), (ClauseFacts.count(atom.value["minContains"]) ?? 1) >= m else {
                return false
            }
            return check([own], in: wanted).isProven
        }
    }

    private mutating func opaqueGroups(_ facts: ClauseFacts, _ b: Located, _ o: JSONObject) -> Outcome? {
        for group in Self.opaqueGroups where group.contains(where: { o[$0] != nil }) {
            if group[0] == "contains" && (!facts.types.contains("array") || containsImplied(facts, b, o)) { continue }
            if group == ["if", "then", "else"] && o["then"] == nil && o["else"] == nil { continue }  // no effect
            let wanted = group.map { o[$0] }
            let same = facts.atoms.contains { atom in group.map { atom.value[$0] } == wanted }
            if !same || !refsAgree(wanted.compactMap { $0 }) {
                let present = group.filter { o[$0] != nil }
                return .unknown(
                    pointer: b.pointer + "/" + present[0],
                    reason: "\(present.joined(separator: "/")) differs between the two; inclusion not decided")
            }
        }
        // unevaluated* next to applicators depend on the whole object: only an identical object cancels.
        if ClauseFacts.inPlaceApplicators.contains(where: { o[$0] != nil }) {
            for k in ["unevaluatedProperties", "unevaluatedItems"] where o[k] != nil && !b.document.draft7 {
                return .unknown(pointer: b.pointer + "/" + k, reason: "\(k) next to applicators that differ; not decided")
            }
        }
        return nil
    }

    // MARK: Keywords by type

    private mutating func checkType(_ facts: ClauseFacts, _ b: Located, _ o: JSONObject) -> Outcome {
        guard let t = o["type"] else { return .proven }
        var allowed = Set((t.arrayValue ?? [t]).compactMap(\.stringValue))
        if allowed.contains("number") { allowed.insert("integer") }
        let missing = facts.types.subtracting(allowed)
        if missing.isEmpty { return .proven }
        return .unknown(
            pointer: b.pointer + "/type",
            reason: "type: \(missing.sorted().joined(separator: ", ")) values are accepted on one side only")
    }

    private mutating func checkEnum(_ facts: ClauseFacts, _ b: Located, _ o: JSONObject) -> Outcome {
        for k in ["enum", "const"] where o[k] != nil {
            let allowed = k == "enum" ? o[k]!.arrayValue ?? [] : [o[k]!]
            guard let finite = facts.finite, finite.allSatisfy({ allowed.contains($0) }) else {
                return .unknown(pointer: b.pointer + "/" + k, reason: "\(k): values outside it may be accepted")
            }
        }
        return .proven
    }

    private mutating func checkNumbers(_ facts: ClauseFacts, _ b: Located, _ o: JSONObject) -> Outcome {
        guard !facts.types.isDisjoint(with: ["integer", "number"]) else { return .proven }
        let ints = facts.integerOnly
        func norm(_ x: ClauseFacts.Bound, _ lower: Bool) -> ClauseFacts.Bound {
            ints ? ClauseFacts.forIntegers(x, lower: lower) : x
        }
        let bounds: [(String, Bool, Bool)] = [
            ("minimum", false, true), ("exclusiveMinimum", true, true), ("maximum", false, false),
            ("exclusiveMaximum", true, false),
        ]
        for (key, exclusive, lower) in bounds {
            guard let v = o[key]?.numberValue else { continue }
            let need = norm(ClauseFacts.Bound(value: v, exclusive: exclusive), lower)
            guard let have = (lower ? facts.lower : facts.upper).map({ norm($0, lower) }),
                ClauseFacts.atLeastAsTight(have, need, lower: lower)
            else {
                return .unknown(
                    pointer: b.pointer + "/" + key,
                    reason: "\(key) \(v): numbers \(lower ? "below" : "above") it may be accepted on the other side")
            }
        }
        if let m = o["multipleOf"]?.numberValue {
            let divides = facts.multiples.contains { Arithmetic.isMultiple($0, of: m) }
            let integral = ints && Arithmetic.isMultiple(JSONNumber(Int64(1)), of: m)
            if !divides && !integral {
                return .unknown(pointer: b.pointer + "/multipleOf", reason: "multipleOf \(m): not implied by the other side")
            }
        }
        return .proven
    }

    private mutating func checkStrings(_ facts: ClauseFacts, _ b: Located, _ o: JSONObject) -> Outcome {
        guard facts.types.contains("string") else { return .proven }
        if let n = ClauseFacts.count(o["minLength"]), facts.minLength < n {
            return .unknown(pointer: b.pointer + "/minLength", reason: "minLength \(n): shorter strings may be accepted")
        }
        if let n = ClauseFacts.count(o["maxLength"]), (facts.maxLength ?? Int.max) > n {
            return .unknown(pointer: b.pointer + "/maxLength", reason: "maxLength \(n): longer strings may be accepted")
        }
        if let p = o["pattern"]?.stringValue, !facts.patterns.contains(p),
            !(facts.maxLength == 0 && b.document.matches(p, "") == true)
        {
            return .unknown(
                pointer: b.pointer + "/pattern", reason: "pattern \(JSONValue.string(p)): not compared with the other side's patterns")
        }
        if assertFormat, let f = o["format"]?.stringValue, !facts.formats.contains(f) {
            return .unknown(pointer: b.pointer + "/format", reason: "format \(f) (asserted): not implied")
        }
        return .proven
    }

    private mutating func checkArrays(_ facts: ClauseFacts, _ b: Located, _ o: JSONObject) -> Outcome {
        guard facts.types.contains("array") else { return .proven }
        if let n = ClauseFacts.count(o["minItems"]), facts.minItems < n {
            return .unknown(pointer: b.pointer + "/minItems", reason: "minItems \(n): shorter arrays may be accepted")
        }
        if let n = ClauseFacts.count(o["maxItems"]), (facts.maxItems ?? Int.max) > n {
            return .unknown(pointer: b.pointer + "/maxItems", reason: "maxItems \(n): longer arrays may be accepted")
        }
        if o["uniqueItems"] == .bool(true), !facts.unique, (facts.maxItems ?? 2) > 1 {
            return .unknown(pointer: b.pointer + "/uniqueItems", reason: "uniqueItems: arrays with duplicates may be accepted")
        }
        let parts = ClauseFacts.arrayParts(of: b)
        let limit = facts.maxItems ?? Int.max
        let span = max(parts.prefix.count, facts.prefixLength)
        for i in 0..<span where i < limit {
            guard let target = i < parts.prefix.count ? parts.prefix[i] : parts.rest else { continue }
            let r = check(facts.itemSchemas(i), in: target)
            if !r.isProven { return r }
        }
        if let rest = parts.rest, span < limit {
            let r = check(facts.itemSchemas(Int.max), in: rest)
            if !r.isProven { return r }
        }
        return .proven
    }

    private mutating func checkObjects(_ facts: ClauseFacts, _ b: Located, _ o: JSONObject) -> Outcome {
        guard facts.types.contains("object") else { return .proven }
        for r in o["required"]?.arrayValue ?? [] {
            guard let name = r.stringValue, !facts.required.contains(name) else { continue }
            return .unknown(pointer: b.pointer + "/required", reason: "property \(JSONValue.string(name)) may be missing")
        }
        if let n = ClauseFacts.count(o["minProperties"]), facts.minProperties < n, facts.required.count < n {
            return .unknown(pointer: b.pointer + "/minProperties", reason: "minProperties \(n): smaller objects may be accepted")
        }
        if let n = ClauseFacts.count(o["maxProperties"]), (facts.maxProperties ?? Int.max) > n {
            return .unknown(pointer: b.pointer + "/maxProperties", reason: "maxProperties \(n): larger objects may be accepted")
        }
        for name in o["properties"]?.objectValue?.keys ?? [] {
            let r = check(facts.propertySchemas(name), in: b.member("properties", name)!)
            if !r.isProven { return r }
        }
        let bPatterns = o["patternProperties"]?.objectValue?.keys ?? []
        for pattern in bPatterns {
            let target = b.member("patternProperties", pattern)!
            if let r = patternProperty(facts, pattern, target) { return r }
        }
        let additional = b.child("additionalProperties")
            ?? (ClauseFacts.inPlaceApplicators.contains { o[$0] != nil } ? nil : b.child("unevaluatedProperties"))
        if let additional, additional.value != .bool(true) {
            let bNamed = Set(o["properties"]?.objectValue?.keys ?? [])
            func exempt(_ name: String) -> Bool {
                bNamed.contains(name) || bPatterns.contains { b.document.matches($0, name) == true }
            }
            for name in facts.namedProperties where !exempt(name) {
                let r = check(facts.propertySchemas(name), in: additional)
                if !r.isProven { return r }
            }
            // Names no atom lists: the atoms' additional schemas that surely apply to them.
            let others = facts.atoms.compactMap { atom -> Located? in
                let own = atom.object?["patternProperties"]?.objectValue?.keys ?? []
                guard own.allSatisfy({ bPatterns.contains($0) }) else { return nil }
                return ClauseFacts.additional(of: atom)
            }
            let r = check(others, in: additional)
            if !r.isProven {
                return .unknown(
                    pointer: b.pointer + "/" + (o["additionalProperties"] != nil ? "additionalProperties" : "unevaluatedProperties"),
                    reason: "properties it does not name may be accepted on the other side")
            }
        }
        if let names = b.child("propertyNames"), names.value != .bool(true) {
            let own = facts.atoms.compactMap { $0.child("propertyNames") }
            var shown = own.contains { check([$0], in: names).isProven }
            if !shown, let closed = facts.closedAtoms.first {
                let listed = closed.object?["properties"]?.objectValue?.keys ?? []
                shown = listed.allSatisfy { names.document.accepts(.string($0), at: names) == true }
            }
            if !shown {
                return .unknown(pointer: b.pointer + "/propertyNames", reason: "propertyNames: other names may be accepted")
            }
        }
        return .proven
    }

    private mutating func patternProperty(_ facts: ClauseFacts, _ pattern: String, _ target: Located) -> Outcome? {
        for atom in facts.atoms {
            if let own = atom.member("patternProperties", pattern), check([own], in: target).isProven { return nil }
        }
        if let closed = facts.closedAtoms.first {
            for name in closed.object?["properties"]?.objectValue?.keys ?? [] {
                switch target.document.matches(pattern, name) {
                case false?: continue
                case true?:
                    let r = check(facts.propertySchemas(name), in: target)
                    if !r.isProven { return r }
                case nil: return .unknown(pointer: target.pointer, reason: "pattern \(pattern) cannot be evaluated")
                }
            }
            return nil
        }
        return .unknown(pointer: target.pointer, reason: "patternProperties \(JSONValue.string(pattern)): not decided")
    }
}

import KeelCore

/// What one conjunction of subschemas (a clause of the side that must be contained) says, for
/// the keywords the inclusion check reads. Each fact may only *over*-approximate the set the
/// clause accepts (a keyword it cannot read is dropped, never guessed), so an inclusion proven
/// from the facts holds for the real schemas.
struct ClauseFacts {
    typealias Located = SchemaDocument.Located

    /// A numeric bound.
    struct Bound {
        var value: JSONNumber
        var exclusive: Bool
    }

    /// Every JSON type; `number` stands for the non-integer numbers (integers are `integer`).
    static let allTypes: Set<String> = ["null", "boolean", "object", "array", "string", "integer", "number"]
    /// Keywords that make `unevaluated*` depend on other subschemas.
    static let inPlaceApplicators = [
        "allOf", "anyOf", "oneOf", "$ref", "if", "then", "else", "dependentSchemas", "$dynamicRef", "$recursiveRef",
    ]

    var atoms: [Located]
    var empty = false
    var types = allTypes
    /// A finite superset of the accepted values, when one is known (`enum`, `const`, null/boolean-only).
    var finite: [JSONValue]?
    var lower: Bound?
    var upper: Bound?
    var multiples: [JSONNumber] = []
    var minLength = 0
    var maxLength: Int?
    var patterns: Set<String> = []
    var formats: Set<String> = []
    var minItems = 0
    var maxItems: Int?
    var unique = false
    var required: Set<String> = []
    var minProperties = 0
    var maxProperties: Int?

    init(_ atoms: [Located]) {
        self.atoms = atoms
        for atom in atoms {
            guard case .object(let o) = atom.value else {
                if atom.value == .bool(false) { empty = true }
                continue
            }
            if let t = o["type"] {
                var allowed = Set((t.arrayValue ?? [t]).compactMap(\.stringValue))
                if allowed.contains("number") { allowed.insert("integer") }
                types.formIntersection(allowed)
            }
            var listed: [JSONValue]?
            if let e = o["enum"]?.arrayValue { listed = e }
            if let c = o["const"] { listed = listed.map { $0.filter { $0 == c } } ?? [c] }
            if let listed { finite = finite.map { f in f.filter { listed.contains($0) } } ?? listed }
            if let v = o["minimum"]?.numberValue { tighten(&lower, Bound(value: v, exclusive: false), lower: true) }
            if let v = o["exclusiveMinimum"]?.numberValue { tighten(&lower, Bound(value: v, exclusive: true), lower: true) }
            if let v = o["maximum"]?.numberValue { tighten(&upper, Bound(value: v, exclusive: false), lower: false) }
            if let v = o["exclusiveMaximum"]?.numberValue { tighten(&upper, Bound(value: v, exclusive: true), lower: false) }
            if let v = o["multipleOf"]?.numberValue { multiples.append(v) }
            if let v = Self.count(o["minLength"]) { minLength = max(minLength, v) }
            if let v = Self.count(o["maxLength"]) { maxLength = min(maxLength ?? v, v) }
            if let p = o["pattern"]?.stringValue { patterns.insert(p) }
            if let f = o["format"]?.stringValue { formats.insert(f) }
            if let v = Self.count(o["minItems"]) { minItems = max(minItems, v) }
            if let v = Self.count(o["maxItems"]) { maxItems = min(maxItems ?? v, v) }
            if o["uniqueItems"] == .bool(true) { unique = true }
            for r in o["required"]?.arrayValue ?? [] { if let s = r.stringValue { required.insert(s) } }
            if let v = Self.count(o["minProperties"]) { minProperties = max(minProperties, v) }
            if let v = Self.count(o["maxProperties"]) { maxProperties = min(maxProperties ?? v, v) }
        }
        if multiples.contains(where: \.isInteger) { types.remove("number") }
        if let f = finite { finite = f.filter { types.contains(Self.kind(of: $0)) } }
        if finite == nil && types.isSubset(of: ["null", "boolean"]) {
            finite = (types.contains("null") ? [.null] : []) + (types.contains("boolean") ? [false, true] : [])
        }
        if types.isEmpty || finite?.isEmpty == true { empty = true }
    }

    /// The facts of the same clause for values of one type only (`number` keeps the integers).
    func restricted(to type: String) -> ClauseFacts {
        var copy = self
        copy.types = type == "number" ? types.intersection(["number", "integer"]) : [type]
        copy.finite = finite?.filter { copy.types.contains(Self.kind(of: $0)) }
        if copy.finite == nil && copy.types.isSubset(of: ["null", "boolean"]) {
            copy.finite = (copy.types.contains("null") ? [.null] : []) + (copy.types.contains("boolean") ? [false, true] : [])
        }
        return copy
    }

    /// True when only integers (no other numbers) can be accepted.
    var integerOnly: Bool { !types.contains("number") }

    // MARK: Objects

    /// The subschemas every value of property `name` must match (those that surely apply).
    func propertySchemas(_ name: String) -> [Located] {
        var out: [Located] = []
        for atom in atoms {
            guard let o = atom.object else { continue }
            var matched = false
            var uncertain = false
            if let p = atom.member("properties", name) {
                out.append(p)
                matched = true
            }
            for pattern in o["patternProperties"]?.objectValue?.keys ?? [] {
                switch atom.document.matches(pattern, name) {
                case true?:
                    out.append(atom.member("patternProperties", pattern)!)
                    matched = true
                case nil: uncertain = true
                case false?: break
                }
            }
            if !matched && !uncertain, let add = Self.additional(of: atom) { out.append(add) }
        }
        return out
    }

    /// Property names some atom lists under `properties`.
    var namedProperties: [String] {
        var seen: Set<String> = []
        var out: [String] = []
        for atom in atoms {
            for k in atom.object?["properties"]?.objectValue?.keys ?? [] where seen.insert(k).inserted { out.append(k) }
        }
        return out
    }

    /// `additionalProperties` of `atom`, or `unevaluatedProperties` where it means the same.
    static func additional(of atom: Located) -> Located? {
        if let a = atom.child("additionalProperties") { return a }
        guard let o = atom.object, !inPlaceApplicators.contains(where: { o[$0] != nil }) else { return nil }
        return atom.child("unevaluatedProperties")
    }

    /// The atoms that allow no property besides their `properties` (additional false, no patterns).
    var closedAtoms: [Located] {
        atoms.filter { atom in
            atom.object?["patternProperties"] == nil && Self.additional(of: atom)?.value == .bool(false)
        }
    }

    // MARK: Arrays

    /// The `prefixItems` (draft-07: array `items`) and the schema of the later items of `atom`.
    static func arrayParts(of atom: Located) -> (prefix: [Located], rest: Located?) {
        guard let o = atom.object else { return ([], nil) }
        var prefix: [Located] = []
        var rest: Located?
        if atom.document.draft7 {
            if o["items"]?.arrayValue != nil {
                prefix = atom.elements("items")
                rest = atom.child("additionalItems")
            } else {
                rest = atom.child("items")
            }
        } else {
            prefix = atom.elements("prefixItems")
            rest = o["items"]?.arrayValue == nil ? atom.child("items") : nil
        }
        // unevaluatedItems is the schema of later items only when nothing else evaluates them
        // (`contains` does too, so with it A would be read too small).
        if rest == nil, o["contains"] == nil, !inPlaceApplicators.contains(where: { o[$0] != nil }), !atom.document.draft7 {
            rest = atom.child("unevaluatedItems")
        }
        return (prefix, rest)
    }

    /// The longest prefix any atom describes item by item.
    var prefixLength: Int { atoms.map { Self.arrayParts(of: $0).prefix.count }.max() ?? 0 }

    /// The subschemas item `index` must match.
    func itemSchemas(_ index: Int) -> [Located] {
        atoms.compactMap { atom in
            let parts = Self.arrayParts(of: atom)
            return index < parts.prefix.count ? parts.prefix[index] : parts.rest
        }
    }

    // MARK: Helpers

    /// The JSON Schema type of `value` (`integer` for numbers with no fraction).
    static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        case .number(let n): n.isInteger ? "integer" : "number"
        }
    }

    static func count(_ value: JSONValue?) -> Int? {
        guard let n = value?.numberValue, n.isInteger else { return nil }
        return n.int64Value.map { Int(clamping: $0) } ?? Int.max
    }

    /// True when bound `a` excludes at least what `b` excludes (a lower bound: `a ≥ b`).
    static func atLeastAsTight(_ a: Bound, _ b: Bound, lower: Bool) -> Bool {
        if a.value == b.value { return a.exclusive || !b.exclusive }
        return lower ? b.value < a.value : a.value < b.value
    }

    /// An exclusive integral bound as the inclusive one it means for integers.
    static func forIntegers(_ b: Bound, lower: Bool) -> Bound {
        guard b.exclusive, b.value.isInteger, let i = b.value.int64Value, i > Int64.min, i < Int64.max else { return b }
        return Bound(value: JSONNumber(lower ? i + 1 : i - 1), exclusive: false)
    }

    private func tighten(_ current: inout Bound?, _ new: Bound, lower: Bool) {
        if let c = current, Self.atLeastAsTight(c, new, lower: lower) { return }
        current = new
    }
}

import KeelCore

extension Compiler {
    /// Compiles one schema object's keywords, in evaluation order: cheap assertions first,
    /// applicators next, `unevaluated*` last (they need every sibling's annotations).
    func compileKeywords(_ node: Node, _ value: JSONValue, _ loc: Location, _ info: Info) throws {
        let o: JSONObject
        switch value {
        case .bool(true): return
        case .bool(false):
            node.setKeywords([.falseSchema])
            return
        case .object(let members): o = members
        default:
            throw KeelError(
                .invalidSchema, "The schema at \(node.location) is \(value.typeName), not an object or a boolean.")
        }
        let r = info.rules
        var k: [Keyword] = []
        func bad(_ keyword: String, _ expected: String) -> KeelError {
            KeelError(.invalidSchema, "\"\(keyword)\" at \(node.location) must be \(expected).")
        }
        func child(_ suffix: String) throws -> Node {
            try self.node(at: Location(doc: loc.doc, pointer: loc.pointer + suffix))
        }
        func number(_ key: String) throws -> JSONNumber? {
            guard let v = o[key] else { return nil }
            guard case .number(let n) = v else { throw bad(key, "a number") }
            return n
        }
        func count(_ key: String) throws -> Int? {
            guard let n = try number(key) else { return nil }
            guard n.isInteger, n >= JSONNumber(Int64(0)) else { throw bad(key, "a non-negative integer") }
            return n.int64Value.map { Int(clamping: $0) } ?? Int.max
        }
        func reference(_ key: String) throws -> Reference? {
            guard let v = o[key] else { return nil }
            guard let text = v.stringValue else { throw bad(key, "a string") }
            let ref = Reference(text: text)
            let (target, dynamicName) = try resolve(text, base: info.base)
            ref.target = try self.node(at: target)
            if key == "$dynamicRef", let dynamicName {
                ref.dynamicName = dynamicName
                usesDynamicScope = true
            }
            return ref
        }

        if r.draft == .draft7, o["$ref"] != nil {
            node.setKeywords([.ref(try reference("$ref")!)])
            return
        }

        if r.validation {
            if let t = o["type"] {
                var mask = TypeMask()
                let names = t.arrayValue ?? [t]
                for n in names {
                    guard let s = n.stringValue, let m = TypeMask.named(s) else {
                        throw bad("type", "a type name or an array of them")
                    }
                    mask.formUnion(m)
                }
                k.append(.type(mask))
            }
            if let e = o["enum"] {
                guard let values = e.arrayValue else { throw bad("enum", "an array") }
                k.append(.enumeration(values, Set(values)))
            }
            if let c = o["const"] { k.append(.const(c)) }
            if let n = try number("multipleOf") {
                guard n > JSONNumber(Int64(0)) else { throw bad("multipleOf", "a number greater than 0") }
                k.append(.multipleOf(n))
            }
            if let n = try number("maximum") { k.append(.maximum(n)) }
            if let n = try number("exclusiveMaximum") { k.append(.exclusiveMaximum(n)) }
            if let n = try number("minimum") { k.append(.minimum(n)) }
            if let n = try number("exclusiveMinimum") { k.append(.exclusiveMinimum(n)) }
            if let n = try count("maxLength") { k.append(.maxLength(n)) }
            if let n = try count("minLength") { k.append(.minLength(n)) }
            if let p = o["pattern"] {
                guard let s = p.stringValue else { throw bad("pattern", "a string") }
                k.append(.pattern(try regex(s, at: loc)))
            }
            if let n = try count("maxItems") { k.append(.maxItems(n)) }
            if let n = try count("minItems") { k.append(.minItems(n)) }
            if o["uniqueItems"]?.boolValue == true { k.append(.uniqueItems) }
            if let n = try count("maxProperties") { k.append(.maxProperties(n)) }
            if let n = try count("minProperties") { k.append(.minProperties(n)) }
            if let req = o["required"] {
                guard let names = req.arrayValue?.compactMap(\.stringValue), names.count == req.arrayValue?.count else {
                    throw bad("required", "an array of strings")
                }
                if !names.isEmpty { k.append(.required(names)) }
            }
            // Draft-07 `dependencies` is also honoured in 2019-09/2020-12 schemas, as its split
            // successors dependentRequired/dependentSchemas (the suite's dependencies-compatibility).
            for dependentKey in r.draft == .draft7 ? ["dependencies"] : ["dependentRequired", "dependencies"] {
                guard let deps = o[dependentKey]?.objectValue else { continue }
                var pairs: [(String, [String])] = []
                for (name, v) in deps.sorted(by: { $0.key < $1.key }) {
                    guard let list = v.arrayValue else { continue }  // a schema: dependentSchemas below
                    pairs.append((name, list.compactMap(\.stringValue)))
                }
                if !pairs.isEmpty { k.append(.dependentRequired(pairs, keyword: dependentKey)) }
            }
        }
        if let f = o["format"]?.stringValue, options.assertFormat || r.formatAssertion,
            r.draft != .draft7 || r.validation, let checker = FormatChecker.named(f)
        {
            k.append(.format(f, checker))
        }

        if r.draft == .draft7, o["contentEncoding"] != nil || o["contentMediaType"] != nil {
            // Draft-07 §8 lets validators check these; 2019-09 on makes them annotations only.
            k.append(
                .content(encoding: o["contentEncoding"]?.stringValue, mediaType: o["contentMediaType"]?.stringValue))
        }

        if r.applicator {
            var names: [String] = []
            if let props = o["properties"] {
                guard let m = props.objectValue else { throw bad("properties", "an object") }
                var list: [(String, Node)] = []
                for name in m.keys.sorted() {
                    list.append((name, try child("/properties/" + JSONPointer.escape(name))))
                }
                names = m.keys.sorted()
                if !list.isEmpty { k.append(.properties(list)) }
            }
            var patterns: [ECMARegex] = []
            if let pp = o["patternProperties"] {
                guard let m = pp.objectValue else { throw bad("patternProperties", "an object") }
                var list: [(ECMARegex, Node)] = []
                for p in m.keys.sorted() {
                    let re = try regex(p, at: loc)
                    patterns.append(re)
                    list.append((re, try child("/patternProperties/" + JSONPointer.escape(p))))
                }
                if !list.isEmpty { k.append(.patternProperties(list)) }
            }
            if o["additionalProperties"] != nil {
                k.append(
                    .additionalProperties(
                        try child("/additionalProperties"), names: Set(names), list: names, patterns: patterns))
            }
            if o["propertyNames"] != nil { k.append(.propertyNames(try child("/propertyNames"))) }
            for dependentSchemasKey in r.draft == .draft7 ? ["dependencies"] : ["dependentSchemas", "dependencies"] {
                guard let deps = o[dependentSchemasKey]?.objectValue else { continue }
                var list: [(String, Node)] = []
                for name in deps.keys.sorted() {
                    if case .array = deps[name]! { continue }
                    list.append((name, try child("/\(dependentSchemasKey)/" + JSONPointer.escape(name))))
                }
                if !list.isEmpty { k.append(.dependentSchemas(list, keyword: dependentSchemasKey)) }
            }
            if r.draft == .draft2020 {
                var prefix = 0
                if let p = o["prefixItems"] {
                    guard let a = p.arrayValue else { throw bad("prefixItems", "an array") }
                    prefix = a.count
                    k.append(
                        .prefixItems(try (0..<a.count).map { try child("/prefixItems/\($0)") }, keyword: "prefixItems"))
                }
                if o["items"] != nil { k.append(.items(try child("/items"), start: prefix, keyword: "items")) }
            } else if let items = o["items"] {
                if let a = items.arrayValue {
                    k.append(.prefixItems(try (0..<a.count).map { try child("/items/\($0)") }, keyword: "items"))
                    if o["additionalItems"] != nil {
                        k.append(.items(try child("/additionalItems"), start: a.count, keyword: "additionalItems"))
                    }
                } else {
                    k.append(.items(try child("/items"), start: 0, keyword: "items"))
                }
            }
            if o["contains"] != nil {
                let minimum = r.draft == .draft7 ? 1 : try count("minContains") ?? 1
                let maximum = r.draft == .draft7 ? nil : try count("maxContains")
                k.append(.contains(try child("/contains"), min: minimum, max: maximum))
            }
            for key in ["allOf", "anyOf", "oneOf"] {
                guard let v = o[key] else { continue }
                guard let a = v.arrayValue, !a.isEmpty else { throw bad(key, "a non-empty array") }
                let nodes = try (0..<a.count).map { try child("/\(key)/\($0)") }
                k.append(key == "allOf" ? .allOf(nodes) : key == "anyOf" ? .anyOf(nodes) : .oneOf(nodes))
            }
            if o["not"] != nil { k.append(.not(try child("/not"))) }
            if o["if"] != nil {
                let thenNode = o["then"] != nil ? try child("/then") : nil
                let elseNode = o["else"] != nil ? try child("/else") : nil
                k.append(.conditional(if: try child("/if"), then: thenNode, else: elseNode))
            }
        }
        if let ref = try reference("$ref") { k.append(.ref(ref)) }
        if r.draft == .draft2020, let ref = try reference("$dynamicRef") { k.append(.dynamicRef(ref)) }
        if r.unevaluated && r.draft != .draft7 {
            if o["unevaluatedItems"] != nil {
                k.append(.unevaluatedItems(try child("/unevaluatedItems")))
                node.needsAnnotations = true
            }
            if o["unevaluatedProperties"] != nil {
                k.append(.unevaluatedProperties(try child("/unevaluatedProperties")))
                node.needsAnnotations = true
            }
        }
        node.setKeywords(k)
    }
}

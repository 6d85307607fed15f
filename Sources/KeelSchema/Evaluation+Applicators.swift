import KeelCore

extension Evaluation {
    /// Applies one keyword to `value`. `ann` is the enclosing node's annotations (written only when
    /// `gather`, i.e. when some `unevaluated*` will read them). Applicators are dispatched here;
    /// everything else goes to `checkAssertion`, whose large frame is then off the recursive path.
    mutating func check(_ keyword: UnsafePointer<Keyword>, _ value: JSONValue, _ ann: inout Annotations, gather: Bool)
        -> Bool
    {
        switch keyword.pointee {
        case .properties(let list): return applyProperties(list, value, &ann, gather: gather)
        case .patternProperties(let list): return applyPatternProperties(list, value, &ann, gather: gather)
        case .additionalProperties(let node, let names, let list, let patterns):
            return applyAdditionalProperties(node, names, list, patterns, value, &ann, gather: gather)
        case .propertyNames(let node): return applyPropertyNames(node, value, &ann, gather: gather)
        case .dependentSchemas(let list, let key): return applyDependentSchemas(list, key, value, &ann, gather: gather)
        case .prefixItems(let nodes, let key): return applyPrefixItems(nodes, key, value, &ann, gather: gather)
        case .items(let node, let start, let key): return applyItems(node, start, key, value, &ann, gather: gather)
        case .contains(let node, let minimum, let maximum):
            return applyContains(node, minimum, maximum, value, &ann, gather: gather)
        case .allOf(let nodes): return applyAllOf(nodes, value, &ann, gather: gather)
        case .anyOf(let nodes): return applyAnyOf(nodes, value, &ann, gather: gather)
        case .oneOf(let nodes): return applyOneOf(nodes, value, &ann, gather: gather)
        case .not(let node): return applyNot(node, value, &ann, gather: gather)
        case .conditional(let ifNode, let thenNode, let elseNode):
            return applyConditional(ifNode, thenNode, elseNode, value, &ann, gather: gather)
        case .ref(let reference): return applyRef(reference, value, &ann, gather: gather)
        case .dynamicRef(let reference): return applyDynamicRef(reference, value, &ann, gather: gather)
        case .unevaluatedProperties(let node): return applyUnevaluatedProperties(node, value, &ann, gather: gather)
        case .unevaluatedItems(let node): return applyUnevaluatedItems(node, value, &ann, gather: gather)
        default:
            return checkAssertion(keyword, value)
        }
    }

    // One small function per applicator: they sit on the recursive path, so their frames (not one
    // big switch's) decide how deep an instance can be before the stack runs out.

    mutating func applyProperties(_ list: [(String, Node)], _ value: JSONValue, _ ann: inout Annotations, gather: Bool)
        -> Bool
    {
        guard case .object(let o) = value else { return true }
        var ok = true
        for (name, node) in list {
            guard let v = o.member(name) else { continue }
            if gather { ann.properties.insert(.string(name)) }
            if !child(node, v, name, keyword: "properties/" + JSONPointer.escape(name)) {
                ok = false
                if !full || shouldStop { return false }
            }
        }
        return ok
    }

    mutating func applyPatternProperties(
        _ list: [(ECMARegex, Node)], _ value: JSONValue, _ ann: inout Annotations, gather: Bool
    ) -> Bool {
        guard case .object(let o) = value else { return true }
        var ok = true
        for (name, v) in o {
            for (re, node) in list where re.matches(name) {
                if gather { ann.properties.insert(.string(name)) }
                if !child(node, v, name, keyword: "patternProperties/" + JSONPointer.escape(re.source)) {
                    ok = false
                    if !full || shouldStop { return false }
                }
            }
        }
        return ok
    }

    mutating func applyAdditionalProperties(
        _ node: Node, _ names: Set<String>, _ list: [String], _ patterns: [ECMARegex], _ value: JSONValue,
        _ ann: inout Annotations, gather: Bool
    ) -> Bool {
        guard case .object(let o) = value else { return true }
        var ok = true
        let forbidden = node.isFalse
        // A short list is scanned (small-string == is cheaper than hashing); a long one is hashed.
        let scan = list.count <= 8
        // Declared means the same bytes: an NFD twin of a declared "é" is an additional property
        // (String == and Set<String> would call it declared, and `properties` would not check it).
        func declared(_ name: String) -> Bool {
            if !scan && !names.contains(name) { return false }
            return list.contains { $0.hasSameUTF8(as: name) }
        }
        for (name, v) in o where !declared(name) && !patterns.contains(where: { $0.matches(name) }) {
            let good: Bool
            if forbidden {
                good = failAt(name, "additionalProperties", "the property \(describe(.string(name))) is not allowed")
            } else {
                good = child(node, v, name, keyword: "additionalProperties")
            }
            if !good {
                ok = false
                if !full || shouldStop { return false }
            }
        }
        if ok && gather { ann.allProperties = true }
        return ok
    }

    mutating func applyPropertyNames(_ node: Node, _ value: JSONValue, _ ann: inout Annotations, gather: Bool) -> Bool {
        guard case .object(let o) = value else { return true }
        var ok = true
        for name in o.keys where !child(node, .string(name), name, keyword: "propertyNames") {
            ok = false
            if !full || shouldStop { return false }
        }
        return ok
    }

    mutating func applyDependentSchemas(
        _ list: [(String, Node)], _ key: String, _ value: JSONValue, _ ann: inout Annotations, gather: Bool
    ) -> Bool {
        guard case .object(let o) = value else { return true }
        var ok = true
        for (name, node) in list where o[name] != nil {
            if !inPlace(node, value, &ann, gather: gather, keyword: key + "/" + JSONPointer.escape(name)) {
                ok = false
                if !full || shouldStop { return false }
            }
        }
        return ok
    }

    mutating func applyPrefixItems(
        _ nodes: [Node], _ key: String, _ value: JSONValue, _ ann: inout Annotations, gather: Bool
    ) -> Bool {
        guard case .array(let a) = value else { return true }
        var ok = true
        let n = min(nodes.count, a.count)
        for i in 0..<n where !child(nodes[i], a[i], String(i), keyword: "\(key)/\(i)") {
            ok = false
            if !full || shouldStop { return false }
        }
        if gather && n > ann.itemPrefix { ann.itemPrefix = n }
        return ok
    }

    mutating func applyItems(
        _ node: Node, _ start: Int, _ key: String, _ value: JSONValue, _ ann: inout Annotations, gather: Bool
    ) -> Bool {
        guard case .array(let a) = value, a.count > start else { return true }
        var ok = true
        let forbidden = node.isFalse
        for i in start..<a.count {
            let good: Bool
            if forbidden {
                good = failAt(String(i), key, "no item is allowed at index \(i) (at most \(start) items)")
            } else {
                good = child(node, a[i], String(i), keyword: key)
            }
            if !good {
                ok = false
                if !full || shouldStop { return false }
            }
        }
        if gather { ann.allItems = true }
        return ok
    }

    mutating func applyContains(
        _ node: Node, _ minimum: Int, _ maximum: Int?, _ value: JSONValue, _ ann: inout Annotations, gather: Bool
    ) -> Bool {
        guard case .array(let a) = value else { return true }
        var matched = 0
        for (i, e) in a.enumerated() {
            depth += 1
            let hit = probe(node, e, &discard.pointee, gather: false)
            depth -= 1
            if hit {
                matched += 1
                if gather { ann.items.insert(i) } else if maximum == nil && matched >= minimum { return true }
            }
        }
        if matched < minimum {
            if matched == 0 { return fail("contains", "no item matches the \"contains\" schema") }
            return fail("minContains", "\(matched) items match the \"contains\" schema, fewer than \(minimum)")
        }
        if let maximum, matched > maximum {
            return fail("maxContains", "\(matched) items match the \"contains\" schema, more than \(maximum)")
        }
        return true
    }

    mutating func applyAllOf(_ nodes: [Node], _ value: JSONValue, _ ann: inout Annotations, gather: Bool) -> Bool {
        var ok = true
        for (i, node) in nodes.enumerated() where !inPlace(node, value, &ann, gather: gather, keyword: "allOf/\(i)") {
            ok = false
            if !full || shouldStop { return false }
        }
        return ok
    }

    mutating func applyAnyOf(_ nodes: [Node], _ value: JSONValue, _ ann: inout Annotations, gather: Bool) -> Bool {
        var any = false
        for node in nodes where probe(node, value, &ann, gather: gather) {
            any = true
            if !gather { break }
        }
        if any { return true }
        return fail("anyOf", "\(describe(value)) does not match any of the \(nodes.count) schemas in anyOf")
    }

    mutating func applyOneOf(_ nodes: [Node], _ value: JSONValue, _ ann: inout Annotations, gather: Bool) -> Bool {
        var count = 0
        var firstMatch = -1
        var secondMatch = -1
        var first = Annotations()
        for (i, node) in nodes.enumerated() {
            let hit: Bool
            if gather {
                var branch = Annotations()
                hit = probe(node, value, &branch, gather: true)
                if hit && count == 0 { first = branch }
            } else {
                hit = probe(node, value, &discard.pointee, gather: false)
            }
            guard hit else { continue }
            count += 1
            if count == 1 {
                firstMatch = i
            } else {
                secondMatch = i
                break
            }
        }
        if count == 1 {
            if gather { ann.merge(first) }
            return true
        }
        if count == 0 {
            return fail("oneOf", "\(describe(value)) does not match any of the \(nodes.count) schemas in oneOf")
        }
        return fail(
            "oneOf",
            "\(describe(value)) matches more than one schema in oneOf"
                + " (at least indexes \(firstMatch) and \(secondMatch))"
        )
    }

    mutating func applyNot(_ node: Node, _ value: JSONValue, _ ann: inout Annotations, gather: Bool) -> Bool {
        if !probe(node, value, &discard.pointee, gather: false) { return true }
        return fail("not", "\(describe(value)) must not match the schema in \"not\"")
    }

    mutating func applyConditional(
        _ ifNode: Node, _ thenNode: Node?, _ elseNode: Node?, _ value: JSONValue, _ ann: inout Annotations, gather: Bool
    ) -> Bool {
        if thenNode == nil && elseNode == nil && !gather { return true }
        var conditionAnnotations = Annotations()
        if probe(ifNode, value, &conditionAnnotations, gather: gather) {
            if gather { ann.merge(conditionAnnotations) }
            guard let thenNode else { return true }
            return inPlace(thenNode, value, &ann, gather: gather, keyword: "then")
        }
        guard let elseNode else { return true }
        return inPlace(elseNode, value, &ann, gather: gather, keyword: "else")
    }

    mutating func applyRef(_ reference: Reference, _ value: JSONValue, _ ann: inout Annotations, gather: Bool) -> Bool {
        return followReference(reference.target, value, &ann, gather: gather, keyword: "$ref")
    }

    mutating func applyDynamicRef(_ reference: Reference, _ value: JSONValue, _ ann: inout Annotations, gather: Bool)
        -> Bool
    {
        var target: Node = reference.target
        if let name = reference.dynamicName {
            for resource in scope {
                if let node = resource.dynamicAnchors[name] {
                    target = node
                    break
                }
            }
        }
        return followReference(target, value, &ann, gather: gather, keyword: "$dynamicRef")
    }

    mutating func applyUnevaluatedProperties(_ node: Node, _ value: JSONValue, _ ann: inout Annotations, gather: Bool)
        -> Bool
    {
        guard case .object(let o) = value else { return true }
        var ok = true
        if !ann.allProperties {
            let forbidden = node.isFalse
            for (name, v) in o where !ann.properties.contains(.string(name)) {
                let good: Bool
                if forbidden {
                    good = failAt(
                        name, "unevaluatedProperties",
                        "the property \(describe(.string(name))) is not allowed (unevaluated)")
                } else {
                    good = child(node, v, name, keyword: "unevaluatedProperties")
                }
                if !good {
                    ok = false
                    if !full || shouldStop { return false }
                }
            }
        }
        if ok { ann.allProperties = true }
        return ok
    }

    mutating func applyUnevaluatedItems(_ node: Node, _ value: JSONValue, _ ann: inout Annotations, gather: Bool)
        -> Bool
    {
        guard case .array(let a) = value else { return true }
        var ok = true
        if !ann.allItems {
            for i in ann.itemPrefix..<max(a.count, ann.itemPrefix) where !ann.items.contains(i) {
                if !child(node, a[i], String(i), keyword: "unevaluatedItems") {
                    ok = false
                    if !full || shouldStop { return false }
                }
            }
        }
        if ok { ann.allItems = true }
        return ok

    }
}

extension Node {
    /// True for the `false` schema (its errors get a clearer message at the parent keyword).
    var isFalse: Bool {
        if keywords.count == 1, case .falseSchema = keywords[0] { return true }
        return false
    }
}

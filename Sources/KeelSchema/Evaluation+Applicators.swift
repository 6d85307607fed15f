import KeelCore

extension Evaluation {
    /// The keywords that apply subschemas, to child values or in place.
    mutating func checkApplicator(_ keyword: Keyword, _ value: JSONValue, _ ann: inout Annotations, gather: Bool)
        -> Bool
    {
        switch keyword {
        case .properties(let list):
            guard case .object(let o) = value else { return true }
            var ok = true
            for (name, node) in list {
                guard let v = o[name] else { continue }
                if gather { ann.properties.insert(name) }
                if !child(node, v, name, keyword: "properties/" + JSONPointer.escape(name)) {
                    ok = false
                    if !full || shouldStop { return false }
                }
            }
            return ok
        case .patternProperties(let list):
            guard case .object(let o) = value else { return true }
            var ok = true
            for (name, v) in o {
                for (re, node) in list where re.matches(name) {
                    if gather { ann.properties.insert(name) }
                    if !child(node, v, name, keyword: "patternProperties/" + JSONPointer.escape(re.source)) {
                        ok = false
                        if !full || shouldStop { return false }
                    }
                }
            }
            return ok
        case .additionalProperties(let node, let names, let patterns):
            guard case .object(let o) = value else { return true }
            var ok = true
            let forbidden = node.isFalse
            for (name, v) in o where !names.contains(name) && !patterns.contains(where: { $0.matches(name) }) {
                let good: Bool
                if forbidden {
                    good = fail("additionalProperties", "the property \(describe(.string(name))) is not allowed")
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
        case .propertyNames(let node):
            guard case .object(let o) = value else { return true }
            var ok = true
            for name in o.keys where !child(node, .string(name), name, keyword: "propertyNames") {
                ok = false
                if !full || shouldStop { return false }
            }
            return ok
        case .dependentSchemas(let list, let key):
            guard case .object(let o) = value else { return true }
            var ok = true
            for (name, node) in list where o[name] != nil {
                if !inPlace(node, value, &ann, gather: gather, keyword: key + "/" + JSONPointer.escape(name)) {
                    ok = false
                    if !full || shouldStop { return false }
                }
            }
            return ok
        case .prefixItems(let nodes, let key):
            guard case .array(let a) = value else { return true }
            var ok = true
            let n = min(nodes.count, a.count)
            for i in 0..<n where !child(nodes[i], a[i], String(i), keyword: "\(key)/\(i)") {
                ok = false
                if !full || shouldStop { return false }
            }
            if gather && n > ann.itemPrefix { ann.itemPrefix = n }
            return ok
        case .items(let node, let start, let key):
            guard case .array(let a) = value, a.count > start else { return true }
            var ok = true
            let forbidden = node.isFalse
            for i in start..<a.count {
                let good: Bool
                if forbidden {
                    instancePath.append(String(i))
                    good = fail(key, "no item is allowed at index \(i) (at most \(start) items)")
                    instancePath.removeLast()
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
        case .contains(let node, let minimum, let maximum):
            guard case .array(let a) = value else { return true }
            var matched = 0
            for (i, e) in a.enumerated() {
                depth += 1
                var ignored = Annotations()
                let hit = probe(node, e, &ignored, gather: false)
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
        case .allOf(let nodes):
            var ok = true
            for (i, node) in nodes.enumerated() where !inPlace(node, value, &ann, gather: gather, keyword: "allOf/\(i)") {
                ok = false
                if !full || shouldStop { return false }
            }
            return ok
        case .anyOf(let nodes):
            var any = false
            for node in nodes where probe(node, value, &ann, gather: gather) {
                any = true
                if !gather { break }
            }
            if any { return true }
            return fail("anyOf", "\(describe(value)) does not match any of the \(nodes.count) schemas in anyOf")
        case .oneOf(let nodes):
            var matches: [Int] = []
            var first = Annotations()
            for (i, node) in nodes.enumerated() {
                var branch = Annotations()
                if probe(node, value, &branch, gather: gather) {
                    matches.append(i)
                    if matches.count == 1 { first = branch } else if !full { return false }
                }
            }
            if matches.count == 1 {
                if gather { ann.merge(first) }
                return true
            }
            if matches.isEmpty {
                return fail("oneOf", "\(describe(value)) does not match any of the \(nodes.count) schemas in oneOf")
            }
            return fail("oneOf", "\(describe(value)) matches more than one schema in oneOf (indexes \(matches.map(String.init).joined(separator: ", ")))")
        case .not(let node):
            var ignored = Annotations()
            if !probe(node, value, &ignored, gather: false) { return true }
            return fail("not", "\(describe(value)) must not match the schema in \"not\"")
        case .conditional(let ifNode, let thenNode, let elseNode):
            if thenNode == nil && elseNode == nil && !gather { return true }
            var conditionAnnotations = Annotations()
            if probe(ifNode, value, &conditionAnnotations, gather: gather) {
                if gather { ann.merge(conditionAnnotations) }
                guard let thenNode else { return true }
                return inPlace(thenNode, value, &ann, gather: gather, keyword: "then")
            }
            guard let elseNode else { return true }
            return inPlace(elseNode, value, &ann, gather: gather, keyword: "else")
        case .ref(let reference):
            return followReference(reference.target, value, &ann, gather: gather, keyword: "$ref")
        case .dynamicRef(let reference):
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
        case .unevaluatedProperties(let node):
            guard case .object(let o) = value else { return true }
            var ok = true
            if !ann.allProperties {
                let forbidden = node.isFalse
                for (name, v) in o where !ann.properties.contains(name) {
                    let good: Bool
                    if forbidden {
                        good = fail("unevaluatedProperties", "the property \(describe(.string(name))) is not allowed (unevaluated)")
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
        case .unevaluatedItems(let node):
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
        default:
            return true
        }
    }
}

extension Node {
    /// True for the `false` schema (its errors get a clearer message at the parent keyword).
    var isFalse: Bool {
        if keywords.count == 1, case .falseSchema = keywords[0] { return true }
        return false
    }
}

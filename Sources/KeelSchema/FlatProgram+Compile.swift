import KeelCore

extension FlatProgram {
    /// Lowers the graph under `root`, or nil when it has a cycle, a path longer than
    /// ``maximumPathLength``, or a keyword without an op (`$dynamicRef`, `unevaluated*`,
    /// `dependentRequired`, `dependentSchemas`, draft-07 `content*`): those keep the ``Node`` evaluator.
    static func lower(_ root: Node) -> FlatProgram? {
        var builder = FlatProgramBuilder()
        guard let index = builder.lower(root, depth: 0), builder.height(of: index) <= maximumPathLength else {
            return nil
        }
        return FlatProgram(builder, root: index)
    }
}

/// The tables of a ``FlatProgram`` while they are built.
struct FlatProgramBuilder {
    var ops: [FlatOp] = []
    var schemas: [FlatSchema] = []
    var lists: [Int32] = []
    var objects: [FlatObject] = []
    var names: [FlatName] = []
    var patterns: [FlatPattern] = []
    var bytes: [UInt8] = []
    var values: [JSONValue] = []
    var valueSets: [Set<JSONValue>] = []
    var numbers: [JSONNumber] = []
    var regexes: [ECMARegex] = []
    var formats: [FormatChecker] = []
    /// Subschema index per node; -1 while the node is being lowered (seeing it then is a cycle).
    var indices: [ObjectIdentifier: Int32] = [:]

    /// The subschema index of `node`, lowering it (and, first, its children) on first sight.
    mutating func lower(_ node: Node, depth: Int) -> Int32? {
        if let known = indices[ObjectIdentifier(node)] { return known >= 0 ? known : nil }
        guard depth < FlatProgram.maximumPathLength, !node.needsAnnotations else { return nil }
        indices[ObjectIdentifier(node)] = -1
        var body: [FlatOp] = []
        var types = TypeMask.any
        var object = ObjectKeywords()
        for keyword in node.keywords {
            if case .type(let mask) = keyword {
                types.formIntersection(mask)
                continue
            }
            if object.absorb(keyword) {
                // The first object keyword marks where the merged op goes.
                if object.position == nil { object.position = body.count }
                continue
            }
            guard let op = lowerKeyword(keyword, depth: depth) else { return nil }
            body.append(op)
        }
        if let position = object.position {
            guard let op = lowerObject(object, depth: depth) else { return nil }
            body.insert(op, at: position)
        }
        let index = Int32(schemas.count)
        schemas.append(
            FlatSchema(types: types, ops: FlatRange(start: Int32(ops.count), end: Int32(ops.count + body.count))))
        ops.append(contentsOf: body)
        indices[ObjectIdentifier(node)] = index
        return index
    }

    /// One keyword's op (children lowered first), or nil when the keyword has none.
    private mutating func lowerKeyword(_ keyword: Keyword, depth: Int) -> FlatOp? {
        func child(_ node: Node) -> Int32? { lower(node, depth: depth + 1) }
        func list(_ nodes: [Node]) -> (Int32, Int32)? {
            var indices: [Int32] = []
            for node in nodes {
                guard let i = child(node) else { return nil }
                indices.append(i)
            }
            lists.append(contentsOf: indices)
            return (Int32(lists.count - indices.count), Int32(indices.count))
        }
        switch keyword {
        case .falseSchema: return FlatOp(code: .fail)
        case .enumeration(let list, let set):
            let strings = list.compactMap(\.stringValue)
            if strings.count == list.count, strings.count <= FlatProgram.enumScanLimit {
                let start = Int32(names.count)
                for s in strings { names.append(name(s, schema: -1, required: false)) }
                return FlatOp(code: .enumStrings, a: start, b: Int32(strings.count))
            }
            values.append(contentsOf: list)
            let start = Int32(values.count - list.count)
            if list.count <= FlatProgram.enumScanLimit {
                return FlatOp(code: .enumScan, a: start, b: Int32(list.count))
            }
            valueSets.append(set)
            return FlatOp(code: .enumSet, a: start, b: Int32(list.count), c: Int32(valueSets.count - 1))
        case .const(let value):
            values.append(value)
            return FlatOp(code: .const, a: Int32(values.count - 1))
        case .multipleOf(let m): return number(.multipleOf, m)
        case .maximum(let m): return number(.maximum, m)
        case .exclusiveMaximum(let m): return number(.exclusiveMaximum, m)
        case .minimum(let m): return number(.minimum, m)
        case .exclusiveMinimum(let m): return number(.exclusiveMinimum, m)
        case .maxLength(let m): return FlatOp(code: .maxLength, n: Int64(m))
        case .minLength(let m): return FlatOp(code: .minLength, n: Int64(m))
        case .maxItems(let m): return FlatOp(code: .maxItems, n: Int64(m))
        case .minItems(let m): return FlatOp(code: .minItems, n: Int64(m))
        case .maxProperties(let m): return FlatOp(code: .maxProperties, n: Int64(m))
        case .minProperties(let m): return FlatOp(code: .minProperties, n: Int64(m))
        case .uniqueItems: return FlatOp(code: .uniqueItems)
        case .pattern(let re):
            regexes.append(re)
            return FlatOp(code: .pattern, a: Int32(regexes.count - 1))
        case .format(_, let checker):
            formats.append(checker)
            return FlatOp(code: .format, a: Int32(formats.count - 1))
        case .propertyNames(let node):
            guard let i = child(node) else { return nil }
            return FlatOp(code: .propertyNames, a: i)
        case .prefixItems(let nodes, _):
            guard let (start, count) = list(nodes) else { return nil }
            return FlatOp(code: .prefixItems, a: start, b: count)
        case .items(let node, let start, _):
            guard let i = child(node), let s = Int32(exactly: start) else { return nil }
            return FlatOp(code: .items, a: i, b: s)
        case .contains(let node, let minimum, let maximum):
            guard let i = child(node) else { return nil }
            let low = Int32(clamping: minimum)
            let high = maximum.map { Int32(clamping: $0) } ?? -1
            return FlatOp(code: .contains, a: i, b: low, c: high)
        case .allOf(let nodes), .anyOf(let nodes), .oneOf(let nodes):
            guard let (start, count) = list(nodes) else { return nil }
            let code: FlatOp.Code
            switch keyword {
            case .allOf: code = .allOf
            case .anyOf: code = .anyOf
            default: code = .oneOf
            }
            return FlatOp(code: code, a: start, b: count)
        case .not(let node):
            guard let i = child(node) else { return nil }
            return FlatOp(code: .not, a: i)
        case .conditional(let ifNode, let thenNode, let elseNode):
            guard let i = child(ifNode) else { return nil }
            var t: Int32 = -1
            var e: Int32 = -1
            if let thenNode {
                guard let c = child(thenNode) else { return nil }
                t = c
            }
            if let elseNode {
                guard let c = child(elseNode) else { return nil }
                e = c
            }
            return FlatOp(code: .conditional, a: i, b: t, c: e)
        case .ref(let reference):
            guard let i = child(reference.target) else { return nil }
            return FlatOp(code: .apply, a: i)
        case .type, .content, .dependentRequired, .dependentSchemas, .dynamicRef, .unevaluatedProperties,
            .unevaluatedItems, .required, .properties, .patternProperties, .additionalProperties:
            return nil
        }
    }

    /// A number op: the bound in `numbers`, and as a scaled integer when it has a compact form.
    private mutating func number(_ code: FlatOp.Code, _ bound: JSONNumber) -> FlatOp {
        numbers.append(bound)
        var op = FlatOp(code: code, a: Int32(numbers.count - 1))
        if let (significand, exponent) = bound.compactDecimal, let e = Int32(exactly: exponent) {
            op.n = significand
            op.b = e
            op.c = 1
        }
        return op
    }

    /// The merged `object` op of one node's object keywords.
    private mutating func lowerObject(_ k: ObjectKeywords, depth: Int) -> FlatOp? {
        // additionalProperties lists the names and patterns of its own node's properties and
        // patternProperties (Compiler+Keywords); the merged op relies on that.
        if let additional = k.additional {
            guard additional.list.count == k.properties.count,
                zip(additional.list, k.properties).allSatisfy({ $0.hasSameUTF8(as: $1.0) }),
                additional.patterns.count == k.patterns.count,
                zip(additional.patterns, k.patterns).allSatisfy({ $0 === $1.0 })
            else { return nil }
        }
        var entries: [FlatName] = []
        func entry(_ name: String) -> Int {
            if let i = entries.firstIndex(where: { nameBytes($0).elementsEqual(name.utf8) }) { return i }
            entries.append(self.name(name, schema: -1, required: false))
            return entries.count - 1
        }
        for (name, node) in k.properties {
            guard let i = lower(node, depth: depth + 1) else { return nil }
            entries[entry(name)].schema = i
        }
        for name in k.required { entries[entry(name)].required = true }
        var patternEntries: [FlatPattern] = []
        for (re, node) in k.patterns {
            guard let i = lower(node, depth: depth + 1) else { return nil }
            regexes.append(re)
            patternEntries.append(FlatPattern(regex: Int32(regexes.count - 1), schema: i))
        }
        var additional: Int32 = -1
        if let node = k.additional?.node {
            guard let i = lower(node, depth: depth + 1) else { return nil }
            additional = i
        }
        names.append(contentsOf: entries)
        patterns.append(contentsOf: patternEntries)
        objects.append(
            FlatObject(
                names: FlatRange(start: Int32(names.count - entries.count), end: Int32(names.count)),
                patterns: FlatRange(start: Int32(patterns.count - patternEntries.count), end: Int32(patterns.count)),
                additional: additional,
                required: Int32(entries.count(where: \.required))))
        return FlatOp(code: .object, a: Int32(objects.count - 1))
    }

    /// The most subschemas one evaluation from `root` enters one inside another (1 for a leaf).
    /// A child is always lowered before its parent, so it has the lower index and one forward
    /// pass sees every child's height before its parent's.
    func height(of root: Int32) -> Int {
        var heights = [Int](repeating: 1, count: Int(root) + 1)
        for s in 0...Int(root) {
            for op in ops[Int(schemas[s].ops.start)..<Int(schemas[s].ops.end)] {
                for c in children(of: op) { heights[s] = max(heights[s], heights[Int(c)] + 1) }
            }
        }
        return heights[Int(root)]
    }

    /// The subschemas `op` applies.
    private func children(of op: FlatOp) -> [Int32] {
        switch op.code {
        case .propertyNames, .items, .contains, .not, .apply: return [op.a]
        case .conditional: return [op.a, op.b, op.c].filter { $0 >= 0 }
        case .prefixItems, .allOf, .anyOf, .oneOf: return Array(lists[Int(op.a)..<Int(op.a + op.b)])
        case .object:
            let shape = objects[Int(op.a)]
            let named = names[Int(shape.names.start)..<Int(shape.names.end)].map(\.schema)
            let patterned = patterns[Int(shape.patterns.start)..<Int(shape.patterns.end)].map(\.schema)
            return (named + patterned + [shape.additional]).filter { $0 >= 0 }
        default: return []
        }
    }

    /// A name entry for `text`, its bytes appended to `bytes`.
    private mutating func name(_ text: String, schema: Int32, required: Bool) -> FlatName {
        bytes.append(contentsOf: text.utf8)
        let utf8 = Array(text.utf8)
        return FlatName(
            start: Int32(bytes.count - utf8.count), count: Int32(utf8.count),
            prefix: utf8.withUnsafeBufferPointer(FlatName.prefix), schema: schema, required: required)
    }

    private func nameBytes(_ name: FlatName) -> ArraySlice<UInt8> {
        bytes[Int(name.start)..<Int(name.start + name.count)]
    }
}

/// The object keywords of one node, gathered for the merged `object` op.
struct ObjectKeywords {
    var required: [String] = []
    var properties: [(String, Node)] = []
    var patterns: [(ECMARegex, Node)] = []
    var additional: (node: Node, list: [String], patterns: [ECMARegex])?
    /// Where in the node's ops the merged op goes (the first object keyword's place).
    var position: Int?

    /// Takes `keyword` when it is one of the merged object keywords.
    mutating func absorb(_ keyword: Keyword) -> Bool {
        switch keyword {
        case .required(let list): required += list
        case .properties(let list): properties += list
        case .patternProperties(let list): patterns += list
        case .additionalProperties(let node, _, let list, let regexes): additional = (node, list, regexes)
        default: return false
        }
        return true
    }
}

import KeelCore

/// Compile-time checks on the graph of compiled nodes, without recursion (a schema may hold a
/// `$ref` chain 100,000 long: recursion would exhaust the stack).
///
/// - `$ref` cycles that can never consume input: `{"$ref": "#"}`, or A → B → A through
///   `$ref`/`allOf` only, apply the same schema to the same value forever. Those edges are
///   unconditional, so such a schema loops on every instance of the right type: it is rejected.
///   Cycles through conditional applicators (`anyOf`, `if`, …) are caught at validation time
///   instead (see `Evaluation.followReference`).
/// - Reference chains: the longest path of subschemas entered one inside another (through any
///   applicator or reference, a cycle counted once) must stay within
///   ``SchemaLimits/maximumReferenceDepth``; evaluation recurses along such paths.
enum CycleCheck {
    static func run(from nodes: [Node]) throws {
        try unconditionalCycles(nodes)
        try chainLength(nodes)
    }

    /// The nodes `node` applies to the same value unconditionally.
    private static func unconditionalEdges(_ node: Node) -> [Node] {
        var out: [Node] = []
        for k in node.keywords {
            switch k {
            case .ref(let r): out.append(r.target)
            case .dynamicRef(let r) where r.dynamicName == nil: out.append(r.target)
            case .allOf(let nodes): out.append(contentsOf: nodes)
            default: break
            }
        }
        return out
    }

    private static func unconditionalCycles(_ nodes: [Node]) throws {
        var state: [ObjectIdentifier: Bool] = [:]  // false = on the current path, true = done
        var path: [(node: Node, edges: [Node], next: Int)] = []
        for root in nodes where state[ObjectIdentifier(root)] == nil {
            state[ObjectIdentifier(root)] = false
            path.append((root, unconditionalEdges(root), 0))
            while let top = path.last {
                guard top.next < top.edges.count else {
                    state[ObjectIdentifier(top.node)] = true
                    path.removeLast()
                    continue
                }
                path[path.count - 1].next += 1
                let node = top.edges[top.next]
                switch state[ObjectIdentifier(node)] {
                case true?: continue
                case false?:
                    let start = path.firstIndex { $0.node === node } ?? 0
                    let cycle = path[start...].map(\.node.location) + [node.location]
                    throw KeelError(
                        .invalidSchema,
                        "The schema has a $ref cycle that never consumes input: \(cycle.joined(separator: " -> ")).",
                        data: ["cycle": .array(cycle.map { .string($0) })])
                case nil:
                    state[ObjectIdentifier(node)] = false
                    path.append((node, unconditionalEdges(node), 0))
                }
            }
        }
    }

    /// Every subschema `node` may evaluate (one level deeper in the evaluation).
    private static func allEdges(_ node: Node, _ dynamicTargets: [String: [Node]]) -> [Node] {
        var out: [Node] = []
        for k in node.keywords {
            switch k {
            case .properties(let list), .dependentSchemas(let list, _): out.append(contentsOf: list.map(\.1))
            case .patternProperties(let list): out.append(contentsOf: list.map(\.1))
            case .additionalProperties(let n, _, _, _), .propertyNames(let n), .items(let n, _, _),
                .contains(let n, _, _), .not(let n), .unevaluatedProperties(let n), .unevaluatedItems(let n):
                out.append(n)
            case .prefixItems(let nodes, _), .allOf(let nodes), .anyOf(let nodes), .oneOf(let nodes):
                out.append(contentsOf: nodes)
            case .conditional(let i, let t, let e):
                out.append(i)
                if let t { out.append(t) }
                if let e { out.append(e) }
            case .ref(let r): out.append(r.target)
            case .dynamicRef(let r):
                out.append(r.target)
                if let name = r.dynamicName { out.append(contentsOf: dynamicTargets[name] ?? []) }
            default: break
            }
        }
        return out
    }

    /// The longest chain of nested subschemas, back edges of cycles ignored (a recursive schema
    /// goes one level deeper in the instance each turn, bounded by the instance depth limit).
    private static func chainLength(_ nodes: [Node]) throws {
        let limit = SchemaLimits.maximumReferenceDepth
        // Every node a `$dynamicRef` with a given anchor name may land on.
        var dynamicTargets: [String: [Node]] = [:]
        var seen: Set<ObjectIdentifier> = []
        for node in nodes where seen.insert(ObjectIdentifier(node.resource)).inserted {
            for (name, target) in node.resource.dynamicAnchors { dynamicTargets[name, default: []].append(target) }
        }
        var length: [ObjectIdentifier: Int] = [:]  // 0 = on the current path
        var path: [(node: Node, edges: [Node], next: Int, best: Int)] = []
        for root in nodes where length[ObjectIdentifier(root)] == nil {
            length[ObjectIdentifier(root)] = 0
            path.append((root, allEdges(root, dynamicTargets), 0, 1))
            while let top = path.last {
                guard top.next < top.edges.count else {
                    path.removeLast()
                    length[ObjectIdentifier(top.node)] = top.best
                    if top.best > limit { throw tooDeep(top.best, at: top.node.location) }
                    if !path.isEmpty { path[path.count - 1].best = max(path[path.count - 1].best, top.best + 1) }
                    continue
                }
                path[path.count - 1].next += 1
                let node = top.edges[top.next]
                switch length[ObjectIdentifier(node)] {
                case 0?: continue  // a back edge: a recursive schema
                case let known?: path[path.count - 1].best = max(top.best, known + 1)
                case nil:
                    guard path.count < limit else { throw tooDeep(path.count + 1, at: node.location) }
                    length[ObjectIdentifier(node)] = 0
                    path.append((node, allEdges(node, dynamicTargets), 0, 1))
                }
            }
        }
    }

    private static func tooDeep(_ depth: Int, at location: String) -> KeelError {
        let limit = SchemaLimits.maximumReferenceDepth
        return KeelError(
            .invalidSchema,
            "The schema nests subschemas (through $ref or applicators) \(depth) levels deep at \(location); "
                + "the limit is \(limit).",
            data: ["depth": JSONValue(depth), "limit": JSONValue(limit)])
    }
}

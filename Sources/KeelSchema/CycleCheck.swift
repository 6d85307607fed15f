import KeelCore

/// Compile-time detection of `$ref` cycles that can never consume input.
///
/// `{"$ref": "#"}`, or A → B → A through `$ref`/`allOf` only, applies the same schema to the same
/// value forever. Those edges are unconditional, so such a schema loops on every instance of the
/// right type: it is rejected here. Cycles through conditional applicators (`anyOf`, `if`, …) are
/// caught at validation time instead (see `Evaluation.followReference`).
enum CycleCheck {
    static func run(from nodes: [Node]) throws {
        var state: [ObjectIdentifier: Bool] = [:]  // false = on the current path, true = done
        var path: [Node] = []

        func edges(_ node: Node) -> [Node] {
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

        func visit(_ node: Node) throws {
            let id = ObjectIdentifier(node)
            if let done = state[id] {
                if done { return }
                let start = path.firstIndex { $0 === node } ?? 0
                let cycle = (path[start...].map(\.location) + [node.location]).joined(separator: " -> ")
                throw KeelError(
                    .invalidSchema,
                    "The schema has a $ref cycle that never consumes input: \(cycle).",
                    data: ["cycle": .array((path[start...].map(\.location) + [node.location]).map { .string($0) })])
            }
            state[id] = false
            path.append(node)
            for next in edges(node) { try visit(next) }
            path.removeLast()
            state[id] = true
        }

        for node in nodes { try visit(node) }
    }
}

import KeelCore

/// The bounds that keep compiling and validating any schema and instance within the stack and in
/// linear time (docs/guarantees.md, "Limits"; docs/schema.md). Exceeding one is an error, never a
/// crash: a schema over a compile-time bound does not compile (`KeelError(.invalidSchema)`, 3003);
/// an evaluation over a run-time bound ends with one validation error saying so.
public enum SchemaLimits {
    /// JSON nesting of a schema document (objects and arrays), checked before anything recurses
    /// over it. Equal to the JSON parser's default, so a schema read from the wire never exceeds it.
    public static let maximumSchemaDepth = JSONParser.defaultMaximumDepth
    /// The longest chain of subschemas nested in one another through `$ref`s and applicators
    /// (a recursive cycle counted once), checked when compiling.
    public static let maximumReferenceDepth = 512
    /// Nested instance values (arrays and objects) an evaluation descends into.
    public static let maximumInstanceDepth = 512
    /// Subschemas being evaluated one inside another at any moment (instance depth times the
    /// chain per level, for recursive schemas), checked while validating. Sized for the 512 KiB
    /// to 8 MiB stacks of pool threads in a debug build (a `$ref` level costs ~5 frames there;
    /// measured to overflow a test thread past ~1,300), with room to spare in release builds.
    public static let maximumEvaluationDepth = 1_024
    /// Instructions a `pattern` may compile to after expanding counted repetitions (`a{1,1000}`
    /// is a thousand copies of `a`). Larger patterns are not run by the linear-time matcher.
    public static let maximumPatternProgramSize = 20_000
}

extension JSONValue {
    /// True when the value nests arrays/objects deeper than `limit` (iterative: safe at any depth).
    func nestsDeeper(than limit: Int) -> Bool {
        var stack: [(JSONValue, Int)] = [(self, 0)]
        while let (value, depth) = stack.popLast() {
            switch value {
            case .array(let a):
                if depth + 1 > limit { return true }
                for v in a { stack.append((v, depth + 1)) }
            case .object(let o):
                if depth + 1 > limit { return true }
                for v in o.values { stack.append((v, depth + 1)) }
            default: break
            }
        }
        return false
    }
}

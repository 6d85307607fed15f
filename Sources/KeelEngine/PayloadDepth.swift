public import KeelCore

/// Nesting limits that keep what Keel accepts readable when it is sent back.
///
/// Every line is parsed with at most ``JSONParser/defaultMaximumDepth`` (512) levels. A payload
/// travels inside envelopes: `{"params":{"input":X}}` adds 2 levels, `{"params":{"journal":[{"result":X}]}}`
/// adds 4, `{"result":{"output":X}}` adds 2. So Keel takes payloads from callers only up to
/// ``maximumInputDepth`` (256) and answers from workers up to ``maximumOutputDepth`` (500): a worker
/// may wrap an input in up to 244 more levels and its answer is still read, recorded, and readable
/// by the caller in its envelope (500 + 4 ≤ 512). docs/guarantees.md, "Limits".
public enum PayloadDepth {
    /// Deepest payload a request may carry (input, signal payload, heartbeat details, step result).
    public static let maximumInputDepth = 256
    /// Deepest output, failure or run result a worker's answer may carry.
    public static let maximumOutputDepth = 500

    /// Levels of arrays and objects in `value`: 0 for a scalar, 1 for `[]` or `{}`.
    /// Recursion is bounded: parsed values nest at most 512 levels.
    public static func depth(of value: JSONValue) -> Int {
        var deepest = 0
        switch value {
        case .array(let a):
            for v in a { deepest = max(deepest, depth(of: v)) }
        case .object(let o):
            for v in o.values { deepest = max(deepest, depth(of: v)) }
        default:
            return 0
        }
        return deepest + 1
    }

    /// Refuses request params that nest a payload deeper than ``maximumInputDepth``.
    /// - Throws: `KeelError(.invalidParams)` with `data: {"maximumDepth": 256, "depth": n}`.
    public static func checkRequest(_ params: JSONValue, method: String) throws {
        // The params object itself is one level above the payloads it holds.
        let depth = depth(of: params) - 1
        guard depth > maximumInputDepth else { return }
        throw KeelError(
            .invalidParams,
            "\(method) params nest \(depth) levels; payloads may nest at most \(maximumInputDepth) (docs/guarantees.md, Limits)",
            data: ["maximumDepth": JSONValue(maximumInputDepth), "depth": JSONValue(depth)])
    }

    /// Why a worker's answer cannot be recorded, or nil when it fits ``maximumOutputDepth``.
    static func answerProblem(_ result: JSONValue, method: String) -> String? {
        let depth = depth(of: result) - 1
        guard depth > maximumOutputDepth else { return nil }
        return "the \(method) answer nests \(depth) levels; Keel records at most \(maximumOutputDepth)"
    }
}

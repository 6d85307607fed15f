import KeelCore

/// Words for a worker's answer that Keel cannot use, so the recorded failure names what was wrong.
extension Engine {
    /// Why an `activity/execute` result is neither an output nor a failure.
    static func malformedExecuteAnswer(_ result: JSONValue) -> String {
        guard case .object = result else {
            return "the activity/execute result must be an object with \"output\" or \"failure\""
        }
        if let f = result["failure"] {
            return "the activity/execute result's \"failure\" must be an object, not \(kind(of: f))"
        }
        return "the activity/execute result has neither \"output\" nor \"failure\""
    }

    /// Why a `workflow/run` result has no status Keel knows.
    static func malformedRunAnswer(_ result: JSONValue) -> String {
        let expected = "expected completed, failed, suspended or continueAsNew"
        guard case .object = result else { return "the workflow/run result must be an object, not \(kind(of: result))" }
        guard let status = result["status"] else { return "the workflow/run result has no \"status\"; \(expected)" }
        guard case .string(let s) = status else {
            return "the workflow/run result's \"status\" must be a string, not \(kind(of: status)); \(expected)"
        }
        return "the workflow/run result's status \"\(s.prefix(64))\" is unknown; \(expected)"
    }

    private static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

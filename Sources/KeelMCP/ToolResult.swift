import KeelCore

/// MCP `tools/call` results built from Keel's answers.
enum ToolResult {
    /// Any JSON answer as one text block (and as `structuredContent` when it is an object).
    static func success(_ value: JSONValue, structured: Bool = true) -> JSONValue {
        var result: [String: JSONValue] = [
            "content": [["type": "text", "text": .string(JSONWriter.string(value))]], "isError": false,
        ]
        if structured, value.objectValue != nil { result["structuredContent"] = value }
        return .object(result)
    }

    /// A failure the caller (a model) should read: `isError: true` with the message as text.
    static func error(_ message: String, data: JSONValue? = nil) -> JSONValue {
        var result: [String: JSONValue] = ["content": [["type": "text", "text": .string(message)]], "isError": true]
        if let data { result["_meta"] = ["keel.dev/error": data] }
        return .object(result)
    }

    /// An `activity/call` answer: the output when `completed`, else the failure as `isError: true`
    /// (`failed`, `timedOut`, `cancelled`), with the task id and attempts in `_meta`.
    static func from(activity answer: JSONValue, structured: Bool) -> JSONValue {
        var result: JSONValue
        if answer["status"]?.stringValue == "completed" {
            result = success(answer["output"] ?? .null, structured: structured)
        } else {
            let failure = answer["failure"] ?? [:]
            let type = failure["type"]?.stringValue ?? (answer["status"]?.stringValue ?? "failed")
            result = error("\(type): \(failure["message"]?.stringValue ?? "the activity did not complete")")
        }
        if case .object(var object) = result {
            object["_meta"] = [
                "keel.dev/taskId": answer["taskId"] ?? .null, "keel.dev/status": answer["status"] ?? .null,
                "keel.dev/attempts": answer["attempts"] ?? .null,
            ]
            result = .object(object)
        }
        return result
    }
}

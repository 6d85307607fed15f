import ArgumentParser
import Foundation
import KeelCore

/// How a failed command tells its caller, on stderr: a line of text, or with `--format json` one
/// JSON object `{"error": {"code", "message", "data", "exitCode"}}` a script can parse (`code` and
/// `data` are the orchestrator's, absent for a failure found before anything was sent). Notices
/// before it (`{"notice": …}`) keep stderr one JSON object per line.
enum ErrorReport {
    /// Writes `message` for a person or, with `json`, as the JSON object.
    static func write(_ message: String, code: Int? = nil, data: JSONValue? = nil, exitCode: Int32, json: Bool, text: String? = nil) {
        guard json else {
            printError(text ?? message)
            return
        }
        var error: [String: JSONValue] = ["message": .string(message), "exitCode": JSONValue(Int(exitCode))]
        if let code { error["code"] = JSONValue(code) }
        if let data, data != .null { error["data"] = data }
        printError(JSONWriter.string(["error": .object(JSONObject(error))], sortedKeys: true))
    }

    /// Writes a notice (not an error: the command goes on) on stderr: the line, or with `json`
    /// `{"notice": {"message": line}}`, so stderr stays JSON Lines for a script.
    static func notice(_ line: String, json: Bool) {
        printError(json ? JSONWriter.string(["notice": ["message": .string(line)]], sortedKeys: true) : line)
    }

    /// Writes an orchestrator's (or the connection's) error and returns the exit status:
    /// 3 when the orchestrator cannot be reached, 2 for a refused request.
    static func write(_ error: KeelError, json: Bool) -> Int32 {
        let exitCode: Int32 = error.code == .connectionClosed ? 3 : 2
        var line = "keel: \(error.message) (code \(error.code.rpcCode))"
        // The id of the orchestrator's log line with the full error (4001 and internal errors).
        if let incident = error.data?["incident"]?.stringValue { line += " [incident \(incident)]" }
        if let data = error.data, let errors = data["errors"]?.arrayValue {
            for e in errors.prefix(10) {
                line += "\n  at \(e["instanceLocation"]?.stringValue ?? ""): \(e["message"]?.stringValue ?? "")"
            }
        }
        write(error.message, code: error.code.rpcCode, data: error.data, exitCode: exitCode, json: json, text: line)
        return exitCode
    }
}

/// Checks the words an `.allUnrecognized` input argument collected: one input at most, and a word
/// starting with `-` must be a number or `-` (stdin), so a mistyped option is still an error.
func validateInput(_ inputs: [String]) throws {
    guard inputs.count <= 1 else {
        throw ValidationError("one input expected, got \(inputs.count): \(inputs.joined(separator: " ")) (quote JSON with spaces)")
    }
    if let word = inputs.first, word.hasPrefix("-"), word != "-", Double(word) == nil {
        throw ValidationError("unknown option '\(word)'")
    }
}

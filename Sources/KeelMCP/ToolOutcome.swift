import Foundation
import KeelClient
import KeelCore

/// Turns what an MCP server answered to `tools/call` into an activity's output or its failure as
/// data (docs/mcp.md, "How outcomes are classified").
enum ToolOutcome {
    /// `isError: true`: the tool ran and reported a failure (bad input, a refusal). Not retryable:
    /// the same input gives the same answer, and it is meant for the caller (the model) to read.
    static let toolErrorType = "MCPToolError"
    /// A JSON-RPC error from the server (unknown tool, invalid arguments, an internal error).
    static let protocolErrorType = "MCPError"
    /// No answer within the attempt's start-to-close: the server was killed and is restarted.
    static let timeoutType = "MCPTimeout"
    /// An attempt past the tool's `maximumAttempts` (after an orchestrator crash): not sent to the server.
    static let notRetriedType = "MCPNotRetried"
    /// The server exited or closed its stdout during the call.
    static let exitedType = "MCPServerExited"

    /// The output for a successful result, or the failure for `isError: true`.
    static func classify(
        result: JSONValue, tool: Tool, retryToolErrors: Bool, errorTextPattern: String? = nil
    ) -> Result<JSONValue, ActivityFailure> {
        if let kind = result["resultType"]?.stringValue, kind != "complete" {
            // 2026-07-28: an `input_required` result asks the client for input (elicitation,
            // sampling) that a durable activity cannot give.
            return .failure(
                ActivityFailure(
                    "the MCP tool \(tool.name) answered resultType \(kind); Keel's bridge answers no input requests",
                    type: protocolErrorType, retryable: false, details: result))
        }
        let reportsError = result["isError"]?.boolValue == true
        if reportsError || Self.matches(Self.text(of: result), errorTextPattern) {
            let text = Self.text(of: result)
            return .failure(
                ActivityFailure(
                    text.isEmpty ? "the MCP tool \(tool.name) reported an error" : text, type: toolErrorType,
                    retryable: retryToolErrors, details: result))
        }
        if tool.outputSchema != nil {
            if let structured = result["structuredContent"], !structured.isNull { return .success(structured) }
            // Older servers put the structured result in a text block only (2025-06-18 §tools says
            // they should also send it as text): take it when it parses as an object.
            if let parsed = try? JSONParser.parse(Self.text(of: result)), parsed.objectValue != nil { return .success(parsed) }
            return .failure(
                ActivityFailure(
                    "the MCP tool \(tool.name) declares an outputSchema but answered no structuredContent",
                    type: protocolErrorType, retryable: false, details: result))
        }
        var output: [String: JSONValue] = ["content": result["content"] ?? []]
        if let structured = result["structuredContent"], !structured.isNull { output["structuredContent"] = structured }
        return .success(.object(output))
    }

    /// A JSON-RPC error answer: invalid params, an unknown method or tool are the caller's mistake
    /// (not retryable); anything else (an internal error, a server-defined code) may pass.
    static func failure(for error: KeelError, tool: String) -> ActivityFailure {
        let callersMistake = [-32600, -32601, -32602].contains(error.code.rpcCode)
        var details: [String: JSONValue] = ["code": JSONValue(error.code.rpcCode)]
        if let data = error.data { details["data"] = data }
        if error.code == .connectionClosed {
            return ActivityFailure(
                "the MCP server exited during the call of \(tool); it is restarted for the next attempt", type: exitedType,
                retryable: true)
        }
        return ActivityFailure(error.message, type: protocolErrorType, retryable: !callersMistake, details: .object(details))
    }

    /// True when `pattern` (a regular expression) is given and found in `text`.
    static func matches(_ text: String, _ pattern: String?) -> Bool {
        guard let pattern, !text.isEmpty else { return false }
        return text.range(of: pattern, options: .regularExpression) != nil
    }

    /// The text blocks of a result's `content`, joined by newlines.
    static func text(of result: JSONValue) -> String {
        (result["content"]?.arrayValue ?? []).compactMap { block in
            block["type"]?.stringValue == "text" ? block["text"]?.stringValue : nil
        }.joined(separator: "\n")
    }
}

import KeelClient
import KeelCore
import Testing

@testable import KeelMCP

/// How `tools/call` answers become outputs or failures as data (docs/mcp.md, "How outcomes are classified").
@Suite("MCP tool outcomes")
struct ToolOutcomeTests {
    static let timeTool = try! Tool(json: [
        "name": "get_current_time", "inputSchema": ["type": "object"],
        "outputSchema": ["type": "object", "properties": ["timezone": ["type": "string"]]],
        "annotations": ["readOnlyHint": true],
    ])
    static let plainTool = try! Tool(json: ["name": "git_commit", "inputSchema": ["type": "object"]])

    @Test func isErrorTrueIsANonRetryableToolErrorWithTheServersText() throws {
        let result: JSONValue = ["content": [["type": "text", "text": "Invalid timezone: 'Mars'"]], "isError": true]
        guard case .failure(let failure) = ToolOutcome.classify(result: result, tool: Self.timeTool, retryToolErrors: false)
        else { Issue.record("isError: true was taken as an output"); return }
        #expect(failure.type == "MCPToolError")
        #expect(failure.message == "Invalid timezone: 'Mars'")
        #expect(!failure.retryable)
        #expect(failure.details == result)
        guard case .failure(let retried) = ToolOutcome.classify(result: result, tool: Self.timeTool, retryToolErrors: true)
        else { return }
        #expect(retried.retryable)
    }

    @Test func aToolWithAnOutputSchemaAnswersItsStructuredContent() throws {
        let result: JSONValue = [
            "content": [["type": "text", "text": "{\"timezone\":\"UTC\"}"]], "structuredContent": ["timezone": "UTC"],
        ]
        #expect(try ToolOutcome.classify(result: result, tool: Self.timeTool, retryToolErrors: false).get() == ["timezone": "UTC"])
        // An older server that sends the structured result only as JSON text.
        let textOnly: JSONValue = ["content": [["type": "text", "text": "{\"timezone\":\"UTC\"}"]]]
        #expect(try ToolOutcome.classify(result: textOnly, tool: Self.timeTool, retryToolErrors: false).get() == ["timezone": "UTC"])
        let nothing: JSONValue = ["content": [["type": "text", "text": "done"]]]
        guard case .failure(let failure) = ToolOutcome.classify(result: nothing, tool: Self.timeTool, retryToolErrors: false)
        else { Issue.record("a missing structuredContent was accepted"); return }
        #expect(failure.type == "MCPError" && !failure.retryable)
    }

    @Test func aToolWithoutAnOutputSchemaAnswersItsContent() throws {
        let result: JSONValue = ["content": [["type": "text", "text": "committed abc123"]], "isError": false]
        #expect(
            try ToolOutcome.classify(result: result, tool: Self.plainTool, retryToolErrors: false).get()
                == ["content": [["type": "text", "text": "committed abc123"]]])
    }

    @Test func aFailureTextWithIsErrorFalseIsAnErrorOnlyWhenThePatternSaysSo() throws {
        let result: JSONValue = ["content": [["type": "text", "text": "Error executing tool: no such repo"]], "isError": false]
        let asOutput: JSONValue = ["content": result["content"]!]
        #expect(try ToolOutcome.classify(result: result, tool: Self.plainTool, retryToolErrors: false).get() == asOutput)
        guard
            case .failure(let failure) = ToolOutcome.classify(
                result: result, tool: Self.plainTool, retryToolErrors: false, errorTextPattern: "^Error executing tool")
        else { Issue.record("the pattern did not mark the text as an error"); return }
        #expect(failure.type == "MCPToolError" && failure.message == "Error executing tool: no such repo" && !failure.retryable)
        #expect(
            try ToolOutcome.classify(result: result, tool: Self.plainTool, retryToolErrors: false, errorTextPattern: "^Failed")
                .get() == asOutput)
    }

    @Test func jsonRPCErrorsAreRetryableUnlessTheCallItselfIsWrong() {
        let unknownTool = ToolOutcome.failure(for: KeelError(.invalidParams, "Unknown tool: nope"), tool: "nope")
        #expect(unknownTool.type == "MCPError" && !unknownTool.retryable && unknownTool.message == "Unknown tool: nope")
        #expect(unknownTool.details?["code"] == -32602)
        #expect(ToolOutcome.failure(for: KeelError(.internalError, "boom"), tool: "t").retryable)
        #expect(ToolOutcome.failure(for: KeelError(.init(rpcCode: -31000), "server-defined"), tool: "t").retryable)
        let exited = ToolOutcome.failure(for: KeelError(.connectionClosed, "the connection closed"), tool: "t")
        #expect(exited.type == "MCPServerExited" && exited.retryable)
    }

    @Test func onlyReadOnlyOrIdempotentToolsAreRetried() throws {
        func tool(_ annotations: JSONValue?) throws -> Tool {
            var json: [String: JSONValue] = ["name": "t", "inputSchema": ["type": "object"]]
            if let annotations { json["annotations"] = annotations }
            return try Tool(json: .object(json))
        }
        let options = BridgeOptions(name: "s", argv: ["s"])
        #expect(Bridge.retryPolicy(for: try tool(nil), options: options) == ["maximumAttempts": 1])  // MCP: presumed destructive
        #expect(Bridge.retryPolicy(for: try tool(["destructiveHint": true, "idempotentHint": false]), options: options) == ["maximumAttempts": 1])
        #expect(Bridge.retryPolicy(for: try tool(["readOnlyHint": true]), options: options) == nil)
        #expect(Bridge.retryPolicy(for: try tool(["idempotentHint": true]), options: options) == nil)
        var overridden = options
        overridden.maximumAttempts = ["*": 3]
        #expect(Bridge.retryPolicy(for: try tool(nil), options: overridden) == ["maximumAttempts": 3])
        overridden.maximumAttempts["t"] = 0
        #expect(Bridge.retryPolicy(for: try tool(["readOnlyHint": true]), options: overridden) == ["maximumAttempts": 0])
    }

    @Test func aToolWithoutANameOrInputSchemaIsRefused() {
        #expect(throws: KeelError.self) { try Tool(json: ["inputSchema": ["type": "object"]]) }
        #expect(throws: KeelError.self) { try Tool(json: ["name": "t"]) }
    }

    @Test func aSchemaKeelCannotCompileBecomesAnyObject() throws {
        let odd = try Tool(json: [
            "name": "odd", "inputSchema": ["type": "object", "properties": ["n": ["type": 7]]],
            "outputSchema": ["type": "object", "required": "not-an-array"],
        ])
        let (usable, problems) = odd.withUsableSchemas()
        #expect(problems.count == 2)
        #expect(usable.inputSchema == ["type": "object"])
        #expect(usable.outputSchema == ["type": "object"])
        let fine = Self.timeTool.withUsableSchemas()
        #expect(fine.problems.isEmpty && fine.tool.outputSchema == Self.timeTool.outputSchema)
    }

    @Test func theBridgeWaitsALittleLessThanTheStartToClose() {
        var options = BridgeOptions(name: "s", argv: ["s"])
        options.startToCloseMs = 10_000
        #expect(options.callTimeout == .milliseconds(9_000))
        options.startToCloseMs = 1_000
        #expect(options.callTimeout == .milliseconds(500))
        #expect(options.activityName("get_current_time") == "mcp.s.get_current_time")
    }
}

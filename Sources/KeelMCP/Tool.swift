import KeelCore
import KeelSchema

/// One tool from an MCP server's `tools/list`.
struct Tool: Sendable {
    var name: String
    var description: String?
    var inputSchema: JSONValue
    var outputSchema: JSONValue?
    var annotations: JSONValue?

    /// - Throws: `KeelError(.invalidParams)` for a tool without a name or an object `inputSchema`.
    init(json: JSONValue) throws {
        guard let name = json["name"]?.stringValue, !name.isEmpty else {
            throw KeelError(.invalidParams, "the MCP server listed a tool without a name: \(json)")
        }
        guard let input = json["inputSchema"], input.objectValue != nil else {
            throw KeelError(.invalidParams, "the MCP server's tool \(name) has no inputSchema object")
        }
        self.name = name
        description = json["description"]?.stringValue
        inputSchema = input
        outputSchema = json["outputSchema"].flatMap { $0.objectValue == nil ? nil : $0 }
        annotations = json["annotations"].flatMap { $0.isNull ? nil : $0 }
    }

    /// True when running the tool twice is harmless by its annotations: `readOnlyHint: true`, or
    /// `idempotentHint: true` (MCP's defaults are the cautious ones: a tool that says nothing is
    /// presumed destructive and not idempotent, so it is not retried).
    var isRetrySafe: Bool {
        if annotations?["readOnlyHint"]?.boolValue == true { return true }
        return annotations?["idempotentHint"]?.boolValue == true
    }

    /// The output contract: the tool's `outputSchema` (its `structuredContent` is the output), else
    /// the shape of a `tools/call` result, `{content: [...], structuredContent?}`.
    var outputContract: JSONValue {
        outputSchema ?? Self.contentResultSchema
    }

    /// The tool with any schema Keel cannot compile replaced by `{"type": "object"}` (the server
    /// still checks its own input), and the reasons, so one odd tool does not stop the whole
    /// registration (`worker/register` refuses an invalid contract with 3003).
    func withUsableSchemas() -> (tool: Tool, problems: [String]) {
        var tool = self
        var problems: [String] = []
        do { _ = try Validator(schema: inputSchema) } catch {
            problems.append("its inputSchema: \(error)")
            tool.inputSchema = ["type": "object"]
        }
        if let outputSchema {
            do { _ = try Validator(schema: outputSchema) } catch {
                problems.append("its outputSchema: \(error)")
                tool.outputSchema = ["type": "object"]
            }
        }
        return (tool, problems)
    }

    static let contentResultSchema: JSONValue = [
        "type": "object", "required": ["content"],
        "properties": ["content": ["type": "array", "items": ["type": "object"]], "structuredContent": ["type": "object"]],
    ]
}

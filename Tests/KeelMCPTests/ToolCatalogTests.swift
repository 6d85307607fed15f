import KeelCore
import Testing

@testable import KeelMCP

/// What `keel mcp serve` lists and how it maps arguments and answers (docs/mcp.md, "Keel as an MCP server").
@Suite("MCP tool catalog")
struct ToolCatalogTests {
    static let workers: [JSONValue] = [
        [
            "activityContracts": [
                [
                    "name": "math.add", "description": "Adds.", "input": ["type": "object", "required": ["a"]],
                    "output": ["type": "object"],
                ],
                ["name": "math.neg", "input": ["type": "integer"], "output": ["type": "integer"]],
            ]
        ],
        ["activityContracts": [["name": "math.add", "input": ["type": "string"], "output": true]]],
    ]

    @Test func everyActivityOnceWithItsContractPlusTheWorkflowTools() {
        let catalog = ToolCatalog(workers: Self.workers)
        let tools = catalog.tools
        #expect(tools.compactMap { $0["name"]?.stringValue } == [
            "math.add", "math.neg", "keel_start_workflow", "keel_workflow_result", "keel_signal_workflow",
            "keel_follow_workflow",
        ])
        #expect(tools[0]["inputSchema"] == ["type": "object", "required": ["a"]])
        #expect(tools[0]["outputSchema"] == ["type": "object"])
        #expect(tools[0]["description"] == "Adds.")
    }

    @Test func aNonObjectInputIsTheOneArgumentInputAndAScalarOutputHasNoSchema() {
        let neg = ToolCatalog(workers: Self.workers).activities["math.neg"]!
        #expect(neg.tool["inputSchema"] == ["type": "object", "properties": ["input": ["type": "integer"]], "required": ["input"]])
        #expect(neg.tool["outputSchema"] == nil)
        #expect(neg.input(from: ["input": -5]) == -5)
        let add = ToolCatalog(workers: Self.workers).activities["math.add"]!
        #expect(add.input(from: ["a": 1]) == ["a": 1])
    }

    @Test func activityAnswersBecomeToolResults() {
        let done = ToolResult.from(
            activity: ["taskId": "t-1", "status": "completed", "attempts": 2, "output": ["sum": 3]], structured: true)
        #expect(done["isError"] == false)
        #expect(done["structuredContent"] == ["sum": 3])
        #expect(done["content"]?.arrayValue?.first?["text"] == "{\"sum\":3}")
        #expect(done["_meta"]?["keel.dev/attempts"] == 2)
        let failed = ToolResult.from(
            activity: ["taskId": "t-2", "status": "failed", "failure": ["type": "ValueError", "message": "no"]], structured: true)
        #expect(failed["isError"] == true)
        #expect(failed["content"]?.arrayValue?.first?["text"] == "ValueError: no")
    }

    @Test func theClientsRevisionIsAnsweredWhenKeelSpeaksIt() {
        #expect(ProtocolVersion.negotiate("2025-06-18") == "2025-06-18")
        #expect(ProtocolVersion.negotiate("2026-07-28") == "2025-11-25")
        #expect(ProtocolVersion.negotiate(nil) == ProtocolVersion.latest)
    }
}

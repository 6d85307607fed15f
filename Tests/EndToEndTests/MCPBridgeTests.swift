import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// `keel mcp bridge` over a standard-library MCP server of the initialize era, so the Swift suite
    /// covers the bridge without the PyPI venv (the real servers are in clients/mcp-tests).
    @Suite("MCP bridge with the keel binary", .serialized, .timeLimit(.minutes(3)))
    struct MCPBridgeTests {
        @Test func aToolIsCalledDurablyItsErrorIsAFailureAndItsSchemaIsChecked() async throws {
            let dir = try TemporaryDirectory()
            let server = "python3 \(repositoryRoot)/clients/mcp-tests/servers/legacy_server.py"
            let keel = KeelProcess(dir: dir, workers: ["\(PackagePaths.keelBinary) mcp bridge old -- \(server)"])
            try await keel.start()
            defer { keel.stop() }
            try await keel.waitForWorkers(1)

            let echo = try await keel.call("activity/call", ["name": "mcp.old.echo", "input": ["text": "hi"]])
            #expect(echo["status"] == "completed")
            #expect(echo["output"] == ["content": [["type": "text", "text": "hi"]]])

            // isError: true is the tool's own answer: a failure with its text, not retried, and a
            // tool without annotations runs at most once anyway (maximumAttempts 1).
            let fail = try await keel.call("activity/call", ["name": "mcp.old.fail", "input": ["text": "x"]])
            #expect(fail["status"] == "failed")
            #expect(fail["attempts"] == 1)
            #expect(fail["failure"]?["type"] == "MCPToolError")
            #expect(fail["failure"]?["message"] == "boom: x")

            // The tool's inputSchema is the activity's input contract: checked before any attempt.
            do {
                _ = try await keel.call("activity/call", ["name": "mcp.old.echo", "input": ["text": 5]])
                Issue.record("input breaking the tool's inputSchema was accepted")
            } catch let error as KeelError {
                #expect(error.code == .inputContractViolation)
            }
        }
    }
}

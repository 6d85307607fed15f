import KeelCore
import Testing

@testable import KeelMCP

/// The transport-independent parts of Keel's MCP server: which revision a request speaks, and
/// what a progress notification says (docs/mcp.md, "Keel as an MCP server"). Both eras end to
/// end, over stdio and HTTP, are in clients/mcp-tests (test_mcp_serve_revisions.py, test_mcp_http.py).
@Suite("MCP server revisions and progress")
struct ServerRevisionTests {
    static func meta(_ version: String) -> JSONValue {
        [
            "_meta": [
                "io.modelcontextprotocol/protocolVersion": .string(version),
                "io.modelcontextprotocol/clientInfo": ["name": "c"],
            ]
        ]
    }

    @Test func aRequestNamingTheModernRevisionIsModernOneWithoutMetaIsOfTheInitializeEra() throws {
        let modern = RequestMeta(params: Self.meta("2026-07-28"))
        #expect(modern.isModern && modern.clientName == "c")
        try modern.check()
        let legacy = RequestMeta(params: ["name": "x"])
        #expect(!legacy.isModern && legacy.protocolVersion == nil)
        try legacy.check()
        try RequestMeta(params: Self.meta("2025-06-18")).check()  // an initialize-era revision named in _meta
    }

    @Test func anUnknownRevisionIsRefusedWith32022NamingTheSupportedOnes() {
        let error = #expect(throws: KeelError.self) { try RequestMeta(params: Self.meta("2099-01-01")).check() }
        #expect(error?.code.rpcCode == -32022)
        #expect(error?.data?["requested"] == "2099-01-01")
        #expect(error?.data?["supported"]?.arrayValue?.first == "2026-07-28")
        #expect(error?.data?["supported"]?.arrayValue?.contains("2025-11-25") == true)
    }

    @Test func progressCarriesTheHeartbeatDetailsAndIsSentOnChangeOrAfterSilence() {
        var report = ProgressReport(token: "p1", tool: "build", every: .seconds(3600))
        let queued: JSONValue = ["status": "scheduled", "attempts": 0]
        #expect(report.next(queued) == "build: scheduled, attempt 0")
        #expect(report.next(queued) == nil, "nothing changed and the silence is short")
        let step1: JSONValue = ["status": "running", "attempts": 1, "heartbeatDetails": "step 1 of 3"]
        #expect(report.next(step1) == "build: running, attempt 1: step 1 of 3")
        #expect(report.next(step1) == nil)
        let object: JSONValue = ["status": "running", "attempts": 2, "heartbeatDetails": ["done": 5]]
        #expect(report.next(object) == #"build: running, attempt 2: {"done":5}"#)
        #expect(report.params("m")["progress"] == 3 && report.params("m")["progressToken"] == "p1")
        var chatty = ProgressReport(token: 7, tool: "t", every: .zero)
        #expect(
            chatty.next(queued) != nil && chatty.next(queued) != nil, "past the silence the same message is sent again")
    }

    @Test func modernResultsCarryResultTypeComplete() {
        #expect(ToolService.complete(["tools": []])["resultType"] == "complete")
        let listed = ToolService.complete(["tools": []], cacheable: true)
        #expect(listed["ttlMs"] == 0 && listed["cacheScope"] == "private")
        #expect(ToolService.milliseconds(.milliseconds(1500)) == 1500)
    }
}

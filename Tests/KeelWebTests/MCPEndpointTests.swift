import Foundation
import KeelCore
import KeelServer
import KeelTesting
import KeelWeb
import Testing

/// `POST /mcp` on the `--http` listener (docs/mcp.md, "Streamable HTTP"): a real orchestrator,
/// raw HTTP over a real TCP connection. What the official SDK client does with it (tools listed
/// and called durably) is in clients/mcp-tests/test_mcp_http.py.
@Suite("MCP over streamable HTTP", .serialized, .timeLimit(.minutes(3)))
struct MCPEndpointTests {
    static let modern =
        #""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#

    private func withListener(
        _ configure: @escaping @Sendable (inout WebUI.Options) -> Void = { _ in },
        _ body: @escaping @Sendable (Int) async throws -> Void
    ) async throws {
        _ = try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(
                in: dir,
                configure: {
                    var web = WebUI.Options(address: ListenAddress(host: "127.0.0.1", port: 0))
                    configure(&web)
                    $0.sidecars = [WebUI(options: web)]
                }
            ) { _, server in
                try await body(try #require(try await server.ready().sidecarPorts["http"]))
                return true
            }
        }
    }

    private func post(_ body: String, port: Int, headers: [String] = []) async throws -> HTTPProbe.Response {
        var text =
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\nContent-Type: application/json\r\n"
        text += "Accept: application/json, text/event-stream\r\nContent-Length: \(body.utf8.count)\r\n"
        for header in headers { text += header + "\r\n" }
        return try await HTTPProbe.send(text + "\r\n" + body, port: port)
    }

    private func json(_ response: HTTPProbe.Response) throws -> JSONValue { try JSONParser.parse(response.body) }

    @Test("2026-07-28 is stateless; 2025-11-25 gets an Mcp-Session-Id at initialize and must send it back")
    func bothEras() async throws {
        try await withListener { port in
            let discover = try await post(
                #"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{\#(Self.modern)}}"#, port: port)
            #expect(discover.status == 200)
            #expect(discover.headers["mcp-session-id"] == nil)
            #expect(try json(discover)["result"]?["supportedVersions"]?.arrayValue?.first == "2026-07-28")
            let list = try await post(
                #"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{\#(Self.modern)}}"#, port: port)
            #expect(try json(list)["result"]?["resultType"] == "complete")

            let initialize = try await post(
                #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
                port: port)
            let session = try #require(initialize.headers["mcp-session-id"])
            #expect(try json(initialize)["result"]?["protocolVersion"] == "2025-11-25")
            let initialized = try await post(
                #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, port: port,
                headers: ["Mcp-Session-Id: \(session)"])
            #expect(initialized.status == 202)
            let listed = try await post(
                #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#, port: port, headers: ["Mcp-Session-Id: \(session)"])
            #expect(listed.status == 200)
            #expect(try json(listed)["result"]?["tools"]?.arrayValue?.isEmpty == false)

            let missing = try await post(#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#, port: port)
            #expect(missing.status == 400)
            #expect(try json(missing)["error"]?["code"] == -32600)
            let unknown = try await post(
                #"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#, port: port, headers: ["Mcp-Session-Id: nope"])
            #expect(unknown.status == 404)
            #expect(try json(unknown)["error"]?["message"]?.stringValue?.contains("initialize again") == true)
            let badVersion = try await post(
                #"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#, port: port,
                headers: ["Mcp-Session-Id: \(session)", "MCP-Protocol-Version: 1999-01-01"])
            #expect(badVersion.status == 400)
            let ended = try await HTTPProbe.send(
                "DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nMcp-Session-Id: \(session)\r\nConnection: close\r\n\r\n",
                port: port)
            #expect(ended.status == 204)
            let after = try await post(
                #"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#, port: port, headers: ["Mcp-Session-Id: \(session)"])
            #expect(after.status == 404)
        }
    }

    @Test(
        "a bad message gets a JSON-RPC error and the right status: malformed JSON, a batch, an unknown revision, GET, a foreign Origin"
    )
    func badRequests() async throws {
        try await withListener { port in
            let malformed = try await post(#"{"jsonrpc":"2.0","id":1,"method":"#, port: port)
            #expect(malformed.status == 400)
            #expect(try json(malformed)["error"]?["code"] == -32700)
            let batch = try await post(#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, port: port)
            #expect(batch.status == 400)
            #expect(try json(batch)["error"]?["message"]?.stringValue?.contains("one message per POST") == true)
            let revision = try await post(
                #"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01"}}}"#,
                port: port)
            #expect(revision.status == 400)
            #expect(try json(revision)["error"]?["code"] == -32022)
            #expect(try json(revision)["error"]?["data"]?["requested"] == "2099-01-01")
            let get = try await HTTPProbe.request("GET", "/mcp", port: port)
            #expect(get.status == 405)
            let foreign = try await post(
                #"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{\#(Self.modern)}}"#, port: port,
                headers: ["Origin: http://evil.example"])
            #expect(foreign.status == 403)
            let unknownTool = try await post(
                #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"no.such.tool","arguments":{},\#(Self.modern)}}"#,
                port: port)
            #expect(unknownTool.status == 200)
            #expect(try json(unknownTool)["error"]?["code"] == -32602)
        }
    }

    @Test(
        "off loopback /mcp needs a token (401 with a JSON-RPC error), and a read-only listener refuses tool calls that change things"
    )
    func access() async throws {
        _ = try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(
                in: dir,
                configure: {
                    var web = WebUI.Options(address: ListenAddress(host: "0.0.0.0", port: 0))
                    web.clientToken = "client-token-0123456789abcdef"
                    web.readOnly = true
                    $0.sidecars = [WebUI(options: web)]
                }
            ) { _, server in
                let port = try #require(try await server.ready().sidecarPorts["http"])
                let body = #"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{\#(Self.modern)}}"#
                let anonymous = try await post(body, port: port)
                #expect(anonymous.status == 401)
                #expect(anonymous.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
                #expect(try json(anonymous)["error"]?["code"] == JSONValue(KeelError.Code.unauthorized.rpcCode))
                let token = "Authorization: Bearer client-token-0123456789abcdef"
                let listed = try await post(body, port: port, headers: [token])
                #expect(listed.status == 200)
                let start = try await post(
                    #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"keel_start_workflow","arguments":{"name":"x"},\#(Self.modern)}}"#,
                    port: port, headers: [token])
                #expect(start.status == 403)
                #expect(try json(start)["error"]?["message"]?.stringValue?.contains("read-only") == true)
                return true
            }
        }
    }
}

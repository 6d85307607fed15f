import Foundation
import KeelClient
import KeelCore
import KeelServer
import KeelTesting
import KeelWeb
import Testing

/// `keel serve --http` (issue 14, docs/ui.md): a real orchestrator with the web UI on a free
/// loopback port, real workflows started over the socket, and every page, refusal and action
/// checked over a real TCP connection.
@Suite("Web UI", .serialized, .timeLimit(.minutes(3)))
struct WebUITests {
    /// Runs `body` with an orchestrator whose web UI took a free port.
    private func withUI(
        readOnly: Bool = false, _ body: @escaping @Sendable (Endpoint, Int) async throws -> Void
    ) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: {
                var web = WebUI.Options(address: ListenAddress(host: "127.0.0.1", port: 0))
                web.readOnly = readOnly
                $0.sidecars = [WebUI(options: web)]
            }) { endpoint, server in
                let port = try #require(try await server.ready().sidecarPorts["http"])
                try await body(endpoint, port)
                return true
            }
        }
    }

    /// Starts a workflow no worker serves: it stays pending, so every page has something to show.
    private func start(_ endpoint: Endpoint, id: String, name: String = "web.waiting") async throws {
        try await KeelClient.withClient(endpoint, name: "web-test") { client in
            _ = try await client.call("workflow/start", ["name": .string(name), "workflowId": .string(id), "input": ["n": 1]])
        }
    }

    private func describe(_ endpoint: Endpoint, id: String) async throws -> JSONValue {
        try await KeelClient.withClient(endpoint, name: "web-test") { client in
            try await client.call("workflow/describe", ["workflowId": .string(id)])
        }
    }

    private func get(_ path: String, port: Int) async throws -> HTTPProbe.Response {
        try await HTTPProbe.request("GET", path, port: port)
    }

    /// A form POST as a browser sends it, with the headers a test chooses.
    private func post(_ path: String, form: String, port: Int, origin: String?) async throws -> HTTPProbe.Response {
        var text = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        text += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n"
        if let origin { text += "Origin: \(origin)\r\n" }
        return try await HTTPProbe.send(text + "\r\n" + form, port: port)
    }

    private func csrfToken(_ html: String) throws -> String {
        let marker = "name=\"csrf\" value=\""
        let start = try #require(html.range(of: marker))
        return String(html[start.upperBound...].prefix { $0 != "\"" })
    }

    @Test("the list takes a search query: the rows and the counts match it, and a bad query is a 400 naming its token")
    func searchQuery() async throws {
        try await withUI { endpoint, port in
            try await KeelClient.withClient(endpoint, name: "web-test") { client in
                for (id, customer) in [("order-1", "acme"), ("order-2", "globex"), ("order-3", "acme")] {
                    _ = try await client.call("workflow/start", [
                        "name": "web.waiting", "workflowId": .string(id), "searchAttributes": ["customer": .string(customer)],
                    ])
                }
            }
            try await start(endpoint, id: "invoice-9")
            let q = "customer%20%3D%20%22acme%22"  // customer = "acme"
            let page = try await get("/workflows?q=\(q)", port: port)
            #expect(page.status == 200)
            #expect(page.body.contains("data-id=\"order-1\"") && page.body.contains("data-id=\"order-3\""))
            #expect(!page.body.contains("data-id=\"order-2\"") && !page.body.contains("data-id=\"invoice-9\""))
            #expect(page.body.contains("all 2</a>"), "the counts are the query's")
            #expect(page.body.contains("<th>Search attributes</th>") && page.body.contains("{&quot;customer&quot;:&quot;acme&quot;}"))
            #expect(page.body.contains("value=\"customer = &quot;acme&quot;\""), "the form shows the query")
            #expect(page.body.contains("q=customer%20%3D%20%22acme%22"), "the status links keep the query")
            let bad = try await get("/workflows?q=customer%20%3D%20acme", port: port)
            #expect(bad.status == 400)
            #expect(bad.body.contains("text goes in quotes"), "\(bad.body)")
        }
    }

    @Test("every page answers 200 under 100 KB, with the list, filters, counts and the workflow's headline")
    func pages() async throws {
        try await withUI { endpoint, port in
            try await start(endpoint, id: "order-1")
            try await start(endpoint, id: "order-1/2", name: "web.child")
            try await start(endpoint, id: "invoice-9")
            let list = try await get("/workflows", port: port)
            #expect(list.status == 200)
            #expect(list.headers["content-type"] == "text/html; charset=utf-8")
            #expect(list.body.contains("order-1") && list.body.contains("invoice-9"))
            #expect(list.body.contains("data-status=\"pending\""))
            #expect(list.body.contains("class=\"child\" data-id=\"order-1/2\""), "the child is folded under its parent")
            #expect(list.body.utf8.count < 100_000)
            #expect(!list.body.contains("http://") && !list.body.contains("https://"), "nothing is fetched from elsewhere")
            let filtered = try await get("/workflows?prefix=inv", port: port)
            #expect(filtered.body.contains("invoice-9") && !filtered.body.contains("order-1"))
            let byName = try await get("/workflows?name=web.child", port: port)
            #expect(byName.body.contains("order-1/2") && !byName.body.contains("invoice-9"))
            let recent = try await get("/workflows?within=15", port: port)
            #expect(recent.body.contains("invoice-9") && recent.body.contains("<option value=\"15\" selected>"))
            let byStatus = try await get("/workflows?status=completed", port: port)
            #expect(byStatus.body.contains("No workflows match."))
            let one = try await get("/workflow?id=invoice-9", port: port)
            #expect(one.status == 200)
            #expect(one.body.contains("Queued since"), "the headline says what it waits for")
            #expect(one.body.contains("id=\"signal-form\"") && one.body.contains("id=\"cancel-form\""))
            let fragment = try await get("/workflow?id=invoice-9&fragment=1", port: port)
            #expect(fragment.status == 200 && !fragment.body.contains("<html"))
            let history = try await get("/workflow/history.json?id=invoice-9", port: port)
            #expect(history.status == 200 && history.body.contains("\"workflowId\":\"invoice-9\""))
            let queues = try await get("/queues", port: port)
            #expect(queues.body.contains("no connected worker serves it"), "work waits for web.waiting and nobody serves it")
            for path in ["/workers", "/stuck", "/stuck?minutes=0"] {
                let page = try await get(path, port: port)
                #expect(page.status == 200, "\(path)")
                #expect(page.body.utf8.count < 100_000)
            }
            let metrics = try await get("/metrics", port: port)
            #expect(metrics.status == 200 && metrics.body.contains("keel_workflows_open"))
            #expect(try await get("/healthz", port: port).status == 200)
            #expect(try await get("/readyz", port: port).body == "ok\n")
        }
    }

    @Test("an unknown workflow is a 404 page, an unknown path too, and a huge query string a 414 page")
    func badInput() async throws {
        try await withUI { _, port in
            let missing = try await get("/workflow?id=nope", port: port)
            #expect(missing.status == 404)
            #expect(missing.body.contains("id=\"error\""))
            #expect(try await get("/no/such/page", port: port).status == 404)
            let huge = try await get("/workflows?name=" + String(repeating: "x", count: 9000), port: port)
            #expect(huge.status == 414)
            #expect(huge.body.contains("too long"))
            let noID = try await get("/workflow", port: port)
            #expect(noID.status == 400)
        }
    }

    @Test("a POST without the CSRF token or from another origin is refused with 403 and changes nothing")
    func csrf() async throws {
        try await withUI { endpoint, port in
            try await start(endpoint, id: "victim")
            let page = try await get("/workflow?id=victim", port: port)
            let token = try csrfToken(page.body)
            let noToken = try await post("/workflow/cancel", form: "id=victim", port: port, origin: nil)
            #expect(noToken.status == 403)
            let wrongToken = try await post("/workflow/cancel", form: "id=victim&csrf=abc", port: port, origin: "http://127.0.0.1:\(port)")
            #expect(wrongToken.status == 403)
            let crossSite = try await post("/workflow/terminate", form: "id=victim&csrf=\(token)", port: port, origin: "http://evil.example")
            #expect(crossSite.status == 403)
            #expect(crossSite.body.contains("Nothing was changed"))
            let after = try await describe(endpoint, id: "victim")
            #expect(after["status"] == "pending")
            #expect(after["cancelRequested"] == false)

            let signal = try await post(
                "/workflow/signal", form: "id=victim&csrf=\(token)&name=approve&payload=%7B%22ok%22%3Atrue%7D", port: port,
                origin: "http://127.0.0.1:\(port)")
            #expect(signal.status == 303)
            #expect(signal.headers["location"]?.hasPrefix("/workflow?id=victim&done=") == true)
            let badJSON = try await post("/workflow/signal", form: "id=victim&csrf=\(token)&name=x&payload=%7B", port: port, origin: nil)
            #expect(badJSON.status == 400)
            let outOfRange = try await post("/workflow/reset", form: "id=victim&csrf=\(token)&toStep=5", port: port, origin: nil)
            #expect(outOfRange.status == 400, "the engine's refusal is a 400 page")
            #expect(try await describe(endpoint, id: "victim")["generation"] == 0)
            let terminate = try await post("/workflow/terminate", form: "id=victim&csrf=\(token)&reason=test", port: port, origin: nil)
            #expect(terminate.status == 303)
            #expect(try await describe(endpoint, id: "victim")["status"] == "terminated")
        }
    }

    @Test("the live-update stream sends a change event when the page's live part changes")
    func liveEvents() async throws {
        try await withUI { endpoint, port in
            let page = try await get("/workflows", port: port)
            let marker = try #require(page.body.range(of: "data-digest=\""))
            let digest = String(page.body[marker.upperBound...].prefix { $0 != "\"" })
            async let stream = HTTPProbe.read("/events?view=%2Fworkflows&since=\(digest)", until: "event: change", port: port)
            try await Task.sleep(for: .milliseconds(300))
            try await start(endpoint, id: "arrives-later")
            let text = try await stream
            #expect(text.contains("content-type: text/event-stream") || text.contains("Content-Type: text/event-stream"))
            #expect(text.contains("event: change\ndata: "))
            let unknown = try await get("/events?view=%2Fnope", port: port)
            #expect(unknown.status == 404)
        }
    }

    @Test("a port already taken stops the orchestrator at start with one sentence, or moves on when asked")
    func portTaken() async throws {
        try await withUI { _, port in
            try await TemporaryDirectory.with { dir in
                let error = await #expect(throws: KeelError.self) {
                    try await LiveOrchestrator.with(in: dir, configure: {
                        $0.sidecars = [WebUI(options: .init(address: ListenAddress(host: "127.0.0.1", port: port)))]
                    }) { _, _ in true }
                }
                #expect(error?.message.contains("the address is in use") == true)
            }
            // keel dev's way: the next free port instead.
            try await TemporaryDirectory.with { dir in
                try await LiveOrchestrator.with(in: dir, configure: {
                    var web = WebUI.Options(address: ListenAddress(host: "127.0.0.1", port: port))
                    web.nextFreePortIfTaken = true
                    $0.sidecars = [WebUI(options: web)]
                }) { _, server in
                    let other = try #require(try await server.ready().sidecarPorts["http"])
                    #expect(other != port)
                    #expect(try await get("/workflows", port: other).status == 200)
                    return true
                }
            }
        }
    }

    @Test("--http-read-only shows no action and refuses every POST")
    func readOnly() async throws {
        try await withUI(readOnly: true) { endpoint, port in
            try await start(endpoint, id: "ro-1")
            let page = try await get("/workflow?id=ro-1", port: port)
            #expect(page.status == 200)
            #expect(!page.body.contains("<form method=\"post\""))
            let refused = try await post("/workflow/cancel", form: "id=ro-1&csrf=x", port: port, origin: nil)
            #expect(refused.status == 403)
            #expect(try await describe(endpoint, id: "ro-1")["cancelRequested"] == false)
        }
    }

    @Test("off loopback the UI needs a token: refused at start without one, 401 without the header")
    func offLoopback() async throws {
        #expect(throws: KeelError.self) { try WebUI(options: .init(address: ListenAddress(host: "0.0.0.0", port: 0))).validate() }
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: {
                var web = WebUI.Options(address: ListenAddress(host: "0.0.0.0", port: 0))
                web.clientToken = "client-token-0123456789abcdef"
                $0.sidecars = [WebUI(options: web)]
            }) { _, server in
                let port = try #require(try await server.ready().sidecarPorts["http"])
                let anonymous = try await get("/workflows", port: port)
                #expect(anonymous.status == 401)
                #expect(anonymous.headers["www-authenticate"]?.hasPrefix("Basic") == true)
                let basic = Data("ops:client-token-0123456789abcdef".utf8).base64EncodedString()
                let reader = try await HTTPProbe.send(
                    "GET /workflows HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \(basic)\r\nConnection: close\r\n\r\n", port: port)
                #expect(reader.status == 200)
                let act = try await HTTPProbe.send(
                    "POST /workflow/cancel HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \(basic)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    port: port)
                #expect(act.status == 403, "the client token reads but does not act")
                return true
            }
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import KeelCore
import KeelProtocol
import KeelEngine
import KeelServer
import NIOCore
import ServiceLifecycle
import Synchronization

/// Answers every request of the web listener: pages, their fragments, the live-update stream,
/// the actions, `/metrics`, `/healthz` and `/readyz`.
struct WebResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    /// Longest request target accepted (a 414 page past it).
    static let maxURIBytes = 8192
    /// Largest action form body.
    static let maxFormBytes = 64 * 1024

    let console: Console
    let access: WebAccess
    let guardian: ActionGuard
    let events: LiveEvents
    /// `/mcp`: Keel as an MCP server over streamable HTTP, with its own JSON errors and access check.
    let mcp: MCPEndpoint

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.uri.string.utf8.count <= Self.maxURIBytes else {
            return Self.errorPage(.uriTooLong, "The address is too long: at most \(Self.maxURIBytes) bytes.")
        }
        let path = request.uri.path
        let query = FormData.parse(request.uri.query ?? "")
        switch path {
        case "/healthz", "/readyz":
            do {
                try await console.engine.checkStore()
                return Self.text(.ok, "ok\n")
            } catch {
                return Self.text(.serviceUnavailable, "the store does not answer\n")
            }
        case MCPEndpoint.path:
            return await mcp.respond(to: request)
        default: break
        }
        let level = access.level(authorization: request.headers[.authorization])
        guard level >= .read else {
            var r = Self.errorPage(.unauthorized, "Sign in with a Keel token (the client token reads, the admin token acts).")
            r.headers[.wwwAuthenticate] = "Basic realm=\"keel\""
            return r
        }
        do {
            switch (request.method, path) {
            case (.get, "/"):
                return Response(status: .seeOther, headers: [.location: "/workflows"])
            case (.get, "/metrics"):
                let body = await MetricsExposition.render(engine: console.engine)
                return Response(
                    status: .ok, headers: [.contentType: MetricsExposition.contentType],
                    body: .init(byteBuffer: ByteBuffer(bytes: body)))
            case (.get, "/workflow/history.json"):
                let history = try await console.call("workflow/history", ["workflowId": .string(query["id"] ?? "")])
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(history, sortedKeys: true))))
            case (.get, "/contracts.json"):
                let contracts = await console.engine.contractList()
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(contracts, sortedKeys: true))))
            case (.get, "/events"):
                return try await events.stream(view: query["view"] ?? "", since: query["since"].flatMap { UInt64($0) }, responder: self)
            case (.get, _):
                guard let page = try await page(path: path, query: query, level: level) else {
                    return Self.errorPage(.notFound, "There is no page at \(path).")
                }
                let live = page.live
                if query["fragment"] == "1" { return Self.html(.ok, live) }
                return Self.html(.ok, page.document(digest: LiveEvents.digest(live)))
            case (.post, _) where path.hasPrefix("/workflow/"):
                return try await act(String(path.dropFirst("/workflow/".count)), request: request, level: level, context: context)
            default:
                return Self.errorPage(.methodNotAllowed, "\(request.method) \(path) is not something this server does.")
            }
        } catch let error as KeelError {
            return Self.errorPage(Self.status(of: error), error.message)
        }
    }

    /// The page at `path`, or nil when there is none. Shared by GET and the live-update stream.
    func page(path: String, query: [String: String], level: WebAccess.Level) async throws -> Page? {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        switch path {
        case "/workflows": return try await WorkflowListPage(query: query, now: now).render(console)
        case "/workflow":
            guard let id = query["id"], !id.isEmpty else { throw KeelError(.invalidParams, "Which workflow? Add ?id=WORKFLOW_ID.") }
            let forms = level == .act ? ActionForms(csrfToken: guardian.token) : nil
            return try await WorkflowPage(id: id, flash: query["done"]).render(console, actions: forms)
        case "/workers": return try await WorkersPage(now: now).render(console)
        case "/queues": return try await QueuesPage(now: now).render(console)
        case "/contracts": return try await ContractsPage().render(console)
        case "/stuck": return try await StuckPage(now: now, query: query).render(console)
        default: return nil
        }
    }

    /// One action: checks the role, the origin and the CSRF token before anything changes, then
    /// calls the protocol method and sends the browser back to the workflow's page.
    private func act(_ action: String, request: Request, level: WebAccess.Level, context: Context) async throws -> Response {
        guard level == .act else {
            return Self.errorPage(.forbidden, access.readOnly ? "This UI is read-only (--http-read-only)." : "Actions need the admin token.")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxFormBytes)
        } catch {
            return Self.errorPage(.contentTooLarge, "The form is too large: at most \(Self.maxFormBytes / 1024) KB. Nothing was changed.")
        }
        let form = FormData.parse(String(buffer: body))
        if let refusal = guardian.refusal(
            origin: request.headers[.origin], fetchSite: request.headers[HTTPField.Name("Sec-Fetch-Site")!],
            host: request.head.authority, formToken: form["csrf"])
        {
            return Self.errorPage(.forbidden, "Refused: \(refusal). Nothing was changed.")
        }
        let id = form["id"] ?? ""
        let reason = form["reason"].flatMap { $0.isEmpty ? nil : $0 }
        let done: String
        switch action {
        case "signal":
            let text = form["payload"].flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 } ?? "null"
            let payload: JSONValue
            do { payload = try JSONParser.parse(text) } catch {
                return Self.errorPage(.badRequest, "The payload is not JSON (\(error)). Nothing was sent.")
            }
            _ = try await console.call(WorkflowSignalParams(workflowId: id, name: form["name"] ?? "", payload: payload))
            done = "Signal \(form["name"] ?? "") sent."
        case "cancel":
            _ = try await console.call(WorkflowCancelParams(workflowId: id, reason: reason))
            done = "Cancellation requested."
        case "terminate":
            _ = try await console.call(WorkflowTerminateParams(workflowId: id, reason: reason))
            done = "Workflow terminated."
        case "reset":
            guard let step = form["toStep"].flatMap({ Int64($0) }) else {
                return Self.errorPage(.badRequest, "Reset needs the number of the last step to keep.")
            }
            var params: JSONObject = ["workflowId": .string(id), "toStep": JSONValue(step)]
            if let reason { params["reason"] = .string(reason) }
            _ = try await console.call("workflow/reset", .object(params))
            done = "Reset to step \(step)."
        default:
            return Self.errorPage(.notFound, "There is no action \(action).")
        }
        return Response(status: .seeOther, headers: [.location: "/workflow?id=\(HTML.query(id))&done=\(HTML.query(done))"])
    }

    static func status(of error: KeelError) -> HTTPResponse.Status {
        switch error.code {
        case .workflowNotFound, .taskNotFound: .notFound
        case .invalidParams, .invalidQuery, .resetStepOutOfRange, .resetNotAtStepBoundary: .badRequest
        case .resetRefused, .workflowAlreadyExists: .conflict
        case .shuttingDown, .overloaded: .serviceUnavailable
        default: .internalServerError
        }
    }

    /// Headers every page carries: nothing may be loaded from elsewhere, framed or cached.
    static func headers(_ contentType: String) -> HTTPFields {
        var h: HTTPFields = [.contentType: contentType, .cacheControl: "no-store"]
        h[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'"
        h[HTTPField.Name("X-Frame-Options")!] = "DENY"
        h[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return h
    }

    static func html(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: headers("text/html; charset=utf-8"), body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// A short page that says what went wrong and what to do, with the HTTP status.
    static func errorPage(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let page = Page(
            title: "\(status.code) \(status.reasonPhrase)", live: "<p class=\"warn\" id=\"error\">\(HTML.escape(message))</p><p><a href=\"/workflows\">Back to the workflows</a></p>",
            isLive: false)
        return html(status, page.document(digest: 0))
    }
}

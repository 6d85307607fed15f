import Foundation
import HTTPTypes
import Hummingbird
import KeelCore
import KeelMCP
import KeelProtocol
import NIOCore

/// `/mcp` on the `--http` listener: Keel as an MCP server over the streamable-HTTP transport
/// (docs/mcp.md, "Streamable HTTP"). The same ``ToolService`` as `keel mcp serve`, in process.
///
/// - `POST /mcp` takes one JSON-RPC message. A request is answered `application/json`, or as
///   `text/event-stream` (its progress notifications, then the answer) when it asks for
///   progress and the client accepts a stream; a notification or a response gets 202.
/// - 2025-11-25 era: `initialize` hands out an `Mcp-Session-Id`; every later request must carry
///   it (400 without, 404 for one Keel does not know, after which the client initializes again).
///   `DELETE /mcp` ends the session. 2026-07-28 requests (`_meta` names the revision) need none.
/// - `GET /mcp` is 405: Keel sends nothing unasked.
struct MCPEndpoint: Sendable {
    static let path = "/mcp"
    /// Largest message accepted.
    static let maxBodyBytes = 4 * 1024 * 1024
    static let sessionHeader = HTTPField.Name("Mcp-Session-Id")!
    static let versionHeader = HTTPField.Name("MCP-Protocol-Version")!

    let service: ToolService
    let sessions = MCPSessions()
    let access: WebAccess

    func respond(to request: Request) async -> Response {
        if let refusal = originRefusal(request.headers[.origin]) {
            return Self.failure(.forbidden, .invalidRequest, refusal)
        }
        guard access.level(authorization: request.headers[.authorization]) >= .read else {
            var r = Self.failure(
                .unauthorized, .unauthorized,
                "/mcp needs a Keel token (Authorization: Bearer TOKEN): the client token or the admin token")
            r.headers[.wwwAuthenticate] = "Bearer realm=\"keel\""
            return r
        }
        switch request.method {
        case .post: return await post(request)
        case .delete:
            guard let id = request.headers[Self.sessionHeader] else {
                return Self.failure(
                    .badRequest, .invalidRequest, "DELETE /mcp needs the Mcp-Session-Id header of the session to end")
            }
            return sessions.close(id) ? Response(status: .noContent) : Self.unknownSession(id)
        default:
            var r = Self.failure(
                .methodNotAllowed, .invalidRequest,
                "\(request.method) /mcp is not served: POST one JSON-RPC message (Keel sends nothing unasked)")
            r.headers[.allow] = "POST, DELETE"
            return r
        }
    }

    private func post(_ request: Request) async -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            return Self.failure(
                .contentTooLarge, .messageTooLarge, "the message is larger than \(Self.maxBodyBytes / 1024 / 1024) MB")
        }
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(Array(body.readableBytesView))
        } catch {
            return Self.failure(.badRequest, .parseError, "the body is not JSON: \(error)")
        }
        let message: RPCMessage
        switch RPCMessage.decode(parsed) {
        case .success(let m): message = m
        case .failure(let f):
            let hint =
                parsed.arrayValue != nil
                ? " (batches are not part of the streamable-HTTP transport: send one message per POST)" : ""
            return Self.json(
                .badRequest,
                .error(id: f.id, error: RPCErrorObject(code: f.error.code, message: f.error.message + hint)))
        }
        switch message {
        case .request(let id, let method, let params):
            return await answer(id: id, method: method, params: params, request: request)
        case .notification(let method, let params):
            if method == "notifications/cancelled", let requestId = params["requestId"],
                let session = request.headers[Self.sessionHeader], sessions.contains(session)
            {
                await service.cancel(requestKey: "\(session):\(JSONWriter.string(requestId))")
            }
            return Response(status: .accepted)
        case .response, .error:
            return Response(status: .accepted)  // Keel asks the client nothing
        }
    }

    private func answer(id: RPCID, method: String, params: JSONValue, request: Request) async -> Response {
        let meta = RequestMeta(params: params)
        var headers: HTTPFields = [:]
        let requestKey: String
        if meta.protocolVersion != nil || method == "server/discover" {
            // 2026-07-28: stateless. The header, when sent, must name the same revision as `_meta`.
            if let header = request.headers[Self.versionHeader], let named = meta.protocolVersion, header != named {
                return Self.failure(
                    .badRequest, .invalidRequest,
                    "the MCP-Protocol-Version header (\(header)) and _meta's protocol version (\(named)) differ", id: id)
            }
            requestKey = "http-\(UUID().uuidString):\(JSONWriter.string(id.json))"
        } else if method == "initialize" {
            let session = sessions.open()
            headers[Self.sessionHeader] = session
            requestKey = "\(session):\(JSONWriter.string(id.json))"
        } else {
            guard let session = request.headers[Self.sessionHeader] else {
                return Self.failure(
                    .badRequest, .invalidRequest,
                    "\(method) needs the Mcp-Session-Id header that initialize answered (or a 2026-07-28 _meta)", id: id)
            }
            guard sessions.contains(session) else { return Self.unknownSession(session, id: id) }
            if let header = request.headers[Self.versionHeader], !ProtocolVersion.supported.contains(header) {
                // 2025-06-18 and later: an MCP-Protocol-Version Keel does not speak is 400.
                return Self.failure(
                    .badRequest, .invalidRequest,
                    "MCP-Protocol-Version \(header) is not one Keel speaks in a session: "
                        + ProtocolVersion.supported.joined(separator: ", "), id: id)
            }
            requestKey = "\(session):\(JSONWriter.string(id.json))"
        }
        if access.readOnly, method == "tools/call", !Self.readsOnly(params) {
            return Self.json(
                .forbidden,
                .error(
                    id: id,
                    error: RPCErrorObject(
                        code: KeelError.Code.unauthorized.rpcCode,
                        message:
                            "this listener is read-only (--http-read-only): tools/call of \(params["name"]?.stringValue ?? "?") is refused"
                    )))
        }
        let streams =
            method == "tools/call" && params["_meta"]?["progressToken"] != nil
            && (request.headers[.accept] ?? "").contains("text/event-stream")
        if streams { return stream(id: id, method: method, params: params, requestKey: requestKey, headers: headers) }
        let reply = await Self.reply(
            service, id: id, method: method, params: params,
            context: ToolService.Context(requestKey: requestKey) { _, _ in })
        var response = Self.json(Self.status(of: reply), reply)
        for field in headers { response.headers.append(field) }
        return response
    }

    /// The call's progress notifications and then its answer as server-sent events. A client
    /// that closes the stream first cancels the Keel task (2026-07-28's cancellation on HTTP).
    private func stream(id: RPCID, method: String, params: JSONValue, requestKey: String, headers: HTTPFields)
        -> Response
    {
        let (events, sink) = AsyncStream.makeStream(of: RPCMessage.self, bufferingPolicy: .bufferingNewest(256))
        let service = self.service
        let body = ResponseBody { writer in
            let call = Task {
                let context = ToolService.Context(requestKey: requestKey) { method, params in
                    sink.yield(.notification(method: method, params: params))
                }
                sink.yield(await Self.reply(service, id: id, method: method, params: params, context: context))
                sink.finish()
            }
            do {
                for await event in events {
                    try await writer.write(
                        ByteBuffer(string: "event: message\ndata: \(JSONWriter.string(event.json))\n\n"))
                }
            } catch {
                await service.cancel(requestKey: requestKey)
                call.cancel()
                throw error
            }
            if Task.isCancelled {  // the client went away before the answer
                await service.cancel(requestKey: requestKey)
                call.cancel()
                return
            }
            try await writer.finish(nil)
        }
        var h: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store"]
        for field in headers { h.append(field) }
        return Response(status: .ok, headers: h, body: body)
    }

    /// The service's answer as a JSON-RPC message; an unexpected error is `-32603` with an incident id.
    static func reply(
        _ service: ToolService, id: RPCID, method: String, params: JSONValue, context: ToolService.Context
    ) async -> RPCMessage {
        do {
            return .response(id: id, result: try await service.answer(method: method, params: params, context: context))
        } catch let error as KeelError {
            return .error(id: id, error: RPCErrorObject(error))
        } catch {
            let incident = UUID().uuidString.lowercased()
            FileHandle.standardError.write(Data("keel: /mcp \(method) failed (incident \(incident)): \(error)\n".utf8))
            return .error(
                id: id,
                error: RPCErrorObject(
                    code: KeelError.Code.internalError.rpcCode,
                    message: "internal error (incident \(incident))", data: ["incidentId": .string(incident)]))
        }
    }

    /// Tools that change nothing, allowed on a read-only listener.
    static func readsOnly(_ params: JSONValue) -> Bool {
        ["keel_workflow_result", "keel_follow_workflow"].contains(params["name"]?.stringValue ?? "")
    }

    /// On a loopback listener a browser page from another site must not reach `/mcp` (DNS
    /// rebinding): an `Origin`, when sent, must be a loopback one. Off loopback the token guards.
    func originRefusal(_ origin: String?) -> String? {
        guard access.loopback, let origin, origin != "null" else { return nil }
        guard let host = URLComponents(string: origin)?.host, WebAccess.isLoopback(host) else {
            return "a request from Origin \(origin) may not use this loopback MCP endpoint"
        }
        return nil
    }

    static func status(of reply: RPCMessage) -> HTTPResponse.Status {
        guard case .error(_, let error) = reply else { return .ok }
        return error.code == RequestMeta.unsupportedProtocolVersion.rpcCode ? .badRequest : .ok
    }

    static func unknownSession(_ session: String, id: RPCID? = nil) -> Response {
        failure(.notFound, .invalidRequest, "no MCP session \(session) here (it ended, or Keel restarted): initialize again", id: id)
    }

    /// A JSON-RPC error answer with HTTP status `status` (`id`: the request's, when it was read).
    static func failure(_ status: HTTPResponse.Status, _ code: KeelError.Code, _ message: String, id: RPCID? = nil) -> Response {
        json(status, .error(id: id, error: RPCErrorObject(code: code.rpcCode, message: message)))
    }

    static func json(_ status: HTTPResponse.Status, _ message: RPCMessage) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(message.json))))
    }
}

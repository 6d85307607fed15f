import KeelEngine
import NIOCore
import NIOHTTP1
import Prometheus

/// What the metrics listener does with one request: pure routing, then the reply.
enum MetricsRoute: Equatable {
    case metrics
    case healthz
    case notFound
    /// The path exists but only answers GET (and HEAD is not offered: scrapers use GET).
    case methodNotAllowed

    init(method: HTTPMethod, uri: String) {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
        switch path {
        case "/metrics": self = method == .GET ? .metrics : .methodNotAllowed
        case "/healthz": self = method == .GET ? .healthz : .methodNotAllowed
        default: self = .notFound
        }
    }

    /// The Prometheus text exposition format, version 0.0.4.
    static let exposition = MetricsExposition.contentType

    /// Builds the reply. `/metrics` first sets the gauges from the engine's state now, then
    /// renders every registered metric.
    func reply(engine: Engine) async -> HTTPReply {
        switch self {
        case .metrics:
            return HTTPReply(status: .ok, contentType: Self.exposition, body: await MetricsExposition.render(engine: engine))
        case .healthz:
            do {
                try await engine.checkStore()
                return HTTPReply(status: .ok, text: "ok\n")
            } catch {
                return HTTPReply(status: .serviceUnavailable, text: "the store does not answer\n")
            }
        case .notFound:
            return HTTPReply(status: .notFound, text: "not found: this listener serves GET /metrics and GET /healthz\n")
        case .methodNotAllowed:
            var reply = HTTPReply(status: .methodNotAllowed, text: "method not allowed: use GET\n")
            reply.allow = "GET"
            return reply
        }
    }
}

/// One complete HTTP response.
struct HTTPReply {
    var status: HTTPResponseStatus
    var contentType: String
    var body: [UInt8]
    var allow: String?

    init(status: HTTPResponseStatus, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    init(status: HTTPResponseStatus, text: String) {
        self.init(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }

    func write(
        to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, version: HTTPVersion, keepAlive: Bool
    ) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        if let allow { headers.add(name: "Allow", value: allow) }
        try await outbound.write(.head(HTTPResponseHead(version: version, status: status, headers: headers)))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
        try await outbound.write(.end(nil))
    }
}

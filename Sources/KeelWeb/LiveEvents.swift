import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

/// `GET /events?view=PATH&since=DIGEST`: a server-sent-events stream that renders the view's
/// live part about once a second and sends `event: change` with the new digest whenever it
/// differs from what the page shows. The page then fetches `PATH&fragment=1`.
final class LiveEvents: Sendable {
    /// Streams open at once; past this a new one gets 503 (the browser retries).
    static let maxStreams = 64
    /// A stream ends after this many polls; EventSource reconnects by itself.
    static let maxPolls = 300
    let pollInterval: Duration

    private let open = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)

    /// Ends every stream at its next poll (the server is stopping).
    func stop() { stopped.store(true, ordering: .relaxed) }

    init(pollInterval: Duration = .seconds(1)) { self.pollInterval = pollInterval }

    func stream(view: String, since: UInt64?, responder: WebResponder) async throws -> Response {
        guard view.hasPrefix("/"), !view.hasPrefix("//"), let url = URLComponents(string: "http://local" + view) else {
            return WebResponder.errorPage(.badRequest, "events need ?view=/PATH of a page of this server")
        }
        let path = url.path
        let query = FormData.parse(url.percentEncodedQuery ?? "")
        guard try await responder.page(path: path, query: query, level: .read) != nil else {
            return WebResponder.errorPage(.notFound, "There is no page at \(path) to watch.")
        }
        guard open.add(1, ordering: .relaxed).newValue <= Self.maxStreams else {
            open.subtract(1, ordering: .relaxed)
            return WebResponder.errorPage(.serviceUnavailable, "Too many live pages are open; this one will retry.")
        }
        let interval = pollInterval
        let counter = self
        let body = ResponseBody { writer in
            defer { counter.open.subtract(1, ordering: .relaxed) }
            var shown = since
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            for poll in 1...Self.maxPolls {
                try await Task.sleep(for: interval)
                if Task.isShuttingDownGracefully || counter.stopped.load(ordering: .relaxed) { break }
                let digest: UInt64
                do {
                    guard let page = try await responder.page(path: path, query: query, level: .read) else { break }
                    digest = Self.digest(page.live)
                } catch {
                    break  // the workflow went away or the store failed: the page shows why on reload
                }
                if digest != shown {
                    shown = digest
                    try await writer.write(ByteBuffer(string: "event: change\ndata: \(digest)\n\n"))
                } else if poll % 15 == 0 {
                    try await writer.write(ByteBuffer(string: ": still here\n\n"))
                }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// FNV-1a over the live part's bytes: stable within and across processes.
    static func digest(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }
}

import KeelCore
import KeelProtocol
import NIOCore
import Synchronization
import Testing

/// `RPCConnection.call(_:params:id:onReply:)`: a call that waits with a closure, not a task
/// (docs/performance.md, "Calls to workers keep no task"). Every way a call can end reaches it once.
@Suite("Calls answered through a closure")
struct RPCCallbackCallTests {
    /// The lines the connection wrote.
    final class Written: RPCOutbound {
        let lines = Mutex<[String]>([])
        func write(_ bytes: [UInt8]) { lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
        func close() {}
    }

    /// What the closure was given, in order.
    final class Replies: Sendable {
        let all = Mutex<[Result<JSONValue, any Error>]>([])
        func take(_ reply: Result<JSONValue, any Error>) { all.withLock { $0.append(reply) } }
        var count: Int { all.withLock { $0.count } }
        func error(_ i: Int) -> (any Error)? { all.withLock { if case .failure(let e) = $0[i] { e } else { nil } } }
        func value(_ i: Int) -> JSONValue? { all.withLock { try? $0[i].get() } }
    }

    @Test func theAnswerReachesTheClosureOnceAndTheRequestWasSent() throws {
        let out = Written(), replies = Replies()
        let connection = RPCConnection(outbound: out)
        connection.call("activity/execute", params: ["n": 1], id: .number(7), onReply: replies.take)
        #expect(replies.count == 0)
        let sent = try JSONParser.parse(try #require(out.lines.withLock { $0.first }))
        #expect(sent["method"]?.stringValue == "activity/execute")
        #expect(sent["id"]?.int64Value == 7)
        _ = connection.receive(.line(ByteBuffer(string: #"{"jsonrpc":"2.0","id":7,"result":{"ok":true}}"#)))
        _ = connection.receive(.line(ByteBuffer(string: #"{"jsonrpc":"2.0","id":7,"result":{"ok":false}}"#)))
        #expect(replies.count == 1)
        #expect(replies.value(0) == ["ok": true])
    }

    @Test func thePeersErrorAnAbandonedCallAndAClosedConnectionEachFailItOnce() {
        let replies = Replies()
        let connection = RPCConnection(outbound: Written())
        connection.call("a", params: [:], id: .number(1), onReply: replies.take)
        connection.call("b", params: [:], id: .number(2), onReply: replies.take)
        connection.call("c", params: [:], id: .number(3), onReply: replies.take)
        _ = connection.receive(.line(ByteBuffer(string: #"{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"no"}}"#)))
        connection.abandon(.number(2), with: KeelError(.attemptSuperseded, "start-to-close"))
        connection.closed()
        #expect(replies.count == 3)
        #expect((replies.error(0) as? KeelError)?.message == "no")
        #expect((replies.error(1) as? KeelError)?.code == .attemptSuperseded)
        #expect((replies.error(2) as? KeelError)?.code == .connectionClosed)
        // On a closed connection the closure is told at once, and nothing is sent.
        let out = Written()
        let gone = RPCConnection(outbound: out)
        gone.closed()
        gone.call("d", params: [:], onReply: replies.take)
        #expect((replies.error(3) as? KeelError)?.code == .connectionClosed)
        #expect(out.lines.withLock { $0.isEmpty })
    }
}

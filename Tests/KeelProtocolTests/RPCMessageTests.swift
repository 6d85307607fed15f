import KeelCore
import KeelProtocol
import Testing

@Suite("JSON-RPC messages")
struct RPCMessageTests {
    func decode(_ text: String) throws -> Result<RPCMessage, RPCDecodeFailure> {
        RPCMessage.decode(try JSONParser.parse(text))
    }

    @Test func requestsNotificationsAndResponsesDecode() throws {
        #expect(try decode(#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).get() == .request(id: .number(1), method: "ping", params: [:]))
        #expect(try decode(#"{"jsonrpc":"2.0","id":"a","method":"x","params":{"k":1}}"#).get() == .request(id: .string("a"), method: "x", params: ["k": 1]))
        #expect(try decode(#"{"jsonrpc":"2.0","method":"n"}"#).get() == .notification(method: "n", params: [:]))
        #expect(try decode(#"{"jsonrpc":"2.0","id":7,"result":null}"#).get() == .response(id: .number(7), result: nil))
    }

    @Test(arguments: [
        (#"[1]"#, -32600), (#"{"id":1,"method":"x"}"#, -32600), (#"{"jsonrpc":"1.0","id":1,"method":"x"}"#, -32600),
        (#"{"jsonrpc":"2.0","id":1,"method":5}"#, -32600), (#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#, -32602),
        (#"{"jsonrpc":"2.0","id":{},"method":"x"}"#, -32600), (#"{"jsonrpc":"2.0","id":1}"#, -32600),
        (#"{"jsonrpc":"2.0","id":1,"method":"x","params":"s"}"#, -32600),
    ])
    func invalidMessagesGetTheSpecCode(_ text: String, _ code: Int) throws {
        guard case .failure(let f) = try decode(text) else {
            Issue.record("\(text) decoded")
            return
        }
        #expect(f.error.code == code)
    }

    @Test func theIdOfAnInvalidRequestIsKeptWhenReadable() throws {
        guard case .failure(let f) = try decode(#"{"jsonrpc":"1.0","id":"r9","method":"x"}"#) else { return }
        #expect(f.id == .string("r9"))
    }
}

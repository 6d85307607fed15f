import KeelCore
import KeelProtocol
import Testing

/// Spec §5.1: an error's `code` "MUST be an integer" and its `message` is a String. A response that
/// breaks this is reported as a malformed *response* naming the field, so the call it answers can
/// fail at once.
@Suite("Malformed responses")
struct MalformedResponseTests {
    @Test(arguments: [
        (#"{"jsonrpc":"2.0","id":3,"error":{"code":"boom","message":"m"}}"#, "\"error.code\" must be an integer"),
        (#"{"jsonrpc":"2.0","id":3,"error":{"code":2.5,"message":"m"}}"#, "\"error.code\" must be an integer"),
        (#"{"jsonrpc":"2.0","id":3,"error":{"message":"m"}}"#, "\"error.code\" must be an integer"),
        (#"{"jsonrpc":"2.0","id":3,"error":{"code":1}}"#, "\"error.message\" must be a string"),
        (#"{"jsonrpc":"2.0","id":3,"error":[1]}"#, "\"error\" must be an object"),
    ])
    func aBadErrorObjectIsAMalformedResponseThatNamesTheField(_ text: String, _ message: String) throws {
        guard case .failure(let f) = RPCMessage.decode(try JSONParser.parse(text)) else {
            Issue.record("\(text) decoded")
            return
        }
        #expect(f.isResponse)
        #expect(f.id == .number(3))
        #expect(f.error.code == -32600)
        #expect(f.error.message == message)
    }

    @Test func aWellFormedErrorStillDecodes() throws {
        let m = RPCMessage.decode(try JSONParser.parse(#"{"jsonrpc":"2.0","id":3,"error":{"code":-5,"message":"m"}}"#))
        #expect(try m.get() == .error(id: .number(3), error: RPCErrorObject(code: -5, message: "m")))
    }
}

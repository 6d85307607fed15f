import KeelCore
import KeelTesting

/// A raw JSON-RPC peer over a ``RawSocket`` that picks out the message it waits for: answers are
/// matched by id and requests by method, so a worker's `activity/execute` arriving between a
/// request and its answer is kept for later instead of being mistaken for the answer.
final class WirePeer: @unchecked Sendable {
    // @unchecked: used from one test task at a time.
    let socket: RawSocket
    private var unread: [JSONValue] = []
    private var nextID = 100

    init(_ socket: RawSocket) { self.socket = socket }

    convenience init(path: String) throws { self.init(try RawSocket(path: path)) }

    /// Sends a request and returns its answer (`result` or `error` object), or nil on EOF.
    func call(_ method: String, _ params: JSONValue = [:]) async -> JSONValue? {
        nextID += 1
        let id = JSONValue(nextID)
        await send(["jsonrpc": "2.0", "id": id, "method": .string(method), "params": params])
        return await answer(to: id)
    }

    /// The `error.code` of the answer to `method`, nil when it succeeded or the connection ended.
    func errorCode(_ method: String, _ params: JSONValue = [:]) async -> Int64? {
        await call(method, params)?["error"]?["code"]?.int64Value
    }

    func send(_ message: JSONValue) async { await socket.send(JSONWriter.string(message) + "\n") }

    func answer(to id: JSONValue) async -> JSONValue? {
        await next { $0["id"] == id && $0["method"] == nil }
    }

    /// The next request Keel sends with `method`.
    func request(_ method: String) async -> JSONValue? {
        await next { $0["method"]?.stringValue == method && $0["id"] != nil }
    }

    /// The next notification Keel sends with `method`.
    func notification(_ method: String) async -> JSONValue? {
        await next { $0["method"]?.stringValue == method && $0["id"] == nil }
    }

    /// The next answer to a batch (a JSON array).
    func batchAnswer() async -> JSONValue? {
        await next { if case .array = $0 { true } else { false } }
    }

    /// Answers a request Keel sent.
    func reply(to request: JSONValue, result: JSONValue) async {
        await send(["jsonrpc": "2.0", "id": request["id"] ?? .null, "result": result])
    }

    private func next(where matches: (JSONValue) -> Bool) async -> JSONValue? {
        if let i = unread.firstIndex(where: matches) { return unread.remove(at: i) }
        while let line = await socket.readLine() {
            if matches(line) { return line }
            unread.append(line)
        }
        return nil
    }
}

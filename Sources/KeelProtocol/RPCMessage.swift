public import KeelCore

/// A JSON-RPC 2.0 request id: "a String, Number, or Null value" (spec §4). Keel never sends null ids.
public enum RPCID: Hashable, Sendable, CustomStringConvertible {
    /// A numeric id, kept exactly (the spec allows fractions, though it discourages them).
    case number(JSONNumber)
    case string(String)

    public static func number(_ n: Int64) -> RPCID { .number(JSONNumber(n)) }

    public var json: JSONValue {
        switch self {
        case .number(let n): .number(n)
        case .string(let s): .string(s)
        }
    }

    public var description: String {
        switch self {
        case .number(let n): n.literal
        case .string(let s): "\"\(s)\""
        }
    }
}

/// A JSON-RPC error object (spec §5.1).
public struct RPCErrorObject: Sendable, Equatable {
    public var code: Int
    public var message: String
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public init(_ error: KeelError) {
        self.init(code: error.code.rpcCode, message: error.message, data: error.data)
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["code": JSONValue(code), "message": .string(message)]
        if let data { o["data"] = data }
        return .object(o)
    }

    /// This error as a `KeelError`, for callers of ``RPCConnection/call(_:params:)``.
    public var keelError: KeelError { KeelError(.init(rpcCode: code), message, data: data) }
}

/// One JSON-RPC 2.0 message.
public enum RPCMessage: Sendable, Equatable {
    case request(id: RPCID, method: String, params: JSONValue)
    case notification(method: String, params: JSONValue)
    case response(id: RPCID, result: JSONValue)
    /// `id` is nil when the request's id could not be read (spec §5: "it MUST be Null").
    case error(id: RPCID?, error: RPCErrorObject)

    public var json: JSONValue {
        switch self {
        case .request(let id, let method, let params):
            ["jsonrpc": "2.0", "id": id.json, "method": .string(method), "params": params]
        case .notification(let method, let params):
            ["jsonrpc": "2.0", "method": .string(method), "params": params]
        case .response(let id, let result):
            ["jsonrpc": "2.0", "id": id.json, "result": result]
        case .error(let id, let error):
            ["jsonrpc": "2.0", "id": id?.json ?? .null, "error": error.json]
        }
    }

    /// One line of the wire: compact JSON plus `\n`.
    public var line: [UInt8] {
        var out = JSONWriter.bytes(json)
        out.append(0x0A)
        return out
    }

    /// Reads a message out of a parsed JSON value.
    /// - Returns: the message, or the error response the spec requires for an invalid one.
    public static func decode(_ value: JSONValue) -> Result<RPCMessage, RPCDecodeFailure> {
        guard case .object(let o) = value else {
            return .failure(.init(id: nil, error: .invalidRequest("a JSON-RPC message must be an object")))
        }
        var id: RPCID?
        switch o["id"] {
        case .none, .some(.null): id = nil
        case .some(.string(let s)): id = .string(s)
        case .some(.number(let n)):
            id = .number(n)
        case .some:
            return .failure(.init(id: nil, error: .invalidRequest("\"id\" must be a string, a number or null")))
        }
        guard o["jsonrpc"] == "2.0" else {
            return .failure(.init(id: id, error: .invalidRequest("\"jsonrpc\" must be exactly \"2.0\"")))
        }
        if let methodValue = o["method"] {
            guard case .string(let method) = methodValue else {
                return .failure(.init(id: id, error: .invalidRequest("\"method\" must be a string")))
            }
            let params = o["params"] ?? .object([:])
            // JSON-RPC 2.0 §4.1: "The Server MUST NOT reply to a Notification, including those
            // that are within a batch request." A notification with bad params is dropped.
            let answer = o["id"] != nil
            switch params {
            case .object: break
            case .array:
                return .failure(
                    .init(
                        id: id, error: .invalidParams("params must be one named object, not an array"),
                        answer: answer))
            default:
                return .failure(
                    .init(id: id, error: .invalidRequest("\"params\" must be an object"), answer: answer))
            }
            if o["id"] == nil { return .success(.notification(method: method, params: params)) }
            guard let id else {
                return .failure(.init(id: nil, error: .invalidRequest("a request id must not be null")))
            }
            return .success(.request(id: id, method: method, params: params))
        }
        if let result = o["result"] {
            guard let id else { return .failure(.init(id: nil, error: .invalidRequest("a response needs an id"))) }
            return .success(.response(id: id, result: result))
        }
        if let errorValue = o["error"] {
            // Spec §5.1: "code: A Number that indicates the error type that occurred. This MUST be an
            // integer. message: A String providing a short description of the error."
            guard case .object(let e) = errorValue else {
                return .failure(.init(id: id, error: .invalidRequest("\"error\" must be an object"), isResponse: true))
            }
            guard case .number(let number)? = e["code"], let code = number.int64Value else {
                return .failure(.init(id: id, error: .invalidRequest("\"error.code\" must be an integer"), isResponse: true))
            }
            guard case .string(let message)? = e["message"] else {
                return .failure(.init(id: id, error: .invalidRequest("\"error.message\" must be a string"), isResponse: true))
            }
            return .success(.error(id: id, error: RPCErrorObject(code: Int(code), message: message, data: e["data"])))
        }
        return .failure(.init(id: id, error: .invalidRequest("a message needs \"method\", \"result\" or \"error\"")))
    }
}

/// An invalid message and the id to answer it with.
public struct RPCDecodeFailure: Error, Sendable {
    public var id: RPCID?
    public var error: RPCErrorObject
    /// False for a notification (no `id`) whose params are invalid: the spec forbids any reply.
    public var answer: Bool
    /// True when the message is a malformed *response* (it has `error` and no `method`): the
    /// answer to one of our calls, which then fails at once instead of waiting for its timeout.
    public var isResponse: Bool

    public init(id: RPCID?, error: RPCErrorObject, answer: Bool = true, isResponse: Bool = false) {
        self.id = id
        self.error = error
        self.answer = answer
        self.isResponse = isResponse
    }
}

extension RPCErrorObject {
    static func invalidRequest(_ m: String) -> Self { .init(code: KeelError.Code.invalidRequest.rpcCode, message: m) }
    static func invalidParams(_ m: String) -> Self { .init(code: KeelError.Code.invalidParams.rpcCode, message: m) }
}

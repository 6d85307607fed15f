public import KeelCore

/// A value the generated protocol types (Generated/ProtocolTypes.swift) read from and write to
/// `JSONValue` directly: no Codable, so no serialize-and-parse round trip on a request's path.
///
/// Reading checks types only (string, integer, object, one of an enum's values…). Ranges, lengths
/// and patterns are the schemas' job: the engine runs ``ProtocolValidator`` first, whose errors
/// are the precise ones on the wire.
public protocol WireValue: Sendable {
    /// Reads the value at `path`.
    /// - Throws: `KeelError(.invalidParams)` naming the field, e.g.
    ///   "workflow/signal: params.name must be a string" with `data` `{"field": "name"}`.
    init(wire value: JSONValue, at path: WirePath) throws
    /// The value as JSON. Optional fields that are nil are left out.
    var json: JSONValue { get }
    /// True when `null` is a value of the type (``JSONValue``) rather than "not set".
    static var nullIsValue: Bool { get }
    /// Where a value read by `init(json:)` sits: a method's `params` or `result` for the generated
    /// message types, else `value`.
    static var wireRoot: WirePath { get }
}

extension WireValue {
    public static var nullIsValue: Bool { false }

    /// A value read on its own: its errors name `value.field`.
    public static var wireRoot: WirePath { WirePath(method: "", part: "value") }

    /// Reads a value, from ``wireRoot`` (a method's params or result type: e.g. `workflow/signal`, `params`).
    /// - Throws: `KeelError(.invalidParams)` naming the first field of the wrong type or missing.
    public init(json: JSONValue) throws {
        try self.init(wire: json, at: Self.wireRoot)
    }
}

/// Where a value sits in a message, for errors: method `workflow/start`, path `params.signal.name`.
public struct WirePath: Sendable {
    /// The method the message belongs to (empty for a value read on its own).
    public let method: String
    /// `params`, `result`, then `.field` and `[index]` steps.
    public let path: String
    /// The path below `params`/`result`, as `data.field` reports it (`signal.name`).
    private let field: String

    public init(method: String, part: String) {
        self.method = method
        self.path = part
        self.field = ""
    }

    private init(method: String, path: String, field: String) {
        self.method = method
        self.path = path
        self.field = field
    }

    /// The path of member `key`.
    public func appending(_ key: String) -> WirePath {
        WirePath(method: method, path: path + "." + key, field: field.isEmpty ? key : field + "." + key)
    }

    /// The path of array element `index`.
    public func appending(index: Int) -> WirePath {
        WirePath(method: method, path: path + "[\(index)]", field: field + "[\(index)]")
    }

    /// `KeelError(.invalidParams)`: "METHOD: PATH EXPECTATION", with `data` `{"field": …}`.
    public func fail(_ expectation: String) -> KeelError {
        let prefix = method.isEmpty ? "" : method + ": "
        return KeelError(.invalidParams, "\(prefix)\(path) \(expectation)", data: ["field": .string(field)])
    }

    /// The members of an object.
    public func object(_ value: JSONValue) throws -> JSONObject {
        guard case .object(let o) = value else { throw fail("must be an object") }
        return o
    }

    /// A field that must be present (and not null, unless null is a value of its type).
    public func required<T: WireValue>(_ o: JSONObject, _ key: String) throws -> T {
        let at = appending(key)
        guard let v = o[key], T.nullIsValue || !v.isNull else { throw at.fail("is required") }
        return try T(wire: v, at: at)
    }

    /// A field that may be absent; null means "not set" unless null is a value of its type.
    public func optional<T: WireValue>(_ o: JSONObject, _ key: String) throws -> T? {
        guard let v = o[key], T.nullIsValue || !v.isNull else { return nil }
        return try T(wire: v, at: appending(key))
    }
}

extension String: WireValue {
    public init(wire value: JSONValue, at path: WirePath) throws {
        guard case .string(let s) = value else { throw path.fail("must be a string") }
        self = s
    }
    public var json: JSONValue { .string(self) }
}

extension Int64: WireValue {
    public init(wire value: JSONValue, at path: WirePath) throws {
        guard let n = value.int64Value else { throw path.fail("must be an integer") }
        self = n
    }
    public var json: JSONValue { JSONValue(self) }
}

extension Double: WireValue {
    public init(wire value: JSONValue, at path: WirePath) throws {
        guard let n = value.doubleValue else { throw path.fail("must be a number") }
        self = n
    }
    public var json: JSONValue { JSONValue(self) }
}

extension Bool: WireValue {
    public init(wire value: JSONValue, at path: WirePath) throws {
        guard case .bool(let b) = value else { throw path.fail("must be true or false") }
        self = b
    }
    public var json: JSONValue { .bool(self) }
}

extension JSONValue: WireValue {
    /// Any JSON, kept as it is.
    public init(wire value: JSONValue, at path: WirePath) throws { self = value }
    public var json: JSONValue { self }
    public static var nullIsValue: Bool { true }
}

extension Array: WireValue where Element: WireValue {
    public init(wire value: JSONValue, at path: WirePath) throws {
        guard case .array(let a) = value else { throw path.fail("must be an array") }
        self = try a.enumerated().map { try Element(wire: $0.element, at: path.appending(index: $0.offset)) }
    }
    public var json: JSONValue { .array(map(\.json)) }
}

extension Dictionary: WireValue where Key == String, Value: WireValue {
    public init(wire value: JSONValue, at path: WirePath) throws {
        let o = try path.object(value)
        var d: [String: Value] = [:]
        for (k, v) in o { d[k] = try Value(wire: v, at: path.appending(k)) }
        self = d
    }
    /// Members sorted by key, so the same map always gives the same text.
    public var json: JSONValue { .object(JSONObject(sorted { $0.key < $1.key }.map { ($0.key, $0.value.json) })) }
}

/// The shared definitions of Schemas/protocol/common.json that are objects or enums
/// (Generated/ProtocolTypes.swift): `Wire.RetryPolicy`, `Wire.WorkflowStatus`…
public enum Wire {}

/// A method's params type, tied to its method and its result type (every generated `…Params` of a
/// request conforms), so a client can send it and read the answer typed.
public protocol WireRequest: WireValue {
    /// The result type of a successful response.
    associatedtype Response: WireValue
    /// The JSON-RPC method, e.g. `workflow/signal`.
    static var method: String { get }
}
